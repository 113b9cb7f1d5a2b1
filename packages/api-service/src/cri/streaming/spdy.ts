/**
 * The server side of a SPDY/3.1 connection, as Kubernetes clients use it (k8s.io/apimachinery
 * httpstream/spdy over github.com/moby/spdystream): the client opens every stream with
 * SYN_STREAM (odd ids, increasing), the server answers SYN_REPLY (or RST_STREAM to refuse),
 * both sides send DATA and end their half with FLAG_FIN, RST_STREAM cancels, PINGs from the
 * client are echoed, GOAWAY ends the connection.
 *
 * Flow control: moby/spdystream neither sends nor honours WINDOW_UPDATE, so this side does not
 * hold data back for the peer's window (TCP backpressure applies); it grants the peer window
 * as data arrives (per stream and for the connection), so that clients that keep to SPDY/3.1
 * windows never stall. SETTINGS and HEADERS frames are ignored.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import {
  DATA_CHUNK,
  FLAG_FIN,
  FLAG_UNIDIRECTIONAL,
  FrameDecoder,
  GoAwayStatus,
  HeaderDeflater,
  HeaderInflater,
  RstStatus,
  SpdyProtocolError,
  dataFrame,
  decodeHeaderBlock,
  goAwayFrame,
  pingFrame,
  rstStreamFrame,
  synReplyFrame,
  windowUpdateFrame,
  type SpdyFrame,
  type SpdyHeaders,
} from './spdy-frames';

/**
 * The headers of every SYN_REPLY. Kubernetes clients read none; SPDY's HTTP layering wants a
 * status and a version, and clients that follow it refuse a reply without them.
 */
const REPLY_HEADERS = { ':status': '200', ':version': 'HTTP/1.1' };

/** Window granted back to the peer once this many bytes arrived (half of SPDY's default 64 KiB). */
const WINDOW_GRANT = 32 * 1024;
/** How long a client may keep the connection after GOAWAY. */
const CLOSE_GRACE_MS = 10_000;

/** One stream: readable (what the client sends), writable (what goes to the client). */
export class SpdyStream extends Duplex {
  /** the peer reset the stream (its data is discarded) */
  resetByPeer = false;
  private received = 0;
  private localDone = false;
  private remoteDone = false;

  constructor(
    private readonly conn: SpdyConnection,
    readonly id: number,
    readonly headers: SpdyHeaders,
    /** the client may not send (FLAG_FIN on SYN_STREAM) */
    remoteClosed: boolean,
    /** this side may not send (FLAG_UNIDIRECTIONAL) */
    readonly unidirectional: boolean,
  ) {
    super({ allowHalfOpen: true });
    if (remoteClosed) this.remoteEnd();
    if (unidirectional) this.localDone = true;
  }

  /** The first value of a header (names are lowercase). */
  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.localDone) return cb();
    const frames: Buffer[] = [];
    for (let off = 0; off < chunk.length; off += DATA_CHUNK) frames.push(dataFrame(this.id, chunk.subarray(off, off + DATA_CHUNK)));
    this.conn.send(frames.length === 1 ? frames[0]! : Buffer.concat(frames), cb);
  }

  override _final(cb: (e?: Error | null) => void): void {
    if (this.localDone) return cb();
    this.localDone = true;
    this.conn.send(dataFrame(this.id, Buffer.alloc(0), true), cb);
    this.maybeDone();
  }

  override _read(): void {
    this.conn.wantMore(this);
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.resetByPeer && !(this.localDone && this.remoteDone)) this.conn.sendRaw(rstStreamFrame(this.id, RstStatus.CANCEL));
    this.localDone = this.remoteDone = true;
    this.conn.forget(this);
    cb(err);
  }

  /** Cancels the stream (RST_STREAM). */
  reset(status: number = RstStatus.CANCEL): void {
    if (!this.destroyed && !(this.localDone && this.remoteDone)) this.conn.sendRaw(rstStreamFrame(this.id, status));
    this.localDone = this.remoteDone = true;
    this.destroy();
  }

  /** @internal DATA from the peer; false when the reader is behind. */
  deliver(data: Buffer, fin: boolean): boolean {
    if (this.remoteDone) return true;
    let more = true;
    if (data.length) {
      this.received += data.length;
      if (this.received >= WINDOW_GRANT) {
        this.conn.sendRaw(windowUpdateFrame(this.id, this.received));
        this.received = 0;
      }
      this.conn.consumed(data.length);
      more = this.push(data);
    }
    if (fin) this.remoteEnd();
    return more;
  }

  /** @internal the peer reset the stream */
  peerReset(): void {
    this.resetByPeer = true;
    this.remoteDone = this.localDone = true;
    this.emit('reset');
    this.destroy();
  }

  private remoteEnd(): void {
    if (this.remoteDone) return;
    this.remoteDone = true;
    this.push(null);
    this.maybeDone();
  }

  private maybeDone(): void {
    if (this.localDone && this.remoteDone) this.conn.forget(this);
  }
}

