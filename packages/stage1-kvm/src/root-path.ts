/**
 * Paths inside an app's root filesystem, resolved on the host before boot, the way the app
 * will see them: a symlink in the image resolves inside the app's root, never on the host or in
 * the guest's initramfs.
 */
import { accessSync, constants as fsConstants, lstatSync, readlinkSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { userError } from '@rktnetes/errors';

const MAX_LINKS = 40;

/**
 * The path (relative to the root, starting with `/`) that `path` names inside `root`, with
 * every symlink resolved inside the root and `..` clamped at it. Missing components are kept.
 *
 * @throws RktError `stage1-kvm.path.loop` after 40 symlinks
 */
export function resolveInRoot(root: string, path: string): string {
  const todo = path.split('/');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let target: string | undefined;
    try {
      if (lstatSync(host).isSymbolicLink()) target = readlinkSync(host);
    } catch {
      // missing: kept, created later
    }
    if (target === undefined) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw userError('stage1-kvm.path.loop', `too many symbolic links resolving ${path} in ${root}`, { details: { root, path } });
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/'));
  }
  return `/${done.join('/')}`;
}

/** The host path of `path` inside `root` ({@link resolveInRoot} joined to the root). */
export const hostPathInRoot = (root: string, path: string) => join(root, resolveInRoot(root, path));

/**
 * The program `bin` names for an app: absolute paths as they are, relative paths with a slash
 * from the working directory, bare names from the first PATH directory holding an executable
 * regular file. Undefined when a bare name is nowhere.
 */
export function findExecutable(root: string, bin: string, searchPath: string, cwd: string): string | undefined {
  if (bin.startsWith('/')) return bin;
  if (bin.includes('/')) return posix.join(cwd, bin);
  for (const dir of searchPath.split(':')) {
    if (!dir.startsWith('/')) continue;
    const candidate = posix.join(dir, bin);
    try {
      const host = hostPathInRoot(root, candidate);
      if (!statSync(host).isFile()) continue;
      accessSync(host, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
