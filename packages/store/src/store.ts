/**
 * The image store API: {@link openStore} and the {@link Store} it returns.
 */
import { createReadStream, existsSync, unlinkSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { internalError, systemError, userError } from '@rktnetes/errors';
import type { ImageSource } from './archive';
import { assertWritable, type StoreContext } from './context';
import { openDatabase, type Database } from './db';
import type { ImageManifest } from './deps';
import { entryFromHeader, normalizeName } from './entries';
import { fsck, type FsckOptions, type FsckReport } from './fsck';
import { fsyncDir, isENOENT, mkdirp, privateDir } from './fsutil';
import { gc, type GcOptions, type GcResult } from './gc';
import { importImage, type ImportOptions } from './import';
import { keyFromHex } from './keys';
import { layoutFor, type Layout } from './layout';
import { FileLock, withLock } from './lock';
import { render, removeTreeByID, treeStoreID, verifyTree, listTreeIDs, treeImage, type RenderResult, type TreeVerification } from './render';
import { labelsToList, manifestOf, resolveRef, type LabelsInput } from './resolve';
import { Rows, rowToInfo, type ImageInfo, type LayerInfo, type Remote } from './rows';
import { scanTar } from './tarscan';
import { importLayeredImage, readRecord, type LayeredImageSource, type LayeredImportOptions, type LayeredImportResult } from './oci/image';
import { hasLayer } from './oci/layer';
import { exportLayered, layeredTreeStoreID, readLayeredFile, renderLayered } from './oci/tree';
import { pruneLayers } from './oci/prune';

export interface OpenStoreOptions {
  /** open without creating or changing anything (listing, reading, fsck) */
  readOnly?: boolean;
  /** receives debug lines (e.g. a logger's debug) */
  debug?: (msg: string) => void;
}

/** Filters for {@link Store.listImages}; all given ones must match. */
export interface ImageFilter {
  name?: string;
  /** a key prefix, `sha512-` and some hex digits */
  keyPrefix?: string;
  labels?: LabelsInput;
}

/** A rendered tree. */
export interface TreeInfo {
  treeStoreID: string;
  path: string;
  rootfs: string;
  /** the image it was rendered for, if recorded */
  image: string | undefined;
}

/**
 * Opens the store under `<dataDir>/cas`, creating and migrating it unless read-only.
 * Throws `store.schema-newer` when the database was written by a newer rkt.
 */
export function openStore(dataDir: string, opts: OpenStoreOptions = {}): Store {
  const layout = layoutFor(dataDir);
  const readOnly = opts.readOnly ?? false;
  if (!readOnly) {
    try {
      for (const d of [layout.cas, layout.dbDir, layout.blobRoot, layout.imageLocks, layout.treeLocks, layout.layerLocks]) mkdirp(d);
      // rendered trees and extracted layers keep the images' setuid files (rkt: cas/tree is 2700)
      for (const d of [layout.trees, layout.layers]) privateDir(d);
      mkdirp(layout.tmp, 0o700);
    } catch (e) {
      throw systemError('store.io', `cannot create the image store in ${layout.cas}`, { cause: e });
    }
  }
  const db = openDatabase(layout.db, { readOnly, backupDir: layout.dbBackups });
  return new Store(layout, db, readOnly, opts.debug ?? (() => {}));
}

/**
 * An open image store. Methods taking `ref` accept a key, a key prefix (`sha512-` and at least
 * two hex digits) or `name[:version]`. Errors are RktErrors: `store.not-found`,
 * `store.ambiguous`, `store.invalid-key` and the `image.*` codes of imports.
 */
export class Store {
  private readonly ctx: StoreContext;
  private closed = false;

  /** @internal use {@link openStore} */
  constructor(
    readonly layout: Layout,
    private readonly db: Database,
    readonly readOnly: boolean,
    debug: (msg: string) => void,
  ) {
    this.ctx = { layout, rows: new Rows(db), readOnly, debug };
  }

  private get c(): StoreContext {
    if (this.closed) throw internalError('store.closed', 'the image store is closed');
    return this.ctx;
  }

  /** Imports an image (path or stream; gzip, bzip2, xz or plain tar). See {@link ImportOptions}. */
  importImage(source: ImageSource, opts: ImportOptions = {}): Promise<ImageInfo> {
    return importImage(this.c, source, opts);
  }

  /** The full key `ref` (with optional labels for names) resolves to. */
  resolveImage(ref: string, labels?: LabelsInput): string {
    return resolveRef(this.c, ref, labels);
  }

  /** The info of one image. */
  getImage(ref: string, labels?: LabelsInput): ImageInfo {
    const key = this.resolveImage(ref, labels);
    const row = this.c.rows.image(key);
    if (!row) throw userError('store.not-found', `image "${ref}" not found in the store`);
    return rowToInfo(row);
  }

  /** The validated manifest of an image. */
  getImageManifest(ref: string): ImageManifest {
    return manifestOf(this.c, this.resolveImage(ref)).manifest;
  }

  /** The manifest of an image exactly as imported (JSON text). */
  getImageManifestJSON(ref: string): string {
    return manifestOf(this.c, this.resolveImage(ref)).text;
  }

  /** All images matching `filter`, oldest import first. */
  listImages(filter: ImageFilter = {}): ImageInfo[] {
    const rows = filter.name !== undefined ? this.c.rows.imagesNamed(filter.name) : this.c.rows.images();
    const prefix = filter.keyPrefix?.toLowerCase();
    const labels = labelsToList(filter.labels);
    return rows
      .filter((r) => !prefix || r.key.startsWith(prefix))
      .map(rowToInfo)
      .filter((i) => labels.every((l) => i.labels.some((x) => x.name === l.name && x.value === l.value)))
      .sort((a, b) => a.importTime.getTime() - b.importTime.getTime() || a.key.localeCompare(b.key));
  }

  /**
   * Removes an image: its row (and remotes, and layer list) first, then its blob, so a crash in
   * between leaves only an orphan blob for gc. Rendered trees stay until gc (pods may use them).
   * The layers of a layered image that no other image and no tree uses are removed too when no
   * other store operation is running (else by the next gc).
   */
  async removeImage(ref: string): Promise<string> {
    const c = this.c;
    assertWritable(c, 'remove an image');
    const key = resolveRef(c, ref);
    const layered = this.isLayered(key);
    await withLock(c.layout.imageLock(key), 'ex', () => {
      if (!c.rows.deleteImage(key)) throw userError('store.not-found', `image "${ref}" not found in the store`);
      try {
        unlinkSync(c.layout.blob(key));
        fsyncDir(c.layout.blobDir(key));
      } catch (e) {
        if (!isENOENT(e)) throw systemError('store.io', `image ${key} removed, but its blob could not be deleted (gc will)`, { cause: e });
      }
    });
    // layers nothing uses any more go now if the store is idle, else at the next gc
    if (layered) await pruneLayers(c, { tryOnly: true });
    return key;
  }

  /**
   * The uncompressed image as a stream (its sha512 is the key). The image is locked shared
   * until the stream ends or is destroyed; a blob whose content no longer matches its key
   * makes the stream fail with `store.corrupt`.
   */
  async exportImage(ref: string): Promise<Readable> {
    const c = this.c;
    const key = resolveRef(c, ref);
    if (this.isLayered(key)) return exportLayered(c, key);
    const lock = await FileLock.acquire(c.layout.imageLock(key), 'sh', { create: !c.readOnly });
    const blob = c.layout.blob(key);
    if (!existsSync(blob)) {
      lock?.release();
      throw userError('store.not-found', `image ${key} has no blob in the store`);
    }
    if (!c.readOnly) c.rows.touch(key, Date.now());
    const { Readable } = await import('node:stream');
    const src = createReadStream(blob, { highWaterMark: 1 << 20 });
    const gen = async function* () {
      const h = createHash('sha512');
      try {
        for await (const chunk of src) {
          h.update(chunk as Buffer);
          yield chunk as Buffer;
        }
        if (keyFromHex(h.digest('hex')) !== key) {
          throw systemError('store.corrupt', `image ${key} is corrupt in the store; remove and fetch it again`);
        }
      } finally {
        src.destroy();
        lock?.release();
      }
    };
    const out = Readable.from(gen(), { objectMode: false });
    out.once('close', () => {
      src.destroy();
      lock?.release();
    });
    return out;
  }

  /**
   * The content of one regular file of an image: `path` is an archive path (`manifest`,
   * `rootfs/etc/os-release`) or an absolute path inside rootfs (`/etc/os-release`). Hard links
   * are followed. Throws `store.not-found`.
   */
  async readImageFile(ref: string, path: string): Promise<Buffer> {
    const c = this.c;
    const key = resolveRef(c, ref);
    if (this.isLayered(key)) {
      if (path === 'manifest') return Buffer.from(manifestOf(c, key).text);
      return readLayeredFile(c, key, path.startsWith('/') ? path : `/${path.replace(/^rootfs(\/|$)/, '')}`);
    }
    const want = path.startsWith('/') ? normalizeName(key, `rootfs${path}`) : normalizeName(key, path);
    return withLock(
      c.layout.imageLock(key),
      'sh',
      async () => {
        let target = want;
        for (let hops = 0; hops < 2; hops++) {
          let found: Buffer | undefined;
          let link: string | undefined;
          const chunks = createReadStream(c.layout.blob(key), { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
          await scanTar(chunks, {
            what: key,
            async onEntry(header, body) {
              const e = entryFromHeader(key, header);
              if (!e || e.path !== target) return;
              if (e.type === 'hardlink') {
                link = e.linkname;
                return 'stop';
              }
              if (e.type !== 'file') throw userError('store.not-found', `${path} in image ${key} is not a regular file`);
              const parts: Buffer[] = [];
              for await (const b of body) parts.push(b);
              found = Buffer.concat(parts);
              return 'stop';
            },
          });
          if (found) return found;
          if (!link) break;
          target = link;
        }
        throw userError('store.not-found', `file ${path} not found in image ${key}`);
      },
      { create: !c.readOnly },
    );
  }

  /**
   * Renders `ref` into the tree store (no-op when already rendered). An ACI is rendered with its
   * dependencies into a tree with a `rootfs`. A layered (OCI/Docker) image is rendered as its
   * layers: mount `lowerDirs` (uppermost first) as overlayfs lower dirs; with `flatten` it gets
   * a real `rootfs` instead (for copying users, e.g. `--no-overlay` or `rkt image render`).
   * Either way `lowerDirs` is what to mount.
   */
  render(ref: string, opts: { rebuild?: boolean; flatten?: boolean } = {}): Promise<RenderResult> {
    const c = this.c;
    const key = resolveRef(c, ref);
    if (this.isLayered(key)) return renderLayered(c, key, opts);
    return render(c, key, opts);
  }

  /** The tree store ID `ref` would render to now (for layered images, with or without `flatten`). */
  treeStoreID(ref: string, opts: { flatten?: boolean } = {}): string {
    const c = this.c;
    const key = resolveRef(c, ref);
    if (this.isLayered(key)) return layeredTreeStoreID(key, opts.flatten ?? false);
    return treeStoreID(c, key);
  }

  private isLayered(key: string): boolean {
    return this.c.rows.image(key)?.format === 'oci';
  }

  /**
   * Imports a layered (OCI or Docker) image from its config and layer sources: layers already
   * in the store are not read again. See docs/store.md, "Layered images".
   */
  importLayeredImage(source: LayeredImageSource, opts: LayeredImportOptions = {}): Promise<LayeredImportResult> {
    return importLayeredImage(this.c, source, opts);
  }

  /** Whether the layer with diff ID `diffID` (`sha256:<hex>`) is stored. */
  hasLayer(diffID: string): boolean {
    return hasLayer(this.c, diffID);
  }

  /** The stored layers. */
  listLayers(): LayerInfo[] {
    return this.c.rows.layers();
  }

  /**
   * The layers of a layered image, uppermost first, with their directories (an ACI has none:
   * empty list).
   */
  imageLayers(ref: string): Array<LayerInfo & { path: string }> {
    const c = this.c;
    const key = resolveRef(c, ref);
    return c.rows
      .imageLayers(key)
      .reverse()
      .map((d) => {
        const l = c.rows.layer(d);
        if (!l) throw userError('store.not-found', `layer ${d} of image ${key} is missing from the store; remove the image and fetch it again`);
        return { ...l, path: c.layout.layer(d) };
      });
  }

  /**
   * The OCI/Docker image config of a layered image exactly as published (JSON text; its sha256
   * is the image's `appc.io/docker/imageid` annotation), or undefined for an ACI.
   */
  getImageConfigJSON(ref: string): string | undefined {
    const c = this.c;
    const key = resolveRef(c, ref);
    if (!this.isLayered(key)) return undefined;
    return readRecord(c, key).config.json;
  }

  /** The rendered trees. */
  listTrees(): TreeInfo[] {
    const c = this.c;
    return listTreeIDs(c).map((id) => ({
      treeStoreID: id,
      path: c.layout.tree(id),
      rootfs: c.layout.treeRootfs(id),
      image: treeImage(c.layout.tree(id)),
    }));
  }

  /** Removes a rendered tree; false when it did not exist. */
  removeTree(treeStoreID: string): Promise<boolean> {
    return removeTreeByID(this.c, treeStoreID);
  }

  /** Re-hashes a rendered tree and compares with the hash recorded when it was rendered. */
  verifyTree(treeStoreID: string): Promise<TreeVerification> {
    return verifyTree(this.c, treeStoreID);
  }

  /** Removes unused images, trees and crash debris. */
  gc(opts: GcOptions = {}): Promise<GcResult> {
    return gc(this.c, opts);
  }

  /** Checks the store; see {@link FsckReport}. */
  fsck(opts: FsckOptions = {}): Promise<FsckReport> {
    return fsck(this.c, opts);
  }

  /** The remote record of an image URL, if any. */
  getRemote(url: string): Remote | undefined {
    return this.c.rows.remote(url);
  }

  /** Adds or replaces a remote record; its blob key must be an image in the store. */
  setRemote(remote: Remote): void {
    const c = this.c;
    assertWritable(c, 'record a remote');
    c.rows.write('record remote', () => {
      if (!c.rows.image(remote.blobKey)) throw userError('store.not-found', `image ${remote.blobKey} not found in the store`);
      c.rows.upsertRemote(remote);
    });
  }

  /** All remote records. */
  listRemotes(): Remote[] {
    return this.c.rows.remotes();
  }

  /** Closes the database. Further calls throw `store.closed`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
