/**
 * The rows of the store database and their mapping to the data the API returns.
 */
import type { Database } from './db';
import { retryBusy } from './db';
import type { NameValue } from './deps';

/** How stale `last_used` may be before a use of an image writes it again ({@link Rows.touchCoarse}). */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** What the store knows about one image. */
export interface ImageInfo {
  /** `sha512-` + 128 hex digits: the sha512 of the uncompressed image */
  key: string;
  name: string;
  labels: NameValue[];
  annotations: NameValue[];
  importTime: Date;
  lastUsed: Date;
  /** fetched without asking for a version (preferred when resolving a name without version) */
  latest: boolean;
  /** bytes of the uncompressed image */
  size: number;
  /** bytes of the last rendered tree of this image (0 when none) */
  treeStoreSize: number;
  /**
   * `aci`: an appc image (its blob is the image tar); `oci`: a layered image fetched from a
   * Docker registry or an OCI/docker archive (its blob is a small record; its files are shared
   * layers, see docs/store.md)
   */
  format: ImageFormat;
}

/** How an image is stored. */
export type ImageFormat = 'aci' | 'oci';

/** A layer of layered images, extracted once into `cas/layer/<hex>`. */
export interface LayerInfo {
  /** `sha256:<hex>` of the uncompressed layer tar */
  diffID: string;
  /** bytes of the uncompressed layer tar */
  size: number;
  /** content hash of the extracted directory at import time (see docs/store.md) */
  hash: string;
  importTime: Date;
}

/** Where an image was downloaded from, for HTTP caching. */
export interface Remote {
  url: string;
  sigUrl?: string;
  /**
   * where the content actually came from, when it differs in a way worth remembering (a
   * Docker registry's `http://host:port` after falling back from https, or the mirror used)
   */
  endpoint?: string;
  etag?: string;
  /** seconds, from Cache-Control max-age */
  cacheMaxAge?: number;
  downloadTime: Date;
  blobKey: string;
}

export interface ImageRow {
  key: string;
  name: string;
  labels: string;
  annotations: string | null;
  manifest: string;
  import_time: number;
  last_used: number;
  latest: number;
  size: number;
  tree_store_size: number;
  /** absent in rows inserted by code that predates layered images (the column defaults to aci) */
  format?: string;
}

interface LayerRow {
  diff_id: string;
  size: number;
  hash: string;
  import_time: number;
}

function rowToLayer(r: LayerRow): LayerInfo {
  return { diffID: r.diff_id, size: r.size, hash: r.hash, importTime: new Date(r.import_time) };
}

interface RemoteRow {
  url: string;
  sig_url: string | null;
  endpoint?: string | null;
  etag: string | null;
  cache_max_age: number | null;
  download_time: number;
  blob_key: string;
}

function parseNameValues(json: string | null): NameValue[] {
  if (!json) return [];
  const v: unknown = JSON.parse(json);
  if (!Array.isArray(v)) return [];
  return v.filter(
    (x): x is NameValue => typeof x === 'object' && x !== null && typeof x.name === 'string' && typeof x.value === 'string',
  );
}

export function rowToInfo(r: ImageRow): ImageInfo {
  return {
    key: r.key,
    name: r.name,
    labels: parseNameValues(r.labels),
    annotations: parseNameValues(r.annotations),
    importTime: new Date(r.import_time),
    lastUsed: new Date(r.last_used),
    latest: r.latest !== 0,
    size: r.size,
    treeStoreSize: r.tree_store_size,
    format: r.format === 'oci' ? 'oci' : 'aci',
  };
}

function rowToRemote(r: RemoteRow): Remote {
  const out: Remote = { url: r.url, downloadTime: new Date(r.download_time), blobKey: r.blob_key };
  if (r.sig_url !== null) out.sigUrl = r.sig_url;
  if (r.endpoint !== null && r.endpoint !== undefined) out.endpoint = r.endpoint;
  if (r.etag !== null) out.etag = r.etag;
  if (r.cache_max_age !== null) out.cacheMaxAge = r.cache_max_age;
  return out;
}

/** Prepared statements over one connection; every call retries while the database is busy. */
export class Rows {
  constructor(private readonly db: Database) {}

  private all<T>(what: string, sql: string, ...params: unknown[]): T[] {
    return retryBusy(what, () => this.db.prepare(sql).all(...params) as T[]);
  }

  private get<T>(what: string, sql: string, ...params: unknown[]): T | undefined {
    return retryBusy(what, () => this.db.prepare(sql).get(...params) as T | undefined);
  }

  private run(what: string, sql: string, ...params: unknown[]): number {
    return retryBusy(what, () => this.db.prepare(sql).run(...params).changes);
  }

  /** Runs `fn` in an IMMEDIATE transaction (write lock taken up front, so no upgrade deadlocks). */
  write<T>(what: string, fn: () => T): T {
    const tx = this.db.transaction(fn);
    return retryBusy(what, () => tx.immediate());
  }

  image(key: string): ImageRow | undefined {
    return this.get('look up image', 'SELECT * FROM images WHERE key = ?', key);
  }

  /** Up to `limit` keys starting with `prefix` (a validated `sha512-<hex>`). */
  keysWithPrefix(prefix: string, limit: number): string[] {
    return this.all<{ key: string }>('resolve image ID', "SELECT key FROM images WHERE key >= ? AND key < ? ORDER BY key LIMIT ?", prefix, `${prefix}g`, limit).map(
      (r) => r.key,
    );
  }

  imagesNamed(name: string): ImageRow[] {
    return this.all('look up image name', 'SELECT * FROM images WHERE name = ?', name);
  }

