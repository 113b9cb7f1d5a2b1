/**
 * Pseudo-terminals and sockets made in another network namespace: what a streaming server needs
 * beyond Node (`kubectl exec -t`, port forwarding into a pod). libc through koffi, loaded on the
 * first call. Failures throw `sys.<function>` errors like the rest of the package
 * (`details.errno`).
 */
import { createRequire } from 'node:module';
import { closeSync, constants as fsConstants, openSync } from 'node:fs';
import type * as KoffiModule from 'koffi';
import { CLONE_NEWNET } from './constants';
import { sysError } from './errno';

type CFunction = (...args: unknown[]) => unknown;

const PROTOTYPES = {
  posix_openpt: 'int posix_openpt(int flags)',
  grantpt: 'int grantpt(int fd)',
  unlockpt: 'int unlockpt(int fd)',
  ptsname_r: 'int ptsname_r(int fd, _Out_ uint8_t *buf, size_t buflen)',
  ioctl: 'int ioctl(int fd, unsigned long request, ...)',
  tcgetattr: 'int tcgetattr(int fd, _Out_ uint8_t *termios)',
  tcsetattr: 'int tcsetattr(int fd, int actions, const uint8_t *termios)',
  cfmakeraw: 'void cfmakeraw(_Inout_ uint8_t *termios)',
  fcntl: 'int fcntl(int fd, int cmd, ...)',
  setns: 'int setns(int fd, int nstype)',
  socket: 'int socket(int domain, int type, int protocol)',
  connect: 'int connect(int fd, const uint8_t *addr, uint32_t len)',
  getsockopt: 'int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)',
  poll: 'int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)',
  close: 'int close(int fd)',
} as const;

let lib: { call(name: keyof typeof PROTOTYPES, ...args: unknown[]): unknown; errno(): number } | undefined;

function libc() {
  if (lib) return lib;
  const require = createRequire(import.meta.url);
  const koffi = require('koffi') as typeof KoffiModule;
  const so = koffi.load('libc.so.6');
  const fns = new Map<string, CFunction>();
  lib = {
    call(name, ...args) {
      let fn = fns.get(name);
      if (!fn) {
        fn = so.func(PROTOTYPES[name]) as CFunction;
        fns.set(name, fn);
      }
      return fn(...args);
    },
    errno: () => koffi.errno(),
  };
  return lib;
}

const EINTR = 4;
const EINPROGRESS = 115;

/** Calls `name`; a -1 result throws `sys.<name>` (EINTR retried). */
function call(name: keyof typeof PROTOTYPES, object: string, ...args: unknown[]): number {
  const c = libc();
  for (;;) {
    const r = Number(c.call(name, ...args));
    if (r !== -1) return r;
    const errno = c.errno();
    if (errno !== EINTR) throw sysError(name, name, object, errno);
  }
}

// asm-generic ioctl numbers (x86-64, arm64)
const TIOCGWINSZ = 0x5413;
const TIOCSWINSZ = 0x5414;
const TCSANOW = 0;
/** glibc's struct termios is 60 bytes; a little room to spare. */
const TERMIOS_BYTES = 64;
const F_GETFL = 3;
const F_SETFL = 4;
const O_NONBLOCK = 0o4000;

/** A new pseudo-terminal: both ends open (close-on-exec, no controlling terminal taken). */
export interface Pty {
  /** the master (multiplexer) side */
  master: number;
  /** the slave (terminal) side, to give to a child as stdin/stdout/stderr */
  slave: number;
  /** the slave's path, /dev/pts/N */
  path: string;
}

/**
 * Opens a pseudo-terminal pair: posix_openpt, grantpt, unlockpt, then the slave by its name.
 * With `size`, the terminal starts with that many rows and columns; with `raw`, the slave is
 * in raw mode (cfmakeraw: no echo, no line editing, no output processing). Errors (system):
 * `sys.posix_openpt`, `sys.grantpt`, `sys.unlockpt`, `sys.ptsname_r`, `sys.openpty`.
 */
export function openPty(o: { size?: { rows: number; cols: number }; raw?: boolean } = {}): Pty {
  const master = call('posix_openpt', '/dev/ptmx', fsConstants.O_RDWR | fsConstants.O_NOCTTY | 0o2000000 /* O_CLOEXEC */);
  try {
    call('grantpt', `fd ${master}`, master);
    call('unlockpt', `fd ${master}`, master);
    const buf = Buffer.alloc(128);
    const r = Number(libc().call('ptsname_r', master, buf, buf.length));
    if (r !== 0) throw sysError('ptsname_r', 'ptsname_r', `fd ${master}`, r);
    const path = buf.subarray(0, buf.indexOf(0)).toString();
    let slave: number;
    try {
      slave = openSync(path, fsConstants.O_RDWR | fsConstants.O_NOCTTY);
    } catch (e) {
      throw sysError('openpty', 'open', path, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
    }
    try {
      if (o.size) setWindowSize(master, o.size.rows, o.size.cols);
      if (o.raw) setRaw(slave);
    } catch (e) {
      closeSync(slave);
      throw e;
    }
    return { master, slave, path };
  } catch (e) {
    closeSync(master);
    throw e;
  }
}

/** Sets a terminal's size (TIOCSWINSZ); the foreground process group gets SIGWINCH. Errors: `sys.ioctl`. */
export function setWindowSize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(Math.max(0, Math.min(65535, Math.trunc(rows))), 0);
  ws.writeUInt16LE(Math.max(0, Math.min(65535, Math.trunc(cols))), 2);
  call('ioctl', `fd ${fd} TIOCSWINSZ`, fd, TIOCSWINSZ, 'uint8_t *', ws);
}

