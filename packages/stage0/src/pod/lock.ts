/**
 * Locks on pod directories and the prepare key lock (see docs/pod-lifecycle.md). A pod
 * directory's exclusive flock says someone works on it (preparing, running, deleting); probing
 * takes a shared non-blocking lock and drops it at once.
 */
import * as fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { locksDir, prepareLockPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { errnoOf, realSys, type Sys } from '@rktnetes/sys';

let shared: Sys | undefined;

/** The process-wide real system call interface (loaded on first use). */
export function podSys(): Sys {
  shared ??= realSys();
  return shared;
}

/** An open pod directory descriptor holding (or not) a lock. Close it to release. */
export class PodLock {
  constructor(
    readonly fd: number,
    readonly path: string,
  ) {}

  /** Releases the lock by closing the descriptor; safe to call twice. */
  close(): void {
    try {
      fs.closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/**
 * Opens `path` and takes an exclusive lock without waiting. Resolves undefined when another
 * process holds a lock on it or the directory is gone.
 */
export function tryLockPod(path: string, sys: Sys = podSys()): PodLock | undefined {
  let fd: number;
  try {
    fd = sys.openDirFd(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw systemError('pod.lock', `cannot open pod directory ${path}`, { cause: e });
  }
  try {
    if (sys.flock(fd, 'ex', { nonBlocking: true })) return new PodLock(fd, path);
  } catch (e) {
    fs.closeSync(fd);
    throw systemError('pod.lock', `cannot lock pod directory ${path}`, { cause: e });
  }
  fs.closeSync(fd);
  return undefined;
}

/** Like {@link tryLockPod} but a busy pod is a user error `pod.busy`. */
export function lockPod(path: string, uuid: string, sys: Sys = podSys()): PodLock {
  const lock = tryLockPod(path, sys);
  if (!lock) throw userError('pod.busy', `pod ${uuid} is locked by another process`, { details: { uuid } });
  return lock;
}

/**
 * Whether another process holds an exclusive lock on the pod directory: a failed
 * non-blocking shared lock. A directory that vanished is reported as undefined.
 */
export function isPodLocked(path: string, sys: Sys = podSys()): boolean | undefined {
  let fd: number;
  try {
    fd = sys.openDirFd(path);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw systemError('pod.lock', `cannot open pod directory ${path}`, { cause: e });
  }
  try {
    return !sys.flock(fd, 'sh', { nonBlocking: true });
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Waits until nobody holds an exclusive lock on `path` (polling every `intervalMs`), or the
 * deadline passes (false) or the directory vanishes (true).
 */
export async function waitUnlocked(path: string, deadline: number, intervalMs = 100, sys: Sys = podSys()): Promise<boolean> {
  for (;;) {
    const locked = isPodLocked(path, sys);
    if (!locked) return true;
    if (Date.now() >= deadline) return false;
    await sleep(Math.min(intervalMs, Math.max(1, deadline - Date.now())));
  }
}

/**
 * Holds the prepare key lock (`locks/prepareLock`) shared while `fn` runs, so that image gc,
 * which takes it exclusively, does not remove images a pod is being prepared from.
 */
export async function withPrepareLock<T>(dataDir: string, fn: () => Promise<T>, sys: Sys = podSys()): Promise<T> {
  const path = prepareLockPath(dataDir);
  let fd: number;
  try {
    fs.mkdirSync(locksDir(dataDir), { recursive: true, mode: 0o750 });
    fd = fs.openSync(path, fs.constants.O_RDONLY | fs.constants.O_CREAT, 0o644);
  } catch (e) {
    throw systemError('pod.prepare-lock', `cannot open ${path}`, { cause: e });
  }
  try {
    for (let delay = 5; !sys.flock(fd, 'sh', { nonBlocking: true }); delay = Math.min(delay * 2, 200)) await sleep(delay);
    return await fn();
  } finally {
    fs.closeSync(fd);
  }
}
