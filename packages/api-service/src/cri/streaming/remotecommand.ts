/**
 * The Kubernetes remote command protocols (exec and attach) on the server side, over SPDY or
 * WebSocket, presented to the backends as {@link CommandStreams}: the client's stdin, the
 * command's stdout and stderr, terminal resizes, and the outcome reported at the end.
 *
 * SPDY (`X-Stream-Protocol-Version`: `v4.channel.k8s.io`, `v3.channel.k8s.io`,
 * `v2.channel.k8s.io`, `channel.k8s.io`): the client opens one stream per channel, named by the
 * `streamType` header — `error`, `stdin`, `stdout`, `stderr` (not with a terminal), `resize`
 * (v3 and later, with a terminal). WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`,
 * `v4.base64.channel.k8s.io`, `channel.k8s.io`, `base64.channel.k8s.io`, or none): channels 0
 * stdin, 1 stdout, 2 stderr, 3 error, 4 resize; v5 adds channel 255, `[255, channel]` closing
 * the client's side of a channel (stdin).
 *
 * The outcome goes to the error channel: with v4 and v5 a `Status` object (`Success`, or
 * `Failure` with reason `NonZeroExitCode` and an `ExitCode` cause holding the status, or with
 * reason `InternalError`); with older versions the error text, nothing on success. Resizes are
 * JSON `{"Width":W,"Height":H}`.
 */
import { EventEmitter } from 'node:events';
import { PassThrough, Writable, type Readable } from 'node:stream';
import type { SpdyConnection, SpdyStream } from './spdy';
import type { WsChannels } from './websocket';

/** SPDY remote command protocols, most preferred first. */
export const SPDY_COMMAND_PROTOCOLS = ['v4.channel.k8s.io', 'v3.channel.k8s.io', 'v2.channel.k8s.io', 'channel.k8s.io'] as const;
/** WebSocket remote command sub-protocols ('' is none). */
export const WS_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io', 'v4.base64.channel.k8s.io', 'channel.k8s.io', 'base64.channel.k8s.io', ''] as const;

/** How a command ended, as the error channel reports it. */
export type CommandResult = { exitCode: number } | { error: string };

/** A terminal size. */
export interface TerminalSize {
  width: number;
  height: number;
}

/** What the client asked for (from the cached CRI request). */
export interface StreamRequest {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

/**
 * One exec or attach session as the backend sees it. `stdin` ends when the client closes its
 * stdin; writing to `stdout`/`stderr` goes to the client. `resizes` emits `resize`
 * ({@link TerminalSize}). `gone` resolves when the client disconnected. `finish` reports the
 * outcome and closes everything (once).
 */
export interface CommandStreams {
  readonly protocol: string;
  readonly tty: boolean;
  readonly stdin: Readable | null;
  readonly stdout: Writable | null;
  readonly stderr: Writable | null;
  readonly resizes: EventEmitter;
  readonly gone: Promise<void>;
  finish(result: CommandResult): Promise<void>;
}

/** The error channel's bytes for a result under `protocol` (empty: nothing to send). */
export function statusMessage(protocol: string, result: CommandResult, command = ''): Buffer {
  const v4 = /^v[45]\./.test(protocol);
  if ('exitCode' in result && result.exitCode === 0) return v4 ? Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })) : Buffer.alloc(0);
  if ('exitCode' in result) {
    const code = result.exitCode;
    const message = `command terminated with non-zero exit code: error executing command${command ? ` [${command}]` : ''}, exit code ${code}`;
    if (!v4) return Buffer.from(message);
    return Buffer.from(
      JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] } }),
    );
  }
  if (!v4) return Buffer.from(result.error);
  return Buffer.from(JSON.stringify({ metadata: {}, status: 'Failure', message: result.error, reason: 'InternalError', details: { causes: [{ message: result.error }] }, code: 500 }));
}

/** Reads JSON resize messages (newline separated, or one per message) from a byte stream. */
export class ResizeDecoder {
  private buf = '';

  /** Adds bytes; returns the sizes completed. Malformed messages are skipped. */
  push(chunk: Buffer | string): TerminalSize[] {
    this.buf += chunk.toString();
    const out: TerminalSize[] = [];
    for (;;) {
      const start = this.buf.indexOf('{');
      if (start < 0) {
        this.buf = '';
        break;
      }
      const end = this.buf.indexOf('}', start);
      if (end < 0) {
        this.buf = this.buf.slice(start);
        break;
      }
      const text = this.buf.slice(start, end + 1);
      this.buf = this.buf.slice(end + 1);
      try {
        const v = JSON.parse(text) as { Width?: unknown; Height?: unknown };
        const width = Number(v.Width);
        const height = Number(v.Height);
        if (Number.isInteger(width) && Number.isInteger(height) && width >= 0 && height >= 0) out.push({ width, height });
      } catch {
        // not a size: skipped
      }
    }
    return out;
  }
}

/** Waits until a writable finished (or was destroyed). */
function finished(w: Writable): Promise<void> {
  return new Promise((resolve) => {
    if (w.writableFinished || w.destroyed) return resolve();
    w.once('finish', () => resolve());
    w.once('close', () => resolve());
    w.once('error', () => resolve());
  });
}

/** The stream types a client opens for `req` under a SPDY protocol. */
export function expectedSpdyStreams(protocol: string, req: StreamRequest): string[] {
  const types = ['error'];
  if (req.stdin) types.push('stdin');
  if (req.stdout) types.push('stdout');
  if (req.stderr && !req.tty) types.push('stderr');
  if (req.tty && protocol !== 'channel.k8s.io' && protocol !== 'v2.channel.k8s.io') types.push('resize');
  return types;
}