/** A terminal's size (TIOCGWINSZ). Errors: `sys.ioctl`. */
export function getWindowSize(fd: number): { rows: number; cols: number } {
  const ws = Buffer.alloc(8);
  call('ioctl', `fd ${fd} TIOCGWINSZ`, fd, TIOCGWINSZ, 'uint8_t *', ws);
  return { rows: ws.readUInt16LE(0), cols: ws.readUInt16LE(2) };
}

/** Puts a terminal in raw mode (cfmakeraw). Errors: `sys.tcgetattr`, `sys.tcsetattr`. */
export function setRaw(fd: number): void {
  const t = Buffer.alloc(TERMIOS_BYTES);
  call('tcgetattr', `fd ${fd}`, fd, t);
  libc().call('cfmakeraw', t);
  call('tcsetattr', `fd ${fd}`, fd, TCSANOW, t);
}

/** Sets or clears O_NONBLOCK on an fd. Errors: `sys.fcntl`. */
export function setNonBlocking(fd: number, on = true): void {
  const flags = call('fcntl', `fd ${fd} F_GETFL`, fd, F_GETFL);
  call('fcntl', `fd ${fd} F_SETFL`, fd, F_SETFL, 'int', on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
}

const AF_INET = 2;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const POLLOUT = 0x4;
const POLLERR = 0x8;
const POLLHUP = 0x10;

/** A TCP connection started by {@link connectTcpInNetns}. */
export interface NetnsConnection {
  /** the socket, non-blocking and close-on-exec; the caller owns it */
  fd: number;
  /** true once the connection is established; false while the handshake goes on */
  connected: boolean;
}

/**
 * Opens a TCP socket in the network namespace at `netnsPath` (a bind-mounted namespace file or
 * /proc/PID/ns/net) and starts connecting it to `host:port` (IPv4). Only the calling thread
 * enters the namespace, for the socket(2) call, and returns to its own at once; the socket
 * stays in the namespace it was made in. On loopback the handshake is usually over when this
 * returns (`connected`); otherwise wait for the fd to be writable and read
 * {@link socketError}. Errors (system): `sys.setns` (entering or returning), `sys.socket`,
 * `sys.connect` (e.g. ECONNREFUSED: nothing listens), `sys.netns` (the namespace file cannot be
 * opened). Needs CAP_SYS_ADMIN.
 */
export function connectTcpInNetns(netnsPath: string, host: string, port: number): NetnsConnection {
  const addr = sockaddrIn(host, port);
  let target: number;
  let own: number;
  try {
    target = openSync(netnsPath, fsConstants.O_RDONLY);
  } catch (e) {
    throw sysError('netns', 'open', netnsPath, (e as NodeJS.ErrnoException).code ?? 'EIO', e);
  }
  try {
    own = openSync('/proc/thread-self/ns/net', fsConstants.O_RDONLY);
  } catch (e) {
    closeSync(target);
    throw sysError('netns', 'open', '/proc/thread-self/ns/net', (e as NodeJS.ErrnoException).code ?? 'EIO', e);
  }
  let fd: number;
  try {
    call('setns', netnsPath, target, CLONE_NEWNET);
    try {
      fd = call('socket', 'AF_INET SOCK_STREAM', AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    } finally {
      call('setns', 'the thread\'s own network namespace', own, CLONE_NEWNET);
    }
  } finally {
    closeSync(target);
    closeSync(own);
  }
  return startConnect(fd, addr, `${host}:${port}`);
}

/** Starts connecting a non-blocking socket; closes it when that fails at once. */
function startConnect(fd: number, addr: Buffer, what: string): NetnsConnection {
  const c = libc();
  for (;;) {
    if (Number(c.call('connect', fd, addr, addr.length)) === 0) return { fd, connected: true };
    const errno = c.errno();
    if (errno === EINTR) continue;
    if (errno !== EINPROGRESS) {
      c.call('close', fd);
      throw sysError('connect', 'connect', what, errno);
    }
    break;
  }
  // loopback: the handshake has usually run by now
  const err = connectResult(fd);
  if (err === undefined) return { fd, connected: false };
  if (err) {
    c.call('close', fd);
    throw sysError('connect', 'connect', what, err);
  }
  return { fd, connected: true };
}

/**
 * Where the connection a {@link connectTcpInNetns} started stands, without blocking: undefined
 * while the handshake goes on (say, the listener's backlog is full and the SYN is retried), 0
 * once established, else the errno it failed with (the socket is left open for the caller).
 */
export function connectResult(fd: number): number | undefined {
  const pfd = Buffer.alloc(8);
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(POLLOUT, 4);
  const n = Number(libc().call('poll', pfd, 1, 0));
  if (n === 1 && pfd.readInt16LE(6) & (POLLOUT | POLLERR | POLLHUP)) return socketError(fd);
  return undefined;
}

/** The pending error of a socket (SO_ERROR), 0 when none. Errors: `sys.getsockopt`. */
export function socketError(fd: number): number {
  const v = Buffer.alloc(4);
  const len = [4];
  call('getsockopt', `fd ${fd} SO_ERROR`, fd, SOL_SOCKET, SO_ERROR, v, len);
  return v.readInt32LE(0);
}

/** Closes an fd this module handed out (ignoring errors). */
export function closeFd(fd: number): void {
  libc().call('close', fd);
}

function sockaddrIn(host: string, port: number): Buffer {
  const parts = host.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) throw sysError('connect', 'connect', host, 'EINVAL');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw sysError('connect', 'connect', `${host}:${port}`, 'EINVAL');
  const a = Buffer.alloc(16);
  a.writeUInt16LE(AF_INET, 0);
  a.writeUInt16BE(port, 2);
  for (let i = 0; i < 4; i++) a[4 + i] = parts[i]!;
  return a;
}
