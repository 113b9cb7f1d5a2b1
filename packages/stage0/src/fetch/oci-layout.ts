/**
 * Local layered images: `oci:PATH[:REF]` (an OCI image layout directory), `oci-archive:PATH[:REF]`
 * (the same as a tar file) and `docker-archive:PATH[:REF]` (`docker save` output). The path
 * ends at the first `:`, as in skopeo; `REF` picks an image when the source holds several (an
 * `org.opencontainers.image.ref.name` for OCI layouts, a `RepoTags` entry or `@N` for docker
 * archives). Like Docker images they are unsigned: `--insecure-options=image` is required.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { userError } from '@rktnetes/errors';
import {
  isDigest,
  parseManifestDocument,
  selectPlatform,
  type Descriptor,
  type LayeredImageSource,
  type LayerSource,
} from '@rktnetes/store';
import { requireInsecureImage } from './docker';
import { dockerImageName, parseDockerReference } from './docker-reference';
import { TarIndex } from './oci-tarindex';
import type { SchemeHandler, SchemeRequest } from './schemes';
import type { FetchSession } from './session';

const REF_NAME = 'org.opencontainers.image.ref.name';
const CONTAINERD_NAME = 'io.containerd.image.name';

/** Files of a layout, from a directory or an archive. */
interface LayoutFiles {
  read(path: string): Buffer | undefined;
  open(path: string): AsyncIterable<Buffer>;
  close(): void;
}

function dirFiles(root: string): LayoutFiles {
  return {
    read: (p) => (existsSync(`${root}/${p}`) ? readFileSync(`${root}/${p}`) : undefined),
    open: (p) => createReadStream(`${root}/${p}`, { highWaterMark: 1 << 20 }),
    close: () => {},
  };
}

function archiveFiles(tar: TarIndex): LayoutFiles {
  return {
    read: (p) => {
      const m = tar.get(p);
      return m && m.type === 'file' ? tar.read(m) : undefined;
    },
    open: (p) => {
      const m = tar.get(p);
      if (!m || m.type !== 'file') throw userError('image.invalid', `archive ${tar.path} has no file ${p}`);
      return tar.stream(m);
    },
    close: () => {},
  };
}

/** `scheme:PATH[:REF]` (an optional `//` after the scheme) -> absolute path and ref. */
export function parseLocalRef(url: string): { path: string; ref?: string } {
  const body = url.replace(/^[a-z-]+:(\/\/)?/i, '');
  const colon = body.indexOf(':');
  const path = colon < 0 ? body : body.slice(0, colon);
  const ref = colon < 0 ? undefined : body.slice(colon + 1);
  if (path === '') throw userError('fetch.invalid-ref', `invalid image reference "${url}": no path`);
  return { path: resolve(decodeURIComponent(path)), ...(ref ? { ref } : {}) };
}

function blobPath(digest: string): string {
  if (!isDigest(digest)) throw userError('image.invalid', `invalid digest ${JSON.stringify(digest)}`);
  return `blobs/${digest.replace(':', '/')}`;
}

function readJSON(files: LayoutFiles, path: string, what: string): Buffer {
  const b = files.read(path);
  if (!b) throw userError('image.invalid', `${what}: the layout has no ${path}`);
  return b;
}

/** The name and tag a local image gets: its full reference if the source names one, else `localhost/<file name>`. */
function localName(path: string, named: string | undefined): { name: string; tag: string } {
  if (named && (named.includes('/') || named.includes('.'))) {
    try {
      const r = parseDockerReference(named);
      return { name: dockerImageName(r), tag: r.tag ?? 'latest' };
    } catch {
      // not a reference: a plain tag
    }
  }
  const base = basename(path).replace(/\.(tar|tgz|tar\.gz)$/i, '') || 'image';
  return { name: `localhost/${base}`, tag: named && /^[\w][\w.-]{0,127}$/.test(named) ? named : 'latest' };
}

/** Reads an image out of an OCI layout (directory or archive). */
function ociSource(files: LayoutFiles, path: string, ref: string | undefined, image: string): LayeredImageSource {
  const what = `image ${image}`;
  const index = parseManifestDocument(readJSON(files, 'index.json', what), image, 'application/vnd.oci.image.index.v1+json');
  if (index.kind !== 'index') throw userError('image.invalid', `${what}: index.json is not an image index`);
  let candidates = index.manifests;
  if (ref !== undefined) {
    candidates = candidates.filter((d) => d.annotations?.[REF_NAME] === ref);
    if (!candidates.length) {
      const refs = index.manifests.map((d) => d.annotations?.[REF_NAME]).filter((r) => r !== undefined);
      throw userError('fetch.not-found', `${what}: no image named "${ref}" in ${path} (it has: ${refs.length ? [...new Set(refs)].join(', ') : 'no named images'})`);
    }
  }
  let desc: Descriptor;
  if (candidates.length === 1) desc = candidates[0] as Descriptor;
  else if (candidates.length > 1 && candidates.every((d) => d.platform)) desc = selectPlatform(candidates, image);
  else {
    const refs = candidates.map((d) => d.annotations?.[REF_NAME] ?? d.digest);
    throw userError('fetch.ambiguous', `${what}: ${path} holds ${candidates.length} images; name one as ${path}:REF (${refs.join(', ') || 'none'})`);
  }
  const named = desc.annotations?.[CONTAINERD_NAME] ?? desc.annotations?.[REF_NAME];
  let doc = parseManifestDocument(readJSON(files, blobPath(desc.digest), what), image, desc.mediaType);
  for (let depth = 0; doc.kind === 'index'; depth++) {
    if (depth > 4) throw userError('image.invalid', `${what}: image indexes nested too deep`);
    const pick = selectPlatform(doc.manifests, image);
    doc = parseManifestDocument(readJSON(files, blobPath(pick.digest), what), image, pick.mediaType);
  }
  const config = readJSON(files, blobPath(doc.config.digest), what);
  const layers: LayerSource[] = doc.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size, open: () => files.open(blobPath(l.digest)) }));
  return { config, configDigest: doc.config.digest, layers, ...localName(path, named) };
}

