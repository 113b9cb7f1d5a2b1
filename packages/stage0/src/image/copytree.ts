/**
 * Copying a rendered tree out of the tree store (`rkt image render`), keeping file types,
 * owners, modes, times and hard links between files of the tree.
 */
import { copyFileSync, constants, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { systemError } from '@rktnetes/errors';
import { major, minor } from '@rktnetes/sys';
import { applyMeta, applySymlinkMeta, makeNode, type Meta } from './fsmeta';

/**
 * Copies the tree at `src` to `dest` (which must not exist). Sockets are skipped. Directory
 * metadata is set after their content is written, so read-only directories copy too.
 */
export function copyTree(src: string, dest: string): void {
  const links = new Map<string, string>();
  const copy = (from: string, to: string): void => {
    const st = lstatSync(from);
    const meta: Meta = { mode: st.mode, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      mkdirSync(to, 0o700);
      for (const name of readdirSync(from)) copy(join(from, name), join(to, name));
      applyMeta(to, meta);
      return;
    }
    if (st.isSymbolicLink()) {
      symlinkSync(readlinkSync(from), to);
      applySymlinkMeta(to, meta);
      return;
    }
    if (st.nlink > 1 && !st.isSocket()) {
      const inode = `${st.dev}:${st.ino}`;
      const first = links.get(inode);
      if (first) {
        linkSync(first, to);
        return;
      }
      links.set(inode, to);
    }
    if (st.isFile()) copyFileSync(from, to, constants.COPYFILE_EXCL);
    else if (st.isFIFO()) makeNode(to, 'fifo', 0, 0);
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      makeNode(to, st.isCharacterDevice() ? 'char' : 'block', major(st.rdev), minor(st.rdev));
    } else return;
    applyMeta(to, meta);
  };
  try {
    copy(src, dest);
  } catch (e) {
    throw systemError('image.copy', `cannot copy ${src} to ${dest}`, { cause: e });
  }
}
