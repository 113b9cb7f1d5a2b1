/**
 * SPDY/3.1 frames (the framing Kubernetes streams use, draft 3.1 of the SPDY protocol): encoding
 * and incremental decoding, and the header blocks.
 *
 * A control frame is `1 | version(15) | type(16) | flags(8) | length(24) | payload`; a data frame
 * is `0 | stream id(31) | flags(8) | length(24) | data`. Header blocks (SYN_STREAM, SYN_REPLY,
 * HEADERS) are `count(32)` then `name length(32) name value length(32) value` pairs (several
 * values joined by NUL), compressed with one zlib stream per direction and connection, with the
 * SPDY/3 dictionary ({@link SPDY_DICTIONARY}), each block ending at a sync flush.
 *
 * What this side sends is "compressed" with stored (uncompressed) deflate blocks: valid zlib
 * that every inflater reads, with no compressor state to keep in step and nothing to wait for
 * (header blocks here are a few dozen bytes). What the peer sends is inflated by
 * {@link HeaderInflater}.
 */
import zlib from 'node:zlib';

/** The protocol version in control frames. */
export const SPDY_VERSION = 3;

/** Control frame types. */
export const FrameType = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
} as const;

/** FLAG_FIN (control and data frames): the sender's half of the stream ends with this frame. */
export const FLAG_FIN = 0x01;
/** FLAG_UNIDIRECTIONAL (SYN_STREAM): the receiver may not send on the stream. */
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes. */
export const RstStatus = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
} as const;

/** GOAWAY status codes. */
export const GoAwayStatus = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** The largest payload a frame can carry (24-bit length). */
export const MAX_FRAME_PAYLOAD = 0xffffff;
/** The largest data frame this side sends. */
export const DATA_CHUNK = 32 * 1024;

// The SPDY/3 header compression dictionary: length-prefixed words, then a raw tail.
const DICTIONARY_WORDS = [
  'options', 'head', 'post', 'put', 'delete', 'trace', 'accept', 'accept-charset', 'accept-encoding', 'accept-language',
  'accept-ranges', 'age', 'allow', 'authorization', 'cache-control', 'connection', 'content-base', 'content-encoding',
  'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type', 'date', 'etag',
  'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since', 'if-none-match', 'if-range', 'if-unmodified-since',
  'last-modified', 'location', 'max-forwards', 'pragma', 'proxy-authenticate', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'server', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'user-agent', 'vary', 'via', 'warning',
  'www-authenticate', 'method', 'get', 'status', '200 OK', 'version', 'HTTP/1.1', 'url', 'public', 'set-cookie', 'keep-alive',
  'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

/** The SPDY/3 zlib dictionary (1423 bytes, Adler-32 0xe3c6a7c2). */
export const SPDY_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.map((w) => {
    const b = Buffer.alloc(4 + w.length);
    b.writeUInt32BE(w.length, 0);
    b.write(w, 4, 'latin1');
    return b;
  }),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);

/** Adler-32 of `data` (zlib's dictionary id). */
export function adler32(data: Uint8Array): number {
  let a = 1;
  let b = 0;
  for (const x of data) {
    a = (a + x) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

/** Headers of a stream: lowercase names, values in order. */
export type SpdyHeaders = Map<string, string[]>;

/** One decoded frame. Header blocks are still compressed (`block`). */
export type SpdyFrame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'syn_stream'; streamId: number; associatedId: number; priority: number; flags: number; block: Buffer }
  | { kind: 'syn_reply' | 'headers'; streamId: number; flags: number; block: Buffer }
  | { kind: 'rst_stream'; streamId: number; status: number }
  | { kind: 'settings'; flags: number; entries: Array<{ id: number; flags: number; value: number }> }
  | { kind: 'ping'; id: number }
  | { kind: 'goaway'; lastGoodStreamId: number; status: number }
  | { kind: 'window_update'; streamId: number; delta: number }
  | { kind: 'unknown'; type: number; flags: number; payload: Buffer };

/** A malformed frame: the connection cannot go on. */
export class SpdyProtocolError extends Error {}

/** Splits a byte stream into frames; feed it chunks as they come. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** Adds bytes; returns the frames they complete. Throws {@link SpdyProtocolError}. */
  push(chunk: Buffer): SpdyFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: SpdyFrame[] = [];
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt32BE(4) & 0xffffff;
      if (this.buf.length < 8 + len) break;
      out.push(decodeFrame(this.buf.subarray(0, 8 + len)));
      this.buf = this.buf.subarray(8 + len);
    }
    return out;
  }

  /** Bytes received that do not make a whole frame yet. */
  get pending(): number {
    return this.buf.length;
  }
}

