/**
 * Streaming walk over a tar byte stream with tar-stream (loaded lazily), with a tap that sees
 * every byte (for hashing and copying) and a handler per entry.
 */
import type { Header } from 'tar-stream';
import { isRktError } from '@rktnetes/errors';
import { corrupt } from './entries';

type TarStream = typeof import('tar-stream');
let tarStream: Promise<TarStream> | undefined;

/** tar-stream, imported on first use. */
export function loadTarStream(): Promise<TarStream> {
  tarStream ??= import('tar-stream').then((m) => ((m as { default?: TarStream }).default ?? m) as TarStream);
  return tarStream;
}

/** One entry's data; the handler must either read it to the end or not touch it. */
export type EntryBody = AsyncIterable<Buffer>;

export interface ScanOptions {
  /** names the image in errors */
  what: string;
  /** sees every chunk of the archive, in order, before it is parsed */
  tap?: (chunk: Buffer) => void;
  /** called per entry; return 'stop' to end the walk early (the rest is not read) */
  onEntry: (header: Header, body: EntryBody) => Promise<void | 'stop'> | void | 'stop';
}

export interface ScanResult {
  /** bytes read */
  size: number;
  /** the walk ended early on request */
  stopped: boolean;
}

/**
 * Walks the archive. Throws the handler's or the stream's RktErrors as they are; a malformed
 * archive becomes `image.corrupt`, including one that ends without the end-of-archive block
 * (a truncation at an entry boundary, which tar-stream alone accepts).
 */
export async function scanTar(chunks: AsyncIterable<Buffer>, opts: ScanOptions): Promise<ScanResult> {
  const { extract } = await loadTarStream();
  const ex = extract();
  let size = 0;
  let stopped = false;
  const tail = Buffer.alloc(512);
  let tailLen = 0;

  const consumer = (async () => {
    for await (const entry of ex) {
      const r = await opts.onEntry(entry.header, entry as unknown as EntryBody);
      if (r === 'stop') {
        stopped = true;
        return;
      }
      for await (const _ of entry as unknown as EntryBody) {
        // drain what the handler did not read
      }
    }
  })();

  const producer = (async () => {
    try {
      for await (const chunk of chunks) {
        if (ex.destroyed || ex.destroying) break;
        size += chunk.length;
        if (chunk.length >= 512) {
          chunk.copy(tail, 0, chunk.length - 512);
          tailLen = 512;
        } else {
          const keep = Math.min(tailLen, 512 - chunk.length);
          tail.copy(tail, 0, tailLen - keep, tailLen);
          chunk.copy(tail, keep);
          tailLen = keep + chunk.length;
        }
        opts.tap?.(chunk);
        if (!ex.write(chunk)) {
          await new Promise<void>((resolve) => {
            const done = () => {
              ex.off('drain', done);
              ex.off('close', done);
              resolve();
            };
            ex.on('drain', done);
            ex.on('close', done);
          });
        }
      }
      if (!ex.destroyed && !ex.destroying) (ex as unknown as { end(): void }).end();
    } catch (e) {
      ex.destroy(e as Error);
      throw e;
    }
  })();

  const [c, p] = await Promise.allSettled([consumer, producer]);
  if (p.status === 'rejected' && isRktError(p.reason)) throw p.reason;
  if (c.status === 'rejected' && isRktError(c.reason)) throw c.reason;
  if (p.status === 'rejected') throw p.reason;
  if (c.status === 'rejected') {
    throw corrupt(opts.what, `not a valid tar archive: ${(c.reason as Error)?.message ?? String(c.reason)}`, c.reason);
  }
  if (!stopped) {
    if (size === 0) throw corrupt(opts.what, 'is empty');
    if (size % 512 !== 0 || tailLen < 512 || !tail.every((b) => b === 0)) {
      throw corrupt(opts.what, 'is truncated (no end-of-archive marker)');
    }
  }
  return { size, stopped };
}
