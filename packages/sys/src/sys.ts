/**
 * The system-call interface. {@link realSys} implements it with libc through koffi,
 * {@link recordingSys} with a recording fake for unit tests.
 *
 * Every call is synchronous and runs on the calling (main) thread. A failing call throws an
 * RktError with code `sys.<method>`, message `<call> <object>: <strerror>` and the errno name
 * (`EPERM`) in `details.errno`.
 *
 * Per-thread state: unshare, setns, chroot, pivotRoot, capabilities (capset, bounding and ambient
 * sets), no_new_privs and the process name change only the calling thread. setgroups, setresgid and
 * setresuid change every thread (glibc broadcasts them). See the package README.
 */
export interface Sys {
  /**
   * flock(2) on `fd`. Returns true when the lock was taken (or released), false only when
   * `nonBlocking` is set and the lock is held elsewhere. A blocking call blocks the event loop.
   */
  flock(fd: number, op: FlockOp, opts?: { nonBlocking?: boolean }): boolean;
  /** Sets (`on`) or clears FD_CLOEXEC on `fd`. */
  setCloexec(fd: number, on: boolean): void;
  /** Whether FD_CLOEXEC is set on `fd`. */
  getCloexec(fd: number): boolean;
  /**
   * Opens a directory O_RDONLY|O_DIRECTORY for locking or setns/openat-style use. The fd is
   * close-on-exec like every fd Node opens; pass it in `keepFds` to {@link Sys.execve} (or clear
   * the flag with {@link Sys.setCloexec}) to hand it to another program. Close it with fs.closeSync.
   */
  openDirFd(path: string): number;
  /** dup2(2): makes `newFd` a copy of `oldFd` (without FD_CLOEXEC) and returns `newFd`. */
  dup2(oldFd: number, newFd: number): number;
  /**
   * Replaces this process with `path` (no PATH search). Before execve(2) it undoes what Node does
   * to a process: clears FD_CLOEXEC and O_NONBLOCK on fds 0–2, clears FD_CLOEXEC on `keepFds`,
   * sets FD_CLOEXEC on every other fd ≥ 3, resets SIGPIPE and SIGXFSZ to SIG_DFL and empties
   * the signal mask. On failure that state is restored (except FD_CLOEXEC on the other fds) and
   * an error is thrown. Asynchronous writes still queued on process.stdout are lost: write
   * important output with fs.writeSync first.
   *
   * `env` is either an object or a list of `NAME=value` strings.
   */
  execve(path: string, argv: readonly string[], env: ExecEnv, opts?: ExecveOptions): never;

  /** mount(2). `source`, `fstype` and `data` may be null. */
  mount(source: string | null, target: string, fstype: string | null, flags: number, data?: string | null): void;
  /** umount2(2) with MNT_* / UMOUNT_NOFOLLOW flags. */
  umount2(target: string, flags?: number): void;
  /** unshare(2) with CLONE_* flags; moves only the calling thread (see README). */
  unshare(flags: number): void;
  /** setns(2) with an fd of /proc/<pid>/ns/<type> and a CLONE_NEW* type (0 = any). */
  setns(fd: number, nstype?: number): void;
  /** chroot(2). Does not change the working directory. */
  chroot(path: string): void;
  /** pivot_root(2) through syscall(2): `newRoot` becomes `/`, the old root moves to `putOld`. */
  pivotRoot(newRoot: string, putOld: string): void;
  /** Changes the working directory (through process.chdir, so process.cwd() stays right). */
  chdir(path: string): void;
  /** sethostname(2), in the calling thread's UTS namespace. */
  sethostname(name: string): void;
  /** setdomainname(2), in the calling thread's UTS namespace. */
  setdomainname(name: string): void;

  /** setgroups(2): the supplementary group list (all threads). */
  setgroups(gids: readonly number[]): void;
  /** setresgid(2); -1 leaves an id unchanged (all threads). */
  setresgid(rgid: number, egid: number, sgid: number): void;
  /** setresuid(2); -1 leaves an id unchanged (all threads). */
  setresuid(ruid: number, euid: number, suid: number): void;
  /**
   * prctl(2) with the PR_* option and up to four further arguments (numbers, bigints, strings
   * for PR_SET_NAME, Buffers for output). Returns the call's non-negative result.
   */
  prctl(option: number, ...args: PrctlArg[]): number;
  /** capget(2): the effective, permitted and inheritable sets of a thread (0 = the caller). */
  capget(pid?: number): CapSets;
  /** capset(2) on the calling thread. */
  capset(sets: CapSets): void;
  /**
   * setfsuid(2) on the calling thread: the uid that filesystem calls check and give new files.
   * Returns the previous one; -1 changes nothing (a query). Leaving 0 clears the file capabilities
   * (CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_MKNOD, ...) from the effective set; coming back
   * to 0 raises them again from the permitted set.
   */
  setfsuid(uid: number): number;
  /** setfsgid(2) on the calling thread, as {@link Sys.setfsuid}. */
  setfsgid(gid: number): number;
  /**
   * Sets the calling thread's capabilities. Each given set replaces the current one; omitted sets
   * stay. Order: drop the bounding set (needs CAP_SETPCAP), capset the effective, permitted and
   * inheritable sets, then clear and raise the ambient set (ambient caps must be permitted and
   * inheritable).
   */
  setCapabilities(caps: CapabilitySpec): void;

  /** kill(2). */
  kill(pid: number, sig: number | NodeJS.Signals): void;
  /** This process's id. */
  getpid(): number;
  /** The parent's process id (changes when the parent dies and the process is reparented). */
  getppid(): number;
  /** Sets the file-mode creation mask and returns the previous one. */
  umask(mask: number): number;
  /** mknod(2); `mode` includes the file type (S_IFCHR, S_IFBLK, S_IFIFO), `dev` from {@link makedev}. */
  mknod(path: string, mode: number, dev?: number | bigint): void;
}

/** flock operation: shared, exclusive or unlock. */
export type FlockOp = 'sh' | 'ex' | 'un';

/** The environment of an exec'd program: an object or `NAME=value` strings. */
export type ExecEnv = Readonly<Record<string, string>> | readonly string[];

export interface ExecveOptions {
  /** fds ≥ 3 that stay open in the new program (fds 0–2 always stay). */
  keepFds?: readonly number[];
}

/** An argument to prctl. */
export type PrctlArg = number | bigint | string | Buffer;

/** A thread's capability sets, as sets of capability numbers (see CAPABILITIES). */
export interface CapSets {
  effective: Set<number>;
  permitted: Set<number>;
  inheritable: Set<number>;
}

/** Desired capability sets; an omitted set is left as it is. */
export interface CapabilitySpec {
  effective?: Iterable<number>;
  permitted?: Iterable<number>;
  inheritable?: Iterable<number>;
  bounding?: Iterable<number>;
  ambient?: Iterable<number>;
}

/** The method names of {@link Sys}. */
export type SysCallName = keyof Sys;

/**
 * The device number of a major/minor pair, encoded as glibc's makedev(3).
 * A bigint because large majors do not fit in a double.
 */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major >>> 0);
  const mi = BigInt(minor >>> 0);
  return ((ma & 0xfffff000n) << 32n) | ((ma & 0xfffn) << 8n) | ((mi & 0xffffff00n) << 12n) | (mi & 0xffn);
}

/** The major number of a device number (inverse of {@link makedev}). */
export function major(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number(((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn));
}

/** The minor number of a device number (inverse of {@link makedev}). */
export function minor(dev: number | bigint): number {
  const d = BigInt(dev);
  return Number(((d >> 12n) & 0xffffff00n) | (d & 0xffn));
}
