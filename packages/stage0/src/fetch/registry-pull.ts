/**
 * Resolving an image in a registry: the manifest of a tag or digest (an index or manifest list
 * narrowed to one platform), its config, and layer sources the store reads only for layers it
 * does not have. Every document is checked against its digest; blobs are checked by the store
 * while they stream.
 */
import { userError } from '@rktnetes/errors';
import {
  MANIFEST_ACCEPT,
  digestOf,
  isDigest,
  parseManifestDocument,
  selectPlatform,
  type Descriptor,
  type LayerSource,
  type Platform,
} from '@rktnetes/store';
import { readAll, type RegistryClient } from './registry-client';

/** Largest manifest or config accepted. */
const MAX_DOCUMENT = 4 << 20;

/** The image a reference resolves to. */
export type ResolvedImage =
  | { unchanged: true; digest: string }
  | {
      unchanged: false;
      /** digest of what the reference names (the index when there is one): the remote's ETag */
      digest: string;
      /** digest of the platform's image manifest */
      manifestDigest: string;
      config: Buffer;
      configDigest: string;
      layers: LayerSource[];
    };

/** Options of {@link resolveImage}. */
export interface ResolveOptions {
  /** the digest recorded at the last fetch: when the registry still has it, nothing more is fetched */
  knownDigest?: string;
  platform?: Platform;
  /** wraps each layer's byte stream (progress) */
  onLayerStream?: (layer: Descriptor, stream: AsyncIterable<Buffer>) => AsyncIterable<Buffer>;
}

function headerDigest(h: string | string[] | undefined): string | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  return v && isDigest(v.trim()) ? v.trim() : undefined;
}

async function getDocument(client: RegistryClient, image: string, reference: string, expected?: string): Promise<{ body: Buffer; digest: string; mediaType?: string }> {
  const what = `image ${image}`;
  const res = await client.manifest('GET', reference, MANIFEST_ACCEPT);
  if (res.status !== 200) throw await client.statusError(what, res);
  const body = await readAll(res, MAX_DOCUMENT, what);
  const want = expected ?? headerDigest(res.headers['docker-content-digest']);
  const digest = digestOf(body, want);
  if (want && digest !== want) {
    throw userError('image.corrupt', `${what}: manifest ${reference} has digest ${digest}, expected ${want}`);
  }
  const type = res.headers['content-type']?.split(';')[0]?.trim();
  return { body, digest: want ?? digest, ...(type ? { mediaType: type } : {}) };
}

/**
 * Resolves `reference` (a tag or a digest) in the client's repository. With `knownDigest`, a
 * HEAD request first: when the registry still has that digest the result is `unchanged` and
 * nothing else is transferred.
 *
 * @throws RktError `fetch.*` (network, status, auth), `image.corrupt` (digest mismatch),
 *   `image.platform` (no manifest for the platform), `image.invalid`/`image.unsupported`
 */
export async function resolveImage(client: RegistryClient, image: string, reference: string, opts: ResolveOptions = {}): Promise<ResolvedImage> {
  const what = `image ${image}`;
  if (opts.knownDigest && !isDigest(reference)) {
    const head = await client.manifest('HEAD', reference, MANIFEST_ACCEPT);
    head.body.resume();
    if (head.status === 200 && headerDigest(head.headers['docker-content-digest']) === opts.knownDigest) return { unchanged: true, digest: opts.knownDigest };
  }
  const top = await getDocument(client, image, reference, isDigest(reference) ? reference : undefined);
  if (opts.knownDigest === top.digest) return { unchanged: true, digest: top.digest };
  let doc = parseManifestDocument(top.body, image, top.mediaType);
  let manifestDigest = top.digest;
  if (doc.kind === 'index') {
    const pick = selectPlatform(doc.manifests, image, opts.platform);
    const child = await getDocument(client, image, pick.digest, pick.digest);
    doc = parseManifestDocument(child.body, image, pick.mediaType);
    manifestDigest = child.digest;
    if (doc.kind !== 'manifest') throw userError('image.unsupported', `${what}: nested image indexes are not supported`);
  }
  const cfgRes = await client.blob(doc.config.digest);
  if (cfgRes.status !== 200) throw await client.statusError(`${what}: config ${doc.config.digest}`, cfgRes);
  const config = await readAll(cfgRes, MAX_DOCUMENT, what);
  const layers: LayerSource[] = doc.layers.map((l) => ({
    digest: l.digest,
    mediaType: l.mediaType,
    size: l.size,
    open: async () => {
      const res = await client.blob(l.digest);
      if (res.status !== 200) throw await client.statusError(`${what}: layer ${l.digest}`, res);
      const stream = checkComplete(res.body, `${what}: layer ${l.digest}`);
      return opts.onLayerStream ? opts.onLayerStream(l, stream) : stream;
    },
  }));
  return { unchanged: false, digest: top.digest, manifestDigest, config, configDigest: doc.config.digest, layers };
}

/** A response body that fails, rather than ends, when the connection breaks early. */
async function* checkComplete(body: import('node:http').IncomingMessage, what: string): AsyncGenerator<Buffer> {
  for await (const c of body) yield c as Buffer;
  if (!body.complete) throw userError('fetch.http', `${what}: the connection closed before the end of the blob`);
}
