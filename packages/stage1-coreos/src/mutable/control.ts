/**
 * The client side of a mutable pod's control socket (`rkt/ctl` in the stage1 root, served by
 * PID 1; see the README, "Mutable pods"). One request per connection: a line `<verb> <app>
 * [args]`, answered by one line `ok [data]` or `error <code> <message>`. `attach` keeps the
 * connection open and switches it to frames ({@link encodeFrame}).
 */
import { connect, type Socket } from 'node:net';
import { join, relative } from 'node:path';
import { stage1RootfsPath } from '@rktnetes/common';
import { systemError, userError } from '@rktnetes/errors';
import { CTL_PATH } from './pod';

/** A reply of PID 1. */
export type CtlReply = { ok: true; data: string } | { ok: false; code: string; message: string };

/** Parses a reply line. */
export function parseCtlReply(line: string): CtlReply {
  if (line === 'ok' || line.startsWith('ok ')) return { ok: true, data: line.slice(3) };
  const m = /^error (\S+) ?(.*)$/.exec(line);
  if (m) return { ok: false, code: m[1]!, message: m[2]! };
  return { ok: false, code: 'ctl.invalid', message: `unexpected reply ${JSON.stringify(line)}` };
}

/**
 * The address of the control socket: relative to the working directory when that is shorter
 * (a unix socket path is limited to 107 bytes).
 */
export function ctlAddress(pod: string, cwd = process.cwd()): string {
  const abs = join(stage1RootfsPath(pod), CTL_PATH);
  const rel = relative(cwd, abs);
  return rel.length < abs.length ? rel : abs;
}

/** An error for a reply of PID 1: `stage1.<code>` (user). */
export function replyError(r: Extract<CtlReply, { ok: false }>): Error {
  return userError(`stage1.${r.code}`, r.message, { details: { code: r.code } });
}

/** Connects to the control socket. Errors (system): `stage1.ctl.connect`. */
export function connectCtl(pod: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(ctlAddress(pod));
    s.once('connect', () => {
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e) => reject(systemError('stage1.ctl.connect', `cannot reach the supervisor of pod ${pod}: ${(e as Error).message}`, { cause: e })));
  });
}

/**
 * Reads one reply line from `s`; resolves with the line and what followed it (the first bytes
 * of an attach stream). Errors (system): `stage1.ctl.closed` when the socket closes first.
 */
export function readReplyLine(s: Socket): Promise<{ line: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      cleanup();
      resolve({ line: buf.subarray(0, nl).toString('utf8'), rest: buf.subarray(nl + 1) });
    };
    const onEnd = () => {
      cleanup();
      reject(systemError('stage1.ctl.closed', 'the pod supervisor closed the connection without a reply'));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(systemError('stage1.ctl.closed', `the connection to the pod supervisor failed: ${e.message}`, { cause: e }));
    };
    const cleanup = () => {
      s.off('data', onData);
      s.off('end', onEnd);
      s.off('close', onEnd);
      s.off('error', onError);
    };
    s.on('data', onData);
    s.once('end', onEnd);
    s.once('close', onEnd);
    s.once('error', onError);
  });
}

/** Sends one request and returns PID 1's reply (the connection is closed afterwards). */
export async function ctlRequest(pod: string, request: string): Promise<CtlReply> {
  const s = await connectCtl(pod);
  try {
    s.write(`${request}\n`);
    return parseCtlReply((await readReplyLine(s)).line);
  } finally {
    s.destroy();
  }
}

/** Like {@link ctlRequest}, but an `error` reply is thrown ({@link replyError}); returns the data. */
export async function ctlCall(pod: string, request: string): Promise<string> {
  const r = await ctlRequest(pod, request);
  if (!r.ok) throw replyError(r);
  return r.data;
}
