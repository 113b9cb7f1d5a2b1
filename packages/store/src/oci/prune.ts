/**
 * Removing layers nothing uses: a layer is used while an image row lists it or a tree (a
 * layered render, possibly mounted by a pod) lists it. Imports and renders hold the store lock
 * shared for their whole run, so removal under the exclusive store lock never races with a new
 * user of a layer.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreContext } from '../context';
import { isENOENT, removeTree } from '../fsutil';
import { FileLock } from '../lock';
import { listTreeIDs } from '../render';
import { removeLayer } from './layer';
import { layersUsedByTrees } from './tree-layers';

/**
 * Removes unused layers and layer directories without a row. The caller holds the store lock
 * exclusively. Returns the removed diff IDs.
 */
export function pruneLayersLocked(ctx: StoreContext): string[] {
  const used = ctx.rows.usedLayers();
  for (const d of layersUsedByTrees(ctx.layout, listTreeIDs(ctx))) used.add(d);
  const removed: string[] = [];
  for (const l of ctx.rows.layers()) {
    if (used.has(l.diffID)) continue;
    removeLayer(ctx, l.diffID);
    removed.push(l.diffID);
  }
  let names: string[] = [];
  try {
    names = readdirSync(ctx.layout.layers);
  } catch (e) {
    if (!isENOENT(e)) throw e;
  }
  for (const hex of names) {
    if (!/^[0-9a-f]{64}$/.test(hex)) continue;
    const diffID = `sha256:${hex}`;
    if (used.has(diffID) || ctx.rows.layer(diffID)) continue;
    // a directory renamed into place by an import killed before it added the row
    removeTree(join(ctx.layout.layers, hex));
    removed.push(diffID);
  }
  if (removed.length) ctx.debug(`removed ${removed.length} unused layers`);
  return removed;
}

/**
 * Takes the store lock exclusively and removes unused layers. With `tryOnly`, does nothing
 * (returns undefined) when another operation holds the store lock.
 */
export async function pruneLayers(ctx: StoreContext, opts: { tryOnly?: boolean } = {}): Promise<string[] | undefined> {
  const lock = await FileLock.acquire(ctx.layout.storeLock, 'ex', { tryOnly: opts.tryOnly ?? false });
  if (!lock) return undefined;
  try {
    return pruneLayersLocked(ctx);
  } finally {
    lock.release();
  }
}
