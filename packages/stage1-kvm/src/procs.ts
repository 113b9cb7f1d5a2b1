/**
 * The pod's host processes: the shim (named in `<pod>/ppid`) and qemu (its child, also in
 * `<pod>/kvm/qemu.pid`), recognised by their command lines so that a reused pid is never
 * signalled.
 */
import { readFileSync } from 'node:fs';
import { childPidOf, parseIntFile, readFileTolerantSync, readPodPid } from '@rktnetes/common';
import { errnoOf, type Sys } from '@rktnetes/sys';
import { IMAGE_SHIM, podKvmPath } from './layout';

/** The argv of a live process, or undefined when it is gone. */
export function cmdlineOf(pid: number, proc = '/proc'): string[] | undefined {
  try {
    const text = readFileSync(`${proc}/${pid}/cmdline`, 'utf8');
    return text === '' ? undefined : text.replace(/\0$/, '').split('\0');
  } catch {
    return undefined;
  }
}

/** Whether `pid` is the qemu of pod `uuid` (qemu runs with `-name rkt-<uuid>`). */
export function isPodQemu(pid: number, uuid: string, proc = '/proc'): boolean {
  const argv = cmdlineOf(pid, proc);
  if (!argv) return false;
  const i = argv.indexOf('-name');
  return i >= 0 && argv[i + 1] === `rkt-${uuid}`;
}

/** Whether `pid` is a stage1-kvm shim. */
export function isShim(pid: number, proc = '/proc'): boolean {
  const argv = cmdlineOf(pid, proc);
  return argv !== undefined && (argv[0] ?? '').endsWith(`/${IMAGE_SHIM}`);
}

/** The pod's processes that are alive and recognised. */
export interface PodProcesses {
  shim?: number;
  qemu?: number;
}

/** Finds the shim and qemu of pod `uuid` in `podDir`. */
export async function podProcesses(podDir: string, uuid: string, proc = '/proc'): Promise<PodProcesses> {
  const out: PodProcesses = {};
  const recorded = await readPodPid(podDir);
  if (recorded?.kind === 'ppid' && isShim(recorded.pid, proc)) {
    out.shim = recorded.pid;
    const child = await childPidOf(recorded.pid, proc).catch(() => undefined);
    if (child !== undefined && isPodQemu(child, uuid, proc)) out.qemu = child;
  }
  if (out.qemu === undefined) {
    const text = readFileTolerantSync(podKvmPath(podDir, 'qemuPid'));
    if (text !== undefined && text.trim() !== '') {
      try {
        const pid = parseIntFile(text, 'qemu.pid');
        if (isPodQemu(pid, uuid, proc)) out.qemu = pid;
      } catch {
        // not a pid
      }
    }
  }
  return out;
}

/** kill(2); false when the process is gone (ESRCH). */
export function signalProcess(sys: Pick<Sys, 'kill'>, pid: number, sig: NodeJS.Signals): boolean {
  try {
    sys.kill(pid, sig);
    return true;
  } catch (e) {
    if (errnoOf(e) === 'ESRCH') return false;
    throw e;
  }
}
