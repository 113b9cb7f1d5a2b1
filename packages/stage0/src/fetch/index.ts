/**
 * Image fetching for stage0: resolves an image reference against the store and, depending on
 * the pull policy, fetches it (local file, http(s) URL, appc discovery by name), verifies its
 * signature against the keystore and imports it, then does the same for its dependencies.
 * See rkt Documentation/image-fetching-behavior.md and this package's README.
 */
//
// An image named by its hash, the common case of `rkt run` (and of every stage1 given by hash),
// is a store lookup: the fetchers, the HTTP client, the keystore and the configuration (read
// from disk) are loaded, and the session built, only when something has to be fetched.
import { userError } from '@rktnetes/errors';
import { labelsToMap } from '@rktnetes/schema';
import type { Store } from '@rktnetes/store';
import type { Context } from '../cli/context';
import { parseImageRef, type ImageRef } from './ref';
import { SCHEMES } from './schemes';
import type { FetchSession } from './session';
import type { SignatureSource } from './verify-import';

export { parseImageRef, parseAppString, ascPathFor, ascUrlFor, type ImageRef } from './ref';
export { SCHEMES, type SchemeHandler, type SchemeRequest } from './schemes';
export type { FetchSession } from './session';

/** The fetch session of `ctx` and `store` (./session, loaded on first use). */
async function sessionFor(ctx: Context, store: Store): Promise<FetchSession> {
  return (await import('./session')).sessionFor(ctx, store);
}

/** When to go to the network: never (store only), new (only when missing), update (always check). */
export type PullPolicy = 'never' | 'new' | 'update';

/** The pull policies, for flag definitions. */
export const PULL_POLICIES: readonly PullPolicy[] = ['never', 'new', 'update'];

/** One image to resolve or fetch. */
export interface FetchRequest {
  /** `sha512-...`, `name[:version][,label=value]`, a file path, `file://`, `http(s)://` URL */
  ref: string;
  pullPolicy: PullPolicy;
  /** `--signature`: path or URL of the detached signature (default: next to the image) */
  signature?: string;
  /**
   * The location is trusted, so no signature is needed (rkt: a stage1 image from a path or the
   * stage1 images directory). Default false: verification follows `--insecure-options=image`.
   */
  trustedLocation?: boolean;
  /** also resolve or fetch the image's dependencies (default true; rkt skips them for stage1 images) */
  withDependencies?: boolean;
}

/** rkt's default pull policy per command: `fetch` => update, `run`/`prepare` => new. */
export function defaultPullPolicy(command: 'fetch' | 'run' | 'prepare'): PullPolicy {
  return command === 'fetch' ? 'update' : 'new';
}

/**
 * Resolves or fetches an image into the store and returns its full store key (sha512-...).
 * Its dependencies (manifest `dependencies`) are resolved or fetched by name with the same
 * policy. Progress goes to stderr on a terminal; `rkt:` info and warning lines go to stderr.
 *
 * @throws RktError, one line naming the image: `fetch.*` (bad reference, network, discovery,
 *   mismatching image), `signature.*` (missing, bad, untrusted), `trust.*` (keystore),
 *   `store.*` and `image.*` (not in the store, corrupt image)
 */
export async function fetchImage(ctx: Context, store: Store, req: FetchRequest): Promise<string> {
  const ref = parseImageRef(req.ref);
  let key: string;
  if (ref.kind === 'hash') {
    key = store.resolveImage(ref.ref);
  } else {
    const shared = await sessionFor(ctx, store);
    const s = req.trustedLocation ? { ...shared, verify: false } : shared;
    const signature = req.signature ? (await import('./verify-import')).signatureSource(req.signature) : undefined;
    key = await fetchOne(s, ref, req.ref, req.pullPolicy, signature);
  }
  if (req.withDependencies ?? true) await fetchDependencies(ctx, store, key, req.pullPolicy);
  return key;
}

async function fetchOne(s: FetchSession, ref: Exclude<ImageRef, { kind: 'hash' }>, image: string, pullPolicy: PullPolicy, signature: SignatureSource | undefined): Promise<string> {
  const sig = signature ? { signature } : {};
  switch (ref.kind) {
    case 'file':
      return (await import('./file')).fetchFileImage(s, { path: ref.path, image, ...sig });
    case 'name':
      return (await import('./name')).fetchByName(s, { image, name: ref.name, labels: ref.labels, pullPolicy, ...sig });
    case 'url': {
      const load = SCHEMES[ref.scheme];
      if (!load) {
        throw userError(
          'fetch.unsupported-scheme',
          `image ${image}: unsupported URL scheme "${ref.scheme}" (supported: file, ${Object.keys(SCHEMES).sort().join(', ')})`,
        );
      }
      const handler = await load();
      let url = ref.url;
      try {
        url = new URL(ref.url).href;
      } catch {
        // handlers of schemes that are not URLs parse them themselves
      }
      if (handler.remote && pullPolicy !== 'update') {
        const rem = (await import('./remote')).liveRemote(s, url);
        if (rem) {
          s.log.debug(`using image ${rem.blobKey} from the store for ${url}`);
          return rem.blobKey;
        }
        if (pullPolicy === 'never') {
          throw userError('fetch.not-found', `image ${image} not found in the store (pull policy "never" forbids fetching it)`, {
            details: { image },
          });
        }
      }
      return handler.fetch(s, { url, image, pullPolicy, ...sig });
    }
  }
}

/** Resolves or fetches the dependencies of `key`, transitively. */
async function fetchDependencies(ctx: Context, store: Store, key: string, pullPolicy: PullPolicy): Promise<void> {
  const seen = new Set([key]);
  const queue = [key];
  for (let k = queue.shift(); k !== undefined; k = queue.shift()) {
    const manifest = store.getImageManifest(k);
    for (const dep of manifest.dependencies ?? []) {
      const labels = labelsToMap(dep.labels);
      const image = [dep.imageName, ...Object.entries(labels).map(([n, v]) => `${n}=${v}`)].join(',');
      let depKey: string | undefined;
      if (dep.imageID) {
        try {
          depKey = store.resolveImage(dep.imageID);
        } catch {
          depKey = undefined;
        }
      }
      depKey ??= await (await import('./name')).fetchByName(await sessionFor(ctx, store), { image, name: dep.imageName, labels, pullPolicy });
      if (dep.imageID && !depKey.startsWith(dep.imageID.toLowerCase())) {
        throw userError('fetch.dependency', `image ${manifest.name}: dependency ${image} has ID ${depKey}, not the required ${dep.imageID}`);
      }
      if (!seen.has(depKey)) {
        seen.add(depKey);
        queue.push(depKey);
      }
    }
  }
}
