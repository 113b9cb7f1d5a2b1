/**
 * Writing file system entries with their metadata (owner, mode, times, device numbers) for
 * `rkt image extract` and `rkt image render`. Owners are kept only when running as root.
 */
import { chmodSync, chownSync, lchownSync, lstatSync, lutimesSync, mkdirSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '@rktnetes/errors';
import { makedev, realSys, S_IFBLK, S_IFCHR, S_IFIFO } from '@rktnetes/sys';

export const AS_ROOT = process.getuid?.() === 0;

/** Owner, permission bits and modification time of an entry. */
export interface Meta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

/** Applies `m` to a non-symlink: owner first (chown clears setuid bits), then mode, then times. */
export function applyMeta(abs: string, m: Meta): void {
  if (AS_ROOT) chownSync(abs, m.uid, m.gid);
  chmodSync(abs, m.mode & 0o7777);
  utimesSync(abs, m.mtime, m.mtime);
}

/** Applies owner and times to a symlink itself. */
export function applySymlinkMeta(abs: string, m: Meta): void {
  if (AS_ROOT) lchownSync(abs, m.uid, m.gid);
  lutimesSync(abs, m.mtime, m.mtime);
}

/** Creates a FIFO or device node (devices need root). */
export function makeNode(abs: string, type: 'fifo' | 'char' | 'block', major: number, minor: number): void {
  const kind = type === 'fifo' ? S_IFIFO : type === 'char' ? S_IFCHR : S_IFBLK;
  realSys().mknod(abs, kind | 0o600, type === 'fifo' ? 0 : makedev(major, minor));
}

/**
 * Creates the directories of `rel` below `base` that do not exist yet, refusing to go through
 * anything but a real directory (a symlink planted by an earlier entry must not redirect
 * writes outside `base`). `made` caches directories known to be real.
 */
export function ensureDirs(base: string, rel: string, made: Set<string>, what: string): void {
  if (rel === '' || made.has(rel)) return;
  let cur = '';
  for (const part of rel.split('/')) {
    cur = cur ? `${cur}/${part}` : part;
    if (made.has(cur)) continue;
    const abs = join(base, cur);
    try {
      mkdirSync(abs, 0o755);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw systemError('image.output', `${what}: cannot create ${abs}`, { cause: e });
      if (!lstatSync(abs).isDirectory()) throw systemError('image.output', `${what}: ${cur} exists and is not a directory`);
    }
    made.add(cur);
  }
}
