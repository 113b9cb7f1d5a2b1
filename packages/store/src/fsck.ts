/**
 * Consistency check of the store: database, blobs against their keys, rows against blobs,
 * rendered trees against their hashes, and debris left by crashes.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { isRktError } from '@rktnetes/errors';
import type { StoreContext } from './context';
import { parseImageManifest } from './deps';
import { isENOENT } from './fsutil';
import { listDir } from './gc';
import { isFullKey, isTreeStoreID, keyFromHex } from './keys';
import { FileLock, isLocked, withLock } from './lock';
import { treeImage, verifyTree } from './render';
import { fileSha512 } from './treehash';
import { hashLayerDir } from './oci/layer-hash';
import { layersUsedByTrees } from './oci/tree-layers';
import { listTreeIDs } from './render';
import type { ImageRow } from './rows';

export type FsckIssueKind =
  | 'db'
  | 'bad-manifest'
  | 'missing-blob'
  | 'blob-size'
  | 'blob-hash'
  | 'tree-hash'
  | 'tree-incomplete'
  | 'orphan-blob'
  | 'orphan-tree'
  | 'temp'
  | 'stray-file'
  | 'missing-layer'
  | 'layer-hash'
  | 'unused-layer';

export interface FsckIssue {
  kind: FsckIssueKind;
  path: string;
  key?: string;
  treeStoreID?: string;
  /** for layer issues */
  diffID?: string;
  message: string;
}

export interface FsckReport {
  /** no problems (garbage is not a problem: gc removes it) */
  ok: boolean;
  /** inconsistencies: data that is wrong or missing */
  problems: FsckIssue[];
  /** leftovers of interrupted operations, harmless and removed by gc */
  garbage: FsckIssue[];
  images: number;
  trees: number;
  layers: number;
}

export interface FsckOptions {
  /** re-hash every blob (default true) */
  verifyBlobs?: boolean;
  /** re-hash every rendered tree (default true) */
  verifyTrees?: boolean;
}

