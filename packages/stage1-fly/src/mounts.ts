/**
 * The mounts fly makes for its app, as a plan (data) and its execution (mount calls). The plan
 * follows rkt's fly stage1: the app rootfs bound onto itself, `/dev`, `/proc` and `/sys` bound
 * recursively from the host, a tmpfs on `/tmp`, the volumes, `/etc/resolv.conf` and
 * `/etc/hosts` per the DNS mode, and a read-only remount of the root when the app asks for it.
 *
 * Everything here is synchronous: it runs in a mount namespace that only the main thread has
 * entered (see @rktnetes/sys), so the libuv threadpool must not be used.
 */
import { chmodSync, chownSync, copyFileSync, mkdirSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { hostsPathIn, resolvConfPathIn, sharedVolumePath, sharedVolumesPath, SHARED_VOLUMES_MODE } from '@rktnetes/common';
import { systemError, userError, wrap } from '@rktnetes/errors';
import type { DnsConfMode } from '@rktnetes/stage1-abi';
import {
  MS_BIND,
  MS_NOATIME,
  MS_NODEV,
  MS_NODIRATIME,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_RELATIME,
  MS_REMOUNT,
  MS_STRICTATIME,
  mountsUnder,
  readMountInfo,
  type MountInfo,
  type Sys,
} from '@rktnetes/sys';
import { resolveInRoot } from './root-path';
import type { VolumeMount } from './volumes';

/** The `/etc/hosts` fly writes into an app that has none (dns mode hosts=default). */
export const FALLBACK_HOSTS = '127.0.0.1 localhost localdomain\n';

/**
 * One step of the plan. Paths named `path` are inside the app (resolved against its root, with
 * symlinks followed inside it, when the step runs); `source` is a host path.
 */
export type MountStep =
  /** bind `source` (host) onto `path`; the target is created like the source (dir or file) */
  | { kind: 'bind'; what: string; source: string; path: string; recursive: boolean; readOnly: boolean }
  /** a fresh tmpfs on `path` */
  | { kind: 'tmpfs'; what: string; path: string }
  /** copy the host file `source` to `path`, when `source` exists */
  | { kind: 'copy'; what: string; source: string; path: string }
  /** write `content` to `path` unless something is there already */
  | { kind: 'write-if-missing'; what: string; path: string; content: string }
  /** remount the mount at `path` read-only (only that mount, not those below it) */
  | { kind: 'remount-ro'; what: string; path: string };

/** An `empty` volume's backing directory, created before the mounts. */
export interface EmptyVolumeDir {
  name: string;
  /** `<pod>/sharedVolumes/<name>` */
  dir: string;
  mode: number;
  uid: number;
  gid: number;
}

/** What {@link planMounts} needs. */
export interface MountPlanInput {
  /** the pod directory (absolute) */
  podDir: string;
  /** the pod's stage1 rootfs (for `etc/rkt-resolv.conf` and `etc/rkt-hosts`) */
  stage1Rootfs: string;
  volumes: readonly VolumeMount[];
  dnsConfMode: DnsConfMode;
  readOnlyRootFS: boolean;
}

/** A plan: the empty-volume directories to create, then the steps in order. */
export interface MountPlan {
  emptyVolumes: EmptyVolumeDir[];
  steps: MountStep[];
}

function parseMode(mode: string | undefined, volume: string): number {
  const text = mode ?? '0755';
  if (!/^[0-7]{1,4}$/.test(text)) {
    throw userError('stage1-fly.volume.invalid', `volume ${volume} has an invalid mode ${JSON.stringify(text)}`, { details: { volume } });
  }
  return Number.parseInt(text, 8);
}

/**
 * The mount plan for the app (pure: reads nothing). `host` volumes bind their source; `empty`
 * volumes bind `<pod>/sharedVolumes/<name>`, created with the volume's mode, uid and gid
 * (defaults 0755, 0, 0).
 */
export function planMounts(input: MountPlanInput): MountPlan {
  const steps: MountStep[] = [
    { kind: 'bind', what: 'app rootfs', source: '', path: '/', recursive: true, readOnly: false },
    { kind: 'bind', what: '/dev', source: '/dev', path: '/dev', recursive: true, readOnly: false },
    { kind: 'bind', what: '/proc', source: '/proc', path: '/proc', recursive: true, readOnly: false },
    { kind: 'bind', what: '/sys', source: '/sys', path: '/sys', recursive: true, readOnly: false },
    { kind: 'tmpfs', what: '/tmp', path: '/tmp' },
  ];
  const emptyVolumes: EmptyVolumeDir[] = [];
  for (const v of input.volumes) {
    let source: string;
    if (v.volume.kind === 'host') {
      if (!v.volume.source) throw userError('stage1-fly.volume.invalid', `host volume ${v.name} has no source`, { details: { volume: v.name } });
      source = v.volume.source;
    } else {
      source = sharedVolumePath(input.podDir, v.name);
      if (!emptyVolumes.some((e) => e.name === v.name)) {
        emptyVolumes.push({ name: v.name, dir: source, mode: parseMode(v.volume.mode, v.name), uid: v.volume.uid ?? 0, gid: v.volume.gid ?? 0 });
      }
    }
    steps.push({ kind: 'bind', what: `volume ${v.name}`, source, path: v.path, recursive: v.recursive, readOnly: v.readOnly });
  }
  const { resolv, hosts } = input.dnsConfMode;
  if (resolv === 'host') steps.push({ kind: 'bind', what: 'host /etc/resolv.conf', source: '/etc/resolv.conf', path: '/etc/resolv.conf', recursive: false, readOnly: true });
  if (resolv === 'stage0') steps.push({ kind: 'copy', what: 'stage0 resolv.conf', source: resolvConfPathIn(input.stage1Rootfs), path: '/etc/resolv.conf' });
  if (hosts === 'host') steps.push({ kind: 'bind', what: 'host /etc/hosts', source: '/etc/hosts', path: '/etc/hosts', recursive: false, readOnly: true });
  if (hosts === 'stage0') steps.push({ kind: 'bind', what: 'stage0 hosts', source: hostsPathIn(input.stage1Rootfs), path: '/etc/hosts', recursive: false, readOnly: true });
  if (hosts === 'default') steps.push({ kind: 'write-if-missing', what: 'fallback /etc/hosts', path: '/etc/hosts', content: FALLBACK_HOSTS });
  if (input.readOnlyRootFS) steps.push({ kind: 'remount-ro', what: 'read-only app rootfs', path: '/' });
  return { emptyVolumes, steps };
}

/** Creates the `empty` volumes' directories (`sharedVolumes/` 0755, each with its mode and owner). */
export function createEmptyVolumes(podDir: string, dirs: readonly EmptyVolumeDir[]): void {
  if (dirs.length === 0) return;
  try {
    mkdirSync(sharedVolumesPath(podDir), { mode: SHARED_VOLUMES_MODE, recursive: true });
    for (const d of dirs) {
      mkdirSync(d.dir, { recursive: true });
      chownSync(d.dir, d.uid, d.gid);
      // after chown, which clears set-id bits; and not subject to the umask
      chmodSync(d.dir, d.mode);
    }
  } catch (e) {
    throw wrap(e, 'stage1-fly.volume.create', `cannot create the empty volumes of pod ${podDir}`);
  }
}

const PRESERVED_FLAGS: Record<string, number> = {
  nosuid: MS_NOSUID,
  nodev: MS_NODEV,
  noexec: MS_NOEXEC,
  noatime: MS_NOATIME,
  nodiratime: MS_NODIRATIME,
  relatime: MS_RELATIME,
  strictatime: MS_STRICTATIME,
};

/** The flags that keep a mount's per-mount options when it is remounted read-only. */
export function readOnlyRemountFlags(options: readonly string[]): number {
  let flags = MS_BIND | MS_REMOUNT | MS_RDONLY;
  for (const o of options) flags |= PRESERVED_FLAGS[o] ?? 0;
  return flags;
}

/** What {@link performMounts} needs besides the plan. */
export interface PerformMountsOptions {
  sys: Pick<Sys, 'mount'>;
  /** the app rootfs (host path) */
  rootfs: string;
  /** debug output */
  debug?: (msg: string) => void;
  /** the mount table (default: this process's, read again for each read-only remount) */
  readMounts?: () => readonly MountInfo[];
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** The app's `/dev`, `/proc` and `/sys` are the host's: creating a mount point there would change the host. */
const HOST_TREES = ['dev', 'proc', 'sys'];

/** Creates `target` as a directory or an empty file, and its parents as directories. */
function createTarget(target: string, dir: boolean, step: MountStep, rootfs: string): void {
  if (HOST_TREES.some((d) => target.startsWith(`${rootfs}/${d}/`))) {
    throw userError('stage1-fly.mount.target', `cannot create the mount point ${step.path} for ${step.what}: /dev, /proc and /sys in the app are the host's`, {
      details: { target },
    });
  }
  mkdirSync(dir ? target : dirname(target), { recursive: true, mode: 0o755 });
  if (!dir) writeFileSync(target, '', { flag: 'a', mode: 0o644 });
}

function remountReadOnly(target: string, tree: boolean, o: PerformMountsOptions): void {
  const table = (o.readMounts ?? (() => readMountInfo()))();
  const mounts = tree ? mountsUnder(target, table) : table.filter((m) => m.mountPoint === target).slice(-1);
  // a recorded (fake) mount leaves no trace in the table: remount the target alone
  if (mounts.length === 0) mounts.push({ mountPoint: target, options: [] } as unknown as MountInfo);
  for (const m of mounts) o.sys.mount(null, m.mountPoint, null, readOnlyRemountFlags(m.options));
}

function performStep(step: MountStep, o: PerformMountsOptions): void {
  const target = step.path === '/' ? o.rootfs : resolveInRoot(o.rootfs, step.path);
  switch (step.kind) {
    case 'bind': {
      const source = step.source || o.rootfs;
      const src = statOrUndefined(source);
      if (!src) throw userError('stage1-fly.mount.source', `cannot mount ${step.what}: ${source} does not exist`, { details: { source } });
      const dst = statOrUndefined(target);
      if (!dst) createTarget(target, src.isDirectory(), step, o.rootfs);
      else if (src.isDirectory() !== dst.isDirectory()) {
        throw userError('stage1-fly.mount.target', `cannot mount ${step.what}: ${source} is ${src.isDirectory() ? '' : 'not '}a directory but ${step.path} in the app is ${dst.isDirectory() ? '' : 'not '}one`, {
          details: { source, target },
        });
      }
      o.sys.mount(source, target, null, MS_BIND | (step.recursive ? MS_REC : 0));
      if (step.readOnly) remountReadOnly(target, step.recursive, o);
      return;
    }
    case 'tmpfs':
      if (!statOrUndefined(target)) createTarget(target, true, step, o.rootfs);
      o.sys.mount('tmpfs', target, 'tmpfs', 0);
      return;
    case 'copy':
      if (!statOrUndefined(step.source)) return;
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      copyFileSync(step.source, target);
      return;
    case 'write-if-missing':
      if (statOrUndefined(target)) return;
      mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
      writeFileSync(target, step.content, { mode: 0o644 });
      return;
    case 'remount-ro':
      remountReadOnly(target, false, o);
      return;
  }
}

/**
 * Runs the plan's steps in order inside the app rootfs: creates missing targets, mounts, and
 * remounts read-only what must be (keeping nosuid/nodev/noexec/atime flags; every sub-mount
 * of a recursive read-only volume too). Must run in the pod's private mount namespace.
 *
 * @throws RktError `stage1-fly.mount.source`, `stage1-fly.mount.target` (user errors),
 *   `stage1-fly.mount` (system error) wrapping the failing call
 */
export function performMounts(steps: readonly MountStep[], o: PerformMountsOptions): void {
  for (const step of steps) {
    o.debug?.(`mount: ${step.kind} ${step.what} at ${step.path}`);
    try {
      performStep(step, o);
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('stage1-fly.')) throw e;
      throw systemError('stage1-fly.mount', `cannot set up ${step.what} at ${step.path} in the app`, { cause: e, details: { step } });
    }
  }
}
