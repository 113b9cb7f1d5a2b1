/**
 * Importing an image: decompress, hash, copy to a temp file and validate in one pass; then,
 * under the image's lock, move the blob into place and only then add the database row.
 */
import { closeSync, constants, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isRktError, systemError, userError } from '@rktnetes/errors';
import { uncompressed, type ImageSource } from './archive';
import { parseImageManifest, type ImageManifest } from './deps';
import { entryFromHeader, invalid, TreeModel } from './entries';
import { fsyncDir, isENOENT, mkdirp, tempName, writeAll } from './fsutil';
import { keyFromHex } from './keys';
import { FileLock, lockFd, withLock } from './lock';
import { rowToInfo, type ImageInfo, type Remote } from './rows';
import { scanTar } from './tarscan';
import { assertWritable, type StoreContext } from './context';

/** Largest manifest accepted. */
const MAX_MANIFEST_BYTES = 1 << 20;

/**
 * Bounds on what an import may expand to, against decompression bombs (a few hundred KiB of
 * gzip, bzip2 or xz that would fill the disk). Going over one is `image.too-large`, and the
 * store is left unchanged.
 */
export interface ImportLimits {
  /** the most bytes the uncompressed image may have */
  maxSize: number;
  /** the most uncompressed bytes per compressed byte, checked once past {@link ratioFloor} */
  maxRatio: number;
  /** uncompressed bytes up to which any ratio is accepted (small images compress very well) */
  ratioFloor: number;
}

/** The limits every import uses unless {@link ImportOptions.limits} says otherwise: 16 GiB, 100:1 beyond 64 MiB. */
export const DEFAULT_IMPORT_LIMITS: Readonly<ImportLimits> = Object.freeze({ maxSize: 16 * 2 ** 30, maxRatio: 100, ratioFloor: 64 * 2 ** 20 });

export interface ImportOptions {
  /** names the image in error messages until its manifest is read (default: the path) */
  name?: string;
  /** where it was downloaded from; recorded with the key in the same transaction */
  remote?: Omit<Remote, 'blobKey' | 'downloadTime'> & { downloadTime?: Date };
  /** fetched without asking for a version: preferred when resolving its name */
  latest?: boolean;
  /** accept character and block device nodes (default false) */
  allowDevices?: boolean;
  /** decompression limits replacing some of {@link DEFAULT_IMPORT_LIMITS} */
  limits?: Partial<ImportLimits>;
}

interface Validated {
  key: string;
  size: number;
  manifest: ImageManifest;
  manifestText: string;
}

const MiB = 2 ** 20;
const sizeText = (n: number) => (n >= MiB ? `${Math.round(n / MiB)} MiB` : `${Math.ceil(n / 1024)} KiB`);

/**
 * `source` with its compressed bytes counted into `counter.bytes`: a file's size up front, a
 * stream's bytes as they are read.
 */
function countCompressed(source: ImageSource, counter: { bytes: number }): ImageSource {
  if (typeof source === 'string') {
    try {
      counter.bytes = statSync(source).size;
    } catch {
      // reading it fails with the proper error
    }
    return source;
  }
  return (async function* (): AsyncGenerator<Uint8Array> {
    for await (const c of source as AsyncIterable<Uint8Array | string>) {
      const b = typeof c === 'string' ? Buffer.from(c) : c;
      counter.bytes += b.byteLength;
      yield b;
    }
  })();
}

/** Throws `image.too-large` when `size` uncompressed bytes from `compressed` break `limits`. */
function checkLimits(what: string, size: number, compressed: number, limits: ImportLimits): void {
  if (size > limits.maxSize) {
    throw userError('image.too-large', `image ${what} is larger than ${sizeText(limits.maxSize)} uncompressed`, {
      details: { image: what, limit: limits.maxSize },
    });
  }
  if (size > limits.ratioFloor && size > limits.maxRatio * Math.max(compressed, 1)) {
    throw userError(
      'image.too-large',
      `image ${what} expands more than ${limits.maxRatio} times (${sizeText(compressed)} to over ${sizeText(size)}): refusing a likely decompression bomb`,
      { details: { image: what, compressed, ratio: limits.maxRatio } },
    );
  }
}

