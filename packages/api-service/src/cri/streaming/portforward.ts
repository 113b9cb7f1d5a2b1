/**
 * The Kubernetes port forward protocol on the server side.
 *
 * SPDY (`portforward.k8s.io`): for each connection it forwards, the client opens two streams
 * with the same `port` and `requestID` headers: `streamType: error` (which it half-closes at
 * once) and `streamType: data`. The server connects to the port, copies both ways (each side's
 * end is passed on as a half-close), then ends the error stream — with a message first when
 * the connection failed. Clients older than `requestID` open the error stream, then the data
 * stream: their ids pair them. One SPDY connection carries any number of forwarded connections
 * until the client closes it.
 *
 * WebSocket (no sub-protocol, `v4.channel.k8s.io`, `v4.base64.channel.k8s.io`): the ports are
 * the request's `port` query parameters; port i gets channel 2i (data) and 2i+1 (error), and
 * each channel's first message is the port, 16-bit little-endian. One connection per port is
 * made at once; the WebSocket closes when all of them are done.
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '@rktnetes/log';
import type { SpdyConnection, SpdyStream } from './spdy';
import type { WsChannels } from './websocket';

/** The SPDY port forward protocol. */
export const SPDY_PORTFORWARD_PROTOCOL = 'portforward.k8s.io';
/** WebSocket port forward sub-protocols ('' is none). */
export const WS_PORTFORWARD_PROTOCOLS = ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', ''] as const;

/** Connects to a port of the sandbox. */
export type PortConnector = (port: number) => Promise<Duplex>;

/** A port from a header or query value; undefined unless 1..65535. */
export function parsePort(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,5}$/.test(v.trim())) return undefined;
  const n = Number(v.trim());
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** The message written on the error stream when the connection to the pod failed. */
export function connectError(port: number, e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return `failed to connect to localhost:${port} inside the pod: ${m}`;
}

interface Pair {
  port: string | undefined;
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/**
 * Serves port forwarding on a SPDY connection until it closes. Streams that do not make a pair
 * within `timeoutMs` are reset.
 */
export function serveSpdyPortForward(conn: SpdyConnection, connect: PortConnector, timeoutMs: number, log?: Logger): void {
  const pairs = new Map<string, Pair>();
  const open = new Set<Duplex>();
  conn.on('stream', (s: SpdyStream) => {
    s.on('error', () => undefined);
    const type = (s.header('streamtype') ?? '').toLowerCase();
    if (type !== 'error' && type !== 'data') {
      s.reset();
      return;
    }
    // old clients: error stream N, data stream N+2
    const id = s.header('requestid') ?? String(type === 'error' ? s.id : s.id - 2);
    let p = pairs.get(id);
    if (!p) {
      p = {
        port: s.header('port'),
        timer: setTimeout(() => {
          pairs.delete(id);
          p!.error?.reset();
          p!.data?.reset();
        }, timeoutMs),
      };
      pairs.set(id, p);
    }
    if (p[type]) {
      s.reset();
      return;
    }
    p[type] = s;
    if (type === 'error') s.resume(); // the client writes nothing on it; see its FIN
    if (p.error && p.data) {
      clearTimeout(p.timer);
      pairs.delete(id);
      void forwardPair(p.error, p.data, p.port, connect, open, log);
    }
  });
  conn.on('close', () => {
    for (const p of pairs.values()) clearTimeout(p.timer);
    pairs.clear();
    for (const c of open) c.destroy();
  });
}

async function forwardPair(error: SpdyStream, data: SpdyStream, portText: string | undefined, connect: PortConnector, open: Set<Duplex>, log?: Logger): Promise<void> {
  const port = parsePort(portText);
  const fail = (message: string) => {
    if (!error.destroyed) error.end(message);
    if (!data.destroyed) data.end();
    // what the client still sends is dropped, not left to hold up the connection's other streams
    data.resume();
  };
  if (port === undefined) return fail(`invalid port ${JSON.stringify(portText ?? '')}`);
  let sock: Duplex;
  try {
    sock = await connect(port);
  } catch (e) {
    log?.debug(connectError(port, e));
    return fail(connectError(port, e));
  }
  if (data.destroyed) {
    sock.destroy();
    return;
  }
  open.add(sock);
  let failed: string | undefined;
  sock.on('error', (e: Error) => {
    failed = connectError(port, e);
  });
  // the pod's side ended or failed: end the data stream, then the error stream
  sock.once('close', () => {
    open.delete(sock);
    data.unpipe(sock);
    data.resume();
    if (!data.destroyed) data.end();
    const closeError = () => {
      if (!error.destroyed) error.end(failed ?? undefined);
    };
    if (data.writableFinished || data.destroyed) closeError();
    else {
      data.once('finish', closeError);
      data.once('close', closeError);
    }
  });
  data.on('close', () => {
    if (data.resetByPeer) sock.destroy();
  });
  sock.pipe(data, { end: false });
  data.pipe(sock);
}

/**
 * Serves port forwarding over a WebSocket with channels: one connection per port of `ports`,
 * the WebSocket closed when they are all done.
 */
export function serveWsPortForward(ch: WsChannels, ports: readonly number[], connect: PortConnector, log?: Logger): void {
  const socks: Array<Duplex | undefined> = [];
  const pending: Buffer[][] = ports.map(() => []);
  let remaining = ports.length;
  const done = () => {
    if (--remaining === 0) ch.ws.close();
  };
  ports.forEach((port, i) => {
    const le = Buffer.alloc(2);
    le.writeUInt16LE(port, 0);
    ch.write(2 * i, le);
    ch.write(2 * i + 1, le);
  });
  ch.on('data', (channel: number, body: Buffer) => {
    if (channel % 2 !== 0) return;
    const i = channel / 2;
    if (i >= ports.length) return;
    const s = socks[i];
    if (s) s.write(body);
    else pending[i]?.push(body);
  });
  ch.on('close', () => {
    for (const s of socks) s?.destroy();
  });
  ports.forEach(async (port, i) => {
    let sock: Duplex;
    try {
      sock = await connect(port);
    } catch (e) {
      log?.debug(connectError(port, e));
      ch.write(2 * i + 1, Buffer.from(connectError(port, e)));
      done();
      return;
    }
    socks[i] = sock;
    for (const b of pending[i] ?? []) sock.write(b);
    pending[i] = [];
    sock.on('data', (d: Buffer) => {
      sock.pause();
      ch.write(2 * i, d, () => sock.resume());
    });
    sock.on('error', (e: Error) => ch.write(2 * i + 1, Buffer.from(connectError(port, e))));
    sock.once('close', done);
  });
}
