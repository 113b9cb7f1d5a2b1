/**
 * Paths inside an app's root filesystem, seen from the host. An image's symlinks are meant for
 * its own root: an absolute link (`/etc/resolv.conf -> /run/resolv.conf`) or enough `..` would
 * point into the host if followed naively. Everything that stage1 touches in an app root goes
 * through {@link resolveInRoot}.
 */
import { closeSync, lstatSync, mkdirSync, openSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { userError } from '@rktnetes/errors';

/** Symlinks followed before giving up, as the kernel does (ELOOP). */
const MAX_SYMLINKS = 40;

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The host path of `path` (absolute or relative, as the app would see it) inside `root`,
 * following symlinks as if `root` were `/`: absolute link targets restart at `root`, `..` never
 * climbs above it. Components that do not exist are kept literally, so the result may not exist.
 * Errors (user): `stage1.rootfs.symlink-loop` after 40 links.
 */
export function resolveInRoot(root: string, path: string): string {
  const pending = path.split('/').filter((p) => p !== '' && p !== '.');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(root, ...resolved, part);
    const st = lstatOrUndefined(candidate);
    if (st?.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) {
        throw userError('stage1.rootfs.symlink-loop', `too many levels of symbolic links resolving ${path} in ${root}`, { details: { root, path } });
      }
      const target = readlinkSync(candidate);
      if (target.startsWith('/')) resolved = [];
      pending.unshift(...target.split('/').filter((p) => p !== '' && p !== '.'));
      continue;
    }
    resolved.push(part);
  }
  return join(root, ...resolved);
}

/** The host path of `path` in `root`, with its parent directories created (mode 0755). */
export function ensureParentInRoot(root: string, path: string): string {
  const host = resolveInRoot(root, path);
  const parent = host.slice(0, host.lastIndexOf('/'));
  if (parent.length >= root.length) mkdirSync(parent, { recursive: true, mode: 0o755 });
  return host;
}

/**
 * Makes `path` in `root` exist as a directory (`dir`) or an empty file (`file`), creating
 * parents, and returns its host path, ready to be mounted on. An existing entry of the other
 * type is left as it is (the mount then fails with a clear error).
 */
export function ensureMountTarget(root: string, path: string, kind: 'dir' | 'file'): string {
  const host = ensureParentInRoot(root, path);
  if (lstatOrUndefined(host)) return host;
  if (kind === 'dir') mkdirSync(host, { recursive: true, mode: 0o755 });
  else closeSync(openSync(host, 'a', 0o644));
  return host;
}

/** lstat of a path resolved inside `root`, or undefined when it does not exist. */
export function statInRoot(root: string, path: string): { host: string; stat: Stats | undefined } {
  const host = resolveInRoot(root, path);
  return { host, stat: lstatOrUndefined(host) };
}
