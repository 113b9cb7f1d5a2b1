/**
 * Small file-system helpers with the durability the store relies on.
 */
import { chmodSync, closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { systemError } from '@rktnetes/errors';

/** fsync a directory, making renames and unlinks in it durable. */
export function fsyncDir(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes all of `buf` at the current offset of `fd`. */
export function writeAll(fd: number, buf: Uint8Array): void {
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

/** Writes a small file atomically: temp file in the same directory, fsync, rename. */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const tmp = join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    writeAll(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** mkdir -p */
export function mkdirp(dir: string, mode = 0o755): void {
  mkdirSync(dir, { recursive: true, mode });
}

/**
 * mkdir -p of a directory only its owner may enter (0700), tightening it if it exists with more:
 * what images put there (setuid programs) must not be reachable by other users of the host.
 */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  if ((statSync(dir).mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** rm -rf, never following symlinks. */
export function removeTree(path: string): void {
  rmSync(path, { recursive: true, force: true });
}

/** A random name for temporary files (`<prefix>-<pid>-<hex>`). */
export function tempName(prefix: string): string {
  return `${prefix}-${process.pid}-${randomBytes(8).toString('hex')}`;
}

/**
 * Flushes everything written to the file system holding `path` (syncfs(2) through
 * `sync -f`), cheaper than an fsync per file of a rendered tree.
 */
export async function syncFilesystem(path: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    execFile('sync', ['-f', path], (err) => {
      if (err) reject(systemError('store.io', `cannot sync the file system of ${path}`, { cause: err }));
      else resolve();
    });
  });
}

/** Whether an error is ENOENT. */
export function isENOENT(e: unknown): boolean {
  return (e as NodeJS.ErrnoException | null)?.code === 'ENOENT';
}
