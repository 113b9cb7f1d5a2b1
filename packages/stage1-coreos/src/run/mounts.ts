/**
 * The mounts run makes, on Node's main thread, in a mount namespace of its own that the init
 * inherits: the stage1 root bound onto itself (so the init can pivot_root into it) and, for each
 * app, its root bound onto itself, a private /dev, its volumes, /etc files and a read-only root.
 * /proc, /sys and the masked and read-only kernel paths need the pod's pid namespace and are
 * mounted by the init (see init.c).
 *
 * Only synchronous fs calls may be used once {@link enterPrivateMountNamespace} ran: the libuv
 * threadpool still lives in the host's mount namespace.
 */
import { chmodSync, lstatSync, mkdirSync, readlinkSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '@rktnetes/errors';
import { type MountPropagation, volumePropagation } from '@rktnetes/stage1-abi';
import {
  CLONE_NEWNS,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_PRIVATE,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  MS_STRICTATIME,
  S_IFCHR,
  makedev,
  readMountInfo,
  type MountInfo,
  type Sys,
} from '@rktnetes/sys';
import { ensureMountTarget, ensureParentInRoot, statInRoot } from './rootfs';
import { withMountContext } from './selinux';
import { type AppMount, prepareEmptyVolume } from './volumes';

/** A bind mount into an app: a volume, or a file stage1 provides (hostname, hosts, resolv.conf). */
export interface AppBind {
  /** host path */
  source: string;
  /** path inside the app */
  path: string;
  readOnly?: boolean;
  /** bind the source's submounts too (volumes default to recursive) */
  recursive?: boolean;
  /** only when the app does not have the path already (the hosts fallback) */
  ifMissing?: boolean;
  /**
   * propagation of the bind mount: `rprivate` (nothing propagates), `rslave` (the host's mounts
   * below the source appear in the app), `rshared` (both ways: the source must be a shared
   * mount); undefined keeps what the pod's mount namespace gives (a slave of the host's)
   */
  propagation?: MountPropagation;
}

/**
 * An `rshared` bind that {@link setupAppFs} leaves for a graft from the caller's original mount
 * namespace (only a clone made there is a peer of the host's mount): the source, the host path
 * of the target it prepared, and whether it is read-only.
 */
export interface SharedBind {
  source: string;
  target: string;
  readOnly: boolean;
}

/**
 * The bind mounts of an app's volumes, parents before children: the source (an `empty`
 * volume's directory is created), read-only, recursive (default) and propagation (the volume's
 * `propagation` key). Errors (user): `stage1.volume.invalid`.
 */
export function volumeBinds(pod: string, mounts: readonly AppMount[]): AppBind[] {
  const binds: AppBind[] = mounts.map((m) => {
    const propagation = volumePropagation(m.volume);
    return {
      source: m.volume.kind === 'empty' ? prepareEmptyVolume(pod, m.volume) : m.volume.source!,
      path: m.path,
      readOnly: m.readOnly,
      recursive: m.volume.recursive ?? true,
      ...(propagation ? { propagation } : {}),
    };
  });
  return binds.sort((x, y) => x.path.split('/').length - y.path.split('/').length);
}

/** The mount that holds `path` (the last one mounted over the deepest mount point above it). */
export function mountOf(path: string, mounts: readonly MountInfo[]): MountInfo | undefined {
  let best: MountInfo | undefined;
  for (const m of mounts) {
    const under = m.mountPoint === '/' || path === m.mountPoint || path.startsWith(`${m.mountPoint}/`);
    if (under && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/**
 * Checks that the sources of binds with propagation can propagate, as containerd does: an
 * `rshared` source must be on a shared mount, an `rslave` one on a shared or slave mount (read
 * in the caller's mount namespace, before the pod's is made). Errors (user):
 * `stage1.volume.propagation`.
 */
export function checkBindPropagation(binds: readonly AppBind[], mounts: readonly MountInfo[] = readMountInfo()): void {
  for (const b of binds) {
    if (b.propagation !== 'rshared' && b.propagation !== 'rslave') continue;
    let real = b.source;
    try {
      real = realpathSync(b.source);
    } catch {
      // a missing source fails when it is mounted
    }
    const m = mountOf(real, mounts);
    const shared = m?.optional.some((o) => o.startsWith('shared:')) ?? false;
    const slave = m?.optional.some((o) => o.startsWith('master:')) ?? false;
    if (b.propagation === 'rshared' ? !shared : !shared && !slave) {
      const need = b.propagation === 'rshared' ? 'a shared mount' : 'a shared or slave mount';
      throw userError('stage1.volume.propagation', `${b.propagation} propagation for ${b.path}: ${b.source} is on mount ${m?.mountPoint ?? '?'}, which is not ${need}`, {
        details: { source: b.source, mount: m?.mountPoint },
      });
    }
  }
}

/** What run sets up in one app's root. */
export interface AppFsSpec {
  name: string;
  /** host path of the app's root filesystem */
  root: string;
  /** volumes, then the /etc files, in this order (parents before children for volumes) */
  binds: AppBind[];
  readOnlyRootFS: boolean;
  /** a terminal to show as /dev/console (the pod's stdin when it is one) */
  console?: string;
  /** host gid owning the app's pseudo-terminals (devpts `gid=`; default 5, `tty`) */
  ttyGid?: number;
  /** SELinux label of the app's /dev, /dev/pts and /dev/shm (`context=`; none when absent) */
  mountContext?: string;
}

/** Character devices every app gets in its /dev: name, major, minor (OS-SPEC + tty, as rkt). */
export const APP_DEVICES: ReadonlyArray<readonly [string, number, number]> = [
  ['null', 1, 3],
  ['zero', 1, 5],
  ['full', 1, 7],
  ['random', 1, 8],
  ['urandom', 1, 9],
  ['tty', 5, 0],
];

/** Symlinks every app gets in its /dev. */
export const APP_DEV_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['fd', '/proc/self/fd'],
  ['stdin', '/proc/self/fd/0'],
  ['stdout', '/proc/self/fd/1'],
  ['stderr', '/proc/self/fd/2'],
  ['ptmx', 'pts/ptmx'],
];

/**
 * Moves the calling thread into a new mount namespace whose mounts receive the host's unmounts
 * but send nothing back (`/` made a recursive slave). Everything mounted afterwards is seen only
 * by this process and what it execs, and disappears with the last of them.
 */
export function enterPrivateMountNamespace(sys: Sys): void {
  sys.unshare(CLONE_NEWNS);
  sys.mount(null, '/', null, MS_REC | MS_SLAVE);
}

/** Binds a directory onto itself (recursively), making it a mount point for pivot_root. */
export function bindSelf(sys: Sys, dir: string): void {
  sys.mount(dir, dir, null, MS_BIND | MS_REC);
}

function setupDev(sys: Sys, spec: AppFsSpec): void {
  const dev = ensureMountTarget(spec.root, '/dev', 'dir');
  const ctx = spec.mountContext;
  sys.mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_STRICTATIME, withMountContext('mode=755,size=65536k', ctx));
  for (const [name, ma, mi] of APP_DEVICES) {
    const p = join(dev, name);
    sys.mknod(p, S_IFCHR | 0o666, makedev(ma, mi));
    chmodSync(p, 0o666);
  }
  for (const [name, target] of APP_DEV_LINKS) symlinkSync(target, join(dev, name));
  mkdirSync(join(dev, 'pts'), { mode: 0o755 });
  sys.mount('devpts', join(dev, 'pts'), 'devpts', MS_NOSUID | MS_NOEXEC, withMountContext(`newinstance,ptmxmode=0666,mode=0620,gid=${spec.ttyGid ?? 5}`, ctx));
  mkdirSync(join(dev, 'shm'), { mode: 0o1777 });
  sys.mount('shm', join(dev, 'shm'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, withMountContext('mode=1777,size=65536k', ctx));
  if (spec.console) {
    const c = ensureMountTarget(spec.root, '/dev/console', 'file');
    sys.mount(spec.console, c, null, MS_BIND);
  }
}

/** MS_NOSUID/NODEV/NOEXEC as the mount at `target` has them, kept when it is remounted. */
function lockedFlags(target: string): number {
  const m = readMountInfo().filter((mi) => mi.mountPoint === target).at(-1);
  if (!m) return 0;
  return (m.options.includes('nosuid') ? MS_NOSUID : 0) | (m.options.includes('nodev') ? MS_NODEV : 0) | (m.options.includes('noexec') ? MS_NOEXEC : 0);
}

function bindInto(sys: Sys, spec: AppFsSpec, b: AppBind, shared: SharedBind[]): void {
  if (b.ifMissing && statInRoot(spec.root, b.path).stat) return;
  const kind = statSync(b.source).isDirectory() ? 'dir' : 'file';
  const target = ensureMountTarget(spec.root, b.path, kind);
  if (b.propagation === 'rshared') {
    shared.push({ source: b.source, target, readOnly: b.readOnly ?? false });
    return;
  }
  sys.mount(b.source, target, null, MS_BIND | (b.recursive ? MS_REC : 0));
  if (b.readOnly) sys.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | lockedFlags(target));
  if (b.propagation === 'rprivate') sys.mount(null, target, null, MS_REC | MS_PRIVATE);
  else if (b.propagation === 'rslave') sys.mount(null, target, null, MS_REC | MS_SLAVE);
}

function ensureMtab(root: string): void {
  const { host, stat } = statInRoot(root, '/etc/mtab');
  if (stat) return;
  ensureParentInRoot(root, '/etc/mtab');
  symlinkSync('../proc/self/mounts', host);
}

/**
 * Sets up one app's root: bound onto itself, /dev (a tmpfs with {@link APP_DEVICES},
 * {@link APP_DEV_LINKS}, a new devpts instance, /dev/shm, /dev/console; the three mounts
 * labelled with the pod's SELinux mount label when it has one), empty /proc and /sys
 * mount points for the init, the binds in order, /etc/mtab, and finally the read-only remount of
 * the root when asked. Mount targets are resolved inside the app root ({@link ensureMountTarget}).
 * `rshared` binds are not made: their targets are prepared and returned, for the caller to graft
 * them from its original mount namespace.
 */
export function setupAppFs(sys: Sys, spec: AppFsSpec): SharedBind[] {
  const shared: SharedBind[] = [];
  bindSelf(sys, spec.root);
  setupDev(sys, spec);
  ensureMountTarget(spec.root, '/proc', 'dir');
  ensureMountTarget(spec.root, '/sys', 'dir');
  for (const b of spec.binds) bindInto(sys, spec, b, shared);
  ensureMtab(spec.root);
  if (spec.readOnlyRootFS) sys.mount(null, spec.root, null, MS_REMOUNT | MS_BIND | MS_RDONLY | lockedFlags(spec.root));
  return shared;
}

/** The terminal on fd 0, when there is one (`/dev/pts/N`), to show as the app's /dev/console. */
export function stdinTerminal(): string | undefined {
  try {
    const p = readlinkSync('/proc/self/fd/0');
    if (!p.startsWith('/dev/pts/') && !p.startsWith('/dev/tty')) return undefined;
    lstatSync(p);
    return p;
  } catch {
    return undefined;
  }
}
