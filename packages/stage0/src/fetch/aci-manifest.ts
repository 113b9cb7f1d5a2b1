/**
 * Reading the manifest of a downloaded ACI before it goes into the store: the image name picks
 * the keys its signature is checked with, and the name and labels must match what was asked
 * for. Only the archive up to the `manifest` entry is decompressed.
 */
import { spawn } from 'node:child_process';
import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { isRktError, userError } from '@rktnetes/errors';
import { parseImageManifest, type ImageManifest } from '@rktnetes/schema';

const MAX_MANIFEST = 1 << 20;

function compressionOf(path: string): 'gzip' | 'bzip2' | 'xz' | 'none' {
  const head = Buffer.alloc(6);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, 6, 0);
  } finally {
    closeSync(fd);
  }
  const b = head.subarray(0, n);
  if (b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (b.equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  return 'none';
}

function corrupt(what: string, why: string, cause?: unknown): Error {
  return userError('image.corrupt', `image ${what} is not a valid ACI: ${why}`, { cause });
}

/**
 * The validated manifest of the ACI file at `path` (gzip, bzip2, xz or plain tar).
 *
 * @throws RktError `image.corrupt` (not an archive, no manifest) or `image.invalid-manifest`
 */
export async function readAciManifest(path: string, what: string): Promise<ImageManifest> {
  const kind = compressionOf(path);
  const file = createReadStream(path);
  let child: ReturnType<typeof spawn> | undefined;
  let input: Readable;
  if (kind === 'gzip') {
    input = file.pipe(createGunzip());
    file.on('error', (e) => input.destroy(e));
  } else if (kind === 'bzip2' || kind === 'xz') {
    child = spawn(kind, ['-dc'], { stdio: ['pipe', 'pipe', 'ignore'] });
    file.pipe(child.stdin!).on('error', () => {});
    child.on('error', (e) => (child!.stdout as Readable).destroy(e));
    input = child.stdout as Readable;
  } else {
    input = file;
  }
  const extract = tar.extract();
  let text: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      stream.on('error', (e: unknown) => reject(corrupt(what, 'the archive is truncated or corrupt', e)));
      const name = header.name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
      if (name !== 'manifest' || header.type !== 'file') {
        stream.on('end', next);
        stream.resume();
        return;
      }
      if ((header.size ?? 0) > MAX_MANIFEST) {
        reject(corrupt(what, `manifest is larger than ${MAX_MANIFEST} bytes`));
        return;
      }
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        text = Buffer.concat(parts).toString('utf8');
        resolve();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', (e) => reject(corrupt(what, 'not a tar archive', e)));
    input.on('error', (e) => reject(corrupt(what, `cannot decompress (${kind})`, e)));
  });
  input.pipe(extract);
  try {
    await done;
  } finally {
    input.unpipe(extract);
    extract.destroy();
    input.destroy();
    file.destroy();
    if (child && child.exitCode === null) child.kill('SIGKILL');
  }
  if (text === undefined) throw corrupt(what, 'it has no manifest');
  try {
    return parseImageManifest(text);
  } catch (e) {
    throw userError('image.invalid-manifest', `image ${what} has an invalid manifest: ${isRktError(e) ? e.message : String(e)}`, { cause: e });
  }
}
