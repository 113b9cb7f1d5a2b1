/**
 * `rkt image extract IMAGE DIR`: the image's files as they are in its archive (`manifest` and
 * `rootfs/`, or with `--rootfs-only` the rootfs alone), without dependencies. The archive is
 * read from the store blob and its hash checked as it streams; a layered (Docker/OCI) image
 * comes as the store exports it, its layers merged with the whiteouts applied. On any failure
 * the output directory is removed again.
 */
import { mkdirSync } from 'node:fs';
import type { Context } from '../cli/context';
import { clearOutputDir, discardOutput } from './output-path';
import { aboutImage, withStore } from './store';
import { extractTar } from './tarfs';

export interface ExtractOptions {
  rootfsOnly: boolean;
  overwrite: boolean;
}

/** Extracts `ref` into `dir`; returns the image key. */
export async function runImageExtract(ctx: Context, ref: string, dir: string, opts: ExtractOptions): Promise<string> {
  return withStore(ctx, 'read', async (store) => {
    const what = `extract image "${ref}"`;
    let key: string;
    try {
      key = store.resolveImage(ref);
    } catch (e) {
      throw aboutImage(ref, e);
    }
    const out = clearOutputDir(what, dir, opts.overwrite);
    mkdirSync(out, { recursive: true, mode: 0o755 });
    try {
      await extractTar(await store.exportImage(key), out, { what: `image "${ref}" (${key})`, rootfsOnly: opts.rootfsOnly });
    } catch (e) {
      discardOutput(out);
      throw aboutImage(ref, e);
    }
    ctx.log.debug(`extracted ${key} into ${out}`);
    return key;
  });
}
