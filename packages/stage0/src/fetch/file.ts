/**
 * Fetching an ACI from a local file: the signature is `--signature` or the file next to it
 * (`x.aci` -> `x.aci.asc`). The file is opened once and read through that descriptor for the
 * manifest, the signature check and the import, so replacing it meanwhile changes nothing.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { userError } from '@rktnetes/errors';
import { ascPathFor } from './ref';
import type { FetchSession } from './session';
import { fetchSignature, verifyAndImport, type FetchedSignature, type SignatureSource } from './verify-import';

/** One local image file to fetch. */
export interface FileImageRequest {
  path: string;
  /** how the user named the image, for messages */
  image: string;
  signature?: SignatureSource;
}

/**
 * Imports a local ACI after verifying it; returns its key.
 *
 * @throws RktError `fetch.no-file`, `signature.*`, `image.*`
 */
export async function fetchFileImage(s: FetchSession, req: FileImageRequest): Promise<string> {
  let fd: number;
  try {
    fd = openSync(req.path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code ?? e);
    throw userError('fetch.no-file', `image ${req.image}: cannot open ${req.path}: ${why}`, { cause: e });
  }
  try {
    if (!fstatSync(fd).isFile()) throw userError('fetch.no-file', `image ${req.image}: ${req.path} is not a regular file`);
    let sig: FetchedSignature | undefined;
    if (s.verify) {
      const got = await fetchSignature(s, req.signature ?? { kind: 'file', path: ascPathFor(req.path) }, req.image);
      if (got === 'deferred') throw userError('signature.missing', `image ${req.image}: the signature server asked to try again later`);
      sig = got;
    } else if (s.ctx.insecure.has('image')) {
      s.warnOnce('image', 'image signature verification has been disabled');
    }
    return await verifyAndImport(s, { path: `/proc/self/fd/${fd}`, image: req.image, signature: sig, expect: {}, importOptions: {} });
  } finally {
    closeSync(fd);
  }
}
