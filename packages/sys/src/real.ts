import { createRequire } from 'node:module';
import { constants as fsConstants, openSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import type * as KoffiModule from 'koffi';
import {
  CLOSE_RANGE_CLOEXEC,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  LOCK_EX,
  LOCK_NB,
  LOCK_SH,
  LOCK_UN,
  O_NONBLOCK,
  PR_CAP_AMBIENT,
  PR_CAP_AMBIENT_CLEAR_ALL,
  PR_CAP_AMBIENT_RAISE,
  PR_CAPBSET_DROP,
  PR_CAPBSET_READ,
} from './constants';
import { CAP_LAST_CAP } from './capabilities';
import { errnoOf, sysError } from './errno';
import type { CapSets, CapabilitySpec, ExecEnv, ExecveOptions, FlockOp, PrctlArg, Sys } from './sys';

type CFunction = (...args: unknown[]) => unknown;

/** libc loaded through koffi, with each prototype declared on first use. */
interface Libc {
  call(name: keyof typeof PROTOTYPES, ...args: unknown[]): unknown;
  errno(): number;
}

const PROTOTYPES = {
  flock: 'int flock(int fd, int op)',
  fcntl: 'int fcntl(int fd, int cmd, ...)',
  dup2: 'int dup2(int oldfd, int newfd)',
  close_range: 'int close_range(unsigned int first, unsigned int last, int flags)',
  signal: 'void *signal(int sig, void *handler)',
  sigprocmask: 'int sigprocmask(int how, const uint8_t *set, uint8_t *oldset)',
  execve: 'int execve(const char *path, const char **argv, const char **envp)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  unshare: 'int unshare(int flags)',
  setns: 'int setns(int fd, int nstype)',
  chroot: 'int chroot(const char *path)',
  syscall: 'long syscall(long number, ...)',
  sethostname: 'int sethostname(const char *name, size_t len)',
  setdomainname: 'int setdomainname(const char *name, size_t len)',
  setgroups: 'int setgroups(size_t size, const uint32_t *list)',
  setresgid: 'int setresgid(uint32_t rgid, uint32_t egid, uint32_t sgid)',
  setresuid: 'int setresuid(uint32_t ruid, uint32_t euid, uint32_t suid)',
  prctl: 'int prctl(int option, ...)',
  capget: 'int capget(uint8_t *hdr, uint8_t *data)',
  capset: 'int capset(uint8_t *hdr, const uint8_t *data)',
  setfsuid: 'int setfsuid(uint32_t fsuid)',
  setfsgid: 'int setfsgid(uint32_t fsgid)',
  mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
} as const;

/** pivot_root has no glibc wrapper; its number per architecture. */
const SYS_PIVOT_ROOT: Partial<Record<string, number>> = { x64: 155, arm64: 41 };

const SIGPIPE = 13;
const SIGXFSZ = 25;
const SIG_SETMASK = 2;
/** glibc's sigset_t is 1024 bits. */
const SIGSET_BYTES = 128;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;
const EINTR = 4;
/** EAGAIN and EWOULDBLOCK are the same on Linux. */
const EWOULDBLOCK = 11;

let libc: Libc | undefined;

/**
 * koffi's native module. Its entry point (`koffi/index.js`) finds and checks that module, but
 * first loads the helpers of koffi's installer and with them node:https and node:zlib: about
 * 3 ms of every rkt start that makes a system call. The native module of this platform is
 * loaded directly, checked as koffi checks it (same version as the package); it is the same
 * API less the deprecated aliases koffi adds. Anything unusual (another libc, a platform whose
 * directory is not `<platform>_<arch>`) goes through the entry point.
 */
function loadKoffi(require: NodeJS.Require): typeof KoffiModule {
  try {
    const native = require(`koffi/build/koffi/${process.platform}_${process.arch}/koffi.node`) as typeof KoffiModule & { version?: unknown };
    if (native.version === (require('koffi/package.json') as { version: string }).version) return native;
  } catch {
    // not where it is usually installed: koffi's own loader looks further
  }
  return require('koffi') as typeof KoffiModule;
}

function loadLibc(): Libc {
  if (libc) return libc;
  // Loaded here, not at import time, so that importing this package costs nothing; bundled
  // executables keep koffi external (listed in their dependencies) and resolve it at run time.
  const koffi = loadKoffi(createRequire(import.meta.url));
  const lib = koffi.load('libc.so.6');
  const fns = new Map<string, CFunction>();
  libc = {
    call(name, ...args) {
      let fn = fns.get(name);
      if (!fn) {
        fn = lib.func(PROTOTYPES[name]) as CFunction;
        fns.set(name, fn);
      }
      return fn(...args);
    },
    errno: () => koffi.errno(),
  };
  return libc;
}

/** Calls `name` and throws a sys error when it returns -1. Retries on EINTR. */
function check(method: string, call: string, object: string, name: keyof typeof PROTOTYPES, ...args: unknown[]): number {
  const c = loadLibc();
  for (;;) {
    const r = Number(c.call(name, ...args));
    if (r !== -1) return r;
    const errno = c.errno();
    if (errno !== EINTR) throw sysError(method, call, object, errno);
  }
}

/** `NAME=value` strings, order preserved. */
function envList(env: ExecEnv): string[] {
  if (Array.isArray(env)) return [...(env as readonly string[])];
  return Object.entries(env as Record<string, string>).map(([k, v]) => `${k}=${v}`);
}

/** An id for set*id: -1 means "unchanged", which is (uid_t)-1. */
const idArg = (id: number) => (id < 0 ? 0xffffffff : id >>> 0);

/** Varargs for koffi: a C type before each value. */
function varargs(args: readonly PrctlArg[]): unknown[] {
  const out: unknown[] = [];
  for (const a of args) {
    if (typeof a === 'string') out.push('const char *', a);
    else if (Buffer.isBuffer(a)) out.push('uint8_t *', a);
    else if (typeof a === 'bigint' || a < 0) out.push('unsigned long', BigInt.asUintN(64, BigInt(a)));
    else out.push('unsigned long', a);
  }
  return out;
}

function capHeader(pid: number): Buffer {
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  hdr.writeInt32LE(pid, 4);
  return hdr;
}

function maskToSet(lo: number, hi: number): Set<number> {
  const s = new Set<number>();
  for (let i = 0; i < 32; i++) {
    if ((lo >>> i) & 1) s.add(i);
    if ((hi >>> i) & 1) s.add(i + 32);
  }
  return s;
}

function setToMask(set: Iterable<number>): [number, number] {
  let lo = 0;
  let hi = 0;
  for (const c of set) {
    if (!Number.isInteger(c) || c < 0 || c > 63) throw sysError('capset', 'capset', `capability ${c}`, 'EINVAL');
    if (c < 32) lo |= 1 << c;
    else hi |= 1 << (c - 32);
  }
  return [lo >>> 0, hi >>> 0];
}

/** The kernel's highest capability number, falling back to the table's. */
function lastCap(): number {
  try {
    const n = Number.parseInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'), 10);
    return Number.isInteger(n) ? n : CAP_LAST_CAP;
  } catch {
    return CAP_LAST_CAP;
  }
}

/** Wraps a Node exception (errno in `code`) as a sys error. */
function fromNode(method: string, call: string, object: string, e: unknown): never {
  const errno = errnoOf(e);
  if (!errno) throw e;
  throw sysError(method, call, object, errno, e);
}

function flock(fd: number, op: FlockOp, opts: { nonBlocking?: boolean } = {}): boolean {
  const base = op === 'sh' ? LOCK_SH : op === 'ex' ? LOCK_EX : LOCK_UN;
  const c = loadLibc();
  for (;;) {
    if (Number(c.call('flock', fd, base | (opts.nonBlocking ? LOCK_NB : 0))) === 0) return true;
    const errno = c.errno();
    if (errno === EINTR) continue;
    if (opts.nonBlocking && errno === EWOULDBLOCK) return false;
    throw sysError('flock', `flock ${op}`, `fd ${fd}`, errno);
  }
}

function getCloexec(fd: number): boolean {
  return (check('getCloexec', 'fcntl F_GETFD', `fd ${fd}`, 'fcntl', fd, F_GETFD) & FD_CLOEXEC) !== 0;
}

function setCloexec(fd: number, on: boolean): void {
  const flags = check('setCloexec', 'fcntl F_GETFD', `fd ${fd}`, 'fcntl', fd, F_GETFD);
  const next = on ? flags | FD_CLOEXEC : flags & ~FD_CLOEXEC;
  if (next !== flags) check('setCloexec', 'fcntl F_SETFD', `fd ${fd}`, 'fcntl', fd, F_SETFD, 'int', next);
}

/** Sets FD_CLOEXEC on every fd ≥ 3 (the kept fds get theirs cleared afterwards). */
function cloexecFrom3(): void {
  const c = loadLibc();
  if (Number(c.call('close_range', 3, 0xffffffff, CLOSE_RANGE_CLOEXEC)) === 0) return;
  // close_range needs Linux 5.11 for CLOSE_RANGE_CLOEXEC; walk /proc/self/fd otherwise.
  for (const name of readdirSync('/proc/self/fd')) {
    const fd = Number(name);
    if (fd < 3) continue;
    const flags = Number(c.call('fcntl', fd, F_GETFD));
    // The directory fd of readdirSync itself is closed by now: skip what is gone.
    if (flags >= 0 && !(flags & FD_CLOEXEC)) c.call('fcntl', fd, F_SETFD, 'int', flags | FD_CLOEXEC);
  }
}

/**
 * With `RKT_TRACE=1` in the environment, the lines a Node stage prints on stderr just before it
 * replaces itself (bench/run-latency.mjs reads them): how long Node took to start, and how long
 * the process lived, in ms since it started, plus the wall clock and the program exec'd:
 * `trace: <script>.node-ready <ms>` and `trace: <script>.exec <ms> <epoch ms> <path>`.
 */
function traceExec(path: string): void {
  if (process.env['RKT_TRACE'] !== '1') return;
  const script = basename(process.argv[1] ?? 'node');
  const now = performance.now();
  try {
    writeSync(2, `trace: ${script}.node-ready ${performance.nodeTiming.bootstrapComplete.toFixed(1)}\ntrace: ${script}.exec ${now.toFixed(1)} ${(performance.timeOrigin + now).toFixed(1)} ${path}\n`);
  } catch {
    // stderr closed: tracing is best effort
  }
}

function execve(path: string, argv: readonly string[], env: ExecEnv, opts: ExecveOptions = {}): never {
  traceExec(path);
  const c = loadLibc();
  const keep = [...new Set(opts.keepFds ?? [])].filter((fd) => fd > 2).sort((a, b) => a - b);
  const envp = envList(env);
  // Check the kept fds before touching any state.
  for (const fd of keep) {
    if (Number(c.call('fcntl', fd, F_GETFD)) < 0) throw sysError('execve', 'execve', `${path}: keep fd ${fd}`, c.errno());
  }

  interface Saved { fd: number; fdFlags: number; flFlags: number }
  const saved: Saved[] = [];
  for (const fd of [0, 1, 2, ...keep]) {
    const fdFlags = Number(c.call('fcntl', fd, F_GETFD));
    if (fdFlags < 0) continue; // a closed stdio fd stays closed
    saved.push({ fd, fdFlags, flFlags: Number(c.call('fcntl', fd, F_GETFL)) });
  }
  const emptyMask = Buffer.alloc(SIGSET_BYTES);
  const oldMask = Buffer.alloc(SIGSET_BYTES);
  const restore: Array<() => void> = [];
  try {
    cloexecFrom3();
    for (const s of saved) {
      // Unconditionally: cloexecFrom3 has just set it on the kept fds.
      c.call('fcntl', s.fd, F_SETFD, 'int', s.fdFlags & ~FD_CLOEXEC);
      restore.push(() => c.call('fcntl', s.fd, F_SETFD, 'int', s.fdFlags));
      // Node leaves its stdio pipes non-blocking; most programs expect blocking stdio.
      if (s.fd <= 2 && s.flFlags >= 0 && s.flFlags & O_NONBLOCK) {
        c.call('fcntl', s.fd, F_SETFL, 'int', s.flFlags & ~O_NONBLOCK);
        restore.push(() => c.call('fcntl', s.fd, F_SETFL, 'int', s.flFlags));
      }
    }
    // Ignored signals stay ignored across execve; Node ignores these two.
    for (const sig of [SIGPIPE, SIGXFSZ]) {
      const prev = c.call('signal', sig, null);
      restore.push(() => c.call('signal', sig, prev));
    }
    if (Number(c.call('sigprocmask', SIG_SETMASK, emptyMask, oldMask)) === 0) {
      restore.push(() => c.call('sigprocmask', SIG_SETMASK, oldMask, null));
    }
    c.call('execve', path, [...argv, null], [...envp, null]);
    throw sysError('execve', 'execve', path, c.errno());
  } finally {
    for (const undo of restore.reverse()) undo();
  }
}

function capget(pid = 0): CapSets {
  const data = Buffer.alloc(24);
  check('capget', 'capget', `pid ${pid}`, 'capget', capHeader(pid), data);
  return {
    effective: maskToSet(data.readUInt32LE(0), data.readUInt32LE(12)),
    permitted: maskToSet(data.readUInt32LE(4), data.readUInt32LE(16)),
    inheritable: maskToSet(data.readUInt32LE(8), data.readUInt32LE(20)),
  };
}

function capset(sets: CapSets): void {
  const data = Buffer.alloc(24);
  const [eLo, eHi] = setToMask(sets.effective);
  const [pLo, pHi] = setToMask(sets.permitted);
  const [iLo, iHi] = setToMask(sets.inheritable);
  data.writeUInt32LE(eLo, 0);
  data.writeUInt32LE(pLo, 4);
  data.writeUInt32LE(iLo, 8);
  data.writeUInt32LE(eHi, 12);
  data.writeUInt32LE(pHi, 16);
  data.writeUInt32LE(iHi, 20);
  check('capset', 'capset', 'calling thread', 'capset', capHeader(0), data);
}

function prctl(option: number, ...args: PrctlArg[]): number {
  return check('prctl', 'prctl', `option ${option}`, 'prctl', option, ...varargs(args));
}

function setCapabilities(caps: CapabilitySpec): void {
  if (caps.bounding !== undefined) {
    const keep = new Set(caps.bounding);
    const last = lastCap();
    for (let cap = 0; cap <= last; cap++) {
      if (keep.has(cap) || prctl(PR_CAPBSET_READ, cap) !== 1) continue;
      prctl(PR_CAPBSET_DROP, cap);
    }
  }
  if (caps.effective !== undefined || caps.permitted !== undefined || caps.inheritable !== undefined) {
    const cur = capget(0);
    capset({
      effective: caps.effective === undefined ? cur.effective : new Set(caps.effective),
      permitted: caps.permitted === undefined ? cur.permitted : new Set(caps.permitted),
      inheritable: caps.inheritable === undefined ? cur.inheritable : new Set(caps.inheritable),
    });
  }
  if (caps.ambient !== undefined) {
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    for (const cap of new Set(caps.ambient)) prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0);
  }
}

