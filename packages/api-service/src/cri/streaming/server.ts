/**
 * The CRI streaming server: the HTTP endpoint the URLs of Exec, Attach and PortForward point
 * to, as the kubelet's streaming server serves them.
 *
 *   POST|GET /exec/<token>          remote command (SPDY/3.1 or WebSocket upgrade)
 *   POST|GET /attach/<token>        remote command, attached to the container's stdio
 *   POST|GET /portforward/<token>   port forwarding (SPDY/3.1 or WebSocket upgrade)
 *
 * A token is taken by the first request that presents it, upgraded or not; an unknown, used or
 * expired token is 404. A request without an upgrade is 400. SPDY upgrades negotiate the
 * protocol with `X-Stream-Protocol-Version` (403 with `X-Accepted-Stream-Protocol-Versions`
 * when nothing fits); WebSocket upgrades with `Sec-WebSocket-Protocol` (400 when nothing fits).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemError, usageError } from '@rktnetes/errors';
import type { Logger } from '@rktnetes/log';
import type { AttachTarget, ExecTarget, PortForwardTarget, StreamBackends } from './backends';
import { parsePort, serveSpdyPortForward, serveWsPortForward, SPDY_PORTFORWARD_PROTOCOL, WS_PORTFORWARD_PROTOCOLS } from './portforward';
import { SPDY_COMMAND_PROTOCOLS, spdyCommandStreams, WS_COMMAND_PROTOCOLS, wsCommandStreams, type CommandStreams, type StreamRequest } from './remotecommand';
import { SpdyConnection } from './spdy';
import { TokenCache, type StreamKind } from './tokens';
import { chooseProtocol, handshakeResponse, isWebSocketRequest, offeredProtocols, WsChannels, WsConnection } from './websocket';

/** The default address: loopback, a port the kernel picks. */
export const DEFAULT_STREAMING_ADDRESS = '127.0.0.1:0';

/** What an exec token stands for. */
export interface ExecRequest extends ExecTarget, StreamRequest {}
/** What an attach token stands for. */
export interface AttachRequest extends AttachTarget, StreamRequest {}

type Pending = { kind: 'exec'; req: ExecRequest } | { kind: 'attach'; req: AttachRequest } | { kind: 'portforward'; req: PortForwardTarget };

/** Options of {@link StreamingServer.start}. */
export interface StreamingServerOptions {
  /** `HOST:PORT` (IPv6 hosts in brackets); port 0 picks one */
  address?: string;
  backends: StreamBackends;
  log?: Logger;
  /** how long a client may take to open the streams of a session (default 30 s) */
  streamCreationTimeoutMs?: number;
  /** the token store (tests) */
  tokens?: TokenCache<Pending>;
}

/** Splits `HOST:PORT`. Errors (usage): `cri.usage`. */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw usageError('cri.usage', `--streaming-address: expected HOST:PORT, got ${JSON.stringify(text)}`);
  return { host: (m[1] ?? m[2])!, port };
}

function plainResponse(socket: Socket, status: number, reason: string, body: string, headers: string[] = []): void {
  const b = Buffer.from(`${body}\n`);
  socket.end(
    [`HTTP/1.1 ${status} ${reason}`, 'Content-Type: text/plain; charset=utf-8', `Content-Length: ${b.length}`, 'Connection: close', ...headers, '', ''].join('\r\n') + b.toString(),
  );
}

/** The values of a request header, comma lists split. */
function headerList(req: IncomingMessage, name: string): string[] {
  const raw = req.headers[name.toLowerCase()];
  const list = Array.isArray(raw) ? raw : raw ? [raw] : [];
  return list.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean);
}

/** The running streaming server. */
export class StreamingServer {
  private readonly sockets = new Set<Socket>();
  private readonly sessions = new Set<Promise<unknown>>();

  private constructor(
    private readonly http: Server,
    /** `host:port` as URLs name it */
    readonly address: string,
    private readonly tokens: TokenCache<Pending>,
    private readonly o: StreamingServerOptions,
  ) {}

