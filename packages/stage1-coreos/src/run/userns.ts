/**
 * `--private-users=<shift>:<count>` (rkt run --private-users): the pod runs in a user namespace
 * of its own whose uids and gids 0..count-1 are host ids shift..shift+count-1. The apps' root
 * filesystems are mounted idmapped, so that an image (owned by uid 0 on disk and shared by every
 * pod through the store) appears owned by the pod's root without being chowned; rkt chowned a
 * copy of the whole tree, which is why it could not use overlay.
 *
 * What run does for it, in this order:
 * 1. refuses what cannot work: mutable pods, the host's pid namespace, app ids outside the range;
 * 2. before anything of the pod exists, checks with the init's `idmap` helper that the kernel and
 *    the filesystem of every layer of every app root allow idmapped mounts
 *    (`stage1.private-users.idmap` otherwise);
 * 3. delegates each app's cgroups to the pod's root (the pod's own cgroup and every limit stay
 *    the host's);
 * 4. prepares the stage1 root for a PID 1 that is the pod's root: the state directories it
 *    writes belong to that root, the directories down to each app root can be searched, and
 *    `/proc`, `/sys` exist (the init mounts them there, see init.c "User namespace");
 * 5. gives the files of the pod directory bound into apps (`empty` volumes, the /etc files of
 *    stage1) the pod's ids: their owners are shifted;
 * 6. replaces each app root, in the host's mount namespace, by an idmapped one: an overlay is
 *    mounted again from the same directories, each idmapped (overlayfs cannot be idmapped
 *    itself, its layers can), a plain directory (`--no-overlay`) gets an idmapped bind;
 * 7. makes each app's mounts with the filesystem ids of the pod's root ({@link withPodFsIds}),
 *    so that mount points, /dev and its nodes belong to the pod's root.
 *
 * `host` volumes are bound as they are, not idmapped: the pod sees host ids shifted (a host file
 * of uid shift+N is uid N in the pod, others are the overflow id 65534) and what it creates there
 * belongs to host uid shift+uid, as with rkt. Idmapping them would let the pod's root create
 * files of host uid 0 (setuid programs among them) on the host.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { STAGE1_LOG_DIR, STAGE1_STATUS_DIR, STAGE2_DIR } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import type { PrivateUsers, RunArgs } from '@rktnetes/stage1-abi';
import { errnoOf, readMountInfo, type MountInfo, type Sys } from '@rktnetes/sys';

/** The gid of group `tty` in images (the owner group of pseudo-terminals, devpts `gid=`). */
export const TTY_GID = 5;

/** What the pod's root writes in the stage1 root (relative to it): made its own. */
export const USERNS_STATE_DIRS: readonly string[] = ['rkt', STAGE1_STATUS_DIR, 'rkt/pids', STAGE1_LOG_DIR];

/** Files of a delegated cgroup directory that the pod's root may write (cgroup v1 and v2). */
export const DELEGATED_CGROUP_FILES: readonly string[] = ['cgroup.procs', 'tasks', 'cgroup.threads', 'cgroup.subtree_control'];

/**
 * The pod's user namespace mapping, from `--private-users`, or undefined without it.
 * Errors (user): `stage1.private-users.unsupported` for a mutable pod (`rkt app sandbox`: apps
 * added later would need their roots idmapped by app/add).
 */
export function podUserNamespace(args: Pick<RunArgs, 'privateUsers' | 'mutable'>): PrivateUsers | undefined {
  if (!args.privateUsers) return undefined;
  if (args.mutable) throw userError('stage1.private-users.unsupported', '--private-users is not supported for mutable pods');
  return args.privateUsers;
}

/** An app as {@link checkUsernsApps} sees it. */
export interface UsernsApp {
  name: string;
  identity: { uid: number; gid: number; groups: readonly number[] };
}

