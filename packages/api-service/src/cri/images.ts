/**
 * The ImageService over rkt's store. Images are read from the store opened read-only; pulls and
 * removals go through `rkt fetch` and `rkt image rm`.
 *
 * The store keys an image by its name and tag as well as its content, so one Docker image
 * pulled under three tags is three store images sharing one config. The CRI sees images the
 * way Docker does: one image per config digest (`appc.io/docker/imageid`), id `sha256:<hex>`,
 * with every reference it was pulled as in `repo_tags`/`repo_digests`. An ACI is an image of its
 * own, its id the store key. Stage1 images are reported pinned so that the kubelet's image
 * garbage collection leaves them alone.
 */
import { existsSync, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { hasCode } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import { getLabel, parseImageManifest, type ImageManifest } from '@rktnetes/schema';
import { layoutFor, openStore, type ImageInfo, type Store } from '@rktnetes/store';
import { invalidArgument } from './grpc';
import type { ImageMessage } from './messages';
import { formatReference, lookupKey, parseImageReference, repositoryOf, tryParseImageReference, type ImageReference } from './reference';
import { dirUsage } from './stats';

/** Annotations stage0 writes on images converted from Docker/OCI configs (docs/store.md). */
export const ANNOTATION_DOCKER_IMAGE_ID = 'appc.io/docker/imageid';
export const ANNOTATION_DOCKER_ORIGINAL_NAME = 'appc.io/docker/originalname';
/** Every stage1 image carries its run entrypoint (docs/stage1-interface.md). */
const ANNOTATION_STAGE1_RUN = 'coreos.com/rkt/stage1/run';

/** One image as the CRI sees it. */
export interface CriImage {
  /** `sha256:<config digest>` for Docker/OCI images, the store key for ACIs */
  id: string;
  /** the store images behind it, most recently imported first */
  keys: string[];
  repoTags: string[];
  repoDigests: string[];
  /** bytes, uncompressed */
  size: number;
  /** the user the image runs as: numeric uid, or a name */
  uid?: number;
  username: string;
  pinned: boolean;
}

interface KeyInfo {
  manifest: ImageManifest | undefined;
  /** the image config's `User`, or the ACI's app user */
  user: string;
}

/** The user part of a Docker `User` (`uid`, `name`, `uid:gid`, `name:group`) as the CRI reports it. */
export function imageUser(user: string): { uid?: number; username: string } {
  const u = user.split(':')[0] ?? '';
  if (u === '') return { username: '' };
  if (/^\d+$/.test(u)) return { uid: Number(u), username: '' };
  return { username: u };
}

/** A CRI `Image` message. */
export function imageMessage(img: CriImage): ImageMessage {
  return {
    id: img.id,
    repo_tags: img.repoTags,
    repo_digests: img.repoDigests,
    size: String(img.size),
    uid: img.uid === undefined ? null : { value: String(img.uid) },
    username: img.username,
    spec: { image: img.id, annotations: {} },
    pinned: img.pinned,
  };
}

function annotation(m: ImageManifest | undefined, name: string): string | undefined {
  return m?.annotations?.find((a) => a.name === name)?.value;
}

/** The read side of the ImageService. */
export class CriImages {
  private store: Store | undefined;
  private readonly keyInfo = new Map<string, KeyInfo>();

  constructor(
    readonly dataDir: string,
    private readonly log?: Logger,
  ) {}

  /**
   * The store, opened read-only once its database exists and has rkt's schema; undefined before
   * (no images yet: a database rkt has not yet written to is still at schema 0, and the first
   * `rkt fetch` migrates it).
   */
  private open(): Store | undefined {
    if (!this.store) {
      if (!existsSync(layoutFor(this.dataDir).db)) return undefined;
      try {
        this.store = openStore(this.dataDir, { readOnly: true, debug: (m) => this.log?.debug(m) });
      } catch (e) {
        if (!hasCode(e, 'store.schema-older')) throw e;
        this.log?.debug(`image store not migrated yet: ${(e as Error).message}`);
        return undefined;
      }
    }
    return this.store;
  }

  private info(store: Store, key: string): KeyInfo {
    let info = this.keyInfo.get(key);
    if (!info) {
      let manifest: ImageManifest | undefined;
      try {
        manifest = parseImageManifest(store.getImageManifestJSON(key));
      } catch (e) {
        this.log?.debug(`image ${key}: ${(e as Error).message}`);
      }
      let user = manifest?.app?.user ?? '';
      try {
        const config = store.getImageConfigJSON(key);
        if (config !== undefined) {
          const u = (JSON.parse(config) as { config?: { User?: unknown } }).config?.User;
          user = typeof u === 'string' ? u : '';
        }
      } catch (e) {
        this.log?.debug(`image config of ${key}: ${(e as Error).message}`);
      }
      info = { manifest, user };
      this.keyInfo.set(key, info);
    }
    return info;
  }

  /** Every image, grouped by config digest, newest first. */
  list(): CriImage[] {
    const store = this.open();
    if (!store) return [];
    const infos: ImageInfo[] = store.listImages().sort((a, b) => b.importTime.getTime() - a.importTime.getTime());
    const digestsByKey = new Map<string, string[]>();
    for (const r of store.listRemotes()) {
      if (!r.url.startsWith('docker://') || !r.etag?.startsWith('sha256:')) continue;
      const ref = tryParseImageReference(r.url.slice('docker://'.length));
      if (!ref) continue;
      const list = digestsByKey.get(r.blobKey) ?? [];
      list.push(`${repositoryOf(ref)}@${r.etag}`);
      digestsByKey.set(r.blobKey, list);
    }
    const groups = new Map<string, CriImage>();
    for (const info of infos) {
      const ki = this.info(store, info.key);
      const m = ki.manifest;
      const dockerId = annotation(m, ANNOTATION_DOCKER_IMAGE_ID);
      const id = dockerId?.startsWith('sha256:') ? dockerId : info.key;
      let img = groups.get(id);
      if (!img) {
        img = { id, keys: [], repoTags: [], repoDigests: [], size: info.size, pinned: false, ...imageUser(ki.user) };
        groups.set(id, img);
      }
      img.keys.push(info.key);
      if (annotation(m, ANNOTATION_STAGE1_RUN) !== undefined) img.pinned = true;
      const original = annotation(m, ANNOTATION_DOCKER_ORIGINAL_NAME);
      const ref = original ? tryParseImageReference(original) : undefined;
      if (ref?.digest) img.repoDigests.push(`${repositoryOf(ref)}@${ref.digest}`);
      else if (ref) img.repoTags.push(`${repositoryOf(ref)}:${ref.tag ?? 'latest'}`);
      else img.repoTags.push(`${info.name}:${getLabel(info.labels, 'version') ?? 'latest'}`);
      img.repoDigests.push(...(digestsByKey.get(info.key) ?? []));
    }
    for (const img of groups.values()) {
      img.repoTags = [...new Set(img.repoTags)];
      img.repoDigests = [...new Set(img.repoDigests)];
    }
    if (this.keyInfo.size > infos.length * 2 + 64) {
      const live = new Set(infos.map((i) => i.key));
      for (const k of this.keyInfo.keys()) if (!live.has(k)) this.keyInfo.delete(k);
    }
    return [...groups.values()];
  }

  /**
   * The image `ref` names, or undefined: an image id (`sha256:<64 hex>` or the bare hex), a store
   * key or key prefix (`sha512-...`), or a reference compared fully qualified (`busybox` is
   * `docker.io/library/busybox:latest`). Throws `cri.invalid-argument` for an empty or
   * unparseable reference.
   */
  find(ref: string, images: CriImage[] = this.list()): CriImage | undefined {
    if (!ref) throw invalidArgument('image is required');
    const id = /^[0-9a-f]{64}$/.test(ref) ? `sha256:${ref}` : ref;
    const byId = images.find((i) => i.id === id);
    if (byId) return byId;
    if (/^sha512-[0-9a-f]{2,128}$/.test(ref)) return images.find((i) => i.keys.some((k) => k.startsWith(ref)));
    if (/^sha256:[0-9a-f]{64}$/.test(ref)) return undefined;
    const want = lookupKey(parseImageReference(ref));
    return images.find((i) =>
      want.digest !== undefined ? i.repoDigests.includes(`${want.repository}@${want.digest}`) : i.repoTags.includes(`${want.repository}:${want.tag}`),
    );
  }

  /** The CRI image containing store key `key`. */
  byKey(key: string): CriImage | undefined {
    return this.list().find((i) => i.keys.includes(key));
  }

  /** The user the image runs as by default: its config's `User`, or the ACI app's user. */
  defaultUser(key: string): string {
    const store = this.open();
    return store ? this.info(store, key).user : '';
  }

  private async imageFile(key: string, path: string): Promise<string | undefined> {
    const store = this.open();
    if (!store) return undefined;
    try {
      return (await store.readImageFile(key, path)).toString();
    } catch {
      return undefined;
    }
  }

  /** `user` (a uid or a name) as the image's /etc/passwd lists it, if it does. */
  async passwdEntry(key: string, user: string): Promise<{ name: string; uid: number; gid: number } | undefined> {
    for (const line of ((await this.imageFile(key, '/etc/passwd')) ?? '').split('\n')) {
      const f = line.split(':');
      if (f.length < 4) continue;
      if (f[0] === user || f[2] === user) return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]) };
    }
    return undefined;
  }

  /** The groups of the image's /etc/group that list user `name` as a member. */
  async memberGroups(key: string, name: string): Promise<number[]> {
    const out: number[] = [];
    for (const line of ((await this.imageFile(key, '/etc/group')) ?? '').split('\n')) {
      const f = line.split(':');
      if (f.length < 4 || !/^\d+$/.test(f[2]!)) continue;
      if (f[3]!.split(',').map((m) => m.trim()).includes(name)) out.push(Number(f[2]));
    }
    return out;
  }

  /**
   * Usage of the image file system: the store's `cas` directory, bytes and inodes, walked at
   * most every `maxAgeMs` (the kubelet asks every few seconds).
   */
  async usage(maxAgeMs = 10_000): Promise<{ timestamp: bigint; mountpoint: string; bytes: bigint; inodes: bigint }> {
    const now = Date.now();
    if (!this.usageCache || now - this.usageCache.at > maxAgeMs) {
      this.usageCache = { at: now, value: this.walkUsage() };
    }
    return this.usageCache.value;
  }

  private usageCache: { at: number; value: Promise<{ timestamp: bigint; mountpoint: string; bytes: bigint; inodes: bigint }> } | undefined;

  private async walkUsage() {
    const root = join(this.dataDir, 'cas');
    const u = (await dirUsage(root)) ?? { bytes: 0n, inodes: 0n };
    return { timestamp: BigInt(Date.now()) * 1_000_000n, mountpoint: root, ...u };
  }

  close(): void {
    this.store?.close();
    this.store = undefined;
  }
}

/** The `docker://` image a pull fetches: the digest when given, else the tag (`latest` by default). */
export function pullReference(ref: ImageReference): string {
  const r: ImageReference = { domain: ref.domain, path: ref.path };
  if (ref.digest !== undefined) r.digest = ref.digest;
  else r.tag = ref.tag ?? 'latest';
  return `docker://${formatReference(r)}`;
}
