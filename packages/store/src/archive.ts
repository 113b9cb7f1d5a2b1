/**
 * Image sources: a path or a byte stream, gzip / bzip2 / xz / uncompressed, detected by magic
 * and turned into one stream of uncompressed tar bytes. bzip2, xz and zstd are decompressed by the
 * `bzip2 -dc` / `xz -dc` / `zstd -dc` programs.
 */
import { createReadStream } from 'node:fs';
import { systemError, userError } from '@rktnetes/errors';
import { corrupt } from './entries';

/** Where an image comes from: a file path, or bytes. */
export type ImageSource = string | AsyncIterable<Uint8Array> | NodeJS.ReadableStream;

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'zstd' | 'none';

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The compression of a stream from its first bytes. */
export function detectCompression(head: Uint8Array): Compression {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 3 && b.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (b.length >= 6 && b.subarray(0, 6).equals(XZ_MAGIC)) return 'xz';
  if (b.length >= 4 && b.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

function toBuffer(c: unknown): Buffer {
  if (Buffer.isBuffer(c)) return c;
  if (c instanceof Uint8Array) return Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  if (typeof c === 'string') return Buffer.from(c);
  throw new TypeError('image stream yielded a non-binary chunk');
}

function openSource(source: ImageSource, what: string): AsyncIterable<unknown> {
  if (typeof source !== 'string') return source as AsyncIterable<unknown>;
  const stream = createReadStream(source);
  return (async function* () {
    try {
      for await (const c of stream) yield c;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') {
        throw userError('store.source', `cannot read image ${what}`, { cause: e });
      }
      throw systemError('store.io', `cannot read image ${what}`, { cause: e });
    } finally {
      stream.destroy();
    }
  })();
}

/**
 * The uncompressed bytes of `source`. Decompression failures (bad data, truncation) throw
 * `image.corrupt` naming `what`; the iterator cleans up any child process when abandoned.
 */
export async function* uncompressed(source: ImageSource, what: string): AsyncGenerator<Buffer> {
  const it = openSource(source, what)[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < 6) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = toBuffer(r.value);
    head.push(b);
    len += b.length;
  }
  const first = Buffer.concat(head);
  const rest = async function* (): AsyncGenerator<Buffer> {
    try {
      if (first.length) yield first;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield toBuffer(r.value);
      }
    } finally {
      await it.return?.();
    }
  };
  const kind = detectCompression(first);
  if (kind === 'none') {
    yield* rest();
    return;
  }
  if (kind === 'gzip') {
    const [{ Readable, pipeline }, { createGunzip }] = await Promise.all([import('node:stream'), import('node:zlib')]);
    const out = pipeline(Readable.from(rest()), createGunzip({ chunkSize: 1 << 20 }), () => {});
    try {
      for await (const c of out) yield c as Buffer;
    } catch (e) {
      if ((e as { code?: string }).code?.startsWith('Z_') || /unexpected end|incorrect header|invalid/i.test(String((e as Error).message))) {
        throw corrupt(what, 'gzip data is corrupt or truncated', e);
      }
      throw e;
    } finally {
      out.destroy();
    }
    return;
  }
  yield* viaProgram(kind, rest(), what);
}

async function* viaProgram(program: 'bzip2' | 'xz' | 'zstd', input: AsyncGenerator<Buffer>, what: string): AsyncGenerator<Buffer> {
  const [{ spawn }, { Readable, pipeline }] = await Promise.all([import('node:child_process'), import('node:stream')]);
  const child = spawn(program, ['-dc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    if (stderr.length < 4096) stderr += d;
  });
  const exited = new Promise<{ code: number | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, error }));
    child.once('close', (code) => resolve({ code }));
  });
  // the child's exit status decides; a write error (EPIPE) only means it stopped reading
  const feeding = new Promise<void>((resolve) => pipeline(Readable.from(input), child.stdin, () => resolve()));
  try {
    for await (const c of child.stdout) yield c as Buffer;
    await feeding;
    const { code, error } = await exited;
    if (error) {
      throw systemError('store.decompress', `cannot run ${program} to decompress image ${what}`, { cause: error });
    }
    if (code !== 0) {
      throw corrupt(what, `${program} data is corrupt or truncated${stderr ? `: ${stderr.trim().split('\n')[0]}` : ''}`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await input.return(undefined);
  }
}
