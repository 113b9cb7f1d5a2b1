/**
 * The server side of RFC 6455 WebSockets, as much as the Kubernetes stream protocols need: the
 * opening handshake, client frames (masked, possibly fragmented; ping answered, close echoed),
 * unmasked server frames, and the channel sub-protocols (`channel.k8s.io`: a channel byte before
 * each binary message; `base64.channel.k8s.io`: a channel digit before base64 text).
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Opcodes. */
export const WsOpcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** Close codes used here. */
export const WsClose = { NORMAL: 1000, GOING_AWAY: 1001, PROTOCOL_ERROR: 1002, TOO_BIG: 1009, INTERNAL: 1011 } as const;

/** The largest message accepted from a client. */
export const WS_MAX_MESSAGE = 16 << 20;

/** Whether a request asks for a WebSocket upgrade. */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && /\bupgrade\b/i.test(req.headers.connection ?? '');
}

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}${GUID}`).digest('base64');
}

/** The sub-protocols a client offers (Sec-WebSocket-Protocol, comma separated, maybe repeated). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return list.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/**
 * The sub-protocol to speak: the first one the client offers that the server supports; `''`
 * when the client offers none and `''` is supported; undefined when nothing fits.
 */
export function chooseProtocol(offered: readonly string[], supported: readonly string[]): string | undefined {
  if (!offered.length) return supported.includes('') ? '' : undefined;
  return offered.find((p) => p && supported.includes(p));
}

/** The 101 response completing the handshake (undefined when the request is not a valid one). */
export function handshakeResponse(req: IncomingMessage, protocol: string): string | undefined {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || Buffer.from(key, 'base64').length !== 16) return undefined;
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Upgrade: websocket', 'Connection: Upgrade', `Sec-WebSocket-Accept: ${acceptKey(key)}`];
  if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** One frame as a server sends it (never masked). */
export function encodeWsFrame(opcode: number, payload: Uint8Array, fin = true): Buffer {
  const n = payload.length;
  const headLen = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const f = Buffer.alloc(headLen + n);
  f[0] = (fin ? 0x80 : 0) | opcode;
  if (n < 126) f[1] = n;
  else if (n < 65536) {
    f[1] = 126;
    f.writeUInt16BE(n, 2);
  } else {
    f[1] = 127;
    f.writeBigUInt64BE(BigInt(n), 2);
  }
  f.set(payload, headLen);
  return f;
}

/** A decoded frame (payload unmasked). */
export interface WsFrame {
  fin: boolean;
  opcode: number;
  masked: boolean;
  payload: Buffer;
}

/** A frame that breaks the protocol: the connection is closed with `code`. */
export class WsProtocolError extends Error {
  constructor(
    message: string,
    readonly code: number = WsClose.PROTOCOL_ERROR,
  ) {
    super(message);
  }
}

/** Splits a byte stream into frames. */
export class WsFrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxPayload = WS_MAX_MESSAGE) {}

  /** Adds bytes; returns the frames they complete. Throws {@link WsProtocolError}. */
  push(chunk: Buffer): WsFrame[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: WsFrame[] = [];
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(this.maxPayload)) throw new WsProtocolError(`frame of ${big} bytes is too big`, WsClose.TOO_BIG);
        len = Number(big);
        off = 10;
      }
      if (len > this.maxPayload) throw new WsProtocolError(`frame of ${len} bytes is too big`, WsClose.TOO_BIG);
      if ((b[0]! & 0x70) !== 0) throw new WsProtocolError('reserved bits set (no extension was negotiated)');
      const need = off + (masked ? 4 : 0) + len;
      if (b.length < need) break;
      const payload = Buffer.from(b.subarray(need - len, need));
      if (masked) {
        const mask = b.subarray(off, off + 4);
        for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      }
      out.push({ fin: (b[0]! & 0x80) !== 0, opcode: b[0]! & 0x0f, masked, payload });
      this.buf = b.subarray(need);
    }
    return out;
  }
}

/**
 * A server-side WebSocket over an upgraded socket. Events: `message` (data, binary), `close`
 * (once, when the socket is gone).
 */
export class WsConnection extends EventEmitter {
  private readonly decoder = new WsFrameDecoder();
  private fragments: Buffer[] = [];
  private fragmentOpcode = 0;
  private fragmentBytes = 0;
  private closeSent = false;
  private closed = false;
  private drainWaiters: Array<(e?: Error | null) => void> = [];

  constructor(
    private readonly socket: Socket,
    head: Buffer = Buffer.alloc(0),
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('drain', () => {
      const w = this.drainWaiters;
      this.drainWaiters = [];
      for (const cb of w) cb();
    });
    socket.on('end', () => this.shutdown());
    socket.on('close', () => this.shutdown());
    socket.on('error', () => this.shutdown());
    if (head.length) this.onData(head);
  }

  /** Sends one message; `cb` once the socket took it. */
  send(data: Uint8Array | string, cb?: (e?: Error | null) => void): void {
    const binary = typeof data !== 'string';
    const frame = encodeWsFrame(binary ? WsOpcode.BINARY : WsOpcode.TEXT, binary ? data : Buffer.from(data, 'utf8'));
    if (this.closed || this.closeSent) return cb?.(new Error('the WebSocket is closed'));
    if (this.socket.write(frame) || !cb) cb?.();
    else this.drainWaiters.push(cb);
  }

  /** Sends a close frame and ends the socket (after the client's close, or at once if it is gone). */
  close(code: number = WsClose.NORMAL, reason = ''): void {
    if (this.closed) return;
    if (!this.closeSent) {
      this.closeSent = true;
      const r = Buffer.from(reason.slice(0, 120), 'utf8');
      const p = Buffer.alloc(2 + r.length);
      p.writeUInt16BE(code, 0);
      r.copy(p, 2);
      this.socket.write(encodeWsFrame(WsOpcode.CLOSE, p));
      this.socket.end();
      // a client that never answers does not keep the socket
      setTimeout(() => this.socket.destroy(), 5000).unref();
    }
  }

  /** Drops the connection. */
  destroy(): void {
    this.socket.destroy();
    this.shutdown();
  }

  private shutdown(): void {
    if (this.closed) return;
    this.closed = true;
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of w) cb(new Error('the WebSocket is closed'));
    if (!this.socket.destroyed && !this.socket.writableEnded) this.socket.destroy();
    this.emit('close');
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    let frames: WsFrame[];
    try {
      frames = this.decoder.push(d);
      for (const f of frames) this.onFrame(f);
    } catch (e) {
      this.close(e instanceof WsProtocolError ? e.code : WsClose.PROTOCOL_ERROR, (e as Error).message);
      this.shutdown();
    }
  }

  private onFrame(f: WsFrame): void {
    if (!f.masked) throw new WsProtocolError('client frames must be masked');
    if (f.opcode >= 8) {
      if (!f.fin || f.payload.length > 125) throw new WsProtocolError('invalid control frame');
      if (f.opcode === WsOpcode.PING) {
        if (!this.closeSent) this.socket.write(encodeWsFrame(WsOpcode.PONG, f.payload));
      } else if (f.opcode === WsOpcode.CLOSE) {
        if (!this.closeSent) this.close(f.payload.length >= 2 ? f.payload.readUInt16BE(0) : WsClose.NORMAL);
        this.emit('client-close');
      }
      return;
    }
    if (f.opcode === WsOpcode.CONTINUATION) {
      if (!this.fragmentOpcode) throw new WsProtocolError('continuation without a message');
    } else {
      if (f.opcode !== WsOpcode.TEXT && f.opcode !== WsOpcode.BINARY) throw new WsProtocolError(`unknown opcode ${f.opcode}`);
      if (this.fragmentOpcode) throw new WsProtocolError('new message inside a fragmented one');
      this.fragmentOpcode = f.opcode;
    }
    this.fragmentBytes += f.payload.length;
    if (this.fragmentBytes > WS_MAX_MESSAGE) throw new WsProtocolError('message too big', WsClose.TOO_BIG);
    this.fragments.push(f.payload);
    if (!f.fin) return;
    const data = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    const binary = this.fragmentOpcode === WsOpcode.BINARY;
    this.fragments = [];
    this.fragmentOpcode = 0;
    this.fragmentBytes = 0;
    this.emit('message', data, binary);
  }
}

/**
 * The Kubernetes channel framing over a {@link WsConnection}: `channel.k8s.io` style (binary,
 * channel byte first) or `base64.channel.k8s.io` style (text, channel digit then base64).
 * Events: `data` (channel, bytes), `close`.
 */
export class WsChannels extends EventEmitter {
  constructor(
    readonly ws: WsConnection,
    readonly base64: boolean,
  ) {
    super();
    ws.on('message', (data: Buffer) => {
      if (!data.length) return;
      const ch = this.base64 ? data[0]! - 0x30 : data[0]!;
      const body = this.base64 ? Buffer.from(data.subarray(1).toString('latin1'), 'base64') : data.subarray(1);
      this.emit('data', ch, body);
    });
    ws.on('close', () => this.emit('close'));
  }

  /** Sends bytes on a channel. */
  write(channel: number, data: Uint8Array, cb?: (e?: Error | null) => void): void {
    if (this.base64) this.ws.send(String.fromCharCode(0x30 + channel) + Buffer.from(data).toString('base64'), cb);
    else {
      const m = Buffer.alloc(1 + data.length);
      m[0] = channel;
      m.set(data, 1);
      this.ws.send(m, cb);
    }
  }
}