  images(): ImageRow[] {
    return this.all('list images', 'SELECT * FROM images ORDER BY import_time, key');
  }

  keys(): Set<string> {
    return new Set(this.all<{ key: string }>('list images', 'SELECT key FROM images').map((r) => r.key));
  }

  insertImage(r: ImageRow): boolean {
    return (
      this.run(
        'add image',
        `INSERT INTO images (key, name, labels, annotations, manifest, import_time, last_used, latest, size, tree_store_size, format)
         VALUES (@key, @name, @labels, @annotations, @manifest, @import_time, @last_used, @latest, @size, @tree_store_size, @format)
         ON CONFLICT (key) DO NOTHING`,
        { ...r, format: r.format ?? 'aci' },
      ) > 0
    );
  }

  markLatest(key: string): void {
    this.run('update image', 'UPDATE images SET latest = 1 WHERE key = ?', key);
  }

  touch(key: string, when: number): void {
    this.run('update image', 'UPDATE images SET last_used = ? WHERE key = ?', when, key);
  }

  /**
   * {@link touch} unless `last_used` is already within `resolutionMs` of `when` (as relatime
   * does for atime): a pod started from an image used a moment ago then writes nothing to the
   * database (no WAL to create and checkpoint), and image gc, whose grace periods are hours,
   * sees the same thing.
   */
  touchCoarse(key: string, when: number, resolutionMs = LAST_USED_RESOLUTION_MS): void {
    const row = this.get<{ last_used: number }>('look up image', 'SELECT last_used FROM images WHERE key = ?', key);
    if (row && row.last_used >= when - resolutionMs && row.last_used <= when) return;
    this.touch(key, when);
  }

  setTreeStoreSize(key: string, size: number): void {
    this.run('update image', 'UPDATE images SET tree_store_size = ? WHERE key = ?', size, key);
  }

  /** Deletes the image row, the remotes pointing at it and its layer list; returns whether a row existed. */
  deleteImage(key: string): boolean {
    return this.write('remove image', () => {
      const n = this.db.prepare('DELETE FROM images WHERE key = ?').run(key).changes;
      this.db.prepare('DELETE FROM remotes WHERE blob_key = ?').run(key);
      this.db.prepare('DELETE FROM image_layers WHERE image_key = ?').run(key);
      return n > 0;
    });
  }

  layer(diffID: string): LayerInfo | undefined {
    const r = this.get<LayerRow>('look up layer', 'SELECT * FROM layers WHERE diff_id = ?', diffID);
    return r && rowToLayer(r);
  }

  layers(): LayerInfo[] {
    return this.all<LayerRow>('list layers', 'SELECT * FROM layers ORDER BY diff_id').map(rowToLayer);
  }

  /** Adds a layer row (no-op when present). */
  insertLayer(l: LayerInfo): void {
    this.run(
      'add layer',
      'INSERT INTO layers (diff_id, size, hash, import_time) VALUES (?, ?, ?, ?) ON CONFLICT (diff_id) DO NOTHING',
      l.diffID,
      l.size,
      l.hash,
      l.importTime.getTime(),
    );
  }

  deleteLayer(diffID: string): void {
    this.run('remove layer', 'DELETE FROM layers WHERE diff_id = ?', diffID);
  }

  /** The diff IDs of an image's layers, bottom first. */
  imageLayers(key: string): string[] {
    return this.all<{ diff_id: string }>('list image layers', 'SELECT diff_id FROM image_layers WHERE image_key = ? ORDER BY position', key).map(
      (r) => r.diff_id,
    );
  }

  /** Records the layers of an image (bottom first), replacing any earlier list. */
  setImageLayers(key: string, diffIDs: readonly string[]): void {
    this.db.prepare('DELETE FROM image_layers WHERE image_key = ?').run(key);
    const ins = this.db.prepare('INSERT INTO image_layers (image_key, position, diff_id) VALUES (?, ?, ?)');
    diffIDs.forEach((d, i) => ins.run(key, i, d));
  }

  /** Every diff ID some image row uses. */
  usedLayers(): Set<string> {
    return new Set(this.all<{ diff_id: string }>('list used layers', 'SELECT DISTINCT diff_id FROM image_layers').map((r) => r.diff_id));
  }

  /** Keys of the images using a layer. */
  layerUsers(diffID: string): string[] {
    return this.all<{ image_key: string }>('list layer users', 'SELECT image_key FROM image_layers WHERE diff_id = ? ORDER BY image_key', diffID).map(
      (r) => r.image_key,
    );
  }

  remote(url: string): Remote | undefined {
    const r = this.get<RemoteRow>('look up remote', 'SELECT * FROM remotes WHERE url = ?', url);
    return r && rowToRemote(r);
  }

  remotes(): Remote[] {
    return this.all<RemoteRow>('list remotes', 'SELECT * FROM remotes ORDER BY url').map(rowToRemote);
  }

  upsertRemote(r: Remote): void {
    this.run(
      'record remote',
      `INSERT INTO remotes (url, sig_url, etag, cache_max_age, download_time, blob_key, endpoint) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (url) DO UPDATE SET sig_url = excluded.sig_url, etag = excluded.etag, cache_max_age = excluded.cache_max_age, endpoint = excluded.endpoint,
         download_time = excluded.download_time, blob_key = excluded.blob_key`,
      r.url,
      r.sigUrl ?? null,
      r.etag ?? null,
      r.cacheMaxAge ?? null,
      r.downloadTime.getTime(),
      r.blobKey,
      r.endpoint ?? null,
    );
  }

  integrity(): string[] {
    return this.all<{ quick_check: string }>('check database', 'PRAGMA quick_check').map((r) => r.quick_check);
  }
}
