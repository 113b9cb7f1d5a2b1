/**
 * Fetching by image name: the store first (unless the pull policy is `update`), then appc
 * discovery and an http(s) fetch of the discovered URL, checked against the name and labels.
 * When no key is trusted for the name yet, the keys the name publishes
 * (`ac-discovery-pubkeys`) are offered for trust as rkt does.
 */
import { hasCode, isRktError, userError } from '@rktnetes/errors';
import { getLabel } from '@rktnetes/schema';
import { addTrustedKeys, processReviewIO } from '../trust/add';
import { discoverAciEndpoints, discoverPublicKeys } from './discovery';
import type { PullPolicy } from './index';
import { fetchRemoteImage } from './remote';
import type { FetchSession } from './session';
import { hostPlatform, type SignatureSource } from './verify-import';

/** A fetch by name. */
export interface NameImageRequest {
  /** the argument as given */
  image: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  pullPolicy: PullPolicy;
  signature?: SignatureSource;
}

/**
 * The stored image for a name and labels, preferring the host's os/arch: images with other
 * os/arch labels do not count.
 */
export function findInStore(s: FetchSession, name: string, labels: Readonly<Record<string, string>>): string | undefined {
  const host = hostPlatform();
  const platform: Record<string, string> = {};
  if (host.os && labels.os === undefined) platform.os = host.os;
  if (host.arch && labels.arch === undefined) platform.arch = host.arch;
  for (const query of [{ ...platform, ...labels }, labels]) {
    let key: string;
    try {
      key = s.store.resolveImage(name, query);
    } catch (e) {
      if (hasCode(e, 'store.not-found')) continue;
      throw e;
    }
    const m = s.store.getImageManifest(key);
    const os = getLabel(m.labels, 'os');
    const arch = getLabel(m.labels, 'arch');
    if ((os === undefined || os === (labels.os ?? host.os)) && (arch === undefined || arch === (labels.arch ?? host.arch))) return key;
  }
  return undefined;
}

/**
 * Resolves or fetches an image by name; returns its key.
 *
 * @throws RktError `fetch.not-found` (pull policy never), `fetch.discovery`, and the errors of
 *   {@link fetchRemoteImage}
 */
export async function fetchByName(s: FetchSession, req: NameImageRequest): Promise<string> {
  if (req.pullPolicy !== 'update') {
    const key = findInStore(s, req.name, req.labels);
    if (key) {
      s.log.debug(`using image ${key} from the store for ${req.image}`);
      return key;
    }
    if (req.pullPolicy === 'never') {
      throw userError('fetch.not-found', `image ${req.image} not found in the store (pull policy "never" forbids fetching it)`, {
        details: { image: req.image },
      });
    }
  }
  const host = hostPlatform();
  const labels: Record<string, string> = { ...(host.os ? { os: host.os } : {}), ...(host.arch ? { arch: host.arch } : {}), ...req.labels };
  s.log.info(`searching for app image ${req.image}`);
  const endpoints = await discoverAciEndpoints(req.name, labels, {
    client: s.client,
    allowHttp: s.allowHttp,
    debug: (m) => s.log.debug(m),
  });
  if (s.verify) await maybeTrustPublishedKeys(s, req.name);
  let lastError: unknown;
  for (const ep of endpoints) {
    try {
      return await fetchRemoteImage(s, {
        url: ep.aci,
        image: req.image,
        signature: req.signature ?? { kind: 'url', url: ep.asc },
        expect: { name: req.name, labels: req.labels },
        latest: req.labels.version === undefined,
      });
    } catch (e) {
      // another endpoint may serve the image; anything but an unreachable URL is final
      if (!isRktError(e) || !['fetch.http', 'fetch.http-status', 'fetch.unsupported-scheme'].includes(e.code) || endpoints.length === 1) throw e;
      s.log.debug(`endpoint ${ep.aci} failed: ${e.message}`);
      lastError = e;
    }
  }
  throw lastError;
}

/**
 * When no key is trusted for `name` (or a parent prefix), discovers the keys it publishes and
 * offers them: accepted silently from https with `--trust-keys-from-https`, reviewed on a
 * terminal otherwise. Failures only warn: the signature check that follows reports the result.
 */
async function maybeTrustPublishedKeys(s: FetchSession, name: string): Promise<void> {
  if (s.keystore.hasKeysForPrefix(name)) {
    s.log.debug(`keys already exist for prefix "${name}", not fetching again`);
    return;
  }
  if (s.client.insecureTls && !s.insecurePubkeys) return;
  const allowHttp = s.insecurePubkeys && s.allowHttp;
  if (s.insecurePubkeys) s.log.info('signing keys may be downloaded from an insecure connection');
  try {
    const locations = await discoverPublicKeys(name, { client: s.client, allowHttp, debug: (m) => s.log.debug(m) });
    await addTrustedKeys(s.keystore, {
      prefix: name,
      locations,
      accept: 'ask',
      trustKeysFromHttps: s.ctx.trustKeysFromHttps,
      allowHttp,
      client: s.client,
      io: processReviewIO(process.stderr),
    });
  } catch (e) {
    s.log.warn(`not trusting the keys published for "${name}": ${isRktError(e) ? e.message : String(e)}`);
    s.log.warn(`to trust them run: rkt trust --prefix "${name}" (or fetch with --trust-keys-from-https)`);
  }
}
