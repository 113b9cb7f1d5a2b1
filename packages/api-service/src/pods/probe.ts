/**
 * Probing a pod directory's lock the way docs/pod-lifecycle.md prescribes: a shared,
 * non-blocking flock released at once, so readers never block rkt.
 */
import { closeSync } from 'node:fs';
import { systemError } from '@rktnetes/errors';
import { errnoOf, realSys, type Sys } from '@rktnetes/sys';

/** `locked` (another process holds it exclusively), `free`, or `gone` (the directory vanished). */
export type LockState = 'locked' | 'free' | 'gone';

/** Probes the lock on one pod directory. */
export type LockProbe = (podPath: string) => LockState;

/**
 * A probe using `sys` (the real system calls by default) and `close` for the descriptor it
 * opens. Throws `pod.probe` on odd failures.
 */
export function createLockProbe(sys: Sys = realSys(), close: (fd: number) => void = closeSync): LockProbe {
  return (path) => {
    let fd: number;
    try {
      fd = sys.openDirFd(path);
    } catch (e) {
      const errno = errnoOf(e);
      if (errno === 'ENOENT' || errno === 'ENOTDIR') return 'gone';
      throw systemError('pod.probe', `cannot open pod directory ${path}`, { cause: e });
    }
    try {
      if (!sys.flock(fd, 'sh', { nonBlocking: true })) return 'locked';
      sys.flock(fd, 'un');
      return 'free';
    } catch (e) {
      throw systemError('pod.probe', `cannot probe the lock of pod directory ${path}`, { cause: e });
    } finally {
      close(fd);
    }
  };
}
