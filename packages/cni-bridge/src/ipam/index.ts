/**
 * IPAM for the bridge: the built-in host-local when the section is one it fully understands,
 * otherwise the named plugin from CNI_PATH, run with this invocation's environment and stdin
 * (CNI spec, "Delegated plugin protocol").
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  CniErrorCodes,
  isCniErrorResult,
  parseCniErrorResult,
  parseCniResult,
  type CniIpam,
  type CniIpamRange,
} from '@rktnetes/schema';
import { type IP, parseIP } from '../addr';
import type { BridgeConfig } from '../config';
import type { CniEnv } from '../env';
import { CNI_INTERNAL_ERROR, cniError } from '../errors';
import type { LockOptions } from '../lock';
import {
  type Attachment,
  type HostLocalRequest,
  type IpamResult,
  hostLocalAdd,
  hostLocalCheck,
  hostLocalDel,
  hostLocalGc,
  hostLocalStatus,
  isBuiltinHostLocal,
} from './host-local';

export type { IpamResult } from './host-local';

/** What an IPAM call needs. */
export interface IpamContext {
  conf: BridgeConfig & { ipam: CniIpam };
  env: CniEnv;
  lock?: LockOptions;
}

/** Whether the built-in host-local handles this configuration (else a plugin from CNI_PATH). */
export function usesBuiltinIpam(ctx: IpamContext): boolean {
  return isBuiltinHostLocal(ctx.conf.ipam);
}

function stringList(v: unknown, where: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.ipam-config', `${where} must be a list of IP addresses`);
  }
  return v as string[];
}

function runtimeRanges(v: unknown): CniIpamRange[][] {
  if (v === undefined || v === null) return [];
  const ok =
    Array.isArray(v) &&
    v.every((set) => Array.isArray(set) && set.every((r) => r !== null && typeof r === 'object' && typeof (r as Record<string, unknown>)['subnet'] === 'string'));
  if (!ok) throw cniError(CniErrorCodes.invalidNetworkConfig, 'cni.ipam-config', 'runtimeConfig.ipRanges must be a list of range sets');
  return v as CniIpamRange[][];
}

function hostLocalRequest(ctx: IpamContext): HostLocalRequest {
  const { conf, env } = ctx;
  const cniArgs = conf.conf.args?.['cni'];
  const argIps = cniArgs !== null && typeof cniArgs === 'object' ? (cniArgs as Record<string, unknown>)['ips'] : undefined;
  const envIp = env.args.get('IP');
  const requested = [
    ...(envIp ? envIp.split(',').filter(Boolean) : []),
    ...stringList(argIps, 'args.cni.ips'),
    ...stringList(conf.conf.runtimeConfig?.['ips'], 'runtimeConfig.ips'),
  ];
  return {
    network: conf.name,
    ipam: conf.ipam,
    containerId: env.containerId,
    ifName: env.ifName,
    requested,
    runtimeRanges: runtimeRanges(conf.conf.runtimeConfig?.['ipRanges']),
    ...(ctx.lock ? { lock: ctx.lock } : {}),
  };
}

/**
 * The executable of a delegated plugin: the first `<dir>/<type>` in CNI_PATH.
 *
 * @throws code 999 (`cni.ipam-missing`) when none exists, 4 when CNI_PATH is empty
 */
export function findPlugin(type: string, env: CniEnv): string {
  if (env.path.length === 0) {
    throw cniError(CniErrorCodes.invalidEnvironment, 'cni.env', `CNI_PATH is not set: needed to run the IPAM plugin ${type}`);
  }
  for (const dir of env.path) {
    const p = join(dir, type);
    try {
      accessSync(p, fsConstants.X_OK);
      if (statSync(p).isFile()) return p;
    } catch {
      // next directory
    }
  }
  throw cniError(CNI_INTERNAL_ERROR, 'cni.ipam-missing', `failed to find plugin ${JSON.stringify(type)} in path ${env.path.join(':')}`);
}

