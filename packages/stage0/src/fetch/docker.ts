/**
 * `docker://[registry/]name[:tag|@digest]` images, fetched natively from a Docker Registry
 * HTTP API v2 server (through configured mirrors first) and stored as layered images: each
 * layer once, shared between images (see docs/store.md, "Layered images").
 *
 * Docker images carry no signature rkt can check, so they need `--insecure-options=image`
 * exactly as in rkt. A re-fetch (pull policy `update`) sends one HEAD request for the
 * manifest: when its digest is the one recorded at the last fetch, nothing else is
 * transferred; otherwise only layers missing from the store are downloaded.
 */
import { isRktError, userError } from '@rktnetes/errors';
import type { Descriptor } from '@rktnetes/store';
import { configDirs } from '../config';
import { canonicalDockerURL, dockerImageName, formatDockerReference, parseDockerReference, stripDockerScheme, type DockerReference } from './docker-reference';
import { createProgress } from './progress';
import { liveRemote } from './remote';
import { loadRegistryMirrors, mirrorsFor, registryCredentials } from './registry-config';
import { RegistryClient } from './registry-client';
import { resolveImage } from './registry-pull';
import type { SchemeHandler, SchemeRequest } from './schemes';
import type { FetchSession } from './session';

/** The annotations rkt's docker2aci put on converted images, kept for compatibility. */
export const ORIGINAL_NAME_ANNOTATION = 'appc.io/docker/originalname';

/** Refuses unsigned image kinds unless `--insecure-options=image` (rkt's rule for Docker images). */
export function requireInsecureImage(s: FetchSession, image: string, kind: string): void {
  if (s.verify) {
    throw userError('fetch.unsigned', `image ${image}: signature verification for ${kind} images is not supported; use --insecure-options=image`, {
      details: { image },
    });
  }
  s.warnOnce('image-unverified', 'image signature verification has been disabled');
}

/** Streams a layer through a terminal progress line. */
function withProgress(layer: Descriptor, stream: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  return (async function* () {
    const p = createProgress(`layer ${layer.digest.slice(7, 19)}`, layer.size);
    try {
      for await (const c of stream) {
        p.add(c.length);
        yield c;
      }
    } finally {
      p.done();
    }
  })();
}

interface Endpoint {
  url: URL;
  host: string;
  mirror: boolean;
}

function endpointsFor(s: FetchSession, ref: DockerReference): Endpoint[] {
  const mirrors = mirrorsFor(loadRegistryMirrors(configDirs(s.ctx)), ref.registry).map((url) => ({ url, host: url.host, mirror: true }));
  return [...mirrors, { url: new URL(`https://${ref.registry}`), host: ref.registry, mirror: false }];
}

/**
 * Fetches (or, with a recorded digest, revalidates) a Docker image and returns its store key.
 * Remote records are kept under the canonical URL (`docker://registry/repo:tag`) and under the
 * URL as given.
 */
export async function fetchDockerImage(s: FetchSession, req: SchemeRequest): Promise<string> {
  requireInsecureImage(s, req.image, 'docker');
  const ref = parseDockerReference(stripDockerScheme(req.url));
  const canonical = canonicalDockerURL(ref);
  const known = liveRemote(s, canonical) ?? (req.url !== canonical ? liveRemote(s, req.url) : undefined);
  if (known && req.pullPolicy !== 'update') return known.blobKey;
  if (known && ref.digest) return known.blobKey;
  if (req.pullPolicy === 'never') {
    throw userError('fetch.not-found', `image ${req.image} not found in the store (pull policy "never" forbids fetching it)`, { details: { image: req.image } });
  }
  const what = `image ${req.image}`;
  const reference = ref.digest ?? ref.tag ?? 'latest';
  let lastError: unknown;
  for (const ep of endpointsFor(s, ref)) {
    const creds = registryCredentials(s.config, ep.host);
    const client = new RegistryClient({
      endpoint: ep.url,
      host: ep.host,
      repository: ref.repository,
      httpFallback: !ep.mirror,
      // the registry spoke only plain http last time: skip the https attempt
      startWithHttp: !ep.mirror && known?.endpoint === `http://${ref.registry}`,
      allowHttp: s.allowHttp || (ep.mirror && ep.url.protocol === 'http:'),
      insecureTls: s.client.insecureTls,
      ...(creds ? { credentials: creds } : {}),
      timeoutMs: s.client.timeoutMs,
      userAgent: s.client.userAgent,
      debug: (m) => s.log.debug(m),
    });
    try {
      const resolved = await resolveImage(client, req.image, reference, {
        ...(known?.etag ? { knownDigest: known.etag } : {}),
        onLayerStream: withProgress,
      });
      const endpoint = ep.mirror ? client.endpoint.href : client.endpoint.origin === `https://${ref.registry}` ? undefined : client.endpoint.origin;
      if (resolved.unchanged) {
        const key = known?.blobKey as string;
        s.log.debug(`${what}: ${resolved.digest} unchanged in ${ep.host}; using ${key}`);
        record(s, [canonical, req.url], key, resolved.digest, endpoint);
        return key;
      }
      const info = await s.store.importLayeredImage(
        {
          config: resolved.config,
          configDigest: resolved.configDigest,
          layers: resolved.layers,
          name: dockerImageName(ref),
          ...(ref.tag ? { tag: ref.tag } : {}),
          annotations: {
            // the reference spelled out, not as typed: `busybox` and `docker.io/library/busybox` are one image
            [ORIGINAL_NAME_ANNOTATION]: formatDockerReference(ref),
            'appc.io/docker/registryurl': ref.registry,
            'appc.io/docker/repository': ref.repository,
          },
        },
        {
          remote: { url: canonical, etag: resolved.digest, ...(endpoint ? { endpoint } : {}) },
          latest: ref.tag === 'latest' && !ref.digest,
          onLayer: (e) => {
            if (e.transferred) s.log.debug(`${what}: stored layer ${e.digest ?? e.diffID} (${e.bytes} bytes)`);
          },
        },
      );
      if (req.url !== canonical) record(s, [req.url], info.key, resolved.digest, endpoint);
      s.log.debug(`${what}: ${formatDockerReference(ref)} is ${info.key} (${info.transferredLayers} layers transferred${ep.mirror ? ` from mirror ${ep.host}` : ''})`);
      return info.key;
    } catch (e) {
      lastError = e;
      // a mirror that fails falls through to the next one, then to the registry itself
      if (!ep.mirror || !isRktError(e) || !(e.code.startsWith('fetch.') || e.code === 'image.platform')) throw e;
      s.log.debug(`${what}: mirror ${ep.url.href} failed: ${e.message}`);
    } finally {
      client.close();
    }
  }
  throw lastError ?? userError('fetch.not-found', `${what}: not found`);
}

/** Records (or refreshes, when something changed) the remotes of a fetched image. */
function record(s: FetchSession, urls: string[], key: string, digest: string, endpoint: string | undefined): void {
  for (const url of new Set(urls)) {
    const old = s.store.getRemote(url);
    if (old && old.blobKey === key && old.etag === digest && old.endpoint === endpoint) continue;
    s.store.setRemote({ url, etag: digest, downloadTime: new Date(), blobKey: key, ...(endpoint ? { endpoint } : {}) });
  }
}

/** The `docker` scheme handler (see ./schemes). */
export const dockerScheme: SchemeHandler = {
  // remote records are looked up here (under the canonical URL too), not by the dispatcher
  remote: false,
  fetch: (s, req) => fetchDockerImage(s, req),
};
