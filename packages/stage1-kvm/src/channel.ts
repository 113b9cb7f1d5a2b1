/**
 * The enter channel's framing (the guest side is in native/init.c): a type byte, a 4-byte
 * big-endian payload length, the payload.
 *
 * Host to guest: `R` request (src/spec.ts serializeEnterRequest), `I` stdin data, `C` stdin
 * closed, `K` a signal for the command (4-byte number). Guest to host: `O` stdout, `E`
 * stderr, `X` exit status (4 bytes), `F` failure message (the request was not run).
 */

/** Frame types. */
export const FRAME = {
  request: 'R',
  stdin: 'I',
  stdinClosed: 'C',
  signal: 'K',
  stdout: 'O',
  stderr: 'E',
  exit: 'X',
  failure: 'F',
} as const;

/** A decoded frame. */
export interface Frame {
  type: string;
  payload: Buffer;
}

/** Largest payload the guest accepts (its frame buffer is 128 KiB). */
export const MAX_FRAME_PAYLOAD = 64 * 1024;

/** One frame's bytes. */
export function encodeFrame(type: string, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (type.length !== 1) throw new RangeError(`frame type must be one character: ${JSON.stringify(type)}`);
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeUInt32BE(payload.length, 1);
  return Buffer.concat([head, payload]);
}

/** A 4-byte big-endian number (exit statuses and signals). */
export function encodeUint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
}

/** Splits a byte stream into frames, keeping incomplete ones for the next chunk. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  /** The frames completed by `chunk`. */
  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const len = this.buf.readUInt32BE(1);
      if (this.buf.length < 5 + len) break;
      out.push({ type: this.buf.toString('latin1', 0, 1), payload: this.buf.subarray(5, 5 + len) });
      this.buf = this.buf.subarray(5 + len);
    }
    return out;
  }

  /** Bytes of an incomplete frame still held. */
  get pending(): number {
    return this.buf.length;
  }
}
