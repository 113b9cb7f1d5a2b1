/**
 * The cgroups of a sandbox's pod and of its containers' apps, as stage1-coreos makes them: one
 * pod cgroup `rkt-<uuid>` per mounted hierarchy (below the cgroup of whoever ran the pod),
 * recorded in `<pod>/runtime-config`, and one child per app named after it. This module finds
 * them and reads and writes their files, for cgroup v1 (one hierarchy per controller set) and
 * v2 (one unified hierarchy). Nothing here is specific to the CRI messages (see stats.ts).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runtimeConfigPath } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  version: 1 | 2;
  /** v1: the controllers (and `name=...`) of the hierarchy; v2: empty (read `cgroup.controllers`) */
  controllers: string[];
  mountPoint: string;
  /** the cgroup mounted there (`/` unless the file system was mounted from a sub-cgroup) */
  root: string;
}

/**
 * A cgroup across hierarchies: the directory of each v1 controller, and the v2 directory with
 * the controllers enabled in it. A controller is read from v1 when a v1 hierarchy has it (a
 * hybrid host's unified hierarchy has none), else from v2.
 */
export interface CgroupSet {
  v1: Record<string, string>;
  v2?: { dir: string; controllers: string[] };
}

/** Unescapes the octal escapes of /proc/self/mountinfo fields (`\040` for a space). */
const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

/** The cgroup file systems of a mountinfo text (/proc/self/mountinfo), in mount order. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const out: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const pre = line.slice(0, sep).split(' ');
    const [fsType, , superOpts = ''] = line.slice(sep + 3).split(' ');
    const root = pre[3];
    const mountPoint = pre[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fsType === 'cgroup2') out.push({ version: 2, controllers: [], mountPoint: unescapeMount(mountPoint), root: unescapeMount(root) });
    else if (fsType === 'cgroup') {
      const controllers = superOpts.split(',').filter((o) => o !== 'rw' && o !== 'ro' && !o.startsWith('release_agent=') && o !== 'clone_children' && o !== 'noprefix' && o !== 'xattr' && o !== 'cpuset_v2_mode');
      out.push({ version: 1, controllers, mountPoint: unescapeMount(mountPoint), root: unescapeMount(root) });
    }
  }
  return out;
}

/** The mount a cgroup directory is in: the one with the longest mount point that is a prefix of it. */
export function mountOf(dir: string, mounts: readonly CgroupMount[]): CgroupMount | undefined {
  let best: CgroupMount | undefined;
  for (const m of mounts) {
    if (dir !== m.mountPoint && !dir.startsWith(`${m.mountPoint}/`)) continue;
    if (!best || m.mountPoint.length > best.mountPoint.length) best = m;
  }
  return best;
}

function readControllers(dir: string): string[] {
  try {
    return readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/** The set of cgroup directories, each hierarchy's from the mount it is in; directories outside every mount are left out. */
export function cgroupSetOf(dirs: readonly string[], mounts: readonly CgroupMount[], controllersOf: (dir: string) => string[] = readControllers): CgroupSet {
  const set: CgroupSet = { v1: {} };
  for (const dir of dirs) {
    const m = mountOf(dir, mounts);
    if (!m) continue;
    if (m.version === 2) set.v2 = { dir, controllers: controllersOf(dir) };
    else for (const c of m.controllers) set.v1[c] ??= dir;
  }
  return set;
}

/** The pod cgroup directories `<pod>/runtime-config` records (stage1-coreos), or [] without one. */
export function recordedPodCgroups(podPath: string): string[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(runtimeConfigPath(podPath), 'utf8'));
  } catch {
    return [];
  }
  const cgroups = (raw as { cgroups?: unknown } | null)?.cgroups;
  return Array.isArray(cgroups) ? cgroups.filter((c): c is string => typeof c === 'string' && c.startsWith('/')) : [];
}

/** The leaf stage1-coreos puts its own processes in on a cgroup v2 only host. */
const STAGE1_LEAF = '_stage1';

/**
 * The pod cgroup directories from a process of the pod (`/proc/<pid>/cgroup` text, the pod's
 * PID 1): its cgroup in every mounted hierarchy, the `_stage1` leaf dropped. The fallback when
 * the pod has no `runtime-config`.
 */
export function cgroupDirsOfProcess(procCgroup: string, mounts: readonly CgroupMount[]): string[] {
  const out: string[] = [];
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const names = m[2] ? m[2].split(',') : [];
    const v2 = m[1] === '0' && names.length === 0;
    const mount = mounts.find((mi) => (v2 ? mi.version === 2 : mi.version === 1 && names.length > 0 && names.every((n) => mi.controllers.includes(n))));
    if (!mount) continue;
    let path = m[3]!;
    if (mount.root !== '/') {
      if (path !== mount.root && !path.startsWith(`${mount.root}/`)) continue;
      path = path.slice(mount.root.length);
    }
    if (v2) path = path.replace(new RegExp(`/${STAGE1_LEAF}$`), '');
    out.push(join(mount.mountPoint, path).replace(/(.)\/+$/, '$1'));
  }
  return out;
}