interface DockerArchiveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Reads an image out of a `docker save` archive. */
function dockerArchiveSource(tar: TarIndex, path: string, ref: string | undefined, image: string): LayeredImageSource {
  const what = `image ${image}`;
  const m = tar.get('manifest.json');
  if (!m) throw userError('image.invalid', `${what}: ${path} has no manifest.json (not a docker save archive)`);
  let entries: DockerArchiveEntry[];
  try {
    entries = JSON.parse(tar.read(m).toString('utf8')) as DockerArchiveEntry[];
    if (!Array.isArray(entries) || !entries.every((e) => typeof e?.Config === 'string' && Array.isArray(e.Layers))) throw new Error('unexpected shape');
  } catch (e) {
    throw userError('image.invalid', `${what}: manifest.json of ${path} is invalid: ${(e as Error).message}`);
  }
  let entry: DockerArchiveEntry | undefined;
  let named: string | undefined;
  if (ref?.startsWith('@')) {
    entry = entries[Number(ref.slice(1))];
  } else if (ref) {
    const want = parseDockerReference(ref);
    for (const e of entries) {
      for (const t of e.RepoTags ?? []) {
        const r = parseDockerReference(t);
        if (r.registry === want.registry && r.repository === want.repository && r.tag === want.tag) {
          entry = e;
          named = t;
        }
      }
    }
  } else if (entries.length === 1) entry = entries[0];
  if (!entry) {
    const tags = entries.flatMap((e, i) => e.RepoTags ?? [`@${i}`]);
    throw userError(ref ? 'fetch.not-found' : 'fetch.ambiguous', `${what}: ${ref ? `no image "${ref}" in` : 'name one image of'} ${path} (it has: ${tags.join(', ') || 'none'})`);
  }
  named ??= entry.RepoTags?.[0];
  const cfg = tar.get(entry.Config);
  if (!cfg) throw userError('image.invalid', `${what}: ${path} has no ${entry.Config}`);
  const hex = /^(?:blobs\/sha256\/)?([0-9a-f]{64})(?:\.json)?$/.exec(entry.Config)?.[1];
  const layers: LayerSource[] = entry.Layers.map((file) => ({
    open: () => {
      const lm = tar.get(file);
      if (!lm || lm.type !== 'file') throw userError('image.invalid', `${what}: ${path} has no layer ${file}`);
      return tar.stream(lm);
    },
  }));
  const name = named ? (() => {
    const r = parseDockerReference(named as string);
    return { name: dockerImageName(r), tag: r.tag ?? 'latest' };
  })() : localName(path, undefined);
  return { config: tar.read(cfg), ...(hex ? { configDigest: `sha256:${hex}` } : {}), layers, ...name };
}

type LocalKind = 'oci' | 'oci-archive' | 'docker-archive';

/** Imports a local layered image and returns its key. */
export async function fetchLocalLayeredImage(s: FetchSession, req: SchemeRequest, kind: LocalKind): Promise<string> {
  requireInsecureImage(s, req.image, kind === 'docker-archive' ? 'docker' : 'OCI');
  const { path, ref } = parseLocalRef(req.url);
  const what = `image ${req.image}`;
  let files: LayoutFiles | undefined;
  let tar: TarIndex | undefined;
  try {
    let src: LayeredImageSource;
    if (kind === 'oci') {
      let isDir = false;
      try {
        isDir = statSync(path).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) throw userError('fetch.no-file', `${what}: ${path} is not a directory (an OCI image layout)`);
      files = dirFiles(path);
      src = ociSource(files, path, ref, req.image);
    } else {
      tar = await TarIndex.open(path, what);
      if (kind === 'oci-archive') {
        files = archiveFiles(tar);
        src = ociSource(files, path, ref, req.image);
      } else src = dockerArchiveSource(tar, path, ref, req.image);
    }
    const info = await s.store.importLayeredImage(src, { latest: src.tag === 'latest' });
    s.log.debug(`${what}: ${info.key} (${info.transferredLayers} layers stored)`);
    return info.key;
  } finally {
    files?.close();
    tar?.close();
  }
}

function handler(kind: LocalKind): SchemeHandler {
  return { remote: false, fetch: (s, req) => fetchLocalLayeredImage(s, req, kind) };
}

/** `oci:PATH[:REF]` */
export const ociScheme = handler('oci');
/** `oci-archive:PATH[:REF]` */
export const ociArchiveScheme = handler('oci-archive');
/** `docker-archive:PATH[:REF]` */
export const dockerArchiveScheme = handler('docker-archive');
