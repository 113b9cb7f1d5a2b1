/**
 * OCI image layout and `docker save` archive builders (OCI image spec: image-layout.md,
 * manifest.md, image-index.md, config.md, layer.md).
 */
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { compress } from './compress';
import { buildTar, treeToEntries, type FileTree, type RawTarEntry } from './tar';

/** OCI media types. */
export const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
  layerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  layerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
} as const;

/** The annotation naming a tag in `index.json`. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';

/** Compression of one layer blob. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

/** One layer: a tree (whiteouts allowed) or a tree with its own compression. */
export type LayerSpec = FileTree | { files: FileTree; compression?: LayerCompression; raw?: RawTarEntry[] };

/** The runtime part of an image config (`config` in the OCI config JSON). */
export interface OciRuntimeConfig {
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
  User?: string;
  WorkingDir?: string;
  /** `['80/tcp']` or the spec's object form */
  ExposedPorts?: string[] | Record<string, object>;
  /** `['/data']` or the spec's object form */
  Volumes?: string[] | Record<string, object>;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

/** One image (one platform). */
export interface OciImageSpec {
  layers: LayerSpec[];
  config?: OciRuntimeConfig;
  /** default compression of layers (default 'gzip') */
  compression?: LayerCompression;
  /** default 'amd64' */
  architecture?: string;
  /** default 'linux' */
  os?: string;
  variant?: string;
  /** RFC 3339 creation time (default a fixed date, for stable digests) */
  created?: string;
  /** extra top-level fields of the config JSON (e.g. `history`) */
  extraConfig?: Record<string, unknown>;
  /** annotations of the image manifest */
  annotations?: Record<string, string>;
}

/** Options of {@link buildOciLayout}. */
export interface OciLayoutOptions extends OciImageSpec {
  /** tag written as `org.opencontainers.image.ref.name` in `index.json` (default 'latest'; null: none) */
  ref?: string | null;
  /**
   * a multi-arch image: one manifest per entry (each entry overrides fields of the base options);
   * `layers` of the base are used when an entry has none
   */
  platforms?: Array<Partial<OciImageSpec> & { architecture: string; os?: string }>;
  /**
   * for multi-arch images, whether `index.json` points at a nested image index blob (true, the
   * default) or lists the platform manifests directly
   */
  nestedIndex?: boolean;
}

/** A content descriptor. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/** One layer as written. */
export interface BuiltLayer extends Descriptor {
  /** sha256 digest of the uncompressed tar */
  diffId: string;
  compression: LayerCompression;
}

/** One image manifest as written. */
export interface BuiltManifest extends Descriptor {
  config: Descriptor;
  layers: BuiltLayer[];
  /** the config JSON as written */
  configJson: Record<string, unknown>;
}

/** What {@link buildOciLayout} wrote. */
export interface OciLayoutResult {
  dir: string;
  /** the descriptors of `index.json` */
  index: Descriptor[];
  /** the nested image index, for multi-arch layouts with `nestedIndex` */
  nestedIndex?: Descriptor;
  /** every image manifest, in platform order */
  manifests: BuiltManifest[];
}

/** `sha256:<hex>` of `data`. */
export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The path of a blob in an OCI layout. */
export function blobPath(dir: string, digest: string): string {
  const [alg, hex] = digest.split(':');
  return join(dir, 'blobs', alg ?? 'sha256', hex ?? '');
}

const FIXED_CREATED = '2016-01-01T00:00:00Z';

function layerMediaType(c: LayerCompression): string {
  return c === 'gzip' ? MEDIA_TYPES.layerGzip : c === 'zstd' ? MEDIA_TYPES.layerZstd : MEDIA_TYPES.layer;
}

function asObjectSet(v: string[] | Record<string, object> | undefined): Record<string, object> | undefined {
  if (v === undefined) return undefined;
  return Array.isArray(v) ? Object.fromEntries(v.map((k) => [k, {}])) : v;
}

/** Builds the uncompressed layer tar of one layer spec. */
export async function buildLayerTar(layer: LayerSpec): Promise<Buffer> {
  const { files, raw } = isLayerObject(layer) ? layer : { files: layer, raw: undefined };
  return buildTar([...treeToEntries(files), ...(raw ?? [])]);
}

function isLayerObject(l: LayerSpec): l is { files: FileTree; compression?: LayerCompression; raw?: RawTarEntry[] } {
  const files = (l as { files?: unknown }).files;
  return typeof files === 'object' && files !== null && !Buffer.isBuffer(files) && !('type' in files);
}

interface Blob {
  descriptor: Descriptor;
  data: Buffer;
}

function jsonBlob(mediaType: string, value: unknown): Blob {
  const data = Buffer.from(JSON.stringify(value));
  return { descriptor: { mediaType, digest: sha256Digest(data), size: data.length }, data };
}

interface BuiltImage {
  manifest: BuiltManifest;
  blobs: Blob[];
  /** uncompressed layer tars, in order */
  layerTars: Buffer[];
}

function imageConfigJson(spec: OciImageSpec, diffIds: string[]): Record<string, unknown> {
  const c = spec.config ?? {};
  const runtime: Record<string, unknown> = {};
  if (c.User !== undefined) runtime.User = c.User;
  if (c.ExposedPorts !== undefined) runtime.ExposedPorts = asObjectSet(c.ExposedPorts);
  if (c.Env !== undefined) runtime.Env = c.Env;
  if (c.Entrypoint !== undefined) runtime.Entrypoint = c.Entrypoint;
  if (c.Cmd !== undefined) runtime.Cmd = c.Cmd;
  if (c.Volumes !== undefined) runtime.Volumes = asObjectSet(c.Volumes);
  if (c.WorkingDir !== undefined) runtime.WorkingDir = c.WorkingDir;
  if (c.Labels !== undefined) runtime.Labels = c.Labels;
  if (c.StopSignal !== undefined) runtime.StopSignal = c.StopSignal;
  return {
    created: spec.created ?? FIXED_CREATED,
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
    config: runtime,
    rootfs: { type: 'layers', diff_ids: diffIds },
    ...spec.extraConfig,
  };
}

async function buildImage(spec: OciImageSpec): Promise<BuiltImage> {
  const blobs: Blob[] = [];
  const layers: BuiltLayer[] = [];
  const layerTars: Buffer[] = [];
  for (const layer of spec.layers) {
    const compression = (isLayerObject(layer) ? layer.compression : undefined) ?? spec.compression ?? 'gzip';
    const tarball = await buildLayerTar(layer);
    const data = compress(tarball, compression);
    const d: BuiltLayer = {
      mediaType: layerMediaType(compression),
      digest: sha256Digest(data),
      size: data.length,
      diffId: sha256Digest(tarball),
      compression,
    };
    layers.push(d);
    layerTars.push(tarball);
    blobs.push({ descriptor: d, data });
  }
  const configJson = imageConfigJson(
    spec,
    layers.map((l) => l.diffId),
  );
  const config = jsonBlob(MEDIA_TYPES.config, configJson);
  blobs.push(config);
  const manifestBlob = jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: config.descriptor,
    layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
  });
  blobs.push(manifestBlob);
  const platform = {
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    ...(spec.variant ? { variant: spec.variant } : {}),
  };
  return {
    manifest: { ...manifestBlob.descriptor, platform, config: config.descriptor, layers, configJson },
    blobs,
    layerTars,
  };
}

