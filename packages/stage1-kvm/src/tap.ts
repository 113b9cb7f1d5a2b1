/**
 * The tap hook: host tap devices for the VM's network interfaces. run creates a persistent
 * tap per interface (qemu attaches to it by name), optionally enslaved to a bridge, and records
 * its name in `<pod>/kvm/taps` first, so that gc can delete it whatever happened. Wiring a tap
 * into the pod's CNI network (addresses, routes, masquerading) is left to the CNI integration,
 * which gets the tap's name from {@link TapDevice}.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, appendFileSync, constants as fsConstants, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { readFileTolerantSync } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';

/** A tap device of a pod. */
export interface TapDevice {
  /** interface name on the host (at most 15 bytes) */
  name: string;
  /** the guest's MAC address on it */
  mac: string;
  /** the bridge it is enslaved to, if any */
  bridge?: string;
}

/** Runs `ip`; returns its exit status and stderr. Replaceable in tests. */
export type IpRunner = (args: readonly string[]) => { status: number; stderr: string };

const IP_CANDIDATES = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'];

/** `ip` from iproute2, run synchronously. */
export const runIp: IpRunner = (args) => {
  const ip = IP_CANDIDATES.find((p) => {
    try {
      accessSync(p, fsConstants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!ip) throw userError('stage1-kvm.net.ip-missing', 'cannot find the ip command (Debian package iproute2)');
  const r = spawnSync(ip, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.error) throw systemError('stage1-kvm.net.ip', `ip ${args.join(' ')}: ${r.error.message}`, { cause: r.error });
  return { status: r.status ?? 1, stderr: (r.stderr ?? '').trim() };
};

function ipOk(ip: IpRunner, args: readonly string[]): void {
  const r = ip(args);
  if (r.status !== 0) throw systemError('stage1-kvm.net.ip', `ip ${args.join(' ')}: ${r.stderr || `exit status ${r.status}`}`, { details: { args } });
}

/** The name of a pod's tap `index` (0–9): `tap` + 11 hex digits of the uuid + the index. */
export function tapName(uuid: string, index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 9) throw userError('stage1-kvm.net.too-many', 'a pod can have at most 10 network interfaces');
  return `tap${uuid.replace(/-/g, '').slice(0, 11)}${index}`;
}

/** A stable, locally administered unicast MAC address for a pod's interface `index`. */
export function macAddress(uuid: string, index: number): string {
  const h = createHash('sha256').update(`${uuid}/${index}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** The tap names recorded in a taps file. */
export function readTapsFile(path: string): string[] {
  return (readFileTolerantSync(path) ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
}

/** Whether a link exists. */
export function linkExists(name: string, ip: IpRunner = runIp): boolean {
  return ip(['link', 'show', 'dev', name]).status === 0;
}

/**
 * Creates the persistent tap `tap.name`, brings it up and, with `tap.bridge`, enslaves it to
 * that bridge (created, and brought up, when missing, as the CNI bridge plugin does; bridges are
 * never deleted by gc). The name is appended to `tapsFile` before anything is created.
 *
 * @throws RktError `stage1-kvm.net.ip` (system) when an ip command fails
 */
export function createTap(tap: TapDevice, tapsFile: string, ip: IpRunner = runIp): void {
  mkdirSync(dirname(tapsFile), { recursive: true });
  appendFileSync(tapsFile, `${tap.name}\n`, { mode: 0o644 });
  ipOk(ip, ['tuntap', 'add', 'dev', tap.name, 'mode', 'tap']);
  if (tap.bridge) {
    if (!linkExists(tap.bridge, ip)) {
      ipOk(ip, ['link', 'add', 'name', tap.bridge, 'type', 'bridge']);
      ipOk(ip, ['link', 'set', 'dev', tap.bridge, 'up']);
    }
    ipOk(ip, ['link', 'set', 'dev', tap.name, 'master', tap.bridge]);
  }
  ipOk(ip, ['link', 'set', 'dev', tap.name, 'up']);
}

/** Deletes a tap; false when it was already gone. */
export function deleteTap(name: string, ip: IpRunner = runIp): boolean {
  if (!linkExists(name, ip)) return false;
  ipOk(ip, ['tuntap', 'del', 'dev', name, 'mode', 'tap']);
  return true;
}

/**
 * Deletes every tap recorded in `tapsFile`, then the file. Idempotent.
 *
 * @returns the taps deleted (those already gone are skipped)
 */
export function deleteRecordedTaps(tapsFile: string, ip: IpRunner = runIp): string[] {
  const deleted = readTapsFile(tapsFile).filter((name) => deleteTap(name, ip));
  rmSync(tapsFile, { force: true });
  return deleted;
}