/**
 * Checks that the pod can run in the user namespace `map`: not in the host's pid namespace (the
 * pod's root cannot mount a /proc of it), and every app's uid, gid and supplementary groups are
 * mapped. Errors (user): `stage1.private-users.unsupported`, `stage1.private-users.range`.
 */
export function checkUsernsApps(map: PrivateUsers, apps: readonly UsernsApp[], pid: 'private' | 'host' = 'private'): void {
  if (pid === 'host') throw userError('stage1.private-users.unsupported', "--private-users cannot be combined with the host's pid namespace");
  for (const a of apps) {
    const ids: Array<[string, number]> = [['uid', a.identity.uid], ['gid', a.identity.gid], ...a.identity.groups.map((g): [string, number] => ['supplementary group', g])];
    for (const [what, id] of ids) {
      if (id >= map.count) {
        throw userError('stage1.private-users.range', `app ${a.name}: ${what} ${id} is outside the pod's user namespace (ids 0-${map.count - 1})`, {
          details: { app: a.name, id, count: map.count },
        });
      }
    }
  }
}

/** How an app root is mounted: an overlay (its directories) or a plain directory. */
export type AppRootLayers =
  | {
      kind: 'overlay';
      app: string;
      /** the app root (the overlay's mount point) */
      target: string;
      /** lower dirs, uppermost first */
      lowers: string[];
      /** the directory holding the upper and work dirs (they must be on one idmapped mount) */
      base: string;
      /** upper and work dirs, relative to `base` */
      upper: string;
      work: string;
    }
  | { kind: 'dir'; app: string; target: string };

const unescapeOctal = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** Splits overlayfs's `lowerdir` value at the `:` not escaped as `\:`, and unescapes `\:`, `\,`, `\\`. */
function splitLowerDirs(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === '\\' && i + 1 < value.length) cur += value[++i];
    else if (c === ':') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out.filter((d) => d !== '');
}

/**
 * The directories of an overlay from its mountinfo super options (`lowerdir=a:b`, repeated
 * `lowerdir+=`, `upperdir=`, `workdir=`; mountinfo escapes characters as `\ooo`).
 */
export function parseOverlayOptions(superOptions: readonly string[]): { lowers: string[]; upper?: string; work?: string } {
  const lowers: string[] = [];
  let upper: string | undefined;
  let work: string | undefined;
  for (const raw of superOptions) {
    const o = unescapeOctal(raw);
    const eq = o.indexOf('=');
    if (eq < 0) continue;
    const key = o.slice(0, eq);
    const value = o.slice(eq + 1);
    if (key === 'lowerdir') lowers.push(...splitLowerDirs(value));
    else if (key === 'lowerdir+') lowers.push(value);
    else if (key === 'upperdir') upper = value;
    else if (key === 'workdir') work = value;
  }
  return { lowers, ...(upper !== undefined ? { upper } : {}), ...(work !== undefined ? { work } : {}) };
}

/** The deepest directory holding both `a` and `b` (absolute paths). */
export function commonDir(a: string, b: string): string {
  const pa = a.split(sep);
  const pb = b.split(sep);
  let i = 0;
  while (i < pa.length - 1 && i < pb.length - 1 && pa[i] === pb[i]) i++;
  return pa.slice(0, i).join(sep) || sep;
}

/**
 * How app `app`'s root `target` is mounted, from the mount table: the overlay stage0 mounted
 * there (its directories), or a plain directory. Lower dirs given relative (stage0 does so when
 * absolute ones overflow the mount options, for images of many layers) are the store's layer
 * directories, `<data dir>/cas/layer/<name>`, with the data dir three levels above the pod.
 * Errors (user): `stage1.private-users.idmap` when the overlay's directories cannot be known.
 */
