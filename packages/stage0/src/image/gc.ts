/**
 * `rkt image gc`: removes images not used within the grace period and not referenced by any
 * existing pod, every rendered tree no pod references, and the debris interrupted store
 * operations leave. Holds the prepare lock exclusively throughout, so no pod is prepared from
 * an image while it is being judged unused.
 */
import { POD_DIR_STATES } from '@rktnetes/common';
import type { GcResult, Store } from '@rktnetes/store';
import { writeStdout } from '../output/stdout';
import type { Context } from '../cli/context';
import { lockPrepareExclusive } from './prepare-lock';
import { imageUsers, podReferences } from './pods';
import { withStore } from './store';

/** The default `--grace-period` (rkt's): 24 hours. */
export const DEFAULT_GRACE_PERIOD_MS = 24 * 3_600_000;

/** What {@link collectGarbage} removed, with image names for reporting. */
export interface ImageGcResult extends GcResult {
  /** names of the removed images, by key */
  names: Map<string, string>;
}

/**
 * One gc pass over `store`: every pod directory (any state) protects the images its apps use
 * and the trees it was prepared from. `now` is for tests.
 */
export async function collectGarbage(ctx: Context, store: Store, gracePeriodMs: number, now?: Date): Promise<ImageGcResult> {
  const release = await lockPrepareExclusive(ctx.dataDir, () => ctx.log.info('waiting for pods being prepared to finish'));
  try {
    const pods = await podReferences(ctx.dataDir, POD_DIR_STATES, (m) => ctx.log.warn(m));
    const keep = new Set(imageUsers(store, pods).keys());
    const keepTrees = new Set(pods.flatMap((p) => p.treeStoreIDs));
    const names = new Map(store.listImages().map((i) => [i.key, i.name]));
    const res = await store.gc({ gracePeriod: gracePeriodMs, keep, keepTrees, ...(now ? { now } : {}) });
    return { ...res, names };
  } finally {
    release();
  }
}

/** Runs `rkt image gc`. */
export async function runImageGc(ctx: Context, gracePeriodMs: number): Promise<void> {
  const res = await withStore(ctx, 'write', (s) => collectGarbage(ctx, s, gracePeriodMs));
  for (const id of res.removedTrees) ctx.log.info(`removed treestore "${id}"`);
  for (const key of res.removedImages) writeStdout(`successfully removed aci for image: "${key}" ("${res.names.get(key) ?? ''}")\n`);
  for (const p of res.removedTemp) ctx.log.debug(`removed leftover temporary file ${p}`);
  for (const k of res.removedOrphanBlobs) ctx.log.debug(`removed orphan blob ${k}`);
  for (const x of res.skipped) ctx.log.info(`skipped ${x}: in use by another rkt process`);
  if (res.removedImages.length) ctx.log.info(`${res.removedImages.length} image(s) successfully removed`);
}
