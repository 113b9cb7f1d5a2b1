/**
 * Image root filesystems of a pod: overlay mounts of tree store renders (the default), or
 * copies of them (`--no-overlay`). Overlays are mounted by stage0 in the host mount namespace
 * when the pod starts, like rkt's stage0 does; `rkt gc` unmounts them.
 *
 *   stage1/rootfs                       lower <s1 lower dirs>, upper overlay/<s1>/upper, work overlay/<s1>/work
 *   stage1/rootfs/opt/stage2/<app>/rootfs  lower <app lower dirs>, upper overlay/<id>/upper/<app>, work overlay/<id>/work/<app>
 *
 * The lower dirs are the store render's `lowerDirs`: `[cas/tree/<id>/rootfs]` for an ACI, the
 * layer directories `cas/layer/<hex>` (uppermost first) for a layered (Docker/OCI) image. They
 * are only ever read; every write of the pod goes to its upper dir.
 */
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { DEFAULT_REGULAR_DIR_MODE, overlayDir, overlayImageDir, overlayUpperDir, overlayWorkDir } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import type { Sys } from '@rktnetes/sys';
import { withMountContext } from './selinux';

const AUFS_MAGIC = 0x61756673;
const ZFS_MAGIC = 0x2fc12fc1;

/**
 * Why overlay cannot be used for pods under `dataDir`, or undefined when it can: the kernel
 * must know overlayfs and the data directory must not be on aufs or zfs (rkt's checks).
 */
export function overlayUnsupportedReason(dataDir: string): string | undefined {
  let filesystems: string;
  try {
    filesystems = fs.readFileSync('/proc/filesystems', 'utf8');
  } catch (e) {
    return `cannot open /proc/filesystems: ${(e as Error).message}`;
  }
  if (!filesystems.split('\n').some((l) => l.trim() === 'nodev\toverlay' || /\boverlay$/.test(l))) return 'overlay entry not present in /proc/filesystems';
  try {
    const type = Number(fs.statfsSync(dataDir).type);
    if (type === AUFS_MAGIC) return 'unsupported filesystem: aufs';
    if (type === ZFS_MAGIC) return 'unsupported filesystem: zfs';
  } catch {
    // the data dir may not exist yet: assume its parent's filesystem is fine
  }
  return undefined;
}

/** overlayfs option escaping: `:` and `,` separate directories. */
export const escapeDir = (dir: string) => dir.replace(/[:,]/g, (c) => `\\${c}`);

/**
 * The longest mount data the kernel takes: mount(2) copies at most one page of options (4096
 * bytes with its terminating NUL).
 */
export const MAX_MOUNT_DATA = 4095;

/** The mount data of an overlay; `lower` is one directory or the lower dirs, uppermost first. */
export function overlayOptions(lower: string | readonly string[], upper: string, work: string): string {
  const lowers = typeof lower === 'string' ? [lower] : lower;
  return `lowerdir=${lowers.map(escapeDir).join(':')},upperdir=${escapeDir(upper)},workdir=${escapeDir(work)}`;
}

/**
 * How to mount an overlay of `lowerDirs`: the mount data, and the directory to mount from when
 * the lower dirs are given relative to it. With many layers absolute paths overflow the page
 * of mount options (about 45 `cas/layer/<64 hex>` paths); when they all live in one directory
 * their names relative to it fit about 60. Throws `pod.overlay-too-deep` when even that is too
 * long.
 */
export function overlayMountData(lowerDirs: readonly string[], upper: string, work: string, mountLabel?: string): { data: string; cwd?: string } {
  return fitLowerDirs(lowerDirs, (lowers) => withMountContext(overlayOptions(lowers, upper, work), mountLabel));
}

/**
 * Mount data built by `build` from `lowerDirs`, or from their names relative to their common
 * parent (returned as `cwd`) when the absolute form exceeds {@link MAX_MOUNT_DATA}. Throws
 * `pod.overlay-too-deep` when neither fits.
 */
export function fitLowerDirs(lowerDirs: readonly string[], build: (lowers: readonly string[]) => string): { data: string; cwd?: string } {
  const data = build(lowerDirs);
  if (data.length <= MAX_MOUNT_DATA) return { data };
  const parent = dirname(lowerDirs[0] ?? '/');
  if (lowerDirs.every((d) => dirname(d) === parent)) {
    const relative = build(lowerDirs.map((d) => basename(d)));
    if (relative.length <= MAX_MOUNT_DATA) return { data: relative, cwd: parent };
  }
  throw userError('pod.overlay-too-deep', `cannot mount an image of ${lowerDirs.length} layers: its overlay options exceed ${MAX_MOUNT_DATA} bytes`);
}