export function appRootLayers(app: string, target: string, mounts: readonly MountInfo[], pod: string): AppRootLayers {
  const m = mounts.filter((mi) => mi.mountPoint === target).at(-1);
  if (!m || m.fsType !== 'overlay') return { kind: 'dir', app, target };
  const o = parseOverlayOptions(m.superOptions);
  const unknown = (why: string) => userError('stage1.private-users.idmap', `--private-users: the overlay of app ${app} at ${target} ${why}`, { details: { app, target } });
  if (o.lowers.length === 0 || o.upper === undefined || o.work === undefined) throw unknown('has no upper or lower directory');
  const layerDir = join(resolve(pod, '..', '..', '..'), 'cas', 'layer');
  const lowers = o.lowers.map((l) => {
    if (isAbsolute(l)) return l;
    const p = join(layerDir, l);
    try {
      if (statSync(p).isDirectory()) return p;
    } catch {
      // not a layer of the store
    }
    throw unknown(`has a relative lower directory ${l} that is not a layer of the store`);
  });
  if (!isAbsolute(o.upper) || !isAbsolute(o.work)) throw unknown('has a relative upper or work directory');
  const base = commonDir(o.upper, o.work);
  return { kind: 'overlay', app, target, lowers, base, upper: relative(base, o.upper), work: relative(base, o.work) };
}

/** The `init idmap` ops that check `layers` can be mounted idmapped. */
export function idmapCheckOps(layers: readonly AppRootLayers[]): string[] {
  const ops: string[] = [];
  for (const l of layers) {
    if (l.kind === 'dir') ops.push('check', l.target);
    else {
      for (const d of l.lowers) ops.push('layer', d);
      ops.push('check', l.base);
    }
  }
  return ops;
}

/** The `init idmap` ops that replace each app root of `layers` by an idmapped one. */
export function idmapMountOps(layers: readonly AppRootLayers[]): string[] {
  const ops: string[] = [];
  for (const l of layers) {
    if (l.kind === 'dir') ops.push('bind', l.target);
    else ops.push('overlay', l.target, l.base, l.upper, l.work, String(l.lowers.length), ...l.lowers);
  }
  return ops;
}

/** Runs a helper program to its end. */
export type HelperRunner = (file: string, args: readonly string[]) => { status: number | null; stdout: string; stderr: string; error?: Error };

const spawnRunner: HelperRunner = (file, args) => {
  const r = spawnSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', ...(r.error ? { error: r.error } : {}) };
};

/** The filesystem type of the mount holding `path` (the longest mount point above it). */
function fsTypeOf(path: string, mounts: readonly MountInfo[]): string | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const under = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (under && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best?.fsType;
}

/** The app whose layers include `dir`, and what `dir` is to it. */
function describeDir(dir: string, layers: readonly AppRootLayers[]): string {
  for (const l of layers) {
    if (l.kind === 'dir' && l.target === dir) return `the root of app ${l.app}`;
    if (l.kind === 'overlay' && l.lowers.includes(dir)) return `a layer of app ${l.app}`;
    if (l.kind === 'overlay' && l.base === dir) return `the overlay directory of app ${l.app}`;
  }
  return dir;
}

function helperFailure(what: string, r: ReturnType<HelperRunner>): Error {
  const why = r.error?.message ?? (r.stderr.trim().split('\n').at(-1) || `exit status ${r.status}`);
  return systemError('stage1.private-users.mount', `${what}: ${why}`, { ...(r.error ? { cause: r.error } : {}) });
}

/**
 * Asks the init (`init idmap <shift> <count> check|layer ...`, run in the caller's mount
 * namespace) whether every directory of `layers` can be mounted idmapped with `map`. Errors:
 * (user) `stage1.private-users.idmap` naming the first directory that cannot, its filesystem and
 * the kernel's reason; (system) `stage1.private-users.mount` when the helper fails otherwise.
 */