  /** Listens on `address` (default {@link DEFAULT_STREAMING_ADDRESS}). Errors (system): `cri.streaming-listen`. */
  static async start(o: StreamingServerOptions): Promise<StreamingServer> {
    const { host, port } = parseHostPort(o.address ?? DEFAULT_STREAMING_ADDRESS);
    const http = createServer();
    const address = await new Promise<string>((resolve, reject) => {
      http.once('error', (e) => reject(systemError('cri.streaming-listen', `cannot listen on ${host}:${port} for streaming: ${e.message}`, { cause: e })));
      http.listen(port, host, () => {
        const a = http.address() as AddressInfo;
        resolve(a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`);
      });
    });
    const s = new StreamingServer(http, address, o.tokens ?? new TokenCache<Pending>(), o);
    http.on('connection', (sock: Socket) => {
      s.sockets.add(sock);
      sock.once('close', () => s.sockets.delete(sock));
    });
    http.on('request', (req: IncomingMessage, res: ServerResponse) => s.onRequest(req, res));
    http.on('upgrade', (req: IncomingMessage, sock: Socket, head: Buffer) => s.onUpgrade(req, sock, head));
    return s;
  }

  /** The URL of a new exec session. Errors: `cri.streaming-busy`. */
  exec(req: ExecRequest): string {
    return this.url('exec', this.tokens.put('exec', { kind: 'exec', req }));
  }

  /** The URL of a new attach session. Errors: `cri.streaming-busy`. */
  attach(req: AttachRequest): string {
    return this.url('attach', this.tokens.put('attach', { kind: 'attach', req }));
  }

  /** The URL of a new port forward session. Errors: `cri.streaming-busy`. */
  portForward(req: PortForwardTarget): string {
    return this.url('portforward', this.tokens.put('portforward', { kind: 'portforward', req }));
  }

  /** Stops listening, ends every session and what it runs. */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.o.backends.close();
    for (const s of this.sockets) s.destroy();
    await closed;
    await Promise.allSettled([...this.sessions]);
  }

  private url(kind: StreamKind, token: string): string {
    return `http://${this.address}/${kind}/${token}`;
  }

  /** The pending request named by the path, taken from the cache. */
  private take(url: string | undefined): Pending | 'bad-path' | undefined {
    const m = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)(?:\?.*)?$/.exec(url ?? '');
    if (!m) return 'bad-path';
    return this.tokens.take(m[1] as StreamKind, m[2]!);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const p = this.take(req.url);
    if (p === 'bad-path' || p === undefined) {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
      return;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end('unable to upgrade: missing upgrade headers in request\n');
  }

  private onUpgrade(req: IncomingMessage, sock: Socket, head: Buffer): void {
    sock.on('error', () => undefined);
    const p = this.take(req.url);
    if (p === 'bad-path' || p === undefined) return plainResponse(sock, 404, 'Not Found', '404 page not found');
    if (req.method !== 'POST' && req.method !== 'GET') return plainResponse(sock, 405, 'Method Not Allowed', `method ${req.method} not allowed`);
    if (isWebSocketRequest(req)) return this.upgradeWebSocket(req, sock, head, p);
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (!upgrade.includes('spdy/3.1')) return plainResponse(sock, 400, 'Bad Request', `unable to upgrade: unsupported upgrade ${JSON.stringify(req.headers.upgrade ?? '')}`);
    const supported: readonly string[] = p.kind === 'portforward' ? [SPDY_PORTFORWARD_PROTOCOL] : SPDY_COMMAND_PROTOCOLS;
    const offered = headerList(req, 'x-stream-protocol-version');
    // clients from before the negotiation speak the first version of each protocol
    const protocol = offered.length ? offered.find((v) => supported.includes(v)) : supported.at(-1)!;
    if (!protocol) {
      return plainResponse(
        sock,
        403,
        'Forbidden',
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`,
        supported.map((v) => `X-Accepted-Stream-Protocol-Versions: ${v}`),
      );
    }
    const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', 'Upgrade: SPDY/3.1'];
    if (offered.length) lines.push(`X-Stream-Protocol-Version: ${protocol}`);
    sock.write(`${lines.join('\r\n')}\r\n\r\n`);
    const timeout = this.o.streamCreationTimeoutMs ?? 30_000;
    const conn = new SpdyConnection(sock, () => true, head);
    conn.on('protocol-error', (e: Error) => this.o.log?.debug(`streaming: SPDY protocol error: ${e.message}`));
    if (p.kind === 'portforward') {
      serveSpdyPortForward(conn, (port) => this.o.backends.connect(p.req, port), timeout, this.o.log);
      return;
    }
    const command = p.kind === 'exec' ? p.req.cmd.join(' ') : '';
    this.track(
      spdyCommandStreams(conn, protocol, p.req, timeout, command).then(
        (io) => this.run(p, io),
        (e: Error) => {
          this.o.log?.debug(`streaming: ${p.kind} ${p.req.containerId}: ${e.message}`);
          conn.destroy();
        },
      ),
    );
  }

  private upgradeWebSocket(req: IncomingMessage, sock: Socket, head: Buffer, p: Pending): void {
    const supported: readonly string[] = p.kind === 'portforward' ? WS_PORTFORWARD_PROTOCOLS : WS_COMMAND_PROTOCOLS;
    const offered = offeredProtocols(req);
    const protocol = chooseProtocol(offered, supported);
    if (protocol === undefined) return plainResponse(sock, 400, 'Bad Request', `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supported.join(' ')}]`);
    let ports: number[] = [];
    if (p.kind === 'portforward') {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const values = q.getAll('port').flatMap((v) => v.split(','));
      ports = values.map((v) => parsePort(v)).filter((n): n is number => n !== undefined);
      if (!values.length || ports.length !== values.length) return plainResponse(sock, 400, 'Bad Request', 'port forwarding over a WebSocket needs valid "port" query parameters');
    }
    const response = handshakeResponse(req, protocol);
    if (!response) return plainResponse(sock, 400, 'Bad Request', 'invalid WebSocket handshake (Sec-WebSocket-Key)');
    sock.write(response);
    const ws = new WsConnection(sock, head);
    const ch = new WsChannels(ws, protocol.includes('base64'));
    if (p.kind === 'portforward') {
      serveWsPortForward(ch, ports, (port) => this.o.backends.connect(p.req, port), this.o.log);
      return;
    }
    const command = p.kind === 'exec' ? p.req.cmd.join(' ') : '';
    this.track(this.run(p, wsCommandStreams(ch, protocol, p.req, command)));
  }

  private async run(p: Pending, io: CommandStreams): Promise<void> {
    if (p.kind === 'portforward') return;
    let result;
    try {
      result = p.kind === 'exec' ? await this.o.backends.exec(p.req, io) : await this.o.backends.attach(p.req, io);
    } catch (e) {
      result = { error: (e as Error).message };
    }
    this.o.log?.debug(`streaming: ${p.kind} in container ${p.req.containerId} ended: ${JSON.stringify(result)}`);
    await io.finish(result);
  }

  private track(session: Promise<unknown>): void {
    this.sessions.add(session);
    void session.finally(() => this.sessions.delete(session));
  }
}
