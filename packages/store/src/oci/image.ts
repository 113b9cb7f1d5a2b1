/**
 * Importing layered (OCI and Docker) images: the layers are stored once each (see layer.ts),
 * the config is converted into an appc image manifest, and the image itself is a small record
 * blob (config, layer list, manifest) whose sha512 is the image key, with a database row like
 * any image plus its layer list.
 */
import { closeSync, constants, existsSync, fsyncSync, openSync, readFileSync, readlinkSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { isRktError, systemError, userError } from '@rktnetes/errors';
import { assertWritable, type StoreContext } from '../context';
import { serializeImageManifest, type ImageManifest } from '../deps';
import { TreeModel } from '../entries';
import { fsyncDir, isENOENT, mkdirp, tempName, writeAll } from '../fsutil';
import { keyFromHex } from '../keys';
import { FileLock, withLock } from '../lock';
import { rowToInfo, type ImageInfo, type Remote } from '../rows';
import { imageManifestFromConfig } from './convert';
import { ensureLayer, type EnsuredLayer, type LayerSource } from './layer';
import { digestOf, parseImageConfig, type ImageConfig } from './media';
import { lookupMerged, walkMerged } from './merge';

/** A layered image to import. */
export interface LayeredImageSource {
  /** the image config exactly as published (its digest is the image ID) */
  config: Uint8Array;
  /** the digest the source names for the config; verified when given */
  configDigest?: string;
  /** the layers, bottom first, one per `rootfs.diff_ids` entry of the config */
  layers: LayerSource[];
  /** the image name, a registry reference without tag (`registry-1.docker.io/library/busybox`) */
  name: string;
  /** the tag: the image's `version` label */
  tag?: string;
  /** annotations added to the manifest (e.g. `appc.io/docker/originalname`) */
  annotations?: Record<string, string>;
}

/** Options of {@link importLayeredImage}. */
export interface LayeredImportOptions {
  /** where it was fetched from (its ETag: the manifest digest); recorded with the image */
  remote?: Omit<Remote, 'blobKey' | 'downloadTime'> & { downloadTime?: Date };
  /** fetched as `latest`: preferred when resolving its name without a version */
  latest?: boolean;
  /** layers fetched at the same time (default 3) */
  concurrency?: number;
  /** called when a layer is stored or found */
  onLayer?: (event: { index: number; diffID: string; digest?: string; transferred: boolean; bytes: number }) => void;
}

/** What {@link importLayeredImage} returns: the image, and what had to be transferred. */
export interface LayeredImportResult extends ImageInfo {
  /** layers read from their source (the others were in the store already) */
  transferredLayers: number;
  transferredBytes: number;
}

/** The record stored as the blob of a layered image. */
export interface LayeredRecord {
  rktKind: 'layeredImage';
  rktVersion: 'v1';
  /** the config digest and its exact text */
  config: { digest: string; json: string };
  /** bottom first */
  layers: Array<{ diffID: string; size: number }>;
  manifest: ImageManifest;
}

/** Serializes a record (stable key order, so equal content gives equal keys). */
export function serializeRecord(r: LayeredRecord): string {
  return JSON.stringify({
    rktKind: r.rktKind,
    rktVersion: r.rktVersion,
    config: { digest: r.config.digest, json: r.config.json },
    layers: r.layers.map((l) => ({ diffID: l.diffID, size: l.size })),
    manifest: JSON.parse(serializeImageManifest(r.manifest)) as unknown,
  });
}

/** Reads and checks the record blob of a layered image (its sha512 must be the key). Throws `store.corrupt`. */
export function readRecord(ctx: StoreContext, key: string): LayeredRecord {
  let data: Buffer;
  try {
    data = readFileSync(ctx.layout.blob(key));
  } catch (e) {
    if (isENOENT(e)) throw userError('store.not-found', `image ${key} has no blob in the store; remove and fetch it again`);
    throw systemError('store.io', `cannot read image ${key}`, { cause: e });
  }
  const corruptRecord = () => systemError('store.corrupt', `image ${key} is corrupt in the store (its record no longer matches its ID); remove and fetch it again`);
  if (keyFromHex(createHash('sha512').update(data).digest('hex')) !== key) throw corruptRecord();
  const r = JSON.parse(data.toString('utf8')) as LayeredRecord;
  if (r.rktKind !== 'layeredImage' || !Array.isArray(r.layers)) throw corruptRecord();
  return r;
}

/** The layer directories of a record, top layer first. */
export function recordLayerDirs(ctx: StoreContext, r: LayeredRecord): string[] {
  return r.layers.map((l) => ctx.layout.layer(l.diffID)).reverse();
}

/** Reads a regular file of the merged view of `dirs` (top first), or undefined. */
export function readMergedFile(dirs: readonly string[], absPath: string): Buffer | undefined {
  const e = lookupMerged(dirs, absPath);
  if (!e || !e.st.isFile()) return undefined;
  return readFileSync(e.abs);
}

/**
 * Checks the symlinks of the whole merged image as an ACI import does (none may resolve above
 * the root), since stacking layers can create an escape no single layer has.
 */
function checkMergedSymlinks(dirs: readonly string[], what: string): void {
  const model = new TreeModel(what, { allowDevices: true, render: true });
  for (const e of walkMerged(dirs)) {
    const path = `rootfs/${e.rel}`;
    const base = { path, mode: e.st.mode & 0o7777, uid: e.st.uid, gid: e.st.gid, size: 0, mtime: e.st.mtime };
    if (e.st.isDirectory()) model.add({ ...base, type: 'dir' }, 0);
    else if (e.st.isSymbolicLink()) model.add({ ...base, type: 'symlink', linkname: readlinkSync(e.abs) }, 0);
    else model.add({ ...base, type: 'file' }, 0);
  }
  model.checkSymlinks();
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed !== undefined) throw failed;
  return out;
}

