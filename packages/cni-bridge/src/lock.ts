/**
 * An exclusive flock(2) on a file, the lock the reference host-local plugin takes on
 * `<dataDir>/<network>/lock`, so both plugins can share an allocation directory.
 *
 * The lock is taken with `@rktnetes/sys` (koffi). A copy of the bundle that cannot load koffi
 * falls back to util-linux `flock(1)`, which holds the lock in a child process until released.
 */
import { spawn } from 'node:child_process';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import { isRktError } from '@rktnetes/errors';
import { CniErrorCodes } from '@rktnetes/schema';
import { realSys, type Sys } from '@rktnetes/sys';
import { cniError } from './errors';
import { findTool } from './exec';

/** A held lock. */
export interface HeldLock {
  /** how the lock is held: `flock` (in this process) or `flock(1)` (a helper process) */
  readonly via: 'flock' | 'flock(1)';
  release(): Promise<void>;
}

/** Options of {@link lockFile}. */
export interface LockOptions {
  /** the syscalls to use; `realSys()` by default */
  sys?: Sys;
  /** skip koffi and use flock(1) (tests of the fallback) */
  forceHelper?: boolean;
}

function openLockFile(path: string): number {
  try {
    // Node opens with O_CLOEXEC: delegated plugins do not inherit the lock
    return openSync(path, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  } catch (e) {
    throw cniError(CniErrorCodes.ioFailure, 'cni.lock', `cannot open lock file ${path}`, { cause: e });
  }
}

function lockWithHelper(path: string): Promise<HeldLock> {
  const tool = findTool('flock');
  return new Promise((resolve, reject) => {
    // the helper prints once it holds the lock and keeps it until its stdin closes
    const child = spawn(tool, ['-x', path, '-c', 'echo locked; read _'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let held = false;
    child.on('error', (e) => reject(cniError(CniErrorCodes.ioFailure, 'cni.lock', `cannot lock ${path} with flock(1)`, { cause: e })));
    child.stdout.once('data', () => {
      held = true;
      resolve({
        via: 'flock(1)',
        release: () =>
          new Promise<void>((done) => {
            child.once('close', () => done());
            child.stdin.end();
          }),
      });
    });
    child.once('close', (code) => {
      if (!held) reject(cniError(CniErrorCodes.ioFailure, 'cni.lock', `flock(1) on ${path} exited with ${code}`));
    });
  });
}

/**
 * Takes an exclusive lock on `path` (created if missing, mode 0644), waiting for other holders.
 *
 * @throws code 5 (`cni.lock`) when the file cannot be opened or locked
 */
export async function lockFile(path: string, opts: LockOptions = {}): Promise<HeldLock> {
  if (opts.forceHelper) return lockWithHelper(path);
  const sys = opts.sys ?? realSys();
  const fd = openLockFile(path);
  try {
    sys.flock(fd, 'ex');
  } catch (e) {
    closeSync(fd);
    if (isRktError(e)) throw cniError(CniErrorCodes.ioFailure, 'cni.lock', `cannot lock ${path}`, { cause: e });
    // koffi (or libc through it) could not be loaded: a copied bundle without node_modules
    return lockWithHelper(path);
  }
  return {
    via: 'flock',
    release: async () => {
      // closing the only descriptor releases the lock
      closeSync(fd);
    },
  };
}
