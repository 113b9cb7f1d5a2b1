/**
 * Typed readers and writers for the files a stage1 writes for stage0 (pid/ppid, app exit
 * statuses, net-info.json). See docs/stage1-interface.md.
 */
import * as fsp from 'node:fs/promises';
import { userError } from '@rktnetes/errors';
import { formatIntFile, readFileTolerant, readIntFile, writeFileAtomic } from './files';
import { appStatusPathIn, netInfoPath, podPidPath, podPpidPath } from './paths';

/** Which pid file a stage1 wrote. */
export type PodPidKind = 'pid' | 'ppid';

/** The pid stage1 reported: the process `enter` joins (`pid`) or its single-child parent (`ppid`). */
export interface PodPid {
  kind: PodPidKind;
  pid: number;
}

/**
 * Writes `<pod>/pid` or `<pod>/ppid` (decimal + newline, mode 0644, atomically). A stage1
 * writes exactly one of them, after `subcgroup` if it writes that.
 */
export async function writePodPid(pod: string, pid: number, kind: PodPidKind = 'pid'): Promise<void> {
  await writeFileAtomic(kind === 'pid' ? podPidPath(pod) : podPpidPath(pod), formatIntFile(pid), 0o644);
}

/**
 * Reads what stage1 reported: `pid` first, then `ppid`; undefined when neither exists yet (a
 * pod that just started, or one whose stage1 failed early).
 */
export async function readPodPid(pod: string): Promise<PodPid | undefined> {
  const pid = await readIntFile(podPidPath(pod));
  if (pid !== undefined) return { kind: 'pid', pid };
  const ppid = await readIntFile(podPpidPath(pod));
  if (ppid !== undefined) return { kind: 'ppid', pid: ppid };
  return undefined;
}

/**
 * The single child of `ppid` (for stage1s that write `ppid`), read from
 * `/proc/<ppid>/task/<ppid>/children`; undefined while it has no child yet. Throws a user error
 * `pod.pid.too-many-children` when it has more than one.
 */
export async function childPidOf(ppid: number, procRoot = '/proc'): Promise<number | undefined> {
  const text = await readFileTolerant(`${procRoot}/${ppid}/task/${ppid}/children`);
  if (text === undefined) return undefined;
  const kids = text.trim().split(/\s+/).filter(Boolean);
  if (kids.length > 1) {
    throw userError('pod.pid.too-many-children', `process ${ppid} named in ppid has ${kids.length} children, expected one`, { details: { ppid } });
  }
  return kids[0] === undefined ? undefined : Number(kids[0]);
}

/** Writes an app's exit status to `<s1root>/rkt/status/<app>` (decimal + newline). */
export async function writeAppStatus(stage1Root: string, app: string, status: number): Promise<void> {
  await writeFileAtomic(appStatusPathIn(stage1Root, app), formatIntFile(status), 0o644);
}

/** Reads an app's exit status; undefined when the app has not exited (no file). */
export async function readAppStatus(stage1Root: string, app: string): Promise<number | undefined> {
  return readIntFile(appStatusPathIn(stage1Root, app));
}

/**
 * One network a pod joined, as stored in `net-info.json` (rkt's field names). Written by the
 * stage1 that sets up networking, read by stage0 for `rkt list` / `rkt status`.
 */
export interface NetInfo {
  netName: string;
  /** path of the CNI configuration file used */
  netConf: string;
  pluginPath: string;
  ifName: string;
  /** IPv4 address, dotted quad */
  ip: string;
  /** the `--net=name:args` arguments given for this network */
  args: string;
  /** netmask, dotted quad */
  mask: string;
}

const NET_INFO_FIELDS = ['netName', 'netConf', 'pluginPath', 'ifName', 'ip', 'args', 'mask'] as const;

/**
 * Parses `net-info.json`: a JSON array of {@link NetInfo}. Missing string fields read as empty
 * (rkt omits nothing but older writers may); wrong types throw a user error `net-info.invalid`.
 */
export function parseNetInfo(text: string, source = 'net-info.json'): NetInfo[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw userError('net-info.invalid', `invalid ${source}: not JSON`, { cause: e });
  }
  if (raw === null) return [];
  if (!Array.isArray(raw)) throw userError('net-info.invalid', `invalid ${source}: expected an array`);
  return raw.map((entry, i) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw userError('net-info.invalid', `invalid ${source}: entry ${i} is not an object`);
    }
    const out = {} as NetInfo;
    for (const f of NET_INFO_FIELDS) {
      const v = (entry as Record<string, unknown>)[f];
      if (v !== undefined && v !== null && typeof v !== 'string') {
        throw userError('net-info.invalid', `invalid ${source}: entry ${i} field ${f} is not a string`);
      }
      out[f] = typeof v === 'string' ? v : '';
    }
    return out;
  });
}

/** Serialises networks for `net-info.json`. */
export function formatNetInfo(nets: readonly NetInfo[]): string {
  return JSON.stringify(nets.map((n) => Object.fromEntries(NET_INFO_FIELDS.map((f) => [f, n[f]])))) + '\n';
}

/** Reads `<pod>/net-info.json`; an absent file means host networking (empty list). */
export async function readNetInfo(pod: string): Promise<NetInfo[]> {
  const text = await readFileTolerant(netInfoPath(pod));
  return text === undefined ? [] : parseNetInfo(text, netInfoPath(pod));
}

/** Writes `<pod>/net-info.json` atomically. */
export async function writeNetInfo(pod: string, nets: readonly NetInfo[]): Promise<void> {
  await writeFileAtomic(netInfoPath(pod), formatNetInfo(nets), 0o644);
}

/** Whether a file exists (markers such as `overlay-prepared`). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch {
    return false;
  }
}
