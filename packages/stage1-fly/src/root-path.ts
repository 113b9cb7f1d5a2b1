/**
 * Paths inside an app's root filesystem, seen from the host before chroot: symlinks are
 * resolved as the app would see them, so an absolute link in the image (`/data -> /etc`) points
 * into the app's root, never at the host's files.
 */
import { accessSync, constants as fsConstants, lstatSync, readlinkSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import { userError } from '@rktnetes/errors';

/** Symlinks followed before giving up (Linux's own limit). */
const MAX_SYMLINKS = 40;

/**
 * The host path of `path` inside `root`, with every symlink along it resolved relative to
 * `root` (`..` never leaves it). Components that do not exist are kept as they are, so the
 * result can be created with mkdir. Synchronous: it runs inside a mount namespace that only
 * the calling thread has entered.
 *
 * @throws RktError `stage1-fly.path.loop` when more than 40 symlinks are met
 */
export function resolveInRoot(root: string, path: string): string {
  const pending = path.split('/');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink = false;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      // missing (or below a non-directory): kept as is; mkdir or mount reports it later
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_SYMLINKS) {
      throw userError('stage1-fly.path.loop', `too many levels of symbolic links resolving ${path} in ${root}`, { details: { root, path } });
    }
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    pending.unshift(...target.split('/'));
  }
  return join(root, ...done);
}

/**
 * Finds the program an app's `exec[0]` names, as rkt does: an absolute path is used as is, a
 * relative path with a slash is taken from the working directory, and a bare name is looked up
 * in `searchPath` (the app's PATH) for an executable regular file. Returns the path as the app
 * sees it (inside its root), or undefined when a bare name is found nowhere.
 */
export function findExecutable(root: string, bin: string, searchPath: string, workingDirectory: string): string | undefined {
  if (bin.startsWith('/')) return bin;
  if (bin.includes('/')) return posix.join(workingDirectory, bin);
  for (const dir of searchPath.split(':')) {
    if (!dir.startsWith('/')) continue; // relative PATH entries mean nothing before the app runs
    const candidate = posix.join(dir, bin);
    const host = resolveInRoot(root, candidate);
    try {
      if (!statSync(host).isFile()) continue;
      accessSync(host, fsConstants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}
