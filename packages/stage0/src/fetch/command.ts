/**
 * `rkt fetch IMAGE...`: fetch each image (and its dependencies) into the store and print its
 * ID, short by default, one per line, in argument order.
 */
import { usageError } from '@rktnetes/errors';
import { openStore, shortKey } from '@rktnetes/store';
import type { Context } from '../cli/context';
import { fetchImage, type PullPolicy } from './index';

/** What `rkt fetch` was asked. */
export interface FetchCommandOptions {
  images: Array<{ ref: string; signature?: string }>;
  pullPolicy: PullPolicy;
  full: boolean;
}

/**
 * Pairs each `--signature` with the image before it on the command line (rkt's rule). `args`
 * are the raw arguments; when they cannot be matched with the parsed images and signatures,
 * signatures are paired with images in order.
 *
 * @throws RktError `cli.usage` for a signature before any image or more signatures than images
 */
export function pairSignatures(args: readonly string[], images: readonly string[], signatures: readonly string[]): Array<{ ref: string; signature?: string }> {
  const out: Array<{ ref: string; signature?: string }> = images.map((ref) => ({ ref }));
  if (signatures.length === 0) return out;
  if (signatures.length > images.length) throw usageError('cli.usage', `${signatures.length} --signature flags for ${images.length} image(s)`);
  const found: Array<[number, string]> = [];
  let img = -1;
  let ok = true;
  for (let i = 0; i < args.length && ok; i++) {
    const a = args[i] as string;
    let sig: string | undefined;
    if (a === '--signature') sig = args[++i];
    else if (a.startsWith('--signature=')) sig = a.slice('--signature='.length);
    else if (a === images[img + 1]) img++;
    if (sig === undefined) continue;
    if (img < 0) throw usageError('cli.usage', `--signature ${sig} must follow the image it signs`);
    if (found.some(([j]) => j === img)) ok = false;
    found.push([img, sig]);
  }
  if (!ok || found.length !== signatures.length || img !== images.length - 1) {
    signatures.forEach((sig, i) => (out[i] = { ref: images[i] as string, signature: sig }));
    return out;
  }
  for (const [i, sig] of found) out[i] = { ref: images[i] as string, signature: sig };
  return out;
}

/** Runs `rkt fetch`: prints one image ID per image on stdout. */
export async function runFetch(ctx: Context, opts: FetchCommandOptions): Promise<void> {
  if (opts.images.length === 0) throw usageError('cli.usage', 'rkt fetch: must provide at least one image');
  const store = openStore(ctx.dataDir, { debug: (m) => ctx.log.debug(m) });
  try {
    for (const img of opts.images) {
      const key = await fetchImage(ctx, store, { ref: img.ref, pullPolicy: opts.pullPolicy, ...(img.signature ? { signature: img.signature } : {}) });
      process.stdout.write(`${opts.full ? key : shortKey(key)}\n`);
    }
  } finally {
    store.close();
  }
}
