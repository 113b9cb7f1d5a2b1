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
import { chmodSync, lstatSync, mkdirSync, readlinkSync, statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import {
  CLONE_NEWNS,
  MS_BIND,
  MS_NODEV,
  MS_NOEXEC,
  MS_NOSUID,
  MS_RDONLY,
  MS_REC,
  MS_REMOUNT,
  MS_SLAVE,
  MS_STRICTATIME,
  S_IFCHR,
  makedev,
  readMountInfo,
  type Sys,
} from '@rktnetes/sys';
import { ensureMountTarget, ensureParentInRoot, statInRoot } from './rootfs';

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
  sys.mount('tmpfs', dev, 'tmpfs', MS_NOSUID | MS_STRICTATIME, 'mode=755,size=65536k');
  for (const [name, ma, mi] of APP_DEVICES) {
    const p = join(dev, name);
    sys.mknod(p, S_IFCHR | 0o666, makedev(ma, mi));
    chmodSync(p, 0o666);
  }
  for (const [name, target] of APP_DEV_LINKS) symlinkSync(target, join(dev, name));
  mkdirSync(join(dev, 'pts'), { mode: 0o755 });
  sys.mount('devpts', join(dev, 'pts'), 'devpts', MS_NOSUID | MS_NOEXEC, 'newinstance,ptmxmode=0666,mode=0620,gid=5');
  mkdirSync(join(dev, 'shm'), { mode: 0o1777 });
  sys.mount('shm', join(dev, 'shm'), 'tmpfs', MS_NOSUID | MS_NODEV | MS_NOEXEC, 'mode=1777,size=65536k');
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

function bindInto(sys: Sys, spec: AppFsSpec, b: AppBind): void {
  if (b.ifMissing && statInRoot(spec.root, b.path).stat) return;
  const kind = statSync(b.source).isDirectory() ? 'dir' : 'file';
  const target = ensureMountTarget(spec.root, b.path, kind);
  sys.mount(b.source, target, null, MS_BIND | (b.recursive ? MS_REC : 0));
  if (b.readOnly) sys.mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | lockedFlags(target));
}

function ensureMtab(root: string): void {
  const { host, stat } = statInRoot(root, '/etc/mtab');
  if (stat) return;
  ensureParentInRoot(root, '/etc/mtab');
  symlinkSync('../proc/self/mounts', host);
}

/**
 * Sets up one app's root: bound onto itself, /dev (a tmpfs with {@link APP_DEVICES},
 * {@link APP_DEV_LINKS}, a new devpts instance, /dev/shm, /dev/console), empty /proc and /sys
 * mount points for the init, the binds in order, /etc/mtab, and finally the read-only remount of
 * the root when asked. Mount targets are resolved inside the app root ({@link ensureMountTarget}).
 */
export function setupAppFs(sys: Sys, spec: AppFsSpec): void {
  bindSelf(sys, spec.root);
  setupDev(sys, spec);
  ensureMountTarget(spec.root, '/proc', 'dir');
  ensureMountTarget(spec.root, '/sys', 'dir');
  for (const b of spec.binds) bindInto(sys, spec, b);
  ensureMtab(spec.root);
  if (spec.readOnlyRootFS) sys.mount(null, spec.root, null, MS_REMOUNT | MS_BIND | MS_RDONLY | lockedFlags(spec.root));
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