/** The same set one level down (an app's cgroup below its pod's). */
export function childSet(set: CgroupSet, name: string): CgroupSet {
  if (!name || name.includes('/') || name === '.' || name === '..') throw systemError('cri.cgroup', `invalid cgroup name ${JSON.stringify(name)}`);
  const v1: Record<string, string> = {};
  for (const [c, dir] of Object.entries(set.v1)) v1[c] = join(dir, name);
  return set.v2 ? { v1, v2: { dir: join(set.v2.dir, name), controllers: readControllers(join(set.v2.dir, name)) } } : { v1 };
}

/**
 * The directory to use for a controller: its v1 hierarchy's, else the v2 directory when the
 * controller is enabled there (`cpu` stats on v2 exist without the controller: `always` for them).
 */
export function controllerDir(set: CgroupSet, controller: string, always = false): { version: 1 | 2; dir: string } | undefined {
  const v1 = set.v1[controller];
  if (v1 !== undefined) return { version: 1, dir: v1 };
  if (set.v2 && (always || set.v2.controllers.includes(controller))) return { version: 2, dir: set.v2.dir };
  return undefined;
}

/** Where to look: /proc, and the mount table text (both replaceable in tests). */
export interface LocatorOptions {
  procRoot?: string;
  mountinfo?: () => string;
}

/** Finds the cgroups of running pods; the mount table is read once. */
export class PodCgroupLocator {
  private mounts: CgroupMount[] | undefined;
  readonly procRoot: string;

  constructor(private readonly opts: LocatorOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
  }

  /** The cgroup file systems mounted here. */
  cgroupMounts(): CgroupMount[] {
    this.mounts ??= parseCgroupMounts(this.opts.mountinfo ? this.opts.mountinfo() : readFileSync('/proc/self/mountinfo', 'utf8'));
    return this.mounts;
  }

  /**
   * The cgroups of a running pod: those its `runtime-config` records, else those of its PID 1
   * (`pid`). Undefined when the pod does not run or none is found.
   */
  ofPod(pod: { state: string; path: string; pid: number | undefined; pidKind: 'pid' | 'ppid' | undefined } | undefined): CgroupSet | undefined {
    if (pod?.state !== 'running') return undefined;
    let dirs = recordedPodCgroups(pod.path);
    if (!dirs.length && pod.pid !== undefined && pod.pidKind === 'pid') {
      const text = readOr(join(this.procRoot, String(pod.pid), 'cgroup'));
      if (text === undefined) return undefined;
      dirs = cgroupDirsOfProcess(text, this.cgroupMounts());
    }
    if (!dirs.length) return undefined;
    const set = cgroupSetOf(dirs, this.cgroupMounts());
    return Object.keys(set.v1).length || set.v2 ? set : undefined;
  }
}

// ------------------------------------------------------------------------------- parsing

/** `key value` lines (memory.stat, cpu.stat, memory.events) as numbers; other lines are skipped. */
export function parseFlatKeyed(text: string): Map<string, bigint> {
  const out = new Map<string, bigint>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(\d+)\s*$/.exec(line);
    if (m) out.set(m[1]!, BigInt(m[2]!));
  }
  return out;
}

/** A single-value cgroup file: a number, `max` (v2: no limit) as undefined. Throws on anything else. */
export function parseSingleValue(text: string): bigint | undefined {
  const t = text.trim();
  if (t === 'max') return undefined;
  if (!/^\d+$/.test(t)) throw new Error(`unexpected cgroup value ${JSON.stringify(t)}`);
  return BigInt(t);
}

/** Limits at or above this are v1's "no limit" (the page counter maximum times the page size). */
export const V1_UNLIMITED = 1n << 62n;

/** One network interface's counters from /proc/<pid>/net/dev. */
export interface InterfaceCounters {
  name: string;
  rxBytes: bigint;
  rxErrors: bigint;
  txBytes: bigint;
  txErrors: bigint;
}

/** /proc/<pid>/net/dev: the counters of every interface (two header lines, then `name: 16 numbers`). */
export function parseNetDev(text: string): InterfaceCounters[] {
  const out: InterfaceCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/);
    if (!name || f.length < 16 || !f.every((x) => /^\d+$/.test(x))) continue;
    out.push({ name, rxBytes: BigInt(f[0]!), rxErrors: BigInt(f[2]!), txBytes: BigInt(f[8]!), txErrors: BigInt(f[10]!) });
  }
  return out;
}

// ------------------------------------------------------------------------------- reading

const readOr = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** CPU time used by a cgroup and its descendants, ns (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec). */
export function readCpuUsageNs(set: CgroupSet): bigint | undefined {
  const acct = set.v1.cpuacct;
  if (acct !== undefined) {
    const t = readOr(join(acct, 'cpuacct.usage'));
    return t === undefined ? undefined : parseSingleValue(t);
  }
  if (set.v2) {
    const t = readOr(join(set.v2.dir, 'cpu.stat'));
    const usec = t === undefined ? undefined : parseFlatKeyed(t).get('usage_usec');
    return usec === undefined ? undefined : usec * 1000n;
  }
  return undefined;
}

