/**
 * The pod's cgroups. A pod gets a cgroup `rkt-<uuid>` below the caller's own cgroup in every
 * mounted hierarchy (so that limits the caller runs under still apply), and each app a child
 * `rkt-<uuid>/<app>` carrying its resource isolators. The stage1 processes (the init and its
 * parent) live in the pod cgroup itself, or in its `_stage1` leaf on a unified (cgroup v2 only)
 * host, where a cgroup that hands controllers to its children may hold no process.
 *
 * cgroup v1 limits are written here, before the init starts; on a unified host the controllers
 * can only be enabled once the pod cgroup is empty, so the init writes them (the plan's
 * `writes`), right after it moved itself to the leaf.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { errnoOf, type MountInfo } from '@rktnetes/sys';
import { systemError } from '@rktnetes/errors';

/** One mounted cgroup hierarchy and the caller's place in it. */
export interface Hierarchy {
  version: 1 | 2;
  /** v1: the hierarchy's controllers (`memory`, `cpu`, `name=systemd`…); v2: enabled controllers */
  controllers: string[];
  mountPoint: string;
  /** the caller's cgroup in this hierarchy, as /proc/self/cgroup names it */
  selfPath: string;
  /** host directory of the caller's cgroup */
  base: string;
  /**
   * with a cgroup parent: the directories from the hierarchy's root down to `base` (the parent),
   * created when missing, parents first
   */
  ancestors?: string[];
}

/** Resource limits of one app, from its isolators. */
export interface AppResources {
  /** `resource/memory` limit, bytes */
  memoryLimit?: number;
  /** `resource/cpu` limit, millicores */
  cpuLimitMilli?: number;
  /** `os/linux/cpu-shares` */
  cpuShares?: number;
}

/** What to create and write for a pod, and what the init does with it. */
export interface CgroupPlan {
  unified: boolean;
  /** every directory to create, parents first */
  dirs: string[];
  /** `cgroup.procs` files the init's parent joins before it unshares the cgroup namespace */
  joins: string[];
  /** `cgroup.procs` files it moves to after that (unified hosts: the `_stage1` leaf) */
  moves: string[];
  /** v1: written before exec by run; unified: written by the init after the moves */
  writes: Array<{ path: string; value: string }>;
  /** the `cgroup.procs` files each app joins */
  appProcs: Record<string, string[]>;
  /** the pod cgroup relative to its hierarchy's root, for `<pod>/subcgroup` */
  subcgroup: string;
  /** warnings about isolators the host cannot apply */
  warnings: string[];
}

/** The name of a pod's cgroup. */
export const podCgroupName = (uuid: string) => `rkt-${uuid}`;
/** The leaf that holds the stage1 processes on a unified host (not a valid app name). */
export const STAGE1_LEAF = '_stage1';
/** CFS period used for `resource/cpu` limits, microseconds (systemd's default). */
export const CPU_PERIOD_US = 100000;

/**
 * The devices an app may use when paths are restricted (rkt: DevicePolicy=closed plus the
 * standard set): null, zero, full, random, urandom, tty, console, ptmx and ptys; creating any
 * device node is allowed, using it is not.
 */
export const ALLOWED_DEVICES: readonly string[] = [
  'c 1:3 rwm',
  'c 1:5 rwm',
  'c 1:7 rwm',
  'c 1:8 rwm',
  'c 1:9 rwm',
  'c 5:0 rwm',
  'c 5:1 rwm',
  'c 5:2 rwm',
  'c 136:* rwm',
  'c *:* m',
  'b *:* m',
];

/**
 * The hierarchies of this process, from /proc/self/cgroup and the mount table: each v1
 * hierarchy by its controllers, and the v2 one (its enabled controllers read from
 * `cgroup.controllers`). Hierarchies that are not mounted are left out.
 */
export function detectHierarchies(procSelfCgroup: string, mounts: readonly MountInfo[], readControllers = readV2Controllers): Hierarchy[] {
  const out: Hierarchy[] = [];
  for (const line of procSelfCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const names = m[2] ? m[2].split(',') : [];
    const selfPath = m[3]!;
    const v2 = m[1] === '0' && names.length === 0;
    const mount = mounts.find((mi) =>
      v2 ? mi.fsType === 'cgroup2' : mi.fsType === 'cgroup' && names.every((n) => mi.superOptions.includes(n)),
    );
    if (!mount) continue;
    // a cgroup fs mounted from a sub-cgroup (in a container) shows paths below its root
    const rel = mount.root === '/' ? selfPath : selfPath.startsWith(mount.root) ? selfPath.slice(mount.root.length) : undefined;
    if (rel === undefined) continue;
    const base = join(mount.mountPoint, rel).replace(/(.)\/+$/, '$1');
    out.push({ version: v2 ? 2 : 1, controllers: v2 ? readControllers(base) : names, mountPoint: mount.mountPoint, selfPath, base });
  }
  return out;
}

