/**
 * Fetching an ACI from an http(s) URL with HTTP caching: a fresh copy (Cache-Control max-age)
 * is used without asking, otherwise the saved ETag is sent and a 304 reuses the stored image.
 * The signature is fetched first (an untrusted signer fails before the image is downloaded
 * when the image name is known), the image is downloaded resumably, verified and imported,
 * and the remote record (URL, ETag, max-age) is written with it.
 */
import { statSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import type { Remote } from '@rktnetes/store';
import { checkSignerTrusted } from '../trust/verify';
import { download, openDownloadDir } from './download';
import { ascUrlFor } from './ref';
import type { FetchSession } from './session';
import {
  describeSignature,
  fetchSignature,
  verifyAndImport,
  type Expectation,
  type FetchedSignature,
  type SignatureSource,
} from './verify-import';

/** One image URL to fetch. */
export interface RemoteImageRequest {
  url: string;
  /** how the user named the image, for messages */
  image: string;
  /** default: the URL with `.aci` replaced by `.aci.asc` */
  signature?: SignatureSource;
  expect: Expectation;
  /** fetched by a name without version */
  latest: boolean;
}

/** The remote record of `url` when its image is still in the store. */
export function liveRemote(s: FetchSession, url: string): Remote | undefined {
  const rem = s.store.getRemote(url);
  if (!rem) return undefined;
  try {
    s.store.getImage(rem.blobKey);
    return rem;
  } catch {
    return undefined;
  }
}

/** Whether a remote record is still fresh by its Cache-Control max-age. */
export function isFresh(rem: Remote, now = Date.now()): boolean {
  const age = (now - rem.downloadTime.getTime()) / 1000;
  return (rem.cacheMaxAge ?? 0) > 0 && age < (rem.cacheMaxAge ?? 0);
}

function freshRemote(s: FetchSession, url: string): string | undefined {
  const rem = liveRemote(s, url);
  if (!rem || !isFresh(rem)) return undefined;
  s.log.debug(`image for ${url} is fresh (max-age ${rem.cacheMaxAge}s), not fetching`);
  return rem.blobKey;
}

/**
 * Fetches an image from an http(s) URL (honouring max-age and ETag) and returns its key.
 *
 * @throws RktError `fetch.*`, `signature.*`, `image.*`
 */
export async function fetchRemoteImage(s: FetchSession, req: RemoteImageRequest): Promise<string> {
  const url = new URL(req.url);
  if (url.protocol === 'http:' && !s.allowHttp) {
    throw userError('fetch.insecure-http', `image ${req.image}: refusing to fetch ${url.href} over plain http; use --insecure-options=http`);
  }
  const fresh = freshRemote(s, url.href);
  if (fresh) return fresh;
  if (url.protocol === 'https:' && s.client.insecureTls) s.warnOnce('tls', 'TLS verification has been disabled');
  if (!s.verify && s.ctx.insecure.has('image')) s.warnOnce('image', 'image signature verification has been disabled');

  const sigSrc = req.signature ?? { kind: 'url' as const, url: ascUrlFor(url.href) };
  let sig: FetchedSignature | 'deferred' | undefined;
  if (s.verify) {
    sig = await fetchSignature(s, sigSrc, req.image);
    if (sig !== 'deferred' && req.expect.name) {
      await checkSignerTrusted(s.keystore, { name: req.expect.name, signature: sig.data, signatureSource: sig.source, image: req.image });
    }
  }

  const dl = await openDownloadDir(s.store.layout.tmp, url.href);
  let keep = true;
  try {
    // another fetch of this URL may have finished while we waited for the download directory
    const rem = liveRemote(s, url.href);
    if (rem && isFresh(rem)) return rem.blobKey;
    s.log.info(`fetching image from ${url.href}`);
    const res = await download(s.client, dl, { url, ...(rem?.etag ? { etag: rem.etag } : {}), label: 'image', what: `image ${req.image}` });
    if (res.notModified && rem) {
      keep = false;
      s.log.debug(`${url.href} not modified, using the stored image`);
      s.store.setRemote({ ...rem, etag: res.etag ?? rem.etag, cacheMaxAge: res.maxAge, downloadTime: new Date() });
      return rem.blobKey;
    }
    if (res.resumedFrom > 0) s.log.debug(`resumed ${url.href} at byte ${res.resumedFrom}`);
    keep = false;
    if (sig === 'deferred') {
      sig = await fetchSignature(s, sigSrc, req.image);
      if (sig === 'deferred') {
        throw userError('signature.missing', `image ${req.image}: the server deferred the signature ${describeSignature(sigSrc)} twice`);
      }
    }
    return await verifyAndImport(s, {
      path: dl.dataPath,
      image: req.image,
      signature: s.verify ? (sig as FetchedSignature) : undefined,
      expect: req.expect,
      importOptions: {
        latest: req.latest,
        remote: {
          url: url.href,
          ...(s.verify ? { sigUrl: (sig as FetchedSignature).source } : sigSrc.kind === 'url' ? { sigUrl: sigSrc.url } : {}),
          ...(res.etag ? { etag: res.etag } : {}),
          cacheMaxAge: res.maxAge,
        },
      },
    });
  } finally {
    // an interrupted download stays for resuming; a complete one is imported or rejected
    if (keep && hasData(dl.dataPath)) dl.release();
    else dl.discard();
  }
}

function hasData(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}