function pivotRoot(newRoot: string, putOld: string): void {
  const nr = SYS_PIVOT_ROOT[process.arch];
  if (nr === undefined) throw sysError('pivotRoot', 'pivot_root', newRoot, 'ENOSYS');
  check('pivotRoot', 'pivot_root', newRoot, 'syscall', nr, 'const char *', newRoot, 'const char *', putOld);
}

const real: Sys = {
  flock,
  setCloexec,
  getCloexec,
  openDirFd(path) {
    try {
      // Node opens every fd with O_CLOEXEC.
      return openSync(path, fsConstants.O_RDONLY | fsConstants.O_DIRECTORY);
    } catch (e) {
      return fromNode('openDirFd', 'open', path, e);
    }
  },
  dup2(oldFd, newFd) {
    return check('dup2', 'dup2', `fd ${oldFd} to ${newFd}`, 'dup2', oldFd, newFd);
  },
  execve,
  mount(source, target, fstype, flags, data = null) {
    check('mount', `mount ${fstype ?? source ?? ''}`.trimEnd(), target, 'mount', source, target, fstype, flags, data);
  },
  umount2(target, flags = 0) {
    check('umount2', 'umount', target, 'umount2', target, flags);
  },
  unshare(flags) {
    check('unshare', 'unshare', `0x${flags.toString(16)}`, 'unshare', flags);
  },
  setns(fd, nstype = 0) {
    check('setns', 'setns', `fd ${fd}`, 'setns', fd, nstype);
  },
  chroot(path) {
    check('chroot', 'chroot', path, 'chroot', path);
  },
  pivotRoot,
  chdir(path) {
    try {
      process.chdir(path);
    } catch (e) {
      fromNode('chdir', 'chdir', path, e);
    }
  },
  sethostname(name) {
    check('sethostname', 'sethostname', JSON.stringify(name), 'sethostname', name, Buffer.byteLength(name));
  },
  setdomainname(name) {
    check('setdomainname', 'setdomainname', JSON.stringify(name), 'setdomainname', name, Buffer.byteLength(name));
  },
  setgroups(gids) {
    check('setgroups', 'setgroups', `[${gids.join(',')}]`, 'setgroups', gids.length, gids.length ? Uint32Array.from(gids) : null);
  },
  setresgid(r, e, s) {
    check('setresgid', 'setresgid', `${r} ${e} ${s}`, 'setresgid', idArg(r), idArg(e), idArg(s));
  },
  setresuid(r, e, s) {
    check('setresuid', 'setresuid', `${r} ${e} ${s}`, 'setresuid', idArg(r), idArg(e), idArg(s));
  },
  prctl,
  capget,
  capset,
  setfsuid: (uid) => Number(loadLibc().call('setfsuid', idArg(uid))),
  setfsgid: (gid) => Number(loadLibc().call('setfsgid', idArg(gid))),
  setCapabilities,
  kill(pid, sig) {
    try {
      process.kill(pid, sig);
    } catch (e) {
      fromNode('kill', 'kill', `pid ${pid}`, e);
    }
  },
  getpid: () => process.pid,
  getppid: () => process.ppid,
  umask: (mask) => process.umask(mask),
  mknod(path, mode, dev = 0) {
    check('mknod', 'mknod', path, 'mknod', path, mode, typeof dev === 'bigint' ? dev : BigInt(dev));
  },
};

/**
 * The real implementation: libc through koffi. koffi and libc are loaded on the first call that
 * needs them (the first costs a few milliseconds), so creating it and importing this package are
 * free. Calls that Node already offers (chdir, kill, umask, getpid, getppid, openDirFd) do not load
 * koffi at all.
 */
export function realSys(): Sys {
  return real;
}
