/**
 * The last steps of every ACI fetch: get the signature, read the manifest, check it is the
 * image that was asked for and runs here, verify the signature with the keys trusted for its
 * name, and only then import it into the store.
 */
import { readFileSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import { appcArch, appcOS, getLabel, type ImageManifest } from '@rktnetes/schema';
import type { ImportOptions } from '@rktnetes/store';
import { verifyImageSignature } from '../trust/verify';
import { httpRequest, readBody, statusError, statusText } from './http';
import { readAciManifest } from './aci-manifest';
import type { FetchSession } from './session';

/** Where a detached signature is. */
export type SignatureSource = { kind: 'file'; path: string } | { kind: 'url'; url: string };

/** A fetched signature. */
export interface FetchedSignature {
  data: Buffer;
  /** the path or URL it came from */
  source: string;
}

const MAX_SIGNATURE = 1 << 20;
const SKIP_HINT = 'use --insecure-options=image to skip signature verification';

/** `--signature` value: an http(s) URL, a `file://` URL or a path. */
export function signatureSource(value: string): SignatureSource {
  if (/^https?:\/\//i.test(value)) return { kind: 'url', url: value };
  if (/^file:\/\//i.test(value)) return { kind: 'file', path: decodeURIComponent(new URL(value).pathname) };
  return { kind: 'file', path: value };
}

/** The label of a signature source in messages. */
export function describeSignature(src: SignatureSource): string {
  return src.kind === 'file' ? src.path : src.url;
}

/**
 * Reads or downloads a signature. Resolves to `'deferred'` when the server answers 202 (the
 * signature is made on demand: ask again after downloading the image).
 *
 * @throws RktError `signature.missing` (no such file, HTTP 404/410), `fetch.*`
 */
export async function fetchSignature(s: FetchSession, src: SignatureSource, image: string): Promise<FetchedSignature | 'deferred'> {
  if (src.kind === 'file') {
    try {
      return { data: readFileSync(src.path), source: src.path };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw userError('signature.missing', `image ${image} is not signed: no signature file ${src.path}; ${SKIP_HINT}`);
      throw userError('signature.missing', `image ${image}: cannot read signature file ${src.path} (${code ?? String(e)})`, { cause: e });
    }
  }
  const what = `signature of image ${image}`;
  s.log.debug(`downloading signature from ${src.url}`);
  const res = await httpRequest(s.client, 'GET', new URL(src.url), {}, what);
  if (res.status === 202) {
    res.body.resume();
    return 'deferred';
  }
  if (res.status === 404 || res.status === 410) {
    res.body.resume();
    throw userError('signature.missing', `image ${image} is not signed: no signature at ${res.url.href} (${statusText(res.status)}); ${SKIP_HINT}`);
  }
  if (res.status !== 200) throw statusError(what, res);
  return { data: await readBody(res, MAX_SIGNATURE, what, s.client.timeoutMs), source: res.url.href };
}

/** What the image must be (for fetches by name, and the host's os/arch for all). */
export interface Expectation {
  /** the requested name (fetch by name only) */
  name?: string;
  /** labels the user asked for: must be present with these values */
  labels?: Readonly<Record<string, string>>;
}

/** The os and arch labels an image must carry (when it carries them) to be fetched. */
export function hostPlatform(): { os: string | undefined; arch: string | undefined } {
  return { os: appcOS(), arch: appcArch() };
}

/**
 * Checks a manifest against what was asked for: name and requested labels; and an `os`/`arch`
 * label, when present and not explicitly requested, must be the host's.
 *
 * @throws RktError `fetch.image-mismatch`, `fetch.os-arch`
 */
export function checkManifest(m: ImageManifest, image: string, expect: Expectation): void {
  if (expect.name !== undefined && m.name !== expect.name) {
    throw userError('fetch.image-mismatch', `image ${image}: the downloaded image is named "${m.name}", not "${expect.name}"`);
  }
  const requested = expect.labels ?? {};
  for (const [k, v] of Object.entries(requested)) {
    const have = getLabel(m.labels, k);
    if (have === undefined) throw userError('fetch.image-mismatch', `image ${image}: requested label ${k}=${v} is not in the image manifest`);
    if (have !== v) throw userError('fetch.image-mismatch', `image ${image}: requested label ${k}=${v} but the image has ${k}=${have}`);
  }
  const host = hostPlatform();
  const os = getLabel(m.labels, 'os');
  const arch = getLabel(m.labels, 'arch');
  const wantOs = requested.os ?? host.os;
  const wantArch = requested.arch ?? host.arch;
  if ((os !== undefined && wantOs !== undefined && os !== wantOs) || (arch !== undefined && wantArch !== undefined && arch !== wantArch)) {
    throw userError(
      'fetch.os-arch',
      `image ${image} is for ${os ?? '?'}/${arch ?? '?'}, not ${wantOs ?? '?'}/${wantArch ?? '?'}; ask for it explicitly with a label (name,os=...,arch=...) to fetch it anyway`,
    );
  }
}

/** One image file ready to be checked and imported. */
export interface VerifyImportRequest {
  /** the image file (as downloaded or given) */
  path: string;
  /** how the user named the image, for messages */
  image: string;
  /** the signature; undefined when verification is off */
  signature: FetchedSignature | undefined;
  expect: Expectation;
  importOptions: ImportOptions;
}

/**
 * Reads the manifest, checks it, verifies the signature (when given) and imports the image.
 * Nothing reaches the store when a check fails. Returns the image key.
 */
export async function verifyAndImport(s: FetchSession, req: VerifyImportRequest): Promise<string> {
  const manifest = await readAciManifest(req.path, req.image);
  checkManifest(manifest, req.image, req.expect);
  if (req.signature) {
    const signer = await verifyImageSignature(s.keystore, {
      name: manifest.name,
      path: req.path,
      signature: req.signature.data,
      signatureSource: req.signature.source,
      image: req.image,
    });
    s.log.info(`signature verified: ${signer.userIds.join(', ') || signer.fingerprint}`);
  }
  const info = await s.store.importImage(req.path, { name: req.image, ...req.importOptions });
  return info.key;
}
