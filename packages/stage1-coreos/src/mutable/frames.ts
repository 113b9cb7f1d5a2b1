/**
 * The frames of an attach connection, after the `ok <endpoints>` reply: a type byte, a 32-bit
 * big-endian payload length (at most {@link FRAME_MAX}), the payload.
 *
 * | Type | Direction | Payload |
 * | --- | --- | --- |
 * | `i` | client → pod | bytes for the app's stdin (or its terminal) |
 * | `c` | client → pod | none: the client's stdin ended (closes the app's stdin when it is `stdin-once`) |
 * | `r` | client → pod | terminal size: rows, columns, 16-bit big-endian each |
 * | `o` | pod → client | the app's stdout (or its terminal's output) |
 * | `e` | pod → client | the app's stderr |
 * | `x` | pod → client | the app exited: its status, 32-bit big-endian; the connection closes |
 */

/** The largest payload of a frame. */
export const FRAME_MAX = 65536;

/** A frame type. */
export type FrameType = 'i' | 'c' | 'r' | 'o' | 'e' | 'x';

/** One decoded frame. */
export interface Frame {
  type: FrameType;
  payload: Buffer;
}

/** Encodes a frame; payloads longer than {@link FRAME_MAX} are split into several frames. */
export function encodeFrame(type: FrameType, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  const parts: Buffer[] = [];
  let off = 0;
  do {
    const chunk = payload.subarray(off, off + FRAME_MAX);
    const h = Buffer.alloc(5);
    h.write(type, 0, 'latin1');
    h.writeUInt32BE(chunk.length, 1);
    parts.push(h, Buffer.from(chunk));
    off += chunk.length;
  } while (off < payload.length);
  return Buffer.concat(parts);
}

/** A resize frame for a terminal of `rows` × `cols`. */
export function resizeFrame(rows: number, cols: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt16BE(Math.max(0, Math.min(65535, rows)), 0);
  p.writeUInt16BE(Math.max(0, Math.min(65535, cols)), 2);
  return encodeFrame('r', p);
}

/** Splits a byte stream into frames; feed it chunks as they come. */
export class FrameDecoder {
  private buf = Buffer.alloc(0);

  /** Adds bytes; returns the frames completed by them. Throws on a frame longer than {@link FRAME_MAX}. */
  push(chunk: Uint8Array): Frame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    const out: Frame[] = [];
    while (this.buf.length >= 5) {
      const n = this.buf.readUInt32BE(1);
      if (n > FRAME_MAX) throw new Error(`attach frame of ${n} bytes is too long`);
      if (this.buf.length < 5 + n) break;
      out.push({ type: String.fromCharCode(this.buf[0]!) as FrameType, payload: this.buf.subarray(5, 5 + n) });
      this.buf = this.buf.subarray(5 + n);
    }
    return out;
  }
}