/**
 * Collects the streams of a remote command from a SPDY connection: resolves once every stream
 * {@link expectedSpdyStreams} names is open, rejects after `timeoutMs` (or when the connection
 * closes first). Streams of other types are accepted and ignored.
 */
export function spdyCommandStreams(conn: SpdyConnection, protocol: string, req: StreamRequest, timeoutMs: number, command = ''): Promise<CommandStreams> {
  const expected = new Set(expectedSpdyStreams(protocol, req));
  const got = new Map<string, SpdyStream>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out waiting for the client's streams (have ${[...got.keys()].join(', ') || 'none'}; expected ${[...expected].join(', ')})`));
    }, timeoutMs);
    const onClose = () => {
      cleanup();
      reject(new Error('the client closed the connection before opening its streams'));
    };
    const onStream = (s: SpdyStream) => {
      const type = (s.header('streamtype') ?? '').toLowerCase();
      if (!expected.has(type) || got.has(type)) {
        // not wanted: drain and ignore
        s.resume();
        s.on('error', () => undefined);
        return;
      }
      got.set(type, s);
      s.on('error', () => undefined);
      if (got.size === expected.size) {
        cleanup();
        resolve(fromSpdy(conn, protocol, got, req.tty, command));
      }
    };
    const cleanup = () => {
      clearTimeout(timer);
      conn.off('stream', onStream);
      conn.off('close', onClose);
    };
    conn.on('stream', onStream);
    conn.on('close', onClose);
  });
}

function fromSpdy(conn: SpdyConnection, protocol: string, streams: Map<string, SpdyStream>, tty: boolean, command: string): CommandStreams {
  const resizes = new EventEmitter();
  const resize = streams.get('resize');
  if (resize) {
    const dec = new ResizeDecoder();
    resize.on('data', (d: Buffer) => {
      for (const size of dec.push(d)) resizes.emit('resize', size);
    });
  }
  const stdin = streams.get('stdin') ?? null;
  // the client never writes on these: drain them so that their FIN is seen
  for (const t of ['stdout', 'stderr', 'error']) streams.get(t)?.resume();
  const gone = new Promise<void>((resolve) => conn.once('close', () => resolve()));
  let done: Promise<void> | undefined;
  return {
    protocol,
    tty,
    stdin,
    stdout: streams.get('stdout') ?? null,
    stderr: streams.get('stderr') ?? null,
    resizes,
    gone,
    finish(result) {
      done ??= (async () => {
        const outs = ['stdout', 'stderr'].map((t) => streams.get(t)).filter((s): s is SpdyStream => !!s && !s.destroyed);
        for (const s of outs) s.end();
        await Promise.all(outs.map(finished));
        const err = streams.get('error');
        if (err && !err.destroyed) {
          const msg = statusMessage(protocol, result, command);
          if (msg.length) err.write(msg);
          err.end();
          await finished(err);
        }
        stdin?.destroy();
        resize?.destroy();
        conn.close();
      })();
      return done;
    },
  };
}

/** WebSocket channel numbers. */
export const WsChannel = { STDIN: 0, STDOUT: 1, STDERR: 2, ERROR: 3, RESIZE: 4, CLOSE: 255 } as const;

/** A writable that sends each chunk as a message on one channel. */
function channelWriter(ch: WsChannels, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      ch.write(channel, chunk, (e) => cb(e ?? null));
    },
  });
}

/**
 * The streams of a remote command over a WebSocket with channels. As the kubelet does, an empty
 * message on the first channel the server writes (stdout, else stderr, else error) tells the
 * client the session is open.
 */
export function wsCommandStreams(ch: WsChannels, protocol: string, req: StreamRequest, command = ''): CommandStreams {
  const stdin = req.stdin ? new PassThrough() : null;
  const resizes = new EventEmitter();
  const dec = new ResizeDecoder();
  ch.on('data', (channel: number, data: Buffer) => {
    if (channel === WsChannel.STDIN && stdin && !stdin.writableEnded) stdin.write(data);
    else if (channel === WsChannel.RESIZE && req.tty) for (const size of dec.push(data)) resizes.emit('resize', size);
    else if (channel === WsChannel.CLOSE && protocol.startsWith('v5.') && data[0] === WsChannel.STDIN) stdin?.end();
  });
  const gone = new Promise<void>((resolve) => ch.once('close', () => resolve()));
  void gone.then(() => stdin?.end());
  const stdout = req.stdout ? channelWriter(ch, WsChannel.STDOUT) : null;
  const stderr = req.stderr && !req.tty ? channelWriter(ch, WsChannel.STDERR) : null;
  ch.write(stdout ? WsChannel.STDOUT : stderr ? WsChannel.STDERR : WsChannel.ERROR, Buffer.alloc(0));
  let done: Promise<void> | undefined;
  return {
    protocol,
    tty: req.tty,
    stdin,
    stdout,
    stderr,
    resizes,
    gone,
    finish(result) {
      done ??= (async () => {
        const outs = [stdout, stderr].filter((s): s is Writable => !!s);
        for (const s of outs) s.end();
        await Promise.all(outs.map(finished));
        const msg = statusMessage(protocol, result, command);
        if (msg.length) await new Promise<void>((r) => ch.write(WsChannel.ERROR, msg, () => r()));
        stdin?.destroy();
        ch.ws.close();
      })();
      return done;
    },
  };
}
