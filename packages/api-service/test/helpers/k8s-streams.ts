/**
 * Test clients of the Kubernetes stream protocols, made of real client libraries and nothing of
 * the server's code: SPDY/3.1 through spdy-transport (its own framer and zlib), WebSockets
 * through ws. They do what client-go's remotecommand and portforward clients do: open the
 * streams by `streamType`, copy stdin/stdout/stderr, send resizes, read the error channel.
 */
import http from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';

const require = createRequire(import.meta.url);
// spdy-transport has no types
const transport = require('spdy-transport') as {
  connection: { create(socket: Socket, o: { protocol: string; isServer: boolean }): SpdyClient };
};

interface SpdyClient {
  start(version: number): void;
  request(o: { method: string; path: string; host: string; headers: Record<string, string> }, cb: (err?: Error) => void): Duplex;
  end(): void;
  on(ev: string, fn: (...a: any[]) => void): void;
}

/** What an HTTP request that is not upgraded got. */
export interface Refusal {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** An upgraded SPDY connection. */
export interface SpdySession {
  protocol: string | undefined;
  socket: Socket;
  open(headers: Record<string, string>): Promise<Duplex>;
  close(): void;
}

/** Upgrades `url` to SPDY/3.1 offering `protocols`; a refusal resolves as {@link Refusal}. */
export function spdyConnect(url: string, protocols: readonly string[]): Promise<SpdySession | Refusal> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { Connection: 'Upgrade', Upgrade: 'SPDY/3.1' };
    if (protocols.length) headers['X-Stream-Protocol-Version'] = protocols.join(', ');
    const req = http.request(url, { method: 'POST', headers });
    req.on('error', reject);
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      if (head.length) socket.unshift(head);
      const conn = transport.connection.create(socket, { protocol: 'spdy', isServer: false });
      conn.on('error', () => undefined);
      socket.on('error', () => undefined);
      conn.start(3.1);
      const v = res.headers['x-stream-protocol-version'];
      resolve({
        protocol: Array.isArray(v) ? v[0] : v,
        socket,
        open: (h) =>
          new Promise((ok, fail) => {
            const s = conn.request({ method: 'POST', path: '/', host: 'streaming', headers: h }, (err) => (err ? fail(err) : ok(s)));
            s.on('error', () => undefined);
          }),
        close: () => {
          try {
            conn.end();
          } catch {
            // already gone
          }
          socket.destroy();
        },
      });
    });
    req.end();
  });
}

/** Options of an exec or attach session. */
export interface CommandOptions {
  /** stdin bytes (the stream is ended after them unless `keepStdin`) */
  stdin?: string | Buffer;
  keepStdin?: boolean;
  /** ask for stderr as a stream of its own (not with tty) */
  stderr?: boolean;
  tty?: boolean;
  /** sizes sent on the resize stream, in order */
  resizes?: Array<{ Width: number; Height: number }>;
  /** called with each stdout chunk; may send stdin, a resize, or end stdin */
  onStdout?: (chunk: string, all: string) => StdoutReaction | undefined;
  /** protocols offered (default v4 then older) */
  protocols?: string[];
}

/** What a client does after some output. */
export interface StdoutReaction {
  stdin?: string;
  resize?: { Width: number; Height: number };
  endStdin?: boolean;
}

/** What a session produced. */
export interface CommandOutcome {
  protocol: string | undefined;
  stdout: string;
  stderr: string;
  /** the error channel's bytes */
  error: string;
}

/** Runs an exec or attach session over SPDY, as client-go's v4 client does. */
export async function spdyCommand(url: string, o: CommandOptions = {}): Promise<CommandOutcome> {
  const s = await spdyConnect(url, o.protocols ?? ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io']);
  if ('status' in s) throw new Error(`not upgraded: ${s.status} ${s.body}`);
  try {
    const error = await s.open({ streamtype: 'error' });
    const stdin = o.stdin !== undefined || o.keepStdin ? await s.open({ streamtype: 'stdin' }) : undefined;
    const stdout = await s.open({ streamtype: 'stdout' });
    const stderr = o.stderr && !o.tty ? await s.open({ streamtype: 'stderr' }) : undefined;
    const resize = o.tty && s.protocol !== 'v2.channel.k8s.io' && s.protocol !== 'channel.k8s.io' ? await s.open({ streamtype: 'resize' }) : undefined;
    const out = { protocol: s.protocol, stdout: '', stderr: '', error: '' };
    for (const r of o.resizes ?? []) resize?.write(`${JSON.stringify(r)}\n`);
    stdout.on('data', (d: Buffer) => {
      out.stdout += d.toString();
      const r = o.onStdout?.(d.toString(), out.stdout);
      if (r?.resize) resize?.write(`${JSON.stringify(r.resize)}\n`);
      if (r?.stdin !== undefined) stdin?.write(r.stdin);
      if (r?.endStdin) stdin?.end();
    });
    stderr?.on('data', (d: Buffer) => (out.stderr += d.toString()));
    error.on('data', (d: Buffer) => (out.error += d.toString()));
    if (stdin && o.stdin !== undefined) stdin.write(o.stdin);
    if (stdin && !o.keepStdin) stdin.end();
    await Promise.all([ended(error), ended(stdout), ended(stderr)]);
    return out;
  } finally {
    s.close();
  }
}

function ended(s: Duplex | undefined): Promise<void> {
  // spdy-transport's streams are readable-stream 2 objects: no readableEnded
  if (!s || s.readableEnded || (s as unknown as { _readableState?: { endEmitted?: boolean } })._readableState?.endEmitted || s.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    s.once('end', resolve);
    s.once('close', resolve);
    s.resume();
  });
}

