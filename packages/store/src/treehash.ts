/**
 * The content hash of a rendered tree: a sha512 over one record per path, walked in sorted
 * order, of the path, type, permission bits, owner, size and the sha512 of a file's content,
 * a symlink's target or a device's numbers. Times are left out (they are not content).
 */
import { closeSync, constants, lstatSync, openSync, readSync, readdirSync, readlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';

/** Top-level names of a tree dir that are metadata, not content (`size`: see render.ts). */
export const TREE_METADATA = new Set(['hash', 'image', 'size']);

export interface TreeHash {
  /** `sha512-` + 128 hex */
  hash: string;
  /** bytes of regular files, each inode counted once */
  size: number;
}

const buf = Buffer.allocUnsafe(1 << 20);

/** The hex sha512 of a file's content (read synchronously, not following a final symlink). */
export function fileSha512(path: string): string {
  const h = createHash('sha512');
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Hashes the tree at `dir` (a tree store dir or a render in progress). */
export function hashTree(dir: string): TreeHash {
  const h = createHash('sha512');
  const inodes = new Set<string>();
  let size = 0;
  const walk = (abs: string, rel: string): void => {
    const names = readdirSync(abs).sort();
    for (const name of names) {
      if (rel === '' && TREE_METADATA.has(name)) continue;
      const p = join(abs, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      const st = lstatSync(p);
      const mode = (st.mode & 0o7777).toString(8);
      let type: string;
      let extra = '';
      if (st.isDirectory()) type = 'd';
      else if (st.isFile()) {
        type = 'f';
        extra = `${st.size} ${fileSha512(p)}`;
        const ino = `${st.dev}:${st.ino}`;
        if (!inodes.has(ino)) {
          inodes.add(ino);
          size += st.size;
        }
      } else if (st.isSymbolicLink()) {
        type = 'l';
        extra = JSON.stringify(readlinkSync(p));
      } else if (st.isFIFO()) type = 'p';
      else if (st.isCharacterDevice()) {
        type = 'c';
        extra = String(st.rdev);
      } else if (st.isBlockDevice()) {
        type = 'b';
        extra = String(st.rdev);
      } else type = 's';
      h.update(`${JSON.stringify(r)} ${type} ${mode} ${st.uid} ${st.gid} ${extra}\n`);
      if (type === 'd') walk(p, r);
    }
  };
  walk(dir, '');
  return { hash: `sha512-${h.digest('hex')}`, size };
}