async function writeBlob(dir: string, blob: Blob): Promise<void> {
  await writeFile(blobPath(dir, blob.descriptor.digest), blob.data);
}

function manifestDescriptor(m: BuiltManifest, annotations?: Record<string, string>): Descriptor {
  return {
    mediaType: m.mediaType,
    digest: m.digest,
    size: m.size,
    ...(m.platform ? { platform: m.platform } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

/**
 * Writes an OCI image layout into `dir` (created if needed): `oci-layout`, `index.json` and
 * `blobs/sha256/*`. Layer blobs are compressed per layer (gzip by default; zstd needs the `zstd`
 * CLI); layer whiteouts come from `{type: 'whiteout'}` and `{type: 'opaque'}` tree nodes. All
 * digests and sizes match the blobs, and the output is deterministic.
 *
 * @throws RktError `testkit.tool-missing` for zstd layers when the CLI is not installed
 */
export async function buildOciLayout(dir: string, opts: OciLayoutOptions): Promise<OciLayoutResult> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const ref = opts.ref === undefined ? 'latest' : opts.ref;
  const refAnnotations = ref === null ? undefined : { [REF_NAME_ANNOTATION]: ref };

  const specs: OciImageSpec[] = opts.platforms
    ? opts.platforms.map((p) => ({ ...opts, ...p, layers: p.layers ?? opts.layers }))
    : [opts];
  const manifests: BuiltManifest[] = [];
  for (const spec of specs) {
    const image = await buildImage(spec);
    for (const blob of image.blobs) await writeBlob(dir, blob);
    manifests.push(image.manifest);
  }

  let index: Descriptor[];
  let nestedIndex: Descriptor | undefined;
  if (opts.platforms && (opts.nestedIndex ?? true)) {
    const blob = jsonBlob(MEDIA_TYPES.index, {
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.index,
      manifests: manifests.map((m) => manifestDescriptor(m)),
    });
    await writeBlob(dir, blob);
    nestedIndex = blob.descriptor;
    index = [{ ...blob.descriptor, ...(refAnnotations ? { annotations: refAnnotations } : {}) }];
  } else {
    index = manifests.map((m) => manifestDescriptor(m, refAnnotations));
  }
  await writeFile(
    join(dir, 'index.json'),
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPES.index, manifests: index }),
  );
  return { dir, index, manifests, ...(nestedIndex ? { nestedIndex } : {}) };
}