export function checkIdmap(init: string, map: PrivateUsers, layers: readonly AppRootLayers[], mounts: readonly MountInfo[], run: HelperRunner = spawnRunner): void {
  const r = run(init, ['idmap', String(map.shift), String(map.count), ...idmapCheckOps(layers)]);
  if (r.status === 0) return;
  if (r.status !== 3) throw helperFailure('cannot check for idmapped mounts', r);
  const line = r.stdout.trim().split('\n')[0] ?? '';
  const colon = line.lastIndexOf(': ');
  const dir = colon > 0 ? line.slice(0, colon) : line;
  const reason = colon > 0 ? line.slice(colon + 2) : 'unknown reason';
  if (!dir.startsWith('/')) {
    throw userError('stage1.private-users.idmap', `--private-users: the kernel cannot create a user namespace for idmapped mounts (${line})`);
  }
  const fs = fsTypeOf(dir, mounts);
  throw userError('stage1.private-users.idmap', `--private-users needs idmapped mounts: ${describeDir(dir, layers)} (${dir}${fs ? `, ${fs}` : ''}) cannot be idmapped: ${reason}`, {
    details: { dir, reason, ...(fs ? { fsType: fs } : {}) },
  });
}

/**
 * Replaces each app root of `layers` by an idmapped one (`init idmap ... overlay|bind ...`), in
 * the caller's mount namespace. Errors (system): `stage1.private-users.mount`.
 */
export function mountIdmappedRoots(init: string, map: PrivateUsers, layers: readonly AppRootLayers[], run: HelperRunner = spawnRunner): void {
  if (layers.length === 0) return;
  const r = run(init, ['idmap', String(map.shift), String(map.count), ...idmapMountOps(layers)]);
  if (r.status !== 0) throw helperFailure("cannot mount the apps' roots idmapped", r);
}

/** chown as the functions below use it (a fake in tests). */
export type Chown = (path: string, uid: number, gid: number) => void;

/**
 * Delegates each app's cgroup directories (the directories of `appProcs`) to the pod's root:
 * the directory and its {@link DELEGATED_CGROUP_FILES} (those that exist) are chowned to host
 * id `shift`. The pod cgroup and the limits stay the host's, so the pod cannot leave its
 * cgroups nor raise its limits. Errors (system): `stage1.cgroup.delegate`.
 */
export function delegateCgroups(appProcs: Readonly<Record<string, readonly string[]>>, map: PrivateUsers, chown: Chown = chownSync): void {
  for (const files of Object.values(appProcs)) {
    for (const procs of files) {
      const dir = dirname(procs);
      for (const p of [dir, ...DELEGATED_CGROUP_FILES.map((f) => join(dir, f))]) {
        try {
          chown(p, map.shift, map.shift);
        } catch (e) {
          if (p !== dir && errnoOf(e) === 'ENOENT') continue;
          throw systemError('stage1.cgroup.delegate', `delegate cgroup ${p} to uid ${map.shift}: ${errnoOf(e) ?? (e as Error).message}`, { cause: e, details: { path: p } });
        }
      }
    }
  }
}

/**
 * Prepares the stage1 root `s1` for a PID 1 that is the pod's root (host uid `shift`): creates
 * `/proc` and `/sys` (mount points) and the state directories ({@link USERNS_STATE_DIRS}), which
 * become the pod root's, and lets everyone search the directories from `s1` down to each app's
 * directory (`opt/stage2/<app>`), which the pod's root walks to start an app.
 */
export function prepareStage1Root(s1: string, apps: readonly string[], map: PrivateUsers, chown: Chown = chownSync): void {
  for (const d of ['proc', 'sys']) mkdirSync(join(s1, d), { recursive: true, mode: 0o555 });
  for (const d of USERNS_STATE_DIRS) {
    mkdirSync(join(s1, d), { recursive: true, mode: 0o755 });
    chown(join(s1, d), map.shift, map.shift);
  }
  const walk = new Set<string>([s1]);
  for (const app of apps) {
    let d = join(s1, STAGE2_DIR, app);
    while (d.length > s1.length) {
      walk.add(d);
      d = dirname(d);
    }
  }
  for (const d of walk) {
    const mode = statSync(d).mode & 0o7777;
    if (!(mode & 0o001)) chmodSync(d, mode | 0o001);
  }
}

