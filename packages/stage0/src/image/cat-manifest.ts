/**
 * `rkt image cat-manifest IMAGE`: the image manifest as JSON, indented with tabs unless
 * `--pretty-print=false`.
 */
import { writeStdout } from '../output/stdout';
import type { Context } from '../cli/context';
import { aboutImage, withStore } from './store';

/** The manifest text of `ref` as printed (with a trailing newline). */
export async function imageManifestText(ctx: Context, ref: string, pretty: boolean): Promise<string> {
  const text = await withStore(ctx, 'read', (s) => {
    try {
      return s.getImageManifestJSON(ref);
    } catch (e) {
      throw aboutImage(ref, e);
    }
  });
  // re-serialised for layout only: the store validated the manifest when it was imported
  return JSON.stringify(JSON.parse(text), null, pretty ? '\t' : undefined) + '\n';
}

/** Runs `rkt image cat-manifest`. */
export async function runImageCatManifest(ctx: Context, ref: string, pretty: boolean): Promise<void> {
  writeStdout(await imageManifestText(ctx, ref, pretty));
}
