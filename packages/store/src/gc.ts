/**
 * Garbage collection: images unused for longer than a grace period, trees nobody keeps, and
 * the debris a crash can leave (temp files, blobs without a row, unused lock files).
 */
import { readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { isRktError } from '@rktnetes/errors';
import { assertWritable, type StoreContext } from './context';
import { fsyncDir, isENOENT } from './fsutil';
import { isFullKey, isTreeStoreID } from './keys';
import { FileLock, isLocked } from './lock';
import { dependencyChain, listTreeIDs, removeTreeByID, treeImage } from './render';
import { pruneLayersLocked } from './oci/prune';

export interface GcOptions {
  /**
   * ms: remove images not used (imported, rendered, exported) for longer than this. Without
   * it no image is removed.
   */
  gracePeriod?: number;
  /** image keys never removed (with their dependencies), e.g. those of existing pods */
  keep?: ReadonlySet<string>;
  /**
   * tree store IDs still in use (e.g. by pods). When given, every other tree is removed;
   * when not, only trees whose image is gone are.
   */
  keepTrees?: ReadonlySet<string>;
  /** the current time (for tests) */
  now?: Date;
}

export interface GcResult {
  removedImages: string[];
  removedTrees: string[];
  /** temp files and directories left by interrupted imports, renders and removals */
  removedTemp: string[];
  /** blobs without a database row (an import killed between rename and insert) */
  removedOrphanBlobs: string[];
  /** images or trees left alone because another process was using them */
  skipped: string[];
  /** layers (diff IDs) of layered images that no image and no tree uses any more */
  removedLayers: string[];
}

/** Runs a gc pass. Locks: image/tree locks taken without waiting (busy ones are skipped), then the store lock exclusively for the debris sweep. */
export async function gc(ctx: StoreContext, opts: GcOptions = {}): Promise<GcResult> {
  assertWritable(ctx, 'garbage-collect');
  const { layout, rows } = ctx;
  const res: GcResult = { removedImages: [], removedTrees: [], removedTemp: [], removedOrphanBlobs: [], skipped: [], removedLayers: [] };
  const now = (opts.now ?? new Date()).getTime();

  if (opts.gracePeriod !== undefined) {
    const all = rows.images();
    const keep = opts.keep ?? new Set<string>();
    const candidates = new Set(all.filter((r) => r.last_used < now - (opts.gracePeriod as number) && !keep.has(r.key)).map((r) => r.key));
    const needed = new Set<string>();
    for (const r of all) {
      if (candidates.has(r.key)) continue;
      try {
        for (const img of dependencyChain(ctx, r.key)) needed.add(img.key);
      } catch (e) {
        if (!isRktError(e)) throw e;
        ctx.debug(`gc: dependencies of ${r.key} unresolvable: ${e.message}`);
      }
    }
    for (const key of candidates) {
      if (needed.has(key)) continue;
      const lock = await FileLock.acquire(layout.imageLock(key), 'ex', { tryOnly: true });
      if (!lock) {
        res.skipped.push(key);
        continue;
      }
      try {
        if (rows.deleteImage(key)) res.removedImages.push(key);
        unlinkQuiet(layout.blob(key));
      } finally {
        lock.release();
      }
    }
    if (res.removedImages.length) ctx.debug(`gc: removed ${res.removedImages.length} images`);
  }

  const live = rows.keys();
  for (const id of listTreeIDs(ctx)) {
    if (opts.keepTrees?.has(id)) continue;
    const img = treeImage(layout.tree(id));
    const orphan = !img || !live.has(img);
    if (!orphan && !opts.keepTrees) continue;
    if (await removeTreeByID(ctx, id, { tryOnly: true })) res.removedTrees.push(id);
    else res.skipped.push(id);
  }

  const storeLock = await FileLock.acquire(layout.storeLock, 'ex');
  try {
    for (const name of listDir(layout.tmp)) {
      const p = join(layout.tmp, name);
      if (isLocked(p)) continue;
      rmSync(p, { recursive: true, force: true });
      res.removedTemp.push(p);
    }
    const keys = rows.keys();
    for (const shard of listDir(layout.blobRoot)) {
      const dir = join(layout.blobRoot, shard);
      let removed = false;
      for (const name of listDir(dir)) {
        if (!isFullKey(name) || keys.has(name)) continue;
        const lock = await FileLock.acquire(layout.imageLock(name), 'ex', { tryOnly: true });
        if (!lock) continue;
        try {
          if (!rows.image(name)) {
            unlinkQuiet(join(dir, name));
            res.removedOrphanBlobs.push(name);
            removed = true;
          }
        } finally {
          lock.release();
        }
      }
      if (removed) fsyncDir(dir);
    }
    res.removedLayers = pruneLayersLocked(ctx);
    const liveKeys = rows.keys();
    await sweepLocks(layout.layerLocks, (name) => !/^[0-9a-f]{64}$/.test(name) || !exists(join(layout.layers, name)));
    await sweepLocks(layout.imageLocks, (name) => !isFullKey(name) || (!liveKeys.has(name) && !exists(layout.blob(name))));
    await sweepLocks(layout.treeLocks, (name) => !isTreeStoreID(name) || !exists(layout.tree(name)));
  } finally {
    storeLock?.release();
  }
  return res;
}

/** Removes lock files that protect nothing, each while holding it (lockers re-check the inode). */
async function sweepLocks(dir: string, unused: (name: string) => boolean): Promise<void> {
  for (const name of listDir(dir)) {
    if (!unused(name)) continue;
    const p = join(dir, name);
    const lock = await FileLock.acquire(p, 'ex', { tryOnly: true, create: false });
    if (!lock) continue;
    try {
      if (lock.held) unlinkQuiet(p);
    } finally {
      lock.release();
    }
  }
}

export function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (e) {
    if (isENOENT(e)) return [];
    throw e;
  }
}

function exists(p: string): boolean {
  try {
    statSync(p);
    return true;
  } catch (e) {
    if (isENOENT(e)) return false;
    throw e;
  }
}

function unlinkQuiet(p: string): void {
  try {
    unlinkSync(p);
  } catch (e) {
    if (!isENOENT(e)) throw e;
  }
}
