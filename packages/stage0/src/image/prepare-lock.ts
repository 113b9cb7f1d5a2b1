/**
 * The data directory's prepare lock (`locks/prepareLock`): `rkt prepare` and `rkt run` hold it
 * shared while they create pods from images; `rkt image gc` holds it exclusively while it
 * decides what pods reference and removes the rest, so no pod appears in between.
 */
import { closeSync, mkdirSync, openSync, constants } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { locksDir, prepareLockPath } from '@rktnetes/common';
import { systemError } from '@rktnetes/errors';
import { realSys } from '@rktnetes/sys';

/** Takes the prepare lock exclusively, waiting for preparing pods; returns the release function. */
export async function lockPrepareExclusive(dataDir: string, onWait: () => void = () => {}): Promise<() => void> {
  const path = prepareLockPath(dataDir);
  let fd: number;
  try {
    mkdirSync(locksDir(dataDir), { recursive: true, mode: 0o750 });
    fd = openSync(path, constants.O_RDONLY | constants.O_CREAT, 0o640);
  } catch (e) {
    throw systemError('image.lock', `cannot open the prepare lock ${path}`, { cause: e });
  }
  try {
    const sys = realSys();
    let delay = 10;
    let told = false;
    // polled, not blocking: the event loop keeps running and a signal still ends the wait
    while (!sys.flock(fd, 'ex', { nonBlocking: true })) {
      if (!told) onWait();
      told = true;
      await sleep(delay);
      delay = Math.min(delay * 2, 250);
    }
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return () => closeSync(fd);
}