/**
 * Imports a layered image: verifies the config against its digest, stores the missing layers
 * (each verified against its blob digest and diff ID), checks the merged tree's symlinks,
 * converts the config into an appc manifest, writes the record blob and adds the image row
 * with its layer list (and remote) in one transaction. Importing the same image again reads no
 * layer and returns the existing row.
 *
 * Locks: store (shared, for the whole import, so gc cannot remove a layer in between) ->
 * each layer (exclusive while it is extracted) -> the image (exclusive for rename + insert).
 *
 * Throws `image.invalid`, `image.corrupt`, `image.unsafe-path` (user), `store.*`.
 */
export async function importLayeredImage(ctx: StoreContext, src: LayeredImageSource, opts: LayeredImportOptions = {}): Promise<LayeredImportResult> {
  assertWritable(ctx, 'import an image');
  const what = JSON.stringify(src.tag ? `${src.name}:${src.tag}` : src.name);
  const configDigest = digestOf(src.config, src.configDigest);
  if (src.configDigest && configDigest !== src.configDigest) {
    throw userError('image.corrupt', `image ${what}: config has digest ${configDigest}, expected ${src.configDigest}`);
  }
  const config: ImageConfig = parseImageConfig(src.config, what);
  if (config.diffIDs.length !== src.layers.length) {
    throw userError('image.invalid', `image ${what}: its config lists ${config.diffIDs.length} layers, its manifest ${src.layers.length}`);
  }
  const { layout, rows } = ctx;
  const storeLock = await FileLock.acquire(layout.storeLock, 'sh');
  try {
    const ensured: EnsuredLayer[] = await mapLimit(src.layers, opts.concurrency ?? 3, async (layer, index) => {
      const diffID = config.diffIDs[index] as string;
      const r = await ensureLayer(ctx, diffID, layer, what);
      opts.onLayer?.({ index, diffID, ...(layer.digest ? { digest: layer.digest } : {}), transferred: r.transferred, bytes: r.bytes });
      return r;
    });
    const dirs = config.diffIDs.map((d) => layout.layer(d)).reverse();
    checkMergedSymlinks(dirs, what);
    const manifest = imageManifestFromConfig(config, {
      name: src.name,
      ...(src.tag ? { tag: src.tag } : {}),
      imageID: configDigest,
      ...(src.annotations ? { annotations: src.annotations } : {}),
      readFile: (p) => readMergedFile(dirs, p),
    });
    const record: LayeredRecord = {
      rktKind: 'layeredImage',
      rktVersion: 'v1',
      config: { digest: configDigest, json: Buffer.from(src.config).toString('utf8') },
      layers: ensured.map((e) => ({ diffID: e.layer.diffID, size: e.layer.size })),
      manifest,
    };
    const data = Buffer.from(serializeRecord(record));
    const key = keyFromHex(createHash('sha512').update(data).digest('hex'));
    const manifestText = serializeImageManifest(manifest);
    const size = ensured.reduce((n, e) => n + e.layer.size, 0);
    const info = await withLock(layout.imageLock(key), 'ex', () => {
      writeBlob(ctx, key, data);
      const now = Date.now();
      rows.write('add image', () => {
        const inserted = rows.insertImage({
          key,
          name: manifest.name,
          labels: JSON.stringify(manifest.labels ?? []),
          annotations: manifest.annotations ? JSON.stringify(manifest.annotations) : null,
          manifest: manifestText,
          import_time: now,
          last_used: now,
          latest: opts.latest ? 1 : 0,
          size,
          tree_store_size: 0,
          format: 'oci',
        });
        if (inserted) rows.setImageLayers(key, config.diffIDs);
        else if (opts.latest) rows.markLatest(key);
        if (opts.remote) rows.upsertRemote({ ...opts.remote, downloadTime: opts.remote.downloadTime ?? new Date(now), blobKey: key });
      });
      const row = rows.image(key);
      if (!row) throw systemError('store.db', `image ${key} vanished right after being added`);
      return rowToInfo(row);
    });
    ctx.debug(`import ${what}: ${key} (${ensured.length} layers, ${ensured.filter((e) => e.transferred).length} transferred)`);
    return {
      ...info,
      transferredLayers: ensured.filter((e) => e.transferred).length,
      transferredBytes: ensured.reduce((n, e) => n + e.bytes, 0),
    };
  } catch (e) {
    if (isRktError(e)) throw e;
    throw systemError('store.io', `cannot import image ${what}`, { cause: e });
  } finally {
    storeLock?.release();
  }
}

/** Writes the record blob unless a complete one is there (caller holds the image lock). */
function writeBlob(ctx: StoreContext, key: string, data: Buffer): void {
  const { layout } = ctx;
  const blob = layout.blob(key);
  try {
    if (statSync(blob).size === data.length) return;
  } catch (e) {
    if (!isENOENT(e)) throw e;
  }
  mkdirp(layout.tmp, 0o700);
  const tmp = join(layout.tmp, tempName('import'));
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o644);
  let moved = false;
  try {
    writeAll(fd, data);
    fsyncSync(fd);
    const dir = layout.blobDir(key);
    const fresh = !existsSync(dir);
    mkdirp(dir);
    renameSync(tmp, blob);
    moved = true;
    fsyncDir(dir);
    if (fresh) fsyncDir(layout.blobRoot);
  } finally {
    closeSync(fd);
    if (!moved) unlinkSync(tmp);
  }
}
