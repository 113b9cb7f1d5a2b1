/**
 * `rkt image export IMAGE OUTPUT`: writes the image as the uncompressed ACI it was imported as
 * (so its sha512 is the image ID). A layered (Docker/OCI) image is written as an ACI of its
 * flattened root filesystem, whose sha512 is not its ID. The store checks the hash (of the
 * blob, or of every layer) while streaming; a corrupt image fails and leaves no output behind.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { isRktError, systemError, userError } from '@rktnetes/errors';
import type { Context } from '../cli/context';
import { discardOutput } from './output-path';
import { aboutImage, withStore } from './store';

/** Exports `ref` to `output`; returns the image key and the bytes written. */
export async function runImageExport(ctx: Context, ref: string, output: string, opts: { overwrite: boolean }): Promise<{ key: string; bytes: number }> {
  const what = `export image "${ref}"`;
  return withStore(ctx, 'write', async (store) => {
    let key: string;
    let stream: AsyncIterable<Buffer>;
    try {
      key = store.resolveImage(ref);
      stream = await store.exportImage(key);
    } catch (e) {
      throw aboutImage(ref, e);
    }
    let fd: number;
    try {
      fd = openSync(output, constants.O_WRONLY | constants.O_CREAT | (opts.overwrite ? constants.O_TRUNC : constants.O_EXCL), 0o644);
    } catch (e) {
      (stream as unknown as { destroy?: () => void }).destroy?.();
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw userError('image.output-exists', `${what}: output file ${output} exists (use --overwrite)`);
      throw systemError('image.output', `${what}: cannot open ${output}`, { cause: e });
    }
    let bytes = 0;
    try {
      for await (const chunk of stream) {
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off);
        bytes += chunk.length;
      }
    } catch (e) {
      closeSync(fd);
      discardOutput(output);
      throw isRktError(e) ? aboutImage(ref, e) : systemError('image.output', `${what}: cannot write ${output}`, { cause: e });
    }
    closeSync(fd);
    ctx.log.debug(`exported ${key} to ${output} (${bytes} bytes)`);
    return { key, bytes };
  });
}