/**
 * Gives the pod's ids to the files and directories of the pod directory `pod` among `sources`
 * (bind sources: `empty` volumes, the /etc files of the stage1 root; others are left alone): an
 * owner id N below `count` becomes `shift + N`; ids already in the pod's range stay.
 */
export function shiftPodOwners(pod: string, sources: readonly string[], map: PrivateUsers, chown: Chown = lchownSync): void {
  if (map.shift === 0) return;
  const inRange = (id: number) => id >= map.shift && id < map.shift + map.count;
  for (const src of new Set(sources)) {
    if (!src.startsWith(`${pod}/`)) continue;
    const st = lstatSync(src);
    if (inRange(st.uid) && inRange(st.gid)) continue;
    const shift = (id: number) => (inRange(id) || id >= map.count ? id : map.shift + id);
    chown(src, shift(st.uid), shift(st.gid));
  }
}

/**
 * Runs `fn` on the calling (main) thread with the filesystem ids of the pod's root (host
 * `shift`), every permitted capability kept effective (setfsuid drops the file ones), then
 * restores ids and capabilities. Files created meanwhile, through an idmapped root too, belong
 * to the pod's root. Without `map`, just runs `fn`. Errors (system): `stage1.private-users.fsids`.
 */
export function withPodFsIds<T>(sys: Pick<Sys, 'setfsuid' | 'setfsgid' | 'capget' | 'capset'>, map: PrivateUsers | undefined, fn: () => T): T {
  if (!map) return fn();
  const caps = sys.capget();
  sys.setfsgid(map.shift);
  sys.setfsuid(map.shift);
  try {
    if (sys.setfsuid(-1) !== map.shift || sys.setfsgid(-1) !== map.shift) {
      throw systemError('stage1.private-users.fsids', `cannot take the filesystem ids ${map.shift} of the pod's root`);
    }
    sys.capset({ effective: caps.permitted, permitted: caps.permitted, inheritable: caps.inheritable });
    return fn();
  } finally {
    sys.setfsuid(0);
    sys.setfsgid(0);
    sys.capset(caps);
  }
}

/** Options of an app's mounts for the pod's user namespace: the tty group of its devpts. */
export function podFsOptions(map: PrivateUsers | undefined): { ttyGid?: number } {
  return map ? { ttyGid: map.shift + TTY_GID } : {};
}

/**
 * Steps 1–2 above, for run before anything of the pod exists: the pod may run in `map`
 * ({@link checkUsernsApps}) and every app root can be idmapped ({@link checkIdmap}, with the
 * stage1's `init`). Returns how the app roots are mounted, for {@link setUpUsernsRoots}.
 */
export function checkUsernsPod(
  init: string,
  map: PrivateUsers,
  pod: string,
  apps: ReadonlyArray<UsernsApp & { root: string }>,
  pid: 'private' | 'host',
  mounts: readonly MountInfo[] = readMountInfo(),
  run?: HelperRunner,
): AppRootLayers[] {
  checkUsernsApps(map, apps, pid);
  const layers = apps.map((a) => appRootLayers(a.name, a.root, mounts, pod));
  checkIdmap(init, map, layers, mounts, run);
  return layers;
}

/**
 * Steps 4–6 above, in the caller's (the host's) mount namespace once the stage1 files are
 * written: the stage1 root made ready ({@link prepareStage1Root}), the owners of the pod's own
 * bind sources shifted ({@link shiftPodOwners}), the app roots replaced by idmapped ones
 * ({@link mountIdmappedRoots}).
 */
export function setUpUsernsRoots(init: string, map: PrivateUsers, pod: string, s1: string, layers: readonly AppRootLayers[], bindSources: readonly string[], run?: HelperRunner): void {
  prepareStage1Root(s1, layers.map((l) => l.app), map);
  shiftPodOwners(pod, bindSources, map);
  mountIdmappedRoots(init, map, layers, run);
}
