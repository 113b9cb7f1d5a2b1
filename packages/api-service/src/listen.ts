/**
 * Listening sockets for the API and metadata services: TCP addresses, unix sockets, and
 * sockets passed by systemd socket activation (`LISTEN_FDS`/`LISTEN_PID`, sd_listen_fds(3)).
 */
import { mkdirSync, lstatSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { dirname } from 'node:path';
import { systemError, usageError } from '@rktnetes/errors';

/** Where to listen. `localhost` as TCP host means both 127.0.0.1 and ::1. */
export type ListenSpec = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string } | { kind: 'fd'; fd: number; name: string };

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

/**
 * Parses a listen address: `host:port`, `[v6]:port`, `:port` (all interfaces), `unix:/path`
 * or an absolute path (unix socket). Throws a usage error `api.listen-address` otherwise.
 */
export function parseListenAddress(text: string): ListenSpec {
  const bad = (why: string) => usageError('api.listen-address', `invalid listen address "${text}": ${why}`);
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/')) throw bad('the unix socket path must be absolute');
    return { kind: 'unix', path };
  }
  if (text.startsWith('/')) return { kind: 'unix', path: text };
  const m = /^(?:\[([0-9a-fA-F:.%a-zA-Z]+)\]|([^:[\]]*)):(\d+)$/.exec(text);
  if (!m) throw bad('expected host:port, [ipv6]:port, :port or unix:/path');
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw bad('port out of range');
  const host = m[1] ?? (m[2] || '0.0.0.0');
  return { kind: 'tcp', host, port };
}

/**
 * The sockets passed by systemd to this process (empty when not socket-activated or meant for
 * another process). Removes `LISTEN_FDS`, `LISTEN_PID` and `LISTEN_FDNAMES` from `env`, as
 * sd_listen_fds(unset_environment=1) does, so children do not see them.
 */
export function systemdListenFds(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): Array<{ fd: number; name: string }> {
  const count = env.LISTEN_FDS;
  const forPid = env.LISTEN_PID;
  const names = env.LISTEN_FDNAMES?.split(':') ?? [];
  delete env.LISTEN_FDS;
  delete env.LISTEN_PID;
  delete env.LISTEN_FDNAMES;
  if (count === undefined || forPid === undefined) return [];
  if (Number(forPid) !== pid) return [];
  const n = Number(count);
  if (!Number.isInteger(n) || n < 1) return [];
  return Array.from({ length: n }, (_, i) => ({ fd: LISTEN_FDS_START + i, name: names[i] ?? '' }));
}

/** The listen specs of systemd-passed fds (see {@link systemdListenFds}). */
export function activationSpecs(env: NodeJS.ProcessEnv = process.env, pid: number = process.pid): ListenSpec[] {
  return systemdListenFds(env, pid).map(({ fd, name }) => ({ kind: 'fd', fd, name }));
}

function listen(server: Server, arg: Parameters<Server['listen']>[0], what: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(systemError('api.listen', `cannot listen on ${what}`, { cause: e }));
    server.once('error', onError);
    server.listen(arg, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

/** Whether something accepts connections on the unix socket `path`. */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = createConnection({ path });
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

async function prepareUnixPath(path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return;
  }
  if (!st.isSocket()) throw systemError('api.listen', `cannot listen on ${path}: a file that is not a socket is in the way`);
  if (await socketInUse(path)) throw systemError('api.listen', `cannot listen on ${path}: another process is serving it`);
  unlinkSync(path); // stale socket of a process that died
}

/**
 * Opens the listeners for one spec (two for `localhost`: 127.0.0.1, and ::1 where IPv6 exists).
 * `onConnection` is not attached here; callers pass the servers on. Throws `api.listen`.
 */
export async function openListeners(spec: ListenSpec, make: () => Server = () => createServer()): Promise<Server[]> {
  switch (spec.kind) {
    case 'fd':
      return [await listen(make(), { fd: spec.fd }, `fd ${spec.fd}${spec.name ? ` (${spec.name})` : ''}`)];
    case 'unix':
      await prepareUnixPath(spec.path);
      return [await listen(make(), { path: spec.path }, spec.path)];
    case 'tcp': {
      if (spec.host !== 'localhost') return [await listen(make(), { host: spec.host, port: spec.port }, `${spec.host}:${spec.port}`)];
      const v4 = await listen(make(), { host: '127.0.0.1', port: spec.port }, `127.0.0.1:${spec.port}`);
      const port = (v4.address() as { port: number }).port;
      try {
        return [v4, await listen(make(), { host: '::1', port, ipv6Only: true }, `[::1]:${port}`)];
      } catch {
        return [v4]; // no IPv6 loopback on this machine
      }
    }
  }
}

/** A printable address of a listening server: `127.0.0.1:15441`, `[::1]:15441` or the socket path. */
export function describeListener(server: Server): string {
  const a = server.address();
  if (a === null) return '(closed)';
  if (typeof a === 'string') return a;
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