/** One overlay to set up for an image directory (`<dest>/rootfs`). */
export interface ImageOverlay {
  /** the tree store render's `lowerDirs`, uppermost first (`[rootfs]` for an ACI) */
  lowerDirs: readonly string[];
  treeStoreId: string;
  /** the image directory; the overlay is mounted on `<dest>/rootfs` */
  dest: string;
  /** undefined for the stage1 itself */
  app?: string;
  /** the pod's SELinux mount label (`context=` option), when the host uses SELinux */
  mountLabel?: string;
}

/**
 * Creates the upper and work directories of `o` in the pod and mounts the overlay on
 * `<dest>/rootfs` (rkt's prepareOverlay + overlay.Mount). System error `pod.overlay` on failure.
 */
export function mountImageOverlay(sys: Sys, pod: string, o: ImageOverlay): string {
  const target = join(o.dest, 'rootfs');
  try {
    const top = o.lowerDirs[0];
    if (top === undefined) throw userError('pod.overlay', 'no lower directory to mount');
    // the merged root has the mode of the uppermost layer's root
    const imgMode = fs.statSync(top).mode & 0o7777;
    fs.mkdirSync(target, { recursive: true, mode: imgMode });
    fs.mkdirSync(overlayDir(pod), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
    // the pod directory may be setgid; files created in the pod must not inherit the group
    fs.chmodSync(overlayDir(pod), DEFAULT_REGULAR_DIR_MODE);
    fs.mkdirSync(overlayImageDir(pod, o.treeStoreId), { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
    const upper = overlayUpperDir(pod, o.treeStoreId, o.app);
    const work = overlayWorkDir(pod, o.treeStoreId, o.app);
    fs.mkdirSync(upper, { recursive: true, mode: imgMode });
    fs.mkdirSync(work, { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
    const { data, cwd } = overlayMountData(o.lowerDirs, upper, work, o.mountLabel);
    if (cwd === undefined) sys.mount('overlay', target, 'overlay', 0, data);
    else withCwd(sys, cwd, () => sys.mount('overlay', target, 'overlay', 0, data));
  } catch (e) {
    throw systemError('pod.overlay', `cannot mount the overlay of ${o.app === undefined ? 'stage1' : `app ${o.app}`} on ${target}`, { cause: e });
  }
  return target;
}

/** Runs `fn` with the working directory at `dir` (mount(2) resolves relative lower dirs against it). */
function withCwd<T>(sys: Sys, dir: string, fn: () => T): T {
  const back = process.cwd();
  sys.chdir(dir);
  try {
    return fn();
  } finally {
    sys.chdir(back);
  }
}

/**
 * Copies a rendered tree into `dest` (created if missing), keeping owners, modes, times, links
 * and device nodes (`cp -a`), for pods prepared without overlay.
 */
export async function copyTree(src: string, dest: string): Promise<void> {
  await fsp.mkdir(dest, { recursive: true, mode: DEFAULT_REGULAR_DIR_MODE });
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) => {
    execFile('cp', ['-a', '--', `${src}/.`, dest], { maxBuffer: 1 << 20 }, (err, _out, stderr) => {
      if (err) reject(systemError('pod.copy', `cannot copy ${src} to ${dest}: ${String(stderr).trim() || err.message}`, { cause: err }));
      else resolve();
    });
  });
}

/**
 * Creates `/etc/mtab -> ../proc/self/mounts` in an app's root when it has `/etc` but no mtab
 * (tools such as util-linux mount expect one).
 */
export function ensureMtab(rootfs: string): void {
  const etc = join(rootfs, 'etc');
  let st: fs.Stats;
  try {
    st = fs.statSync(etc);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw systemError('pod.mtab', `cannot inspect ${etc}`, { cause: e });
  }
  if (!st.isDirectory()) return;
  const mtab = join(etc, 'mtab');
  try {
    fs.lstatSync(mtab);
    return;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw systemError('pod.mtab', `cannot inspect ${mtab}`, { cause: e });
  }
  try {
    fs.symlinkSync('../proc/self/mounts', mtab);
  } catch (e) {
    throw systemError('pod.mtab', `cannot create ${mtab}`, { cause: e });
  }
}

/** A user error for a pod prepared with overlay when overlay is not available. */
export function overlayUnavailable(reason: string): Error {
  return userError('pod.overlay-unsupported', `unable to run prepared overlay-enabled pod: overlay not supported (${reason})`);
}
