/**
 * The OCI and Docker image documents the store understands: image indexes / manifest lists,
 * image manifests (OCI v1, Docker schema 2), image configs, their media types and digests, and
 * picking one platform out of an index. Every document is validated here before use.
 */
import { createHash } from 'node:crypto';
import { userError, type RktError } from '@rktnetes/errors';

/** Media types of manifests, configs and layers. */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The `Accept` list for manifest requests, most preferred first. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest];

/** Layer media types and how their blobs are compressed (the bytes are sniffed anyway). */
const LAYER_TYPES: Record<string, 'gzip' | 'zstd' | 'none'> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

/** A content descriptor (OCI descriptor.md). */
export interface Descriptor {
  mediaType: string;
  /** `algorithm:hex` */
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  urls?: string[];
}

/** An image platform (`os`, `architecture`, optional `variant`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A parsed manifest document: an index (manifest list) or one image manifest. */
export type ManifestDocument =
  | { kind: 'index'; mediaType: string; manifests: Descriptor[]; annotations?: Record<string, string> }
  | { kind: 'manifest'; mediaType: string; config: Descriptor; layers: Descriptor[]; annotations?: Record<string, string> };

/** The fields of an image config (OCI config.md, Docker image JSON) the store uses. */
export interface ImageConfig {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  author?: string;
  config: RuntimeConfig;
  /** `rootfs.diff_ids`, bottom layer first */
  diffIDs: string[];
}

/** The `config` object of an image config: how a container runs. */
export interface RuntimeConfig {
  User?: string;
  ExposedPorts?: Record<string, unknown>;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  Volumes?: Record<string, unknown>;
  WorkingDir?: string;
  Labels?: Record<string, string>;
  StopSignal?: string;
}

const DIGEST = /^sha256:[0-9a-f]{64}$|^sha512:[0-9a-f]{128}$/;

/** Whether `s` is a digest this code can verify (`sha256:` + 64 hex or `sha512:` + 128 hex). */
export function isDigest(s: unknown): s is string {
  return typeof s === 'string' && DIGEST.test(s);
}

/** Whether `s` is a sha256 digest (the only diff ID algorithm accepted). */
export function isSha256Digest(s: unknown): s is string {
  return typeof s === 'string' && /^sha256:[0-9a-f]{64}$/.test(s);
}

/** The digest of `data` with the algorithm of `like` (default sha256). */
export function digestOf(data: Uint8Array, like = 'sha256:'): string {
  const alg = like.startsWith('sha512:') ? 'sha512' : 'sha256';
  return `${alg}:${createHash(alg).update(data).digest('hex')}`;
}

/** The compression a layer media type announces, or undefined for a type that is not a layer. */
export function layerCompression(mediaType: string): 'gzip' | 'zstd' | 'none' | undefined {
  return LAYER_TYPES[mediaType];
}

function bad(what: string, reason: string): RktError {
  return userError('image.invalid', `image ${what}: ${reason}`, { details: { image: what } });
}

