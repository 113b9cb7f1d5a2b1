/**
 * The named syscall groups (`@scope/name` wildcards) a seccomp isolator may use, as rkt defines
 * them (Documentation/seccomp-guide.md): appc's `@appc.io/all` and `@appc.io/empty`, and the
 * default lists `@rkt/default-whitelist`, `@rkt/default-blacklist` and their Docker twins.
 *
 * rkt's default lists are a copy of Docker's default profile of 2016. The whitelist here is that
 * list plus the calls Linux has gained since which Docker's current default profile allows for
 * everyone (without a capability): without them a current C library cannot start (`rseq`,
 * `statx`, `clone3` fallbacks, ...). Names of other architectures (`chown32`, `fcntl64`) are part
 * of the lists, as in rkt; the filter compiler skips names the target ABI does not have.
 */

/** Docker's 2016 default whitelist, as rkt ships it (`DockerDefaultSeccompWhitelist`). */
const BASE_WHITELIST = `
accept accept4 access alarm bind brk capget capset chdir chmod chown chown32 clock_getres
clock_gettime clock_nanosleep close connect copy_file_range creat dup dup2 dup3 epoll_create
epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_wait epoll_wait_old eventfd eventfd2 execve
execveat exit exit_group faccessat fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod
fchmodat fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork
fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex
futimesat getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom
getresgid getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname
getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents ioprio_get
ioprio_set io_setup io_submit ipc kill lchown lchown32 lgetxattr link linkat listen listxattr
llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise memfd_create mincore mkdir
mkdirat mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open
mq_timedreceive mq_timedsend mq_unlink mremap msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap nanosleep newfstatat _newselect open openat pause personality pipe pipe2 poll ppoll prctl
pread64 preadv prlimit64 pselect6 pwrite64 pwritev read readahead readlink readlinkat readv recv
recvfrom recvmmsg recvmsg remap_file_pages removexattr rename renameat renameat2 restart_syscall
rmdir rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
rt_sigtimedwait rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam
sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval
sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl
semget semop semtimedop send sendfile sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32
setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid
setregid32 setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32 setxattr shmat
shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigreturn socket socketcall socketpair
splice stat stat64 statfs statfs64 symlink symlinkat sync sync_file_range syncfs sysinfo syslog tee
tgkill time timer_create timer_delete timerfd_create timerfd_gettime timerfd_settime
timer_getoverrun timer_gettime timer_settime times tkill truncate truncate64 ugetrlimit umask uname
unlink unlinkat utime utimensat utimes vfork vmsplice wait4 waitid waitpid write writev arch_prctl
modify_ldt chroot clone
`;

/** Calls added to Linux after 2016 that Docker's current default profile allows to everyone. */
const NEWER_WHITELIST = `
cachestat close_range epoll_pwait2 faccessat2 fchmodat2 futex_requeue futex_wait futex_waitv
futex_wake io_pgetevents landlock_add_rule landlock_create_ruleset landlock_restrict_self listmount
map_shadow_stack membarrier memfd_secret mseal openat2 pidfd_open pidfd_send_signal pkey_alloc
pkey_free pkey_mprotect preadv2 process_mrelease pwritev2 rseq statmount statx
`;

/** Docker's 2016 default blacklist, as rkt ships it (`DockerDefaultSeccompBlacklist`). */
const BASE_BLACKLIST = `
acct add_key adjtimex bpf clock_adjtime clock_settime create_module delete_module finit_module
get_kernel_syms get_mempolicy init_module ioperm iopl kcmp kexec_file_load kexec_load keyctl
lookup_dcookie mbind mount move_pages name_to_handle_at nfsservctl open_by_handle_at
perf_event_open pivot_root process_vm_readv process_vm_writev ptrace query_module quotactl reboot
request_key set_mempolicy setns settimeofday stime swapon swapoff sysfs _sysctl umount umount2
unshare uselib userfaultfd ustat vm86 vm86old
`;

const words = (s: string): readonly string[] => Object.freeze(s.split(/\s+/).filter(Boolean));

/** `@rkt/default-whitelist` (and `@docker/default-whitelist`): the default filter's allowed calls. */
export const DEFAULT_WHITELIST: readonly string[] = Object.freeze([...words(BASE_WHITELIST), ...words(NEWER_WHITELIST)]);

/** `@rkt/default-blacklist` (and `@docker/default-blacklist`). */
export const DEFAULT_BLACKLIST: readonly string[] = words(BASE_BLACKLIST);

/**
 * Calls a filter never blocks, so that the app can be started and can exit (systemd, which
 * applies rkt's filters, permits these implicitly too).
 */
export const ALWAYS_ALLOWED: readonly string[] = Object.freeze(['execve', 'exit', 'exit_group', 'getrlimit', 'rt_sigreturn', 'sigreturn']);

/** The appc wildcard for every system call (retain-set: no filter at all). */
export const GROUP_ALL = '@appc.io/all';
/** The appc wildcard for no system call (remove-set: rkt's default whitelist). */
export const GROUP_EMPTY = '@appc.io/empty';

/** The list-valued groups by wildcard name. */
export const SYSCALL_GROUPS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  '@rkt/default-whitelist': DEFAULT_WHITELIST,
  '@rkt/default-blacklist': DEFAULT_BLACKLIST,
  '@docker/default-whitelist': DEFAULT_WHITELIST,
  '@docker/default-blacklist': DEFAULT_BLACKLIST,
});
