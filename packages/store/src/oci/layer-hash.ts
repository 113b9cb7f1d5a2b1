/**
 * Content hashes of extracted layer directories, and the overlayfs markers (whiteouts, opaque
 * directories) found in them.
 */
import { closeSync, constants, lstatSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { lgetxattr, OVERLAY_OPAQUE_XATTR } from '../xattr';

const hashBuf = Buffer.allocUnsafe(1 << 20);

function fileSha256(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    for (;;) {
      const n = readSync(fd, hashBuf, 0, hashBuf.length, null);
      if (n === 0) break;
      h.update(hashBuf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

/** Whether the directory at `path` is marked opaque for overlayfs. */
export function isOpaque(path: string): boolean {
  return lgetxattr(path, OVERLAY_OPAQUE_XATTR)?.toString() === 'y';
}

/** Whether `st` is an overlayfs whiteout (a 0:0 character device). */
export function isWhiteout(st: { isCharacterDevice(): boolean; rdev: number }): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

/**
 * The content hash of an extracted layer directory (`known`: sha256 of files by relative path,
 * computed while they were written, so they need not be read again): a sha256 over one line per path in sorted
 * order (JSON path, type, permission bits, uid, gid, and the size and sha256 of files, symlink
 * targets, device numbers, the opaque mark of directories). Times are left out.
 */
export function hashLayerDir(dir: string, known?: ReadonlyMap<string, string>): string {
  const h = createHash('sha256');
  const walk = (abs: string, rel: string): void => {
    for (const name of readdirSync(abs).sort()) {
      const p = join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      let line = `${JSON.stringify(r)} `;
      const perms = `${(st.mode & 0o7777).toString(8)} ${st.uid} ${st.gid}`;
      if (st.isDirectory()) line += `d ${perms}${isOpaque(p) ? ' opaque' : ''}`;
      else if (st.isFile()) line += `f ${perms} ${st.size} ${known?.get(r) ?? fileSha256(p)}`;
      else if (st.isSymbolicLink()) line += `l ${perms} ${JSON.stringify(readlinkSync(p))}`;
      else if (st.isFIFO()) line += `p ${perms}`;
      else if (st.isCharacterDevice()) line += `c ${perms} ${st.rdev}`;
      else if (st.isBlockDevice()) line += `b ${perms} ${st.rdev}`;
      else line += `s ${perms}`;
      h.update(`${line}\n`);
      if (st.isDirectory()) walk(p, r);
    }
  };
  walk(dir, '');
  return `sha256:${h.digest('hex')}`;
}