/**
 * Runs a delegated plugin with `command`, this invocation's environment and stdin; its stderr
 * goes to ours. Returns its stdout; an error result becomes a thrown error with its code.
 */
export function execDelegate(type: string, command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', ctx: IpamContext): string {
  const file = findPlugin(type, ctx.env);
  const r = spawnSync(file, [], {
    input: ctx.conf.raw,
    env: { ...ctx.env.raw, CNI_COMMAND: command },
    stdio: ['pipe', 'pipe', 'inherit'],
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.error) throw cniError(CniErrorCodes.ioFailure, 'cni.ipam-exec', `cannot run IPAM plugin ${file}`, { cause: r.error });
  const stdout = r.stdout.toString();
  if (r.status === 0) return stdout;
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    parsed = undefined;
  }
  if (isCniErrorResult(parsed)) {
    const er = parseCniErrorResult(parsed);
    throw cniError(er.code, 'cni.ipam-failed', `IPAM plugin ${type} ${command}: ${er.msg}`, er.details === undefined ? {} : { details: er.details });
  }
  throw cniError(CNI_INTERNAL_ERROR, 'cni.ipam-failed', `IPAM plugin ${type} ${command} exited with ${r.status ?? r.signal}`, {
    details: stdout.trim().slice(0, 500),
  });
}

/** IPAM ADD: the addresses, routes and DNS for the attachment. */
export async function ipamAdd(ctx: IpamContext): Promise<IpamResult> {
  if (usesBuiltinIpam(ctx)) return hostLocalAdd(hostLocalRequest(ctx));
  const stdout = execDelegate(ctx.conf.ipam.type, 'ADD', ctx);
  let result;
  try {
    result = parseCniResult(stdout);
  } catch (e) {
    throw cniError(CniErrorCodes.decodeFailure, 'cni.ipam-result', `cannot read the result of IPAM plugin ${ctx.conf.ipam.type}`, { cause: e });
  }
  const out: IpamResult = {
    ips: (result.ips ?? []).map(({ version: _v, interface: _i, ...rest }) => rest),
    routes: result.routes ?? [],
  };
  if (result.dns && Object.keys(result.dns).length) out.dns = result.dns;
  return out;
}

/** IPAM DEL; returns the released addresses when the built-in store knows them. */
export async function ipamDel(ctx: IpamContext): Promise<IP[] | undefined> {
  if (usesBuiltinIpam(ctx)) return hostLocalDel(hostLocalRequest(ctx));
  execDelegate(ctx.conf.ipam.type, 'DEL', ctx);
  return undefined;
}

/** IPAM CHECK, with the addresses the previous result says the attachment has. */
export async function ipamCheck(ctx: IpamContext, expected: readonly string[]): Promise<void> {
  if (usesBuiltinIpam(ctx)) {
    const ips = expected.map((a) => parseIP(a.split('/')[0] ?? '')).filter((ip): ip is IP => ip !== undefined);
    return hostLocalCheck(hostLocalRequest(ctx), ips);
  }
  execDelegate(ctx.conf.ipam.type, 'CHECK', ctx);
}

/** IPAM GC: the built-in store drops allocations of attachments not in `valid`; a delegate gets GC. */
export async function ipamGc(ctx: IpamContext, valid: readonly Attachment[]): Promise<IP[] | undefined> {
  if (usesBuiltinIpam(ctx)) return hostLocalGc(hostLocalRequest(ctx), valid);
  execDelegate(ctx.conf.ipam.type, 'GC', ctx);
  return undefined;
}

/** IPAM STATUS: code 50 when no address is left (built-in), else the delegate's answer. */
export async function ipamStatus(ctx: IpamContext): Promise<void> {
  if (usesBuiltinIpam(ctx)) return hostLocalStatus(hostLocalRequest(ctx));
  execDelegate(ctx.conf.ipam.type, 'STATUS', ctx);
}