function parseJSON(input: string | Uint8Array, what: string, kind: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(typeof input === 'string' ? input : Buffer.from(input).toString('utf8'));
  } catch (e) {
    throw bad(what, `${kind} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, `${kind} is not a JSON object`);
  return v as Record<string, unknown>;
}

function stringMap(v: unknown, what: string, field: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(what, `${field} is not an object`);
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (typeof x !== 'string') throw bad(what, `${field}.${k} is not a string`);
    out[k] = x;
  }
  return out;
}

function parsePlatform(v: unknown, what: string, field: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(what, `${field} is not an object`);
  const p = v as Record<string, unknown>;
  if (typeof p.os !== 'string' || typeof p.architecture !== 'string') throw bad(what, `${field} needs os and architecture strings`);
  const out: Platform = { os: p.os, architecture: p.architecture };
  if (typeof p.variant === 'string' && p.variant !== '') out.variant = p.variant;
  return out;
}

function parseDescriptor(v: unknown, what: string, field: string): Descriptor {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(what, `${field} is not a descriptor object`);
  const d = v as Record<string, unknown>;
  if (typeof d.mediaType !== 'string' || d.mediaType === '') throw bad(what, `${field}.mediaType is missing`);
  if (!isDigest(d.digest)) throw bad(what, `${field}.digest ${JSON.stringify(d.digest)} is not a sha256 or sha512 digest`);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) throw bad(what, `${field}.size is not a non-negative integer`);
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  const platform = parsePlatform(d.platform, what, `${field}.platform`);
  if (platform) out.platform = platform;
  const annotations = stringMap(d.annotations, what, `${field}.annotations`);
  if (annotations) out.annotations = annotations;
  if (Array.isArray(d.urls) && d.urls.every((u) => typeof u === 'string')) out.urls = d.urls as string[];
  return out;
}

function descriptors(v: unknown, what: string, field: string): Descriptor[] {
  if (!Array.isArray(v)) throw bad(what, `${field} is not a list`);
  return v.map((x, i) => parseDescriptor(x, what, `${field}[${i}]`));
}

/**
 * Parses a manifest document. `mediaType` is the one the server announced (Content-Type) or
 * the descriptor named; the document's own `mediaType` field wins when present. Schema 1
 * manifests are refused (`image.unsupported`); malformed documents are `image.invalid`.
 */
export function parseManifestDocument(input: string | Uint8Array, what: string, mediaType?: string): ManifestDocument {
  const doc = parseJSON(input, what, 'manifest');
  const own = typeof doc.mediaType === 'string' ? doc.mediaType : undefined;
  let type = own ?? mediaType ?? '';
  if (doc.schemaVersion === 1 || type === MEDIA_TYPES.dockerSchema1 || type === MEDIA_TYPES.dockerSchema1Signed) {
    throw userError('image.unsupported', `image ${what}: Docker schema 1 manifests are not supported (push the image again with a current client)`);
  }
  if (doc.schemaVersion !== 2) throw bad(what, `manifest has schemaVersion ${JSON.stringify(doc.schemaVersion)}, expected 2`);
  // without a mediaType field, the shape tells (OCI allows omitting it)
  if (type === '' || type === 'application/json') type = Array.isArray(doc.manifests) ? MEDIA_TYPES.ociIndex : MEDIA_TYPES.ociManifest;
  const annotations = stringMap(doc.annotations, what, 'annotations');
  if (type === MEDIA_TYPES.ociIndex || type === MEDIA_TYPES.dockerList) {
    return { kind: 'index', mediaType: type, manifests: descriptors(doc.manifests, what, 'manifests'), ...(annotations ? { annotations } : {}) };
  }
  if (type === MEDIA_TYPES.ociManifest || type === MEDIA_TYPES.dockerManifest) {
    const config = parseDescriptor(doc.config, what, 'config');
    const layers = descriptors(doc.layers, what, 'layers');
    layers.forEach((l, i) => {
      if (layerCompression(l.mediaType) === undefined) {
        throw userError('image.unsupported', `image ${what}: layer ${i} has unsupported media type ${l.mediaType}`);
      }
    });
    return { kind: 'manifest', mediaType: type, config, layers, ...(annotations ? { annotations } : {}) };
  }
  throw userError('image.unsupported', `image ${what}: unsupported manifest media type ${JSON.stringify(type)}`);
}

function stringList(v: unknown, what: string, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(what, `config ${field} is not a list of strings`);
  return v as string[];
}

function objectSet(v: unknown, what: string, field: string): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'object' || Array.isArray(v)) throw bad(what, `config ${field} is not an object`);
  return v as Record<string, unknown>;
}

/**
 * Parses an image config. Throws `image.invalid` when it is malformed or its diff IDs are not
 * sha256 digests.
 */
export function parseImageConfig(input: string | Uint8Array, what: string): ImageConfig {
  const doc = parseJSON(input, what, 'image config');
  const rootfs = doc.rootfs as Record<string, unknown> | undefined;
  if (typeof rootfs !== 'object' || rootfs === null || !Array.isArray(rootfs.diff_ids)) throw bad(what, 'image config has no rootfs.diff_ids');
  const diffIDs = rootfs.diff_ids as unknown[];
  diffIDs.forEach((d, i) => {
    if (!isSha256Digest(d)) throw bad(what, `image config rootfs.diff_ids[${i}] ${JSON.stringify(d)} is not a sha256 digest`);
  });
  const c = (doc.config ?? {}) as Record<string, unknown>;
  if (typeof c !== 'object' || Array.isArray(c)) throw bad(what, 'image config field config is not an object');
  const config: RuntimeConfig = {};
  if (typeof c.User === 'string' && c.User !== '') config.User = c.User;
  const ports = objectSet(c.ExposedPorts, what, 'ExposedPorts');
  if (ports) config.ExposedPorts = ports;
  const env = stringList(c.Env, what, 'Env');
  if (env) config.Env = env;
  const ep = stringList(c.Entrypoint, what, 'Entrypoint');
  if (ep) config.Entrypoint = ep;
  const cmd = stringList(c.Cmd, what, 'Cmd');
  if (cmd) config.Cmd = cmd;
  const vols = objectSet(c.Volumes, what, 'Volumes');
  if (vols) config.Volumes = vols;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') config.WorkingDir = c.WorkingDir;
  const labels = stringMap(c.Labels, what, 'config Labels');
  if (labels) config.Labels = labels;
  if (typeof c.StopSignal === 'string' && c.StopSignal !== '') config.StopSignal = c.StopSignal;
  const out: ImageConfig = {
    architecture: typeof doc.architecture === 'string' ? doc.architecture : '',
    os: typeof doc.os === 'string' ? doc.os : '',
    config,
    diffIDs: diffIDs as string[],
  };
  if (typeof doc.variant === 'string' && doc.variant !== '') out.variant = doc.variant;
  if (typeof doc.created === 'string' && doc.created !== '') out.created = doc.created;
  if (typeof doc.author === 'string' && doc.author !== '') out.author = doc.author;
  return out;
}

/** The OCI architecture name of a Node.js `process.arch`. */
export function ociArch(nodeArch: string = process.arch): string {
  const table: Record<string, string> = { x64: 'amd64', ia32: '386', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return table[nodeArch] ?? nodeArch;
}

/** The platform of this host (`linux/amd64` on x86-64). */
export function hostPlatform(): Platform {
  const p: Platform = { os: 'linux', architecture: ociArch() };
  if (process.arch === 'arm') p.variant = `v${(process.config.variables as { arm_version?: string }).arm_version ?? '7'}`;
  return p;
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/** Parses `os/arch[/variant]`; throws `image.platform` (usage) when malformed. */
export function parsePlatformString(s: string): Platform {
  const [os, architecture, variant, ...rest] = s.split('/');
  if (!os || !architecture || rest.length) throw userError('image.platform', `invalid platform "${s}": want os/arch[/variant]`);
  return variant ? { os, architecture, variant } : { os, architecture };
}

function normVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64') return p.variant && p.variant !== 'v8' ? p.variant : undefined;
  return p.variant;
}

/**
 * The manifest of `index` for `want` (default: this host). An exact variant match wins; an
 * entry without a variant matches any variant. Throws `image.platform` listing the platforms
 * the index offers when none fits.
 */
export function selectPlatform(index: Descriptor[], what: string, want: Platform = hostPlatform()): Descriptor {
  const candidates = index.filter((d) => d.platform && d.platform.os === want.os && d.platform.architecture === want.architecture);
  const wv = normVariant(want);
  const exact = candidates.find((d) => normVariant(d.platform as Platform) === wv);
  const loose = candidates.find((d) => normVariant(d.platform as Platform) === undefined);
  const pick = exact ?? loose ?? (wv === undefined ? candidates[0] : undefined);
  if (pick) return pick;
  const available = index.filter((d) => d.platform).map((d) => formatPlatform(d.platform as Platform));
  const list = [...new Set(available)].join(', ') || 'none (no entry names a platform)';
  throw userError('image.platform', `image ${what} has no ${formatPlatform(want)} variant; available: ${list}`, {
    details: { image: what, wanted: formatPlatform(want), available },
  });
}