/** Decodes one whole frame (header and payload). */
export function decodeFrame(f: Buffer): SpdyFrame {
  const first = f.readUInt32BE(0);
  const flags = f[4]!;
  const p = f.subarray(8);
  if ((first & 0x80000000) === 0) return { kind: 'data', streamId: first & 0x7fffffff, flags, data: p };
  const version = (first >>> 16) & 0x7fff;
  if (version !== SPDY_VERSION) throw new SpdyProtocolError(`unsupported SPDY version ${version}`);
  const type = first & 0xffff;
  const need = (n: number) => {
    if (p.length < n) throw new SpdyProtocolError(`control frame ${type} is too short (${p.length} bytes)`);
  };
  switch (type) {
    case FrameType.SYN_STREAM:
      need(10);
      return { kind: 'syn_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, associatedId: p.readUInt32BE(4) & 0x7fffffff, priority: p[8]! >> 5, flags, block: p.subarray(10) };
    case FrameType.SYN_REPLY:
    case FrameType.HEADERS:
      need(4);
      return { kind: type === FrameType.SYN_REPLY ? 'syn_reply' : 'headers', streamId: p.readUInt32BE(0) & 0x7fffffff, flags, block: p.subarray(4) };
    case FrameType.RST_STREAM:
      need(8);
      return { kind: 'rst_stream', streamId: p.readUInt32BE(0) & 0x7fffffff, status: p.readUInt32BE(4) };
    case FrameType.SETTINGS: {
      need(4);
      const n = p.readUInt32BE(0);
      need(4 + n * 8);
      const entries = [];
      for (let i = 0; i < n; i++) {
        const idf = p.readUInt32BE(4 + i * 8);
        entries.push({ flags: idf >>> 24, id: idf & 0xffffff, value: p.readUInt32BE(8 + i * 8) });
      }
      return { kind: 'settings', flags, entries };
    }
    case FrameType.PING:
      need(4);
      return { kind: 'ping', id: p.readUInt32BE(0) };
    case FrameType.GOAWAY:
      need(4);
      return { kind: 'goaway', lastGoodStreamId: p.readUInt32BE(0) & 0x7fffffff, status: p.length >= 8 ? p.readUInt32BE(4) : 0 };
    case FrameType.WINDOW_UPDATE:
      need(8);
      return { kind: 'window_update', streamId: p.readUInt32BE(0) & 0x7fffffff, delta: p.readUInt32BE(4) & 0x7fffffff };
    default:
      return { kind: 'unknown', type, flags, payload: p };
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new RangeError(`SPDY control frame payload of ${payload.length} bytes`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

/** A DATA frame. */
export function dataFrame(streamId: number, data: Uint8Array, fin = false): Buffer {
  if (data.length > MAX_FRAME_PAYLOAD) throw new RangeError(`SPDY data frame of ${data.length} bytes`);
  const h = Buffer.alloc(8 + data.length);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE((((fin ? FLAG_FIN : 0) << 24) | data.length) >>> 0, 4);
  h.set(data, 8);
  return h;
}

/** A SYN_STREAM frame with an already compressed header block. */
export function synStreamFrame(streamId: number, block: Buffer, flags = 0, associatedId = 0, priority = 0): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(associatedId & 0x7fffffff, 4);
  p[8] = (priority & 7) << 5;
  return controlFrame(FrameType.SYN_STREAM, flags, Buffer.concat([p, block]));
}

/** A SYN_REPLY frame with an already compressed header block. */
export function synReplyFrame(streamId: number, block: Buffer, flags = 0): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  return controlFrame(FrameType.SYN_REPLY, flags, Buffer.concat([p, block]));
}

/** A RST_STREAM frame. */
export function rstStreamFrame(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FrameType.RST_STREAM, 0, p);
}

/** A PING frame. */
export function pingFrame(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return controlFrame(FrameType.PING, 0, p);
}

/** A GOAWAY frame. */
export function goAwayFrame(lastGoodStreamId: number, status: number = GoAwayStatus.OK): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastGoodStreamId & 0x7fffffff, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(FrameType.GOAWAY, 0, p);
}

/** A WINDOW_UPDATE frame (stream 0: the connection's window). */
export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & 0x7fffffff, 0);
  p.writeUInt32BE(delta & 0x7fffffff, 4);
  return controlFrame(FrameType.WINDOW_UPDATE, 0, p);
}