/** Options of {@link buildDockerArchive}. */
export interface DockerArchiveOptions extends Omit<OciImageSpec, 'compression' | 'annotations'> {
  /** `RepoTags` of manifest.json, e.g. `['example.com/app:latest']` (default none) */
  repoTags?: string[];
  /** compression of the `layer.tar` files (default 'none', as `docker save` writes them) */
  layerCompression?: 'none' | 'gzip';
}

/** What {@link buildDockerArchive} wrote. */
export interface DockerArchiveResult {
  path: string;
  /** `sha256:<hex>` of the config JSON (the docker image ID) */
  configDigest: string;
  /** archive path of the config file, `<hex>.json` */
  configFile: string;
  configJson: Record<string, unknown>;
  layers: Array<{ file: string; diffId: string; digest: string }>;
  /** the parsed `manifest.json` */
  manifest: Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }>;
}

/**
 * Writes a `docker save` archive to `path`: one `<id>/layer.tar` (with `VERSION` and `json`) per
 * layer, `<config sha256>.json`, `manifest.json` and, when tagged, `repositories`.
 */
export async function buildDockerArchive(path: string, opts: DockerArchiveOptions): Promise<DockerArchiveResult> {
  const image = await buildImage({ ...opts, compression: 'none' });
  const configBlob = image.blobs.find((b) => b.descriptor.digest === image.manifest.config.digest);
  const configHex = image.manifest.config.digest.slice('sha256:'.length);
  const entries: RawTarEntry[] = [];
  const layers: DockerArchiveResult['layers'] = [];
  let parent = '';
  image.layerTars.forEach((tarball, i) => {
    const diffId = image.manifest.layers[i]?.diffId ?? sha256Digest(tarball);
    // a chain id keeps equal layers at different depths in different directories
    const id = createHash('sha256').update(`${parent} ${diffId}`).digest('hex');
    const data = compress(tarball, opts.layerCompression ?? 'none');
    entries.push(
      { name: `${id}/`, type: 'directory' },
      { name: `${id}/VERSION`, content: '1.0' },
      { name: `${id}/json`, content: JSON.stringify({ id, ...(parent ? { parent } : {}) }) },
      { name: `${id}/layer.tar`, content: data },
    );
    layers.push({ file: `${id}/layer.tar`, diffId, digest: sha256Digest(data) });
    parent = id;
  });
  const configFile = `${configHex}.json`;
  entries.push({ name: configFile, content: configBlob?.data ?? Buffer.alloc(0) });
  const manifest = [{ Config: configFile, RepoTags: opts.repoTags?.length ? opts.repoTags : null, Layers: layers.map((l) => l.file) }];
  entries.push({ name: 'manifest.json', content: JSON.stringify(manifest) });
  if (opts.repoTags?.length && parent) {
    const repos: Record<string, Record<string, string>> = {};
    for (const tag of opts.repoTags) {
      const colon = tag.lastIndexOf(':');
      const [repo, t] = colon > tag.lastIndexOf('/') ? [tag.slice(0, colon), tag.slice(colon + 1)] : [tag, 'latest'];
      (repos[repo] ??= {})[t] = parent;
    }
    entries.push({ name: 'repositories', content: JSON.stringify(repos) });
  }
  await writeFile(path, await buildTar(entries));
  return {
    path,
    configDigest: image.manifest.config.digest,
    configFile,
    configJson: image.manifest.configJson,
    layers,
    manifest,
  };
}