function readV2Controllers(dir: string): string[] {
  try {
    return readFileSync(join(dir, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return [];
  }
}

/**
 * The hierarchies with the pod's place moved from the caller's cgroup to `parent`, a path from
 * each hierarchy's root (as `parseCgroupParent` gives it, '' for the root itself): `base` and
 * `selfPath` become the parent's, `ancestors` the directories down to it (created by
 * {@link createPodCgroups}; on a unified host the controllers are enabled along the way).
 */
export function withCgroupParent(hierarchies: readonly Hierarchy[], parent: string, readControllers = readV2Controllers): Hierarchy[] {
  const parts = parent.split('/').filter(Boolean);
  return hierarchies.map((h) => {
    const ancestors = [h.mountPoint];
    for (const p of parts) ancestors.push(join(ancestors.at(-1)!, p));
    return {
      ...h,
      selfPath: `/${parts.join('/')}`,
      base: ancestors.at(-1)!,
      ancestors,
      ...(h.version === 2 ? { controllers: readControllers(h.mountPoint) } : {}),
    };
  });
}

/** Whether the host runs cgroup v2 only (no v1 controller hierarchy). */
export function isUnified(hierarchies: readonly Hierarchy[]): boolean {
  return !hierarchies.some((h) => h.version === 1 && h.controllers.some((c) => !c.startsWith('name=')));
}

/** cpu-shares (2..262144) to a cgroup v2 weight (1..10000), the conversion runc and systemd use. */
export const sharesToWeight = (shares: number) => Math.round(1 + ((shares - 2) * 9999) / 262142);

/**
 * Plans the pod's cgroups: directories in every hierarchy, the files the init and the apps join,
 * the limit writes, and the `subcgroup` value (the pod cgroup in the `name=systemd` hierarchy,
 * else `cpu`, else the first one, relative to the hierarchy root, no leading slash, as rkt writes
 * it). `restrictDevices` adds the v1 device whitelist ({@link ALLOWED_DEVICES}) to each app.
 */
export function planPodCgroups(
  hierarchies: readonly Hierarchy[],
  uuid: string,
  apps: ReadonlyArray<{ name: string; resources: AppResources }>,
  opts: { restrictDevices: boolean },
): CgroupPlan {
  const unified = isUnified(hierarchies);
  const plan: CgroupPlan = { unified, dirs: [], joins: [], moves: [], writes: [], appProcs: {}, subcgroup: '', warnings: [] };
  const pod = podCgroupName(uuid);
  const has = (c: string) => hierarchies.some((h) => h.controllers.includes(c));
  for (const app of apps) {
    if (app.resources.memoryLimit !== undefined && !has('memory')) plan.warnings.push(`app ${app.name}: resource/memory isolator set but the memory controller is not available, skipping`);
    if ((app.resources.cpuLimitMilli !== undefined || app.resources.cpuShares !== undefined) && !has('cpu')) {
      plan.warnings.push(`app ${app.name}: cpu isolator set but the cpu controller is not available, skipping`);
    }
  }
  for (const h of hierarchies) {
    const podDir = join(h.base, pod);
    const v2Delegate = h.version === 2 && unified;
    for (const a of h.ancestors ?? []) {
      if (a !== h.mountPoint) plan.dirs.push(a);
      const wanted = ['cpu', 'memory', 'pids'].filter((c) => h.controllers.includes(c));
      // the controllers must be enabled from the root down for the pod's cgroups to get them
      if (v2Delegate && wanted.length > 0) plan.writes.push({ path: join(a, 'cgroup.subtree_control'), value: wanted.map((c) => `+${c}`).join(' ') });
    }
    plan.dirs.push(podDir);
    plan.joins.push(join(podDir, 'cgroup.procs'));
    if (v2Delegate) {
      plan.dirs.push(join(podDir, STAGE1_LEAF));
      plan.moves.push(join(podDir, STAGE1_LEAF, 'cgroup.procs'));
      const wanted = ['cpu', 'memory', 'pids'].filter((c) => h.controllers.includes(c));
      if (wanted.length > 0) plan.writes.push({ path: join(podDir, 'cgroup.subtree_control'), value: wanted.map((c) => `+${c}`).join(' ') });
    }
    for (const app of apps) {
      const dir = join(podDir, app.name);
      plan.dirs.push(dir);
      (plan.appProcs[app.name] ??= []).push(join(dir, 'cgroup.procs'));
      const r = app.resources;
      const w = (file: string, value: string | number) => plan.writes.push({ path: join(dir, file), value: String(value) });
      const quota = r.cpuLimitMilli === undefined ? undefined : Math.max(1000, Math.round((r.cpuLimitMilli * CPU_PERIOD_US) / 1000));
      if (h.version === 1) {
        if (h.controllers.includes('memory') && r.memoryLimit !== undefined) w('memory.limit_in_bytes', r.memoryLimit);
        if (h.controllers.includes('cpu')) {
          if (quota !== undefined) {
            w('cpu.cfs_period_us', CPU_PERIOD_US);
            w('cpu.cfs_quota_us', quota);
          }
          if (r.cpuShares !== undefined) w('cpu.shares', r.cpuShares);
        }
        if (h.controllers.includes('devices') && opts.restrictDevices) {
          w('devices.deny', 'a');
          for (const d of ALLOWED_DEVICES) w('devices.allow', d);
        }
      } else if (v2Delegate) {
        if (h.controllers.includes('memory') && r.memoryLimit !== undefined) w('memory.max', r.memoryLimit);
        if (h.controllers.includes('cpu')) {
          if (quota !== undefined) w('cpu.max', `${quota} ${CPU_PERIOD_US}`);
          if (r.cpuShares !== undefined) w('cpu.weight', sharesToWeight(r.cpuShares));
        }
      }
    }
  }
  const main = hierarchies.find((h) => h.controllers.includes('name=systemd')) ?? hierarchies.find((h) => h.controllers.includes('cpu')) ?? hierarchies[0];
  if (main) plan.subcgroup = posix.join(main.selfPath, pod).replace(/^\/+/, '');
  return plan;
}

function writeCgroupFile(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw systemError('stage1.cgroup.write', `write ${value} to ${path}: ${errnoOf(e) ?? (e as Error).message}`, { cause: e, details: { path } });
  }
}

/**
 * Creates the planned directories (copying `cpuset.cpus`/`cpuset.mems` from the parent in a
 * cpuset hierarchy, which v1 requires before a process may join) and, on a v1 host, writes the
 * limits. Existing directories are reused. Errors (system): `stage1.cgroup.mkdir`,
 * `stage1.cgroup.write`.
 */
export function createPodCgroups(plan: CgroupPlan): void {
  for (const dir of plan.dirs) {
    try {
      mkdirSync(dir);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw systemError('stage1.cgroup.mkdir', `create cgroup ${dir}: ${errnoOf(e) ?? (e as Error).message}`, { cause: e, details: { dir } });
    }
    // v1 only (cgroup.clone_children is a v1 file); an empty v2 cpuset means "the parent's"
    if (!existsSync(join(dir, 'cgroup.clone_children'))) continue;
    const parent = posix.dirname(dir);
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      let value: string;
      try {
        if (readFileSync(join(dir, f), 'utf8').trim() !== '') continue;
        value = readFileSync(join(parent, f), 'utf8').trim();
      } catch {
        continue; // not a cpuset hierarchy
      }
      if (value !== '') writeCgroupFile(join(dir, f), value);
    }
  }
  if (!plan.unified) for (const { path, value } of plan.writes) writeCgroupFile(path, value);
}