/** Checks the whole store; holds the store lock shared so gc does not sweep meanwhile. */
export async function fsck(ctx: StoreContext, opts: FsckOptions = {}): Promise<FsckReport> {
  const { layout, rows } = ctx;
  const problems: FsckIssue[] = [];
  const garbage: FsckIssue[] = [];
  const create = !ctx.readOnly;
  const storeLock = await FileLock.acquire(layout.storeLock, 'sh', { create });
  try {
    for (const line of rows.integrity()) {
      if (line !== 'ok') problems.push({ kind: 'db', path: layout.db, message: `database: ${line}` });
    }
    const all = rows.images();
    for (const r of all) {
      const blob = layout.blob(r.key);
      try {
        parseImageManifest(r.manifest);
      } catch (e) {
        problems.push({ kind: 'bad-manifest', path: layout.db, key: r.key, message: `image ${r.key}: stored manifest is invalid: ${isRktError(e) ? e.message : String(e)}` });
      }
      await withLock(
        layout.imageLock(r.key),
        'sh',
        () => {
          let size: number;
          try {
            size = lstatSync(blob).size;
          } catch (e) {
            if (!isENOENT(e)) throw e;
            problems.push({ kind: 'missing-blob', path: blob, key: r.key, message: `image ${r.key} (${r.name}) has no blob` });
            return;
          }
          if (r.format === 'oci') {
            // the row's size is that of the layers; the blob is the small record
            if ((opts.verifyBlobs ?? true) && keyFromHex(fileSha512(blob)) !== r.key) {
              problems.push({ kind: 'blob-hash', path: blob, key: r.key, message: `image ${r.key} (${r.name}): record content does not match its ID` });
            }
          } else if (size !== r.size) {
            problems.push({ kind: 'blob-size', path: blob, key: r.key, message: `image ${r.key} (${r.name}): blob has ${size} bytes, expected ${r.size}` });
          } else if (opts.verifyBlobs ?? true) {
            if (keyFromHex(fileSha512(blob)) !== r.key) {
              problems.push({ kind: 'blob-hash', path: blob, key: r.key, message: `image ${r.key} (${r.name}): blob content does not match its ID` });
            }
          }
        },
        { create },
      );
    }
    const keys = new Set(all.map((r) => r.key));
    for (const shard of listDir(layout.blobRoot)) {
      for (const name of listDir(join(layout.blobRoot, shard))) {
        const p = join(layout.blobRoot, shard, name);
        if (!isFullKey(name) || layout.blob(name) !== p) {
          garbage.push({ kind: 'stray-file', path: p, message: `unexpected file ${p} in the blob store` });
        } else if (!keys.has(name) && !isLocked(layout.imageLock(name))) {
          garbage.push({ kind: 'orphan-blob', path: p, key: name, message: `blob ${name} has no image row` });
        }
      }
    }
    for (const name of listDir(layout.tmp)) {
      const p = join(layout.tmp, name);
      if (!isLocked(p)) garbage.push({ kind: 'temp', path: p, message: `leftover temporary ${p}` });
    }
    let trees = 0;
    for (const name of listDir(layout.trees)) {
      const p = layout.tree(name);
      if (!isTreeStoreID(name)) {
        garbage.push({ kind: 'stray-file', path: p, message: `unexpected entry ${p} in the tree store` });
        continue;
      }
      trees++;
      const img = treeImage(p);
      if (!img || !keys.has(img)) {
        garbage.push({ kind: 'orphan-tree', path: p, treeStoreID: name, message: `tree ${name} belongs to no image in the store` });
      }
      if (opts.verifyTrees ?? true) {
        const v = await verifyTree(ctx, name);
        if (v.expected === undefined) {
          problems.push({ kind: 'tree-incomplete', path: p, treeStoreID: name, message: `tree ${name} has no hash file` });
        } else if (!v.ok) {
          problems.push({ kind: 'tree-hash', path: p, treeStoreID: name, message: `tree ${name} was modified: hash ${v.actual}, expected ${v.expected}` });
        }
      }
    }
    const layerCount = checkLayers(ctx, all, opts.verifyBlobs ?? true, problems, garbage);
    return { ok: problems.length === 0, problems, garbage, images: all.length, trees, layers: layerCount };
  } finally {
    storeLock?.release();
  }
}

/** Layer checks: listed layers exist (and hash as recorded), unused and orphan layers are garbage. */
function checkLayers(ctx: StoreContext, images: ImageRow[], verify: boolean, problems: FsckIssue[], garbage: FsckIssue[]): number {
  const { layout, rows } = ctx;
  const layers = rows.layers();
  const known = new Set(layers.map((l) => l.diffID));
  for (const r of images) {
    if (r.format !== 'oci') continue;
    for (const d of rows.imageLayers(r.key)) {
      if (!known.has(d)) problems.push({ kind: 'missing-layer', path: layout.layer(d), key: r.key, diffID: d, message: `image ${r.key} (${r.name}): layer ${d} is missing` });
    }
  }
  const used = rows.usedLayers();
  for (const d of layersUsedByTrees(layout, listTreeIDs(ctx))) used.add(d);
  for (const l of layers) {
    const dir = layout.layer(l.diffID);
    let present = true;
    try {
      lstatSync(dir);
    } catch (e) {
      if (!isENOENT(e)) throw e;
      present = false;
      problems.push({ kind: 'missing-layer', path: dir, diffID: l.diffID, message: `layer ${l.diffID} has no directory` });
    }
    if (present && verify && hashLayerDir(dir) !== l.hash) {
      problems.push({ kind: 'layer-hash', path: dir, diffID: l.diffID, message: `layer ${l.diffID} was modified` });
    }
    if (!used.has(l.diffID)) garbage.push({ kind: 'unused-layer', path: dir, diffID: l.diffID, message: `layer ${l.diffID} is used by no image or tree` });
  }
  for (const hex of listDir(layout.layers)) {
    const diffID = `sha256:${hex}`;
    if (!known.has(diffID)) garbage.push({ kind: 'stray-file', path: join(layout.layers, hex), message: `unexpected entry ${join(layout.layers, hex)} in the layer store` });
  }
  return layers.length;
}
