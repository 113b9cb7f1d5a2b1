/**
 * A read-only view of the image store: `openStore(dataDir, { readOnly: true })`, reopened
 * when the database appears after the service started. Image manifests are cached by key
 * (an image never changes under its key).
 */
import { existsSync } from 'node:fs';
import { usageError, userError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { getLabel, parseImageManifest, type Annotation, type Label } from '@rktnetes/schema';
import { layoutFor, openStore, type ImageInfo, type Store } from '@rktnetes/store';

/** One image as the API reports it. */
export interface ImageRecord {
  /** `sha512-` + 128 hex digits */
  key: string;
  name: string;
  /** the `version` label, `latest` without one */
  version: string;
  importTime: Date;
  /** the image plus its last rendered tree, in bytes */
  size: number;
  labels: Label[];
  annotations: Annotation[];
  /** the manifest exactly as imported */
  manifestText: string;
  /** the manifest's acVersion */
  acVersion: string;
}

interface ManifestInfo {
  text: string;
  name: string;
  labels: Label[];
  annotations: Annotation[];
  acVersion: string;
}

/** The read-only image view of one data directory. */
export class ImageView {
  private store: Store | undefined;
  /** the store was opened before its database existed (an empty in-memory stand-in) */
  private placeholder = false;
  private readonly manifests = new Map<string, ManifestInfo>();

  constructor(
    readonly dataDir: string,
    private readonly log?: Logger,
  ) {}

  private open(): Store {
    if (this.store && this.placeholder && existsSync(layoutFor(this.dataDir).db)) {
      this.store.close();
      this.store = undefined;
    }
    if (!this.store) {
      this.placeholder = !existsSync(layoutFor(this.dataDir).db);
      this.store = openStore(this.dataDir, { readOnly: true, debug: (m) => this.log?.debug(m) });
    }
    return this.store;
  }

  /** Every image, oldest import first. Images removed while listing are left out. */
  list(): ImageRecord[] {
    const store = this.open();
    const infos = store.listImages();
    const out: ImageRecord[] = [];
    for (const info of infos) {
      const rec = this.record(store, info);
      if (rec) out.push(rec);
    }
    if (this.manifests.size > infos.length * 2 + 64) {
      const live = new Set(infos.map((i) => i.key));
      for (const k of this.manifests.keys()) if (!live.has(k)) this.manifests.delete(k);
    }
    return out;
  }

  /** The keys and names of every image, for change detection (cheap: no manifests). */
  summary(): Map<string, { name: string; importTime: Date; version: string }> {
    const out = new Map<string, { name: string; importTime: Date; version: string }>();
    for (const i of this.open().listImages()) out.set(i.key, { name: i.name, importTime: i.importTime, version: getLabel(i.labels, 'version') ?? 'latest' });
    return out;
  }

  /**
   * One image by key or key prefix (`sha512-` and at least two hex digits; rkt's 64-digit keys
   * are prefixes of ours). Names are not accepted here. Throws `api.invalid-argument`,
   * `store.not-found`, `store.ambiguous`.
   */
  get(id: string): ImageRecord {
    if (!/^sha512-[0-9a-f]{2,128}$/i.test(id)) {
      throw usageError('api.invalid-argument', `invalid image id "${id}": expected sha512- and hex digits`);
    }
    const store = this.open();
    const info = store.getImage(id.toLowerCase());
    const rec = this.record(store, info);
    if (!rec) throw userError('store.not-found', `image "${id}" not found in the store`);
    return rec;
  }

  private record(store: Store, info: ImageInfo): ImageRecord | undefined {
    let m = this.manifests.get(info.key);
    if (!m) {
      let text: string;
      try {
        text = store.getImageManifestJSON(info.key);
      } catch (e) {
        this.log?.debug(`image ${info.key}: ${(e as Error).message}`);
        return undefined;
      }
      try {
        const im = parseImageManifest(text);
        m = { text, name: im.name, labels: im.labels ?? [], annotations: im.annotations ?? [], acVersion: im.acVersion };
      } catch {
        m = { text, name: info.name, labels: info.labels, annotations: info.annotations, acVersion: '' };
      }
      this.manifests.set(info.key, m);
    }
    return {
      key: info.key,
      name: m.name,
      version: getLabel(m.labels, 'version') ?? 'latest',
      importTime: info.importTime,
      size: info.size + info.treeStoreSize,
      labels: m.labels,
      annotations: m.annotations,
      manifestText: m.text,
      acVersion: m.acVersion,
    };
  }

  close(): void {
    this.store?.close();
    this.store = undefined;
  }
}