/** The processes in a cgroup directory (its `cgroup.procs`), empty when it is gone. */
export function cgroupProcs(dir: string): number[] {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Every directory at and below `dir`, deepest first. */
export function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = join(d, n);
      try {
        if (statSync(p).isDirectory()) walk(p);
      } catch {
        // raced with removal
      }
    }
    out.push(d);
  };
  walk(dir);
  return out;
}

/**
 * Kills every process in the cgroups at and below each of `dirs` (SIGKILL; `cgroup.kill` where
 * the kernel has it) and removes the directories, children first, retrying while dying processes
 * keep them busy (up to `timeoutMs`). Missing directories are fine. Returns the directories that
 * could not be removed.
 */
export async function removeCgroups(dirs: readonly string[], kill: (pid: number) => void, timeoutMs = 5000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left: string[] = [];
  for (;;) {
    left = [];
    for (const top of dirs) {
      for (const d of cgroupTree(top)) {
        try {
          writeFileSync(join(d, 'cgroup.kill'), '1');
        } catch {
          // v1, or already gone
        }
        for (const pid of cgroupProcs(d)) kill(pid);
        try {
          rmdirSync(d);
        } catch (e) {
          if (errnoOf(e) !== 'ENOENT') left.push(d);
        }
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * The pod cgroups found by name below the hierarchies mounted at `root` (for gc when the pod's
 * record of them is missing): directories named `rkt-<uuid>` at most `maxDepth` levels down.
 */
export function findPodCgroups(uuid: string, root = '/sys/fs/cgroup', maxDepth = 6): string[] {
  const name = podCgroupName(uuid);
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    let entries: import('node:fs').Dirent[];
    try {
      entries = readdirSync(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(d, e.name);
      if (e.name === name) out.push(p);
      else if (depth < maxDepth) walk(p, depth + 1);
    }
  };
  walk(root, 0);
  return out;
}
