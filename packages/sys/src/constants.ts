/**
 * Linux ABI constants (x86_64 and arm64 share these values) for the calls in {@link Sys}.
 *
 * Every value fits in a positive 32-bit integer, so flags can be combined with `|`.
 */

// mount(2) flags
/** Mount read-only. */
export const MS_RDONLY = 0x1;
/** Ignore set-user-ID and set-group-ID bits. */
export const MS_NOSUID = 0x2;
/** Disallow access to device special files. */
export const MS_NODEV = 0x4;
/** Disallow program execution. */
export const MS_NOEXEC = 0x8;
/** Writes are synced at once. */
export const MS_SYNCHRONOUS = 0x10;
/** Alter the flags of an existing mount. */
export const MS_REMOUNT = 0x20;
/** Allow mandatory locks. */
export const MS_MANDLOCK = 0x40;
/** Directory modifications are synchronous. */
export const MS_DIRSYNC = 0x80;
/** Do not follow symlinks. */
export const MS_NOSYMFOLLOW = 0x100;
/** Do not update access times. */
export const MS_NOATIME = 0x400;
/** Do not update directory access times. */
export const MS_NODIRATIME = 0x800;
/** Bind mount. */
export const MS_BIND = 0x1000;
/** Move a mount. */
export const MS_MOVE = 0x2000;
/** Recursive (with MS_BIND or a propagation flag). */
export const MS_REC = 0x4000;
/** Suppress some kernel warnings. */
export const MS_SILENT = 0x8000;
/** Make the mount unbindable. */
export const MS_UNBINDABLE = 0x20000;
/** Make the mount private (no propagation). */
export const MS_PRIVATE = 0x40000;
/** Make the mount a slave of its peer group. */
export const MS_SLAVE = 0x80000;
/** Make the mount shared. */
export const MS_SHARED = 0x100000;
/** Update access times relative to modify/change times. */
export const MS_RELATIME = 0x200000;
/** Always update access times. */
export const MS_STRICTATIME = 0x1000000;
/** Keep access times in memory only. */
export const MS_LAZYTIME = 0x2000000;

// umount2(2) flags
/** Force the unmount (NFS and friends). */
export const MNT_FORCE = 0x1;
/** Lazy unmount: detach now, clean up when no longer busy. */
export const MNT_DETACH = 0x2;
/** Mark the mount expired. */
export const MNT_EXPIRE = 0x4;
/** Do not follow a symlink as the last component of the target. */
export const UMOUNT_NOFOLLOW = 0x8;

// clone/unshare/setns flags
/** Unshare the filesystem attributes (root, cwd, umask); implied by CLONE_NEWNS. */
export const CLONE_FS = 0x200;
/** Unshare the file descriptor table. */
export const CLONE_FILES = 0x400;
/** New time namespace. */
export const CLONE_NEWTIME = 0x80;
/** New mount namespace. */
export const CLONE_NEWNS = 0x20000;
/** Unshare System V semaphore undo values. */
export const CLONE_SYSVSEM = 0x40000;
/** New cgroup namespace. */
export const CLONE_NEWCGROUP = 0x2000000;
/** New UTS (hostname) namespace. */
export const CLONE_NEWUTS = 0x4000000;
/** New IPC namespace. */
export const CLONE_NEWIPC = 0x8000000;
/** New user namespace (fails with EINVAL in a multithreaded process such as Node). */
export const CLONE_NEWUSER = 0x10000000;
/** New PID namespace (applies to children created afterwards). */
export const CLONE_NEWPID = 0x20000000;
/** New network namespace. */
export const CLONE_NEWNET = 0x40000000;

// prctl(2) options
/** Signal sent to this thread's process when its parent thread dies. */
export const PR_SET_PDEATHSIG = 1;
export const PR_GET_PDEATHSIG = 2;
export const PR_GET_DUMPABLE = 3;
export const PR_SET_DUMPABLE = 4;
export const PR_GET_KEEPCAPS = 7;
/** Keep permitted capabilities across a change from uid 0 to non-zero uids. */
export const PR_SET_KEEPCAPS = 8;
/** Set the calling thread's name (comm), at most 15 bytes. */
export const PR_SET_NAME = 15;
export const PR_GET_NAME = 16;
export const PR_GET_SECCOMP = 21;
export const PR_SET_SECCOMP = 22;
/** Whether a capability is in the bounding set (returns 1 or 0). */
export const PR_CAPBSET_READ = 23;
/** Drop a capability from the bounding set (needs CAP_SETPCAP). */
export const PR_CAPBSET_DROP = 24;
export const PR_GET_SECUREBITS = 27;
export const PR_SET_SECUREBITS = 28;
/** Become the reaper of orphaned descendants. */
export const PR_SET_CHILD_SUBREAPER = 36;
export const PR_GET_CHILD_SUBREAPER = 37;
/** Set no_new_privs: execve never grants privileges again. Cannot be unset. */
export const PR_SET_NO_NEW_PRIVS = 38;
export const PR_GET_NO_NEW_PRIVS = 39;
/** Ambient capability operations; arg2 is one of the PR_CAP_AMBIENT_* values. */
export const PR_CAP_AMBIENT = 47;
export const PR_CAP_AMBIENT_IS_SET = 1;
export const PR_CAP_AMBIENT_RAISE = 2;
export const PR_CAP_AMBIENT_LOWER = 3;
export const PR_CAP_AMBIENT_CLEAR_ALL = 4;

// flock(2)
export const LOCK_SH = 1;
export const LOCK_EX = 2;
export const LOCK_NB = 4;
export const LOCK_UN = 8;

// fcntl(2)
export const F_GETFD = 1;
export const F_SETFD = 2;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const FD_CLOEXEC = 1;
export const O_NONBLOCK = 0o4000;

// close_range(2)
export const CLOSE_RANGE_CLOEXEC = 0x4;

// mknod(2) file types for `mode`
export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFREG = 0o100000;