/** Decides about a new stream: true accepts it (SYN_REPLY), false refuses it (RST_STREAM). */
export type StreamAcceptor = (stream: SpdyStream) => boolean;

/**
 * A server-side SPDY/3.1 connection over an upgraded socket. Events: `stream` (an accepted
 * {@link SpdyStream}), `goaway` (the client will open no more streams), `close` (the connection
 * is gone; every stream was destroyed), `error` is never emitted: protocol errors end the
 * connection with GOAWAY.
 */
export class SpdyConnection extends EventEmitter {
  private readonly decoder = new FrameDecoder();
  private readonly deflater = new HeaderDeflater();
  private readonly inflater = new HeaderInflater();
  private readonly streams = new Map<number, SpdyStream>();
  private queue: Promise<void> = Promise.resolve();
  private lastStreamId = 0;
  private goneAway = false;
  private closed = false;
  private pausedFor = new Set<SpdyStream>();
  private closeTimer: NodeJS.Timeout | undefined;
  private received = 0;
  private drainWaiters: Array<(e?: Error | null) => void> = [];

  constructor(
    private readonly socket: Socket,
    private readonly accept: StreamAcceptor,
    head: Buffer = Buffer.alloc(0),
  ) {
    super();
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('drain', () => this.flushWaiters());
    socket.on('end', () => this.shutdown(true));
    socket.on('close', () => this.shutdown());
    socket.on('error', () => this.shutdown());
    if (head.length) this.onData(head);
  }

  /** Streams open now. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** @internal queues bytes; `cb` once the socket took them (or failed). */
  send(buf: Buffer, cb: (e?: Error | null) => void): void {
    if (this.closed || this.socket.destroyed) return cb(new Error('the SPDY connection is closed'));
    if (this.socket.write(buf)) cb();
    else this.drainWaiters.push(cb);
  }

  /** @internal queues bytes regardless of backpressure (control frames). */
  sendRaw(buf: Buffer): void {
    if (!this.closed && !this.socket.destroyed) this.socket.write(buf);
  }

  /** @internal DATA arrived: the connection's window is granted back in WINDOW_GRANT steps */
  consumed(n: number): void {
    this.received += n;
    if (this.received >= WINDOW_GRANT) {
      this.sendRaw(windowUpdateFrame(0, this.received));
      this.received = 0;
    }
  }

  /** @internal a stream's reader wants data again */
  wantMore(s: SpdyStream): void {
    if (this.pausedFor.delete(s) && this.pausedFor.size === 0 && !this.closed) this.socket.resume();
  }

  /** @internal a stream is finished in both directions or destroyed */
  forget(s: SpdyStream): void {
    if (this.streams.get(s.id) === s) this.streams.delete(s.id);
    this.wantMore(s);
  }

