/**
 * flock(2)-based locks on files, usable from many processes (and from one process through
 * separate opens: flock locks belong to the open file description).
 *
 * Waiting is done by polling with a non-blocking flock and a growing sleep, so that the event
 * loop keeps running while a lock is contended.
 */
import { closeSync, fstatSync, mkdirSync, openSync, statSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemError } from '@rktnetes/errors';
import { flock } from './deps';

export type LockMode = 'sh' | 'ex';

export interface LockOptions {
  /** create the lock file (and its directory) when missing; default true */
  create?: boolean;
  /** return undefined instead of waiting when the lock is held elsewhere */
  tryOnly?: boolean;
}

const MAX_STALE_RETRIES = 5;

/** A held lock. Release it exactly once; releasing closes the file descriptor. */
export class FileLock {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    readonly mode: LockMode,
    fd: number | undefined,
  ) {
    this.fd = fd;
  }

  /**
   * Takes a lock on `path`. Resolves to undefined when `tryOnly` is set and the lock is busy,
   * or when `create` is false and the file does not exist (nothing to coordinate with).
   * A lock file unlinked and recreated while we waited (gc removes unused lock files) is
   * detected by comparing inodes, and the lock is retaken on the new file.
   */
  static async acquire(path: string, mode: LockMode, opts: LockOptions = {}): Promise<FileLock | undefined> {
    const create = opts.create ?? true;
    for (let attempt = 0; ; attempt++) {
      const fd = openLockFile(path, create);
      if (fd === undefined) return new FileLock(path, mode, undefined);
      let got = false;
      try {
        got = await lockFd(fd, mode, opts.tryOnly ?? false);
        if (!got) {
          closeSync(fd);
          return undefined;
        }
        if (sameFile(fd, path)) return new FileLock(path, mode, fd);
      } catch (e) {
        closeSync(fd);
        throw e;
      }
      closeSync(fd);
      if (attempt >= MAX_STALE_RETRIES) {
        throw systemError('store.lock', `cannot lock ${path}: the lock file keeps being replaced`);
      }
    }
  }

  /** Whether this lock protects anything (false for a missing file opened without `create`). */
  get held(): boolean {
    return this.fd !== undefined;
  }

  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/** Runs `fn` while holding the lock; always releases it. */
export async function withLock<T>(path: string, mode: LockMode, fn: () => Promise<T> | T, opts: LockOptions = {}): Promise<T> {
  const lock = await FileLock.acquire(path, mode, opts);
  try {
    return await fn();
  } finally {
    lock?.release();
  }
}

/**
 * Locks an already open descriptor (a temp file or directory being written). Resolves false
 * when `tryOnly` and busy.
 */
export async function lockFd(fd: number, mode: LockMode, tryOnly = false): Promise<boolean> {
  let delay = 1;
  for (;;) {
    if (flock(fd, mode, { nonBlocking: true })) return true;
    if (tryOnly) return false;
    await sleep(delay);
    delay = Math.min(delay * 2, 50);
  }
}

/** Whether some other descriptor holds a lock on `path` (probes with a non-blocking shared lock). */
export function isLockedExclusively(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    return !flock(fd, 'sh', { nonBlocking: true });
  } finally {
    closeSync(fd);
  }
}

/** Whether any lock at all is held on `path` by another descriptor (probes exclusively). */
export function isLocked(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return false;
  }
  try {
    return !flock(fd, 'ex', { nonBlocking: true });
  } finally {
    closeSync(fd);
  }
}

function openLockFile(path: string, create: boolean): number | undefined {
  const flags = constants.O_RDONLY | constants.O_NOFOLLOW;
  try {
    return openSync(path, flags);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw systemError('store.lock', `cannot open lock file ${path}`, { cause: e });
    if (!create) return undefined;
  }
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    return openSync(path, flags | constants.O_CREAT, 0o644);
  } catch (e) {
    throw systemError('store.lock', `cannot create lock file ${path}`, { cause: e });
  }
}

function sameFile(fd: number, path: string): boolean {
  try {
    const a = fstatSync(fd);
    const b = statSync(path);
    return a.ino === b.ino && a.dev === b.dev;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}
