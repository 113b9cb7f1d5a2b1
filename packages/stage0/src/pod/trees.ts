/**
 * The overlayfs lower dirs of the tree store trees a pod was prepared from (the IDs recorded in
 * `stage1TreeStoreID` and `appsinfo/<app>/treeStoreID`), found again when the pod starts, when
 * gc remounts its stage1, or when `rkt export` remounts an app.
 *
 * A tree with a `rootfs` (an ACI, or a flattened render) is mounted from that directory. A
 * layered tree (a Docker/OCI image, docs/store.md "Layered images") has no rootfs: its lower
 * dirs are the image's layer directories, which the store computes when it renders the image
 * (a no-op for a tree that exists), so the rules for empty, repeated and opaque layers live in
 * one place.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';
import { isRktError, userError } from '@rktnetes/errors';
import { isTreeStoreID, layoutFor, openStore, type RenderResult, type Store } from '@rktnetes/store';

/**
 * The lower dirs (uppermost first) of each tree of `treeStoreIds`, in the store under
 * `dataDir`. The store is opened (once) only when a layered tree is among them.
 * Errors (user): `pod.tree-store-id` (not a tree store ID), `pod.tree-missing` (the tree, or
 * for a layered tree its image or a layer, is no longer in the store); the store's errors
 * otherwise.
 */
export async function treesLowerDirs(dataDir: string, treeStoreIds: readonly string[], debug: (msg: string) => void = () => {}): Promise<Map<string, string[]>> {
  const layout = layoutFor(dataDir);
  const out = new Map<string, string[]>();
  let store: Store | undefined;
  try {
    for (const id of treeStoreIds) {
      if (out.has(id)) continue;
      if (!isTreeStoreID(id)) throw userError('pod.tree-store-id', `invalid tree store id ${JSON.stringify(id)}`);
      const rootfs = layout.treeRootfs(id);
      if (fs.existsSync(rootfs)) {
        out.set(id, [rootfs]);
        continue;
      }
      const key = treeImageKey(layout.tree(id), id);
      store ??= openStore(dataDir, { debug });
      out.set(id, await layeredLowerDirs(store, id, key));
    }
  } finally {
    store?.close();
  }
  return out;
}

/** {@link treesLowerDirs} for one tree. */
export async function treeLowerDirs(dataDir: string, treeStoreId: string, debug?: (msg: string) => void): Promise<string[]> {
  return (await treesLowerDirs(dataDir, [treeStoreId], debug)).get(treeStoreId) as string[];
}

/** The image key a tree records (its `image` file). */
function treeImageKey(tree: string, id: string): string {
  try {
    return fs.readFileSync(join(tree, 'image'), 'utf8').trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    throw userError('pod.tree-missing', `tree ${id} is no longer in the store`);
  }
}

async function layeredLowerDirs(store: Store, id: string, key: string): Promise<string[]> {
  let r: RenderResult;
  try {
    r = await store.render(key);
  } catch (e) {
    if (isRktError(e) && e.code === 'store.not-found') {
      throw userError('pod.tree-missing', `tree ${id} of image ${key} cannot be used: ${e.message}`, { cause: e });
    }
    throw e;
  }
  if (r.treeStoreID !== id) throw userError('pod.tree-missing', `tree ${id} is not what image ${key} renders to now (${r.treeStoreID})`);
  return r.lowerDirs;
}