/** Streams `source` into the open temp file `fd` while hashing and validating it. */
async function streamAndValidate(source: ImageSource, fd: number, what: string, opts: ImportOptions): Promise<Validated> {
  const hash = createHash('sha512');
  const model = new TreeModel(what, { allowDevices: opts.allowDevices ?? false });
  const limits: ImportLimits = { ...DEFAULT_IMPORT_LIMITS, ...opts.limits };
  const compressed = { bytes: 0 };
  let expanded = 0;
  let manifestText: string | undefined;
  const { size } = await scanTar(uncompressed(countCompressed(source, compressed), what), {
    what,
    tap(chunk) {
      expanded += chunk.length;
      checkLimits(what, expanded, compressed.bytes, limits);
      hash.update(chunk);
      try {
        writeAll(fd, chunk);
      } catch (e) {
        throw systemError('store.io', `cannot write image ${what} to the store`, { cause: e });
      }
    },
    async onEntry(header, body) {
      const e = entryFromHeader(what, header);
      if (!e) return;
      if (e.path === 'manifest') {
        if (manifestText !== undefined) throw invalid(what, 'has more than one manifest');
        if (e.size > MAX_MANIFEST_BYTES) throw invalid(what, `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`);
        const parts: Buffer[] = [];
        for await (const c of body) parts.push(c);
        manifestText = Buffer.concat(parts).toString('utf8');
        return;
      }
      model.add(e, 0);
    },
  });
  model.checkSymlinks();
  if (manifestText === undefined) throw invalid(what, 'has no manifest');
  let manifest: ImageManifest;
  try {
    manifest = parseImageManifest(manifestText);
  } catch (e) {
    throw invalid(what, `manifest is invalid: ${isRktError(e) ? e.message : String(e)}`, e);
  }
  return { key: keyFromHex(hash.digest('hex')), size, manifest, manifestText };
}

/**
 * Imports an image into the store and returns its info. Importing an image already present
 * returns the existing row (marking it latest when asked). Throws `image.invalid`,
 * `image.unsafe-path`, `image.corrupt`, `image.too-large` (user) leaving the store unchanged.
 */
export async function importImage(ctx: StoreContext, source: ImageSource, opts: ImportOptions = {}): Promise<ImageInfo> {
  assertWritable(ctx, 'import an image');
  const { layout, rows } = ctx;
  const what = JSON.stringify(opts.name ?? (typeof source === 'string' ? source : 'stream'));
  const storeLock = await FileLock.acquire(layout.storeLock, 'sh');
  try {
    mkdirp(layout.tmp, 0o700);
    const tmpPath = join(layout.tmp, tempName('import'));
    const fd = openSync(tmpPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
    let moved = false;
    try {
      // held until the temp file is gone: gc and fsck leave locked temp files alone
      await lockFd(fd, 'ex');
      const v = await streamAndValidate(source, fd, what, opts);
      fsyncSync(fd);
      ctx.debug(`import ${what}: ${v.manifest.name} is ${v.key} (${v.size} bytes)`);
      return await withLock(layout.imageLock(v.key), 'ex', () => {
        const blob = layout.blob(v.key);
        const existing = rows.image(v.key);
        if (!existing || !blobExists(blob, v.size)) {
          const blobDir = layout.blobDir(v.key);
          const freshDir = !existsSync(blobDir);
          mkdirp(blobDir);
          renameSync(tmpPath, blob);
          moved = true;
          fsyncDir(blobDir);
          if (freshDir) fsyncDir(layout.blobRoot);
        }
        const now = Date.now();
        rows.write('add image', () => {
          const inserted = rows.insertImage({
            key: v.key,
            name: v.manifest.name,
            labels: JSON.stringify(v.manifest.labels ?? []),
            annotations: v.manifest.annotations ? JSON.stringify(v.manifest.annotations) : null,
            manifest: v.manifestText,
            import_time: now,
            last_used: now,
            latest: opts.latest ? 1 : 0,
            size: v.size,
            tree_store_size: 0,
          });
          if (!inserted && opts.latest) rows.markLatest(v.key);
          if (opts.remote) {
            rows.upsertRemote({ ...opts.remote, downloadTime: opts.remote.downloadTime ?? new Date(now), blobKey: v.key });
          }
        });
        const row = rows.image(v.key);
        if (!row) throw systemError('store.db', `image ${v.key} vanished right after being added`);
        return rowToInfo(row);
      });
    } finally {
      closeSync(fd);
      if (!moved) {
        try {
          unlinkSync(tmpPath);
        } catch (e) {
          if (!isENOENT(e)) throw e;
        }
      }
    }
  } finally {
    storeLock?.release();
  }
}

function blobExists(path: string, size: number): boolean {
  try {
    return statSync(path).size === size;
  } catch (e) {
    if (isENOENT(e)) return false;
    throw e;
  }
}
