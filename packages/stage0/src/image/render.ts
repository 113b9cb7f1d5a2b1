/**
 * `rkt image render IMAGE DIR`: the image as an app sees it, dependencies included. The store
 * renders it into the tree store (once), the tree is checked against its recorded hash (and
 * rebuilt when it was modified), then copied out: `DIR/manifest` and `DIR/rootfs`, or with
 * `--rootfs-only` the rootfs alone. A layered (Docker/OCI) image is copied from its flattened
 * render (a real rootfs with the whiteouts applied), not from its layers.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RenderResult } from '@rktnetes/store';
import type { Context } from '../cli/context';
import { copyTree } from './copytree';
import { clearOutputDir, discardOutput } from './output-path';
import { aboutImage, withStore } from './store';

export interface RenderOptions {
  rootfsOnly: boolean;
  overwrite: boolean;
}

/** Renders `ref` into `dir`; returns the image key and tree store ID. */
export async function runImageRender(ctx: Context, ref: string, dir: string, opts: RenderOptions): Promise<{ key: string; treeStoreID: string }> {
  return withStore(ctx, 'write', async (store) => {
    const what = `render image "${ref}"`;
    let key: string;
    let rendered: RenderResult;
    try {
      key = store.resolveImage(ref);
      // flatten: a layered image gets a tree with a real rootfs to copy (ACIs ignore it)
      rendered = await store.render(key, { flatten: true });
      const check = await store.verifyTree(rendered.treeStoreID);
      if (!check.ok) {
        ctx.log.warn(`tree ${rendered.treeStoreID} of image "${ref}" was modified on disk; rebuilding it`);
        rendered = await store.render(key, { rebuild: true, flatten: true });
      }
    } catch (e) {
      throw aboutImage(ref, e);
    }
    const out = clearOutputDir(what, dir, opts.overwrite);
    try {
      if (opts.rootfsOnly) copyTree(rendered.rootfs, out);
      else {
        mkdirSync(out, { recursive: true, mode: 0o755 });
        writeFileSync(join(out, 'manifest'), store.getImageManifestJSON(key), { mode: 0o644 });
        copyTree(rendered.rootfs, join(out, 'rootfs'));
      }
    } catch (e) {
      discardOutput(out);
      throw aboutImage(ref, e, what);
    }
    ctx.log.debug(`rendered ${key} (tree ${rendered.treeStoreID}) into ${out}`);
    return { key, treeStoreID: rendered.treeStoreID };
  });
}