  /**
   * Ends the connection politely: GOAWAY, then the client closes it once it has read what it
   * wants (as spdystream's shutdown waits for the streams); a client that does not is dropped
   * after {@link CLOSE_GRACE_MS}.
   */
  close(): void {
    if (this.closed || this.closeTimer) return;
    this.goneAway = true;
    this.sendRaw(goAwayFrame(this.lastStreamId, GoAwayStatus.OK));
    this.closeTimer = setTimeout(() => this.destroy(), CLOSE_GRACE_MS);
    this.closeTimer.unref();
  }

  /** Ends the connection at once. */
  destroy(): void {
    this.socket.destroy();
    this.shutdown();
  }

  private flushWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of w) cb();
  }

  /** The connection is over: `peerEnded` when the client ended it (what was written still goes out). */
  private shutdown(peerEnded = false): void {
    if (this.closed) return;
    this.closed = true;
    if (this.closeTimer) clearTimeout(this.closeTimer);
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const cb of w) cb(new Error('the SPDY connection is closed'));
    for (const s of [...this.streams.values()]) s.destroy();
    this.streams.clear();
    this.inflater.close();
    if (!this.socket.destroyed) {
      if (peerEnded) this.socket.end();
      else this.socket.destroy();
    }
    this.emit('close');
  }

  private onData(d: Buffer): void {
    if (this.closed) return;
    let frames: SpdyFrame[];
    try {
      frames = this.decoder.push(d);
    } catch (e) {
      this.protocolError(e as Error);
      return;
    }
    for (const f of frames) this.queue = this.queue.then(() => this.onFrame(f)).catch((e: unknown) => this.protocolError(e as Error));
  }

  private protocolError(e: Error): void {
    if (this.closed) return;
    this.emit('protocol-error', e);
    if (!this.socket.destroyed) {
      this.socket.write(goAwayFrame(this.lastStreamId, GoAwayStatus.PROTOCOL_ERROR));
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 5000).unref();
    }
    this.shutdown(true);
  }

  private async onFrame(f: SpdyFrame): Promise<void> {
    if (this.closed) return;
    switch (f.kind) {
      case 'syn_stream': {
        const headers = decodeHeaderBlock(await this.inflater.inflate(f.block));
        if (this.closed) return;
        if (f.streamId % 2 !== 1 || f.streamId <= this.lastStreamId) {
          this.sendRaw(rstStreamFrame(f.streamId, RstStatus.PROTOCOL_ERROR));
          return;
        }
        this.lastStreamId = f.streamId;
        if (this.goneAway) {
          this.sendRaw(rstStreamFrame(f.streamId, RstStatus.REFUSED_STREAM));
          return;
        }
        const s = new SpdyStream(this, f.streamId, headers, (f.flags & FLAG_FIN) !== 0, (f.flags & FLAG_UNIDIRECTIONAL) !== 0);
        this.streams.set(f.streamId, s);
        if (!this.accept(s)) {
          s.reset(RstStatus.REFUSED_STREAM);
          return;
        }
        this.sendRaw(synReplyFrame(f.streamId, this.deflater.headers(REPLY_HEADERS)));
        this.emit('stream', s);
        return;
      }
      case 'syn_reply':
      case 'headers':
        // the client never answers streams this side opened (it opens none); keep the
        // decompressor in step all the same
        await this.inflater.inflate(f.block);
        return;
      case 'data': {
        const s = this.streams.get(f.streamId);
        if (!s) return;
        if (!s.deliver(f.data, (f.flags & FLAG_FIN) !== 0) && !s.destroyed) {
          this.pausedFor.add(s);
          this.socket.pause();
        }
        return;
      }
      case 'rst_stream':
        this.streams.get(f.streamId)?.peerReset();
        return;
      case 'ping':
        // client pings have odd ids; ours (none are sent) would be even
        if (f.id % 2 === 1) this.sendRaw(pingFrame(f.id));
        return;
      case 'goaway':
        this.goneAway = true;
        this.emit('goaway');
        return;
      case 'settings':
      case 'window_update':
      case 'unknown':
        return;
    }
  }
}

export { SpdyProtocolError };