/** Runs an exec or attach session over a WebSocket with the channel protocols. */
export function wsCommand(url: string, o: CommandOptions & { protocol?: string } = {}): Promise<CommandOutcome> {
  const protocol = o.protocol ?? 'v4.channel.k8s.io';
  const base64 = protocol.includes('base64');
  const ws = new WebSocket(url.replace(/^http/, 'ws'), protocol ? [protocol] : []);
  const send = (ch: number, data: string | Buffer) => {
    const b = Buffer.from(data);
    if (base64) ws.send(String.fromCharCode(0x30 + ch) + b.toString('base64'));
    else ws.send(Buffer.concat([Buffer.from([ch]), b]));
  };
  const out: CommandOutcome = { protocol, stdout: '', stderr: '', error: '' };
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => {
      for (const r of o.resizes ?? []) send(4, JSON.stringify(r));
      if (o.stdin !== undefined) send(0, o.stdin);
      if (o.stdin !== undefined && !o.keepStdin && protocol.startsWith('v5.')) ws.send(Buffer.from([255, 0]));
    });
    ws.on('message', (raw: Buffer, isBinary: boolean) => {
      const m = Buffer.from(raw);
      if (!m.length) return;
      const ch = base64 ? m[0]! - 0x30 : m[0]!;
      if (base64 && isBinary) return reject(new Error('binary message under a base64 protocol'));
      const body = base64 ? Buffer.from(m.subarray(1).toString(), 'base64').toString() : m.subarray(1).toString();
      if (ch === 1) {
        out.stdout += body;
        const r = o.onStdout?.(body, out.stdout);
        if (r?.resize) send(4, JSON.stringify(r.resize));
        if (r?.stdin !== undefined) send(0, r.stdin);
        if (r?.endStdin && protocol.startsWith('v5.')) ws.send(Buffer.from([255, 0]));
      } else if (ch === 2) out.stderr += body;
      else if (ch === 3) out.error += body;
    });
    ws.on('close', () => resolve(out));
  });
}

/** Forwards one connection to `port` over a SPDY port forward session; returns what came back. */
export async function spdyForward(session: SpdySession, port: number, requestId: number, payload: string | Buffer): Promise<{ data: string; error: string }> {
  const headers = { streamtype: 'error', port: String(port), requestid: String(requestId) };
  const error = await session.open(headers);
  error.end();
  const data = await session.open({ ...headers, streamtype: 'data' });
  const out = { data: '', error: '' };
  error.on('data', (d: Buffer) => (out.error += d.toString()));
  data.on('data', (d: Buffer) => (out.data += d.toString()));
  data.end(payload);
  await Promise.all([ended(data), ended(error)]);
  return out;
}

/**
 * Forwards one connection per port over a WebSocket (`?port=...`), sends each payload, and
 * closes once every port answered `expect` bytes or an error; returns the data and error
 * channel contents and the port numbers each channel started with.
 */
export function wsForward(
  url: string,
  payloads: ReadonlyArray<{ port: number; send: string; expect: number }>,
  protocol = 'v4.channel.k8s.io',
): Promise<Array<{ data: string; error: string; first: number[] }>> {
  const q = payloads.map((p) => `port=${p.port}`).join('&');
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}?${q}`, protocol ? [protocol] : []);
  const out = payloads.map(() => ({ data: '', error: '', first: [] as number[], seen: [false, false] }));
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', () => payloads.forEach((p, i) => ws.send(Buffer.concat([Buffer.from([2 * i]), Buffer.from(p.send)]))));
    ws.on('message', (raw: Buffer) => {
      const m = Buffer.from(raw);
      const i = Math.floor(m[0]! / 2);
      const isErr = m[0]! % 2 === 1;
      const o = out[i]!;
      const body = m.subarray(1);
      if (!o.seen[isErr ? 1 : 0]) {
        o.seen[isErr ? 1 : 0] = true;
        o.first.push(body.readUInt16LE(0));
        return;
      }
      if (isErr) o.error += body.toString();
      else o.data += body.toString();
      if (out.every((x, j) => x.error || x.data.length >= payloads[j]!.expect)) ws.close();
    });
    ws.on('close', () => resolve(out.map(({ data, error, first }) => ({ data, error, first }))));
  });
}

/** A plain request (no upgrade) to a streaming URL: its status. */
export function plainStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers });
    req.on('error', reject);
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket: Socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.end();
  });
}
