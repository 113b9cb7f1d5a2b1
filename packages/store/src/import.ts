/**
 * Importing an image: decompress, hash, copy to a temp file and validate in one pass; then,
 * under the image's lock, move the blob into place and only then add the database row.
 */
import { closeSync, constants, existsSync, fsyncSync, openSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isRktError, systemError } from '@rktnetes/errors';
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

export interface ImportOptions {
  /** names the image in error messages until its manifest is read (default: the path) */
  name?: string;
  /** where it was downloaded from; recorded with the key in the same transaction */
  remote?: Omit<Remote, 'blobKey' | 'downloadTime'> & { downloadTime?: Date };
  /** fetched without asking for a version: preferred when resolving its name */
  latest?: boolean;
  /** accept character and block device nodes (default false) */
  allowDevices?: boolean;
}

interface Validated {
  key: string;
  size: number;
  manifest: ImageManifest;
  manifestText: string;
}

/** Streams `source` into the open temp file `fd` while hashing and validating it. */
async function streamAndValidate(source: ImageSource, fd: number, what: string, opts: ImportOptions): Promise<Validated> {
  const hash = createHash('sha512');
  const model = new TreeModel(what, { allowDevices: opts.allowDevices ?? false });
  let manifestText: string | undefined;
  const { size } = await scanTar(uncompressed(source, what), {
    what,
    tap(chunk) {
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
 * `image.unsafe-path`, `image.corrupt` (user) leaving the store unchanged.
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