/** Memory figures of a cgroup, bytes and counts; `limit` undefined when there is none. */
export interface MemoryFigures {
  usage: bigint;
  workingSet: bigint;
  rss: bigint;
  pageFaults: bigint;
  majorPageFaults: bigint;
  limit: bigint | undefined;
  /** swap used, when the kernel accounts it */
  swap: bigint | undefined;
  /** the swap limit (v2 memory.swap.max), when set */
  swapLimit: bigint | undefined;
}

/**
 * Memory of a cgroup and its descendants: usage, working set (usage less inactive file pages,
 * as the kubelet and cAdvisor count it), rss, page faults, the limit. v1: `memory.usage_in_bytes`,
 * `memory.limit_in_bytes`, `memory.stat` (`total_*`), swap from `memory.memsw.usage_in_bytes`; v2:
 * `memory.current`, `memory.max`, `memory.stat` (`anon` as rss), `memory.swap.current`/`.max`.
 * Undefined when the cgroup cannot be read.
 */
export function readMemory(set: CgroupSet): MemoryFigures | undefined {
  const where = controllerDir(set, 'memory');
  if (!where) return undefined;
  const { dir } = where;
  if (where.version === 1) {
    const usageText = readOr(join(dir, 'memory.usage_in_bytes'));
    const statText = readOr(join(dir, 'memory.stat'));
    if (usageText === undefined || statText === undefined) return undefined;
    const usage = parseSingleValue(usageText) ?? 0n;
    const stat = parseFlatKeyed(statText);
    const get = (k: string) => stat.get(`total_${k}`) ?? stat.get(k) ?? 0n;
    const limitText = readOr(join(dir, 'memory.limit_in_bytes'));
    const limit = limitText === undefined ? undefined : parseSingleValue(limitText);
    const memsw = readOr(join(dir, 'memory.memsw.usage_in_bytes'));
    const swapTotal = memsw === undefined ? undefined : parseSingleValue(memsw);
    return {
      usage,
      workingSet: workingSet(usage, get('inactive_file')),
      rss: get('rss'),
      pageFaults: get('pgfault'),
      majorPageFaults: get('pgmajfault'),
      limit: limit !== undefined && limit < V1_UNLIMITED ? limit : undefined,
      swap: swapTotal === undefined ? undefined : swapTotal > usage ? swapTotal - usage : 0n,
      swapLimit: undefined,
    };
  }
  const usageText = readOr(join(dir, 'memory.current'));
  const statText = readOr(join(dir, 'memory.stat'));
  if (usageText === undefined || statText === undefined) return undefined;
  const usage = parseSingleValue(usageText) ?? 0n;
  const stat = parseFlatKeyed(statText);
  const max = readOr(join(dir, 'memory.max'));
  const swap = readOr(join(dir, 'memory.swap.current'));
  const swapMax = readOr(join(dir, 'memory.swap.max'));
  return {
    usage,
    workingSet: workingSet(usage, stat.get('inactive_file') ?? 0n),
    rss: stat.get('anon') ?? 0n,
    pageFaults: stat.get('pgfault') ?? 0n,
    majorPageFaults: stat.get('pgmajfault') ?? 0n,
    limit: max === undefined ? undefined : parseSingleValue(max),
    swap: swap === undefined ? undefined : parseSingleValue(swap),
    swapLimit: swapMax === undefined ? undefined : parseSingleValue(swapMax),
  };
}

const workingSet = (usage: bigint, inactiveFile: bigint) => (usage > inactiveFile ? usage - inactiveFile : 0n);

/** Processes (and threads, which pids counts as tasks) in a cgroup and below: `pids.current`, else `cgroup.procs` counted. */
export function readProcessCount(set: CgroupSet): bigint | undefined {
  const where = controllerDir(set, 'pids');
  if (where) {
    const t = readOr(join(where.dir, 'pids.current'));
    if (t !== undefined) return parseSingleValue(t);
  }
  const dir = Object.values(set.v1)[0] ?? set.v2?.dir;
  if (dir === undefined) return undefined;
  let n = 0n;
  let found = false;
  const walk = (d: string): void => {
    const procs = readOr(join(d, 'cgroup.procs'));
    if (procs === undefined) return;
    found = true;
    n += BigInt(procs.split('\n').filter(Boolean).length);
    let names: string[] = [];
    try {
      names = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      // removed meanwhile
    }
    for (const name of names) walk(join(d, name));
  };
  walk(dir);
  return found ? n : undefined;
}

// ------------------------------------------------------------------------------- writing

/** One write to a cgroup file. */
export interface CgroupWrite {
  path: string;
  value: string;
}

/**
 * Writes the files in order. Errors (system): `cri.cgroup` naming the file and the errno
 * (EBUSY: a memory limit below the current usage; EINVAL: a value the kernel refuses).
 */
export function writeCgroupFiles(writes: readonly CgroupWrite[]): void {
  for (const { path, value } of writes) {
    try {
      writeFileSync(path, value);
    } catch (e) {
      throw systemError('cri.cgroup', `cannot write ${value} to ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e, details: { path } });
    }
  }
}
