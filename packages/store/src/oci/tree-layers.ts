/**
 * Layered trees: a tree store entry for a layered image holds no rootfs, only the list of its
 * layers (`layers`, diff IDs top first), the manifest, the image key and a hash combining the
 * layers' content hashes. Pods mount the layer directories as overlayfs lower dirs.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isENOENT } from '../fsutil';
import type { Layout } from '../layout';
import { hashLayerDir, isOpaque } from './layer-hash';
import { isSha256Digest } from './media';

/** Name of the file listing the layers of a layered tree. */
export const TREE_LAYERS_FILE = 'layers';

/**
 * The diff IDs (top first) a tree uses, or undefined for a tree with a rootfs. A malformed
 * list yields an empty one (the tree then protects no layer; verifying it fails).
 */
export function treeLayerIDs(treePath: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(join(treePath, TREE_LAYERS_FILE), 'utf8');
  } catch (e) {
    if (isENOENT(e)) return undefined;
    throw e;
  }
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? v.filter(isSha256Digest) : [];
  } catch {
    return [];
  }
}

/** The hash of a layered tree from its layers' hashes (top first): `sha512-` + hex. */
export function combineLayerHashes(layers: ReadonlyArray<{ diffID: string; hash: string }>): string {
  const h = createHash('sha512');
  for (const l of layers) h.update(`${l.diffID} ${l.hash}\n`);
  return `sha512-${h.digest('hex')}`;
}

/** Recomputes the hash of a layered tree from the layer directories on disk. */
export function hashLayeredTree(layout: Layout, diffIDs: readonly string[]): string {
  return combineLayerHashes(
    diffIDs.map((diffID) => {
      const dir = layout.layer(diffID);
      return { diffID, hash: existsSync(dir) ? hashLayerDir(dir) : 'missing' };
    }),
  );
}

/**
 * The overlayfs lower dirs of a stack of layers (diff IDs top first): the layer directories,
 * leaving out empty ones, repeated ones (the upper copy already hides everything the lower one
 * has) and everything below a layer whose root is opaque. Never empty: an image of empty
 * layers keeps its bottom one.
 */
export function lowerDirsFor(layout: Layout, diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) {
    const dir = layout.layer(d);
    if (out.includes(dir)) continue;
    const opaque = isOpaque(dir);
    if (opaque || readdirSync(dir).length > 0) out.push(dir);
    if (opaque) break;
  }
  if (out.length === 0 && diffIDs.length > 0) out.push(layout.layer(diffIDs[diffIDs.length - 1] as string));
  return out;
}

/** Every diff ID some tree of the store lists. */
export function layersUsedByTrees(layout: Layout, treeIDs: readonly string[]): Set<string> {
  const used = new Set<string>();
  for (const id of treeIDs) for (const d of treeLayerIDs(layout.tree(id)) ?? []) used.add(d);
  return used;
}
