import { readFileSync, realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { systemError, userError } from '@rktnetes/errors';
import { MNT_DETACH, UMOUNT_NOFOLLOW } from './constants';
import { errnoOf, sysError } from './errno';
import type { Sys } from './sys';

/** One line of /proc/<pid>/mountinfo (proc(5)). Paths are unescaped. */
export interface MountInfo {
  /** Unique mount id. */
  id: number;
  /** Id of the parent mount (itself for the root of the namespace). */
  parentId: number;
  major: number;
  minor: number;
  /** Path within the filesystem that forms the root of this mount. */
  root: string;
  /** Where it is mounted, relative to the reading process's root. */
  mountPoint: string;
  /** Per-mount options (`rw`, `nosuid`, `relatime`, ...). */
  options: string[];
  /** Optional fields: `shared:N`, `master:N`, `propagate_from:N`, `unbindable`. */
  optional: string[];
  fsType: string;
  /** Filesystem-specific source, `none` when there is none. */
  source: string;
  /** Per-superblock options. */
  superOptions: string[];
}

const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/**
 * Parses the text of a mountinfo file. Throws `sys.mountinfo` (user error) on a malformed line.
 */
export function parseMountInfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const [i, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    const fields = line.split(' ');
    const sep = fields.indexOf('-', 6);
    const [id, parentId, dev, root, mountPoint, options] = fields;
    const devParts = dev?.split(':') ?? [];
    if (sep < 0 || fields.length < sep + 3 || devParts.length !== 2 || root === undefined || mountPoint === undefined || options === undefined) {
      throw userError('sys.mountinfo', `parse mountinfo line ${i + 1}: malformed ${JSON.stringify(line)}`);
    }
    out.push({
      id: Number(id),
      parentId: Number(parentId),
      major: Number(devParts[0]),
      minor: Number(devParts[1]),
      root: unescape(root),
      mountPoint: unescape(mountPoint),
      options: options.split(','),
      optional: fields.slice(6, sep),
      fsType: unescape(fields[sep + 1] ?? ''),
      source: unescape(fields[sep + 2] ?? ''),
      superOptions: (fields[sep + 3] ?? '').split(',').filter(Boolean),
    });
  }
  return out;
}

/**
 * The mount table of a process (default this one) from /proc/<pid>/mountinfo, in mount order.
 * Reads with a synchronous call, so after an unshare(CLONE_NEWNS) on the main thread it shows
 * that thread's namespace.
 */
export function readMountInfo(pid: number | 'self' = 'self'): MountInfo[] {
  const path = `/proc/${pid}/mountinfo`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const errno = errnoOf(e);
    if (!errno) throw e;
    throw sysError('mountinfo', 'read', path, errno, e);
  }
  return parseMountInfo(text);
}

/** Absolute, without a trailing slash (except `/`). */
function normalize(p: string): string {
  return resolve(p);
}

/**
 * The mounts whose mount point is `prefix` or below it, in mount order. `prefix` is compared
 * as given (made absolute); mountinfo shows canonical paths, so pass a realpath.
 */
export function mountsUnder(prefix: string, mounts: readonly MountInfo[] = readMountInfo()): MountInfo[] {
  const root = normalize(prefix);
  const below = root === '/' ? '/' : `${root}/`;
  return mounts.filter((m) => m.mountPoint === root || m.mountPoint.startsWith(below));
}

export interface UnmountTreeOptions {
  /** Where the mount table comes from (default {@link readMountInfo} of this process). */
  readMounts?: () => readonly MountInfo[];
  /** Rounds of re-reading the table before giving up (default 8). */
  maxRounds?: number;
}

const depth = (p: string) => (p === '/' ? 0 : p.split('/').length - 1);

/**
 * Unmounts every mount at or below `prefix`, deepest first (and, on one mount point, the most
 * recent first), with UMOUNT_NOFOLLOW. A busy mount (EBUSY) is detached lazily (MNT_DETACH);
 * one already gone (EINVAL, ENOENT) is skipped. The table is re-read until nothing is left
 * under `prefix`. Returns the mount points unmounted, in order.
 *
 * `prefix` is resolved with realpath when it exists, as mountinfo shows canonical paths.
 * Throws the umount error for any other failure, or `sys.unmountTree` when mounts remain.
 */
export function unmountTree(prefix: string, sys: Pick<Sys, 'umount2'>, opts: UnmountTreeOptions = {}): string[] {
  let root = normalize(prefix);
  try {
    root = realpathSync(root);
  } catch {
    // gone already: compare the path as given
  }
  const read = opts.readMounts ?? (() => readMountInfo());
  const maxRounds = opts.maxRounds ?? 8;
  const done: string[] = [];
  let remaining: MountInfo[] = [];
  for (let round = 0; round < maxRounds; round++) {
    remaining = mountsUnder(root, read());
    if (remaining.length === 0) return done;
    const ordered = remaining
      .map((m, i) => ({ m, i }))
      .sort((a, b) => depth(b.m.mountPoint) - depth(a.m.mountPoint) || b.i - a.i);
    let progress = false;
    for (const { m } of ordered) {
      if (unmountOne(m.mountPoint, sys)) {
        done.push(m.mountPoint);
        progress = true;
      }
    }
    if (!progress) break;
  }
  remaining = mountsUnder(root, read());
  if (remaining.length === 0) return done;
  throw systemError('sys.unmountTree', `unmount tree ${root}: ${remaining.length} mount(s) remain: ${remaining.map((m) => m.mountPoint).join(', ')}`, {
    details: { remaining: remaining.map((m) => m.mountPoint) },
  });
}

/** true when unmounted, false when it was already gone. */
function unmountOne(target: string, sys: Pick<Sys, 'umount2'>): boolean {
  try {
    sys.umount2(target, UMOUNT_NOFOLLOW);
    return true;
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'EINVAL' || errno === 'ENOENT') return false;
    if (errno !== 'EBUSY') throw e;
  }
  try {
    sys.umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW);
    return true;
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === 'EINVAL' || errno === 'ENOENT') return false;
    throw e;
  }
}