/** A SETTINGS frame. */
export function settingsFrame(entries: ReadonlyArray<{ id: number; value: number; flags?: number }>): Buffer {
  const p = Buffer.alloc(4 + entries.length * 8);
  p.writeUInt32BE(entries.length, 0);
  entries.forEach((e, i) => {
    p.writeUInt32BE((((e.flags ?? 0) << 24) | e.id) >>> 0, 4 + i * 8);
    p.writeUInt32BE(e.value >>> 0, 8 + i * 8);
  });
  return controlFrame(FrameType.SETTINGS, 0, p);
}

/** The uncompressed header block of `headers` (names lowercased, values joined by NUL). */
export function encodeHeaderBlock(headers: SpdyHeaders | Record<string, string | readonly string[]>): Buffer {
  const entries = headers instanceof Map ? [...headers] : Object.entries(headers).map(([k, v]) => [k, typeof v === 'string' ? [v] : v] as const);
  const parts: Buffer[] = [];
  const n = Buffer.alloc(4);
  n.writeUInt32BE(entries.length, 0);
  parts.push(n);
  for (const [name, values] of entries) {
    for (const s of [name.toLowerCase(), values.join('\0')]) {
      const b = Buffer.from(s, 'utf8');
      const l = Buffer.alloc(4);
      l.writeUInt32BE(b.length, 0);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed header block. Throws {@link SpdyProtocolError}. */
export function decodeHeaderBlock(b: Buffer): SpdyHeaders {
  const out: SpdyHeaders = new Map();
  let off = 0;
  const u32 = () => {
    if (off + 4 > b.length) throw new SpdyProtocolError('truncated header block');
    const v = b.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = () => {
    const n = u32();
    if (off + n > b.length) throw new SpdyProtocolError('truncated header block');
    const s = b.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    const values = str().split('\0');
    out.set(name, [...(out.get(name) ?? []), ...values]);
  }
  return out;
}

/** zlib header with FDICT and the SPDY dictionary's id (CMF 0x78, FLG 0xf9: (CMF*256+FLG) % 31 == 0). */
const ZLIB_DICT_HEADER = Buffer.from([0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2]);

/** An empty non-final stored block: what zlib's sync flush ends with. */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/**
 * The compressing side of one direction of a connection: each header block as non-final stored
 * deflate blocks, the first one after the zlib header naming the dictionary, then an empty
 * stored block as a sync flush ends (Go's inflater hands out a stored block's bytes only when
 * the next block header has been read).
 */
export class HeaderDeflater {
  private started = false;

  /** The "compressed" form of an uncompressed header block. */
  deflate(block: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      parts.push(ZLIB_DICT_HEADER);
      this.started = true;
    }
    let off = 0;
    do {
      const chunk = block.subarray(off, off + 0xffff);
      const h = Buffer.alloc(5);
      h[0] = 0x00; // BFINAL 0, BTYPE 00 (stored), padded to the byte
      h.writeUInt16LE(chunk.length, 1);
      h.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(h, chunk);
      off += chunk.length;
    } while (off < block.length);
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }

  /** Compresses `headers` ({@link encodeHeaderBlock}). */
  headers(headers: SpdyHeaders | Record<string, string | readonly string[]>): Buffer {
    return this.deflate(encodeHeaderBlock(headers));
  }
}

/**
 * The decompressing side of one direction of a connection: one zlib stream with the SPDY
 * dictionary; each call inflates the next header block (which the peer ended with a sync
 * flush). Calls must not overlap.
 */
export class HeaderInflater {
  private readonly z = zlib.createInflate({ dictionary: SPDY_DICTIONARY });
  private out: Buffer[] = [];
  private failed: Error | undefined;
  private pending: ((e: Error) => void) | undefined;

  constructor() {
    this.z.on('data', (d: Buffer) => this.out.push(d));
    this.z.on('error', (e: Error) => {
      this.failed = e;
      this.pending?.(new SpdyProtocolError(`header block: ${e.message}`));
    });
  }

  /** The uncompressed header block. Rejects with {@link SpdyProtocolError} on bad data. */
  inflate(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      if (this.failed) return reject(new SpdyProtocolError(`header block: ${this.failed.message}`));
      this.pending = reject;
      this.z.write(block);
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.pending = undefined;
        if (this.failed) return reject(new SpdyProtocolError(`header block: ${this.failed.message}`));
        const r = Buffer.concat(this.out);
        this.out = [];
        resolve(r);
      });
    });
  }

  /** Frees the zlib stream. */
  close(): void {
    this.z.close();
  }
}
