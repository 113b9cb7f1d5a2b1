/*
 * rktnetes stage1-coreos init: the pod's PID 1 and its tiny parent.
 *
 * run (Node) prepares everything it can and execs this program with the path of the init spec
 * (format: src/run/spec.ts). The parent joins the pod cgroups, creates the namespaces (no pid
 * namespace with `pid host`), writes the pod's sysctls, forks the pod's PID 1, writes <pod>/pid
 * once the apps run, forwards signals and exits with PID 1's
 * status, holding the pod lock until then. PID 1 pivots into the stage1 root, mounts /proc and
 * /sys for each app, starts the apps (cgroup, mount namespace, pivot_root, capabilities, ids,
 * no_new_privs, seccomp, exec; an app with `pidns private` as the init of a pid namespace of its
 * own), tees their stdout and stderr to its own and to /rkt/log/<app>, runs their pre-start and
 * post-stop event handlers, reaps every child (orphans too), writes /rkt/status/<app> and stops
 * the pod when an app fails or a stop signal comes.
 *
 * In a mutable pod (spec key `mutable 1`) PID 1 instead serves the control socket /rkt/ctl
 * (protocol: README.md, "Mutable pods"): apps are added, started, stopped and removed on
 * request, their stdout and stderr are written to /rkt/log/<app> in the CRI log format, clients
 * attach to their stdio, and the pod keeps running when its apps exit.
 *
 * `init graft <pid> [options] <source> <target> ...` is a helper for app/add (and run): it clones
 * each mount tree at <source> (as seen by the caller, or in another mount namespace) and
 * attaches the clone at <target> inside the mount namespace of process <pid>, the pod's PID 1.
 *
 * With `notify` in the spec (rkt run started with NOTIFY_SOCKET) the parent also tells the
 * host's systemd when the pod is ready, from the apps' own sd_notify: see "sd_notify" below.
 *
 * `init exec <pod-pid> <app-pid> <app> -- <command>...` (the enter entrypoint) runs a command as
 * app <app> runs: it reads the app's spec through PID 1's root (/rkt/spec/<app>, else
 * /rkt/init.spec), joins the app's cgroups and the namespaces of its process <app-pid>, forks
 * into the app's pid namespace a process that forks the command and waits for it there (so that
 * what the command leaves goes to the pod's reaper), takes the app's root and working directory, applies the app's
 * credentials exactly as an app start does (capability sets, groups, ids, no_new_privs,
 * seccomp) and execs the command (a bare name is looked up in the app's PATH) with the app's
 * environment. It exits with the command's status (128 + signal when killed).
 *
 * With `userns <shift> <count>` in the spec (--private-users) the pod runs in a user namespace of
 * its own, and `init idmap <shift> <count> <op>...` is run's helper that checks and mounts the
 * apps' roots idmapped: see "User namespace" below.
 *
 * With `selinux-context <label>` in the spec (stage0 found SELinux on the host) every process
 * started for an app (the app, its event handlers, `init exec` commands) is given that label
 * at exec through /proc/self/attr/exec, and fails as an app whose setup failed when it cannot
 * be; `selinux-mount-context` labels the tmpfs that mask directories. Without them
 * /proc/self/attr is never touched: see "SELinux" below.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define FAIL 254
#define MAX_APPS 64
#define MAX_CLIENTS 64
/* longest log line before it is split into partial (P) entries, as containerd */
#define LINE_CAP 16384
/* largest attach frame payload */
#define FRAME_MAX 65536
/* an attach client more than this behind is dropped */
#define CLIENT_OUT_MAX (4 << 20)
#define CTL_PATH "/rkt/ctl"

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

enum { IO_NULL, IO_LOG, IO_STREAM, IO_TTY };
enum { A_FREE, A_CREATED, A_RUNNING, A_EXITED };
/* attach endpoints */
enum { E_STDIN = 1, E_STDOUT = 2, E_STDERR = 4, E_TTYIN = 8, E_TTYOUT = 16 };

struct strv { char **v; int n; };
struct lbuf { char *b; size_t n; };
struct app {
	char *name, *root, *workdir, *seccomp, *extlog, *spec;
	uid_t uid; gid_t gid; gid_t groups[64]; int ngroups;
	uint64_t bounding, inheritable, ambient;
	int nnp, has_oom, oom;
	/* a pid namespace of its own, in which the app is PID 1 */
	int pidns;
	struct strv cgroups, masks, ros, env, args;
	/* event handlers (immutable pods): argv of pre-start and post-stop */
	struct strv pre, post;
	int *cgfds;
	pid_t pid; int done;
	/* mutable pods */
	int state, status, io[3], stdin_once, mounted, exited_once;
	int in_fd, out_fd[2], pty, log_fd, ext_fd, close_in;
	struct lbuf lb[2];
	char *pend; size_t npend;
	int kill_armed; struct timespec kill_at;
	/* sd_notify: the app declares support (spec `notify 1`), and has sent READY=1 */
	int notify, notified;
};
/* C_DRAIN: done, our side shut down; input is read and dropped until the client closes */
enum { C_CMD, C_WAIT, C_ATTACH, C_DRAIN };
struct client {
	int fd, kind, app, want, closing;
	struct timespec until;
	char *in; size_t inlen;
	char *out; size_t outlen, outcap;
};
static struct {
	int debug, lockfd, interactive, stop_timeout, ipc_private, mutable;
	/* the pod stays in the host's pid namespace: PID 1 is not the namespace's init */
	int host_pid;
	char *stage1, *hostname, *net, *netns;
	struct strv cg_join, cg_move, cg_write, cg_dir;
	/* sysctls: path below /proc/sys, value, ... */
	struct strv sysctl;
	/* SELinux: label of the app processes, of the init's mounts; se_on: the host has SELinux */
	char *se_ctx, *se_mount_ctx; int se_on;
	/* PID 1's own pid namespace, to come back to after forking an app into a new one */
	int pidns_fd;
	int *cg_dirfd;
	struct app apps[MAX_APPS]; int napps;
} S = { .lockfd = -1, .stop_timeout = 10, .ipc_private = 1, .pidns_fd = -1 };
static volatile pid_t child;
static int last_cap = 40;
/* in an app's child: where to report a failure before exec (mutable pods) */
static int errpipe = -1;
/* --private-users (spec key `userns <shift> <count>`): see "User namespace" below */
static struct { int on; unsigned shift, count; } US;
static void userns_pre_pivot(const char *root);
static void userns_post_pivot(const char *root);
static int userns_sys_fallback(const char *target);
/* sd_notify (spec keys `notify`, `notify-pod`): see "sd_notify" below */
static struct { char *host, *pod; int host_fd, pod_fd, ready_sent; } N = { .host_fd = -1, .pod_fd = -1 };

static void die(const char *fmt, ...) {
	int e = errno; va_list ap; char msg[1024]; int n;
	va_start(ap, fmt); n = vsnprintf(msg, sizeof msg, fmt, ap); va_end(ap);
	if (n < 0) n = 0;
	if (e && (size_t)n < sizeof msg) snprintf(msg + n, sizeof msg - n, ": %s", strerror(e));
	fprintf(stderr, "stage1 init: %s\n", msg);
	if (errpipe >= 0) { ssize_t w = write(errpipe, msg, strlen(msg)); (void)w; }
	_exit(FAIL);
}
#define dbg(...) do { if (S.debug) { fputs("stage1 init: ", stderr); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define warnx(...) do { fputs("stage1 init: ", stderr); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } while (0)
#define check(c, ...) do { if (c) die(__VA_ARGS__); } while (0)

static void *xrealloc(void *p, size_t n) { p = realloc(p, n); if (!p) { errno = 0; die("out of memory"); } return p; }
static void push(struct strv *s, char *v) {
	s->v = xrealloc(s->v, sizeof(char *) * (s->n + 2));
	s->v[s->n++] = v; s->v[s->n] = NULL;
}
/* spec values: \\ \n \s escapes (see spec.ts) */
static char *unescape(char *s) {
	char *r = s, *w = s;
	for (; *r; r++) {
		if (*r == '\\' && r[1]) { r++; *w++ = *r == 'n' ? '\n' : *r == 's' ? ' ' : *r; }
		else *w++ = *r;
	}
	*w = 0; return s;
}
static char *field(char **rest) { /* next raw-space separated field, unescaped */
	char *f = *rest, *sp = strchr(f, ' ');
	if (sp) { *sp = 0; *rest = sp + 1; } else *rest = f + strlen(f);
	return unescape(f);
}
static uint64_t hex(const char *s) { return strtoull(s, NULL, 16); }
static int io_mode(const char *v) {
	return !strcmp(v, "log") ? IO_LOG : !strcmp(v, "stream") ? IO_STREAM : !strcmp(v, "tty") ? IO_TTY : !strcmp(v, "null") ? IO_NULL : -1;
}
static void app_defaults(struct app *a) {
	a->workdir = "/"; a->in_fd = a->pty = a->log_fd = a->ext_fd = -1; a->out_fd[0] = a->out_fd[1] = -1;
	a->io[0] = IO_NULL; a->io[1] = a->io[2] = IO_LOG;
}

/*
 * Parses a spec held in `buf` (modified in place; values point into it). With `one`, the spec
 * holds exactly one app section, stored in *one (a per-app spec of a mutable pod). Returns 0, or
 * -1 with a message in err.
 */
static int parse(char *buf, struct app *one, char *err, size_t errlen) {
	struct app *a = NULL; int sections = 0;
	for (char *line = buf, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next) *next++ = 0;
		if (!*line || *line == '#') continue;
		char *rest = strchr(line, ' '), *key = line;
		if (rest) *rest++ = 0; else rest = line + strlen(line);
		char *v = rest;
		if (!strcmp(key, "app")) {
			if (one) { if (sections++) { snprintf(err, errlen, "more than one app in the spec"); return -1; } a = one; }
			else { if (S.napps == MAX_APPS) { snprintf(err, errlen, "too many apps"); return -1; } a = &S.apps[S.napps++]; }
			app_defaults(a); a->name = unescape(v); continue;
		}
		if (!strcmp(key, "end")) { a = NULL; continue; }
		if (!strcmp(key, "cg-write") && !one) { push(&S.cg_write, field(&v)); push(&S.cg_write, unescape(v)); continue; }
		if (!strcmp(key, "sysctl") && !one) { push(&S.sysctl, field(&v)); push(&S.sysctl, unescape(v)); continue; }
		if (!strcmp(key, "groups") && a) { while (*v && a->ngroups < 64) a->groups[a->ngroups++] = strtoul(field(&v), NULL, 10); continue; }
		unescape(v);
		if (!a) {
			if (one && strcmp(key, "version")) { snprintf(err, errlen, "unexpected key %s outside the app section", key); return -1; }
			if (!strcmp(key, "version")) { if (strcmp(v, "1")) { snprintf(err, errlen, "unsupported spec version %s", v); return -1; } }
			else if (!strcmp(key, "debug")) S.debug = atoi(v);
			else if (!strcmp(key, "lockfd")) S.lockfd = atoi(v);
			else if (!strcmp(key, "stage1")) S.stage1 = v;
			else if (!strcmp(key, "hostname")) S.hostname = v;
			else if (!strcmp(key, "net")) S.net = v;
			else if (!strcmp(key, "netns")) S.netns = v;
			else if (!strcmp(key, "ipc")) S.ipc_private = strcmp(v, "parent") != 0;
			else if (!strcmp(key, "pid")) S.host_pid = !strcmp(v, "host");
			else if (!strcmp(key, "interactive")) S.interactive = atoi(v);
			else if (!strcmp(key, "stop-timeout")) S.stop_timeout = atoi(v);
			else if (!strcmp(key, "mutable")) S.mutable = atoi(v);
			else if (!strcmp(key, "cg-join")) push(&S.cg_join, v);
			else if (!strcmp(key, "cg-move")) push(&S.cg_move, v);
			else if (!strcmp(key, "cg-dir")) push(&S.cg_dir, v);
			else if (!strcmp(key, "notify")) N.host = v;
			else if (!strcmp(key, "notify-pod")) N.pod = v;
			else if (!strcmp(key, "selinux-context")) S.se_ctx = *v ? v : NULL;
			else if (!strcmp(key, "selinux-mount-context")) S.se_mount_ctx = *v ? v : NULL;
			else if (!strcmp(key, "userns")) { if (sscanf(v, "%u %u", &US.shift, &US.count) != 2 || !US.count) { snprintf(err, errlen, "invalid userns %s", v); return -1; } US.on = 1; }
			else { snprintf(err, errlen, "unknown spec key %s", key); return -1; }
			continue;
		}
		if (!strcmp(key, "root")) a->root = v;
		else if (!strcmp(key, "cgroup")) push(&a->cgroups, v);
		else if (!strcmp(key, "mask")) push(&a->masks, v);
		else if (!strcmp(key, "ro")) push(&a->ros, v);
		else if (!strcmp(key, "workdir")) a->workdir = v;
		else if (!strcmp(key, "uid")) a->uid = strtoul(v, NULL, 10);
		else if (!strcmp(key, "gid")) a->gid = strtoul(v, NULL, 10);
		else if (!strcmp(key, "bounding")) a->bounding = hex(v);
		else if (!strcmp(key, "inheritable")) a->inheritable = hex(v);
		else if (!strcmp(key, "ambient")) a->ambient = hex(v);
		else if (!strcmp(key, "nnp")) a->nnp = atoi(v);
		else if (!strcmp(key, "pidns")) a->pidns = !strcmp(v, "private");
		else if (!strcmp(key, "seccomp")) a->seccomp = v;
		else if (!strcmp(key, "oom")) { a->has_oom = 1; a->oom = atoi(v); }
		else if (!strcmp(key, "env")) push(&a->env, v);
		else if (!strcmp(key, "arg")) push(&a->args, v);
		else if (!strcmp(key, "pre-arg")) push(&a->pre, v);
		else if (!strcmp(key, "post-arg")) push(&a->post, v);
		else if (!strcmp(key, "stdin") || !strcmp(key, "stdout") || !strcmp(key, "stderr")) {
			int m = io_mode(v), s = key[3] == 'i' ? 0 : key[3] == 'o' ? 1 : 2;
			if (m < 0 || (s == 0 && m == IO_LOG)) { snprintf(err, errlen, "app %s: invalid %s mode %s", a->name, key, v); return -1; }
			a->io[s] = m;
		}
		else if (!strcmp(key, "stdin-once")) a->stdin_once = atoi(v);
		else if (!strcmp(key, "extlog")) a->extlog = v;
		else if (!strcmp(key, "notify")) a->notify = atoi(v);
		else { snprintf(err, errlen, "unknown spec key %s in app %s", key, a->name); return -1; }
	}
	if (one && !sections) { snprintf(err, errlen, "the spec has no app"); return -1; }
	struct app *first = one ? one : S.apps, *end = one ? one + 1 : S.apps + S.napps;
	for (struct app *p = first; p < end; p++) {
		if (!p->root || p->args.n == 0) { snprintf(err, errlen, "app %s has no root or no program", p->name); return -1; }
		int tty = (p->io[0] == IO_TTY) + (p->io[1] == IO_TTY) + (p->io[2] == IO_TTY);
		if (tty != 0 && tty != 3) { snprintf(err, errlen, "app %s: a tty must be used for stdin, stdout and stderr together", p->name); return -1; }
	}
	if (!one && !S.stage1) { snprintf(err, errlen, "spec has no stage1 root"); return -1; }
	return 0;
}

/* The whole file at `path`, NUL-terminated, or NULL (errno set). */
static char *slurp(const char *path) {
	int fd = open(path, O_RDONLY | O_CLOEXEC); struct stat st; char *buf = NULL;
	if (fd < 0) return NULL;
	if (!fstat(fd, &st) && (buf = malloc(st.st_size + 1))) {
		ssize_t n = read(fd, buf, st.st_size);
		if (n != st.st_size) { free(buf); buf = NULL; if (n >= 0) errno = EIO; }
		else buf[n] = 0;
	}
	int e = errno; close(fd); errno = e;
	return buf;
}

static int write_str(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = -1;
	if (fd >= 0) { r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1; close(fd); }
	return r;
}
/* decimal + newline, via a temporary file and rename, so readers never see half a file */
static int write_int_atomic(const char *path, long v) {
	char tmp[4096], buf[32];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) return -1;
	int len = snprintf(buf, sizeof buf, "%ld\n", v);
	if (write(fd, buf, len) != len || fsync(fd)) { close(fd); return -1; }
	if (close(fd) || rename(tmp, path)) return -1;
	return 0;
}
/* /rkt/supervisor-status -> ready (rkt status --wait-ready, rkt app *) */
static void supervisor_ready(void) {
	unlink("/rkt/supervisor-status.tmp");
	if (symlink("ready", "/rkt/supervisor-status.tmp") || rename("/rkt/supervisor-status.tmp", "/rkt/supervisor-status"))
		warnx("warning: cannot write /rkt/supervisor-status: %s", strerror(errno));
}

static void lo_up(void) {
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	check(s < 0, "socket");
	strcpy(ifr.ifr_name, "lo");
	check(ioctl(s, SIOCGIFFLAGS, &ifr) || (ifr.ifr_flags |= IFF_UP, ioctl(s, SIOCSIFFLAGS, &ifr)), "bring up lo");
	close(s);
}

static void pivot(const char *root) {
	userns_pre_pivot(root);
	int old = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(old < 0, "open /");
	check(chdir(root), "chdir %s", root);
	check(syscall(SYS_pivot_root, ".", "."), "pivot_root %s", root);
	/* the old root, now stacked on the new one, may hold peers of the host's mounts (rshared
	 * volumes): made a slave, its unmounting does not propagate to them (as runc does; "." after
	 * pivot_root is the new root for mount(2), hence the fchdir) */
	check(fchdir(old), "enter the old root");
	check(mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL), "make the old root a slave");
	check(umount2(".", MNT_DETACH), "detach old root");
	close(old);
	check(chdir("/"), "chdir /");
	userns_post_pivot(root);
}

/*
 * Masks (`null`: the path of /dev/null to bind on files; directories get an empty read-only
 * tmpfs) or makes read-only (`null` NULL: the path's mounts, recursively) the path `path` of the
 * app whose root is `rfd`. The path is resolved inside that root (openat2 RESOLVE_IN_ROOT), so
 * an image's symlinks cannot aim it elsewhere, and the mount is attached to the file found
 * (move_mount), not to a path looked up again. A missing path is skipped (1); -1 with errno on
 * failure.
 */
static int cover_path(int rfd, const char *path, const char *null) {
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT };
	struct stat st; int m = -1, r = -1;
	int t = syscall(SYS_openat2, rfd, path, &how, sizeof how);
	if (t < 0) return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
	if (fstat(t, &st)) goto out;
	if (null && S_ISDIR(st.st_mode)) {
		int fs = syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
		if (fs < 0) goto out;
		if ((!S.se_mount_ctx || !syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "context", S.se_mount_ctx, 0))
		    && !syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0))
			m = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
		int e = errno; close(fs); errno = e;
	} else if (null) m = syscall(SYS_open_tree, AT_FDCWD, null, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
	else {
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		m = syscall(SYS_open_tree, t, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
		if (m >= 0 && syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr)) goto out;
	}
	if (m >= 0) r = syscall(SYS_move_mount, m, "", t, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) ? -1 : 0;
out:;
	int e = errno;
	if (m >= 0) close(m);
	close(t);
	errno = e;
	return r;
}

/* /proc, /sys, masked and read-only paths of an app; -1 with a message in err on failure */
static int mount_app_fs(struct app *a, char *err, size_t errlen) {
	char p[4096], q[4096];
#define MFAIL(...) do { int e_ = errno; int n_ = snprintf(err, errlen, __VA_ARGS__); snprintf(err + n_, errlen - n_, ": %s", strerror(e_)); return -1; } while (0)
	snprintf(p, sizeof p, "%s/proc", a->root);
	if (mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) MFAIL("mount proc on %s", p);
	snprintf(p, sizeof p, "%s/sys", a->root);
	if (mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) && userns_sys_fallback(p)) MFAIL("mount sysfs on %s", p);
	int rfd = open(a->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rfd < 0) MFAIL("open %s", a->root);
	snprintf(q, sizeof q, "%s/dev/null", a->root);
	for (int i = 0; i < a->masks.n; i++)
		if (cover_path(rfd, a->masks.v[i], q) < 0) { int e_ = errno; close(rfd); errno = e_; MFAIL("mask %s in app %s", a->masks.v[i], a->name); }
	for (int i = 0; i < a->ros.n; i++)
		if (cover_path(rfd, a->ros.v[i], NULL) < 0) { int e_ = errno; close(rfd); errno = e_; MFAIL("make %s read-only in app %s", a->ros.v[i], a->name); }
	close(rfd);
#undef MFAIL
	return 0;
}

static void set_caps(uint64_t eff, uint64_t perm, uint64_t inh) {
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {
		{ (uint32_t)eff, (uint32_t)perm, (uint32_t)inh }, { eff >> 32, perm >> 32, inh >> 32 } };
	check(syscall(SYS_capset, &h, d), "capset");
}
static void get_caps(uint64_t *eff, uint64_t *perm) {
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	check(syscall(SYS_capget, &h, d), "capget");
	*eff = d[0].effective | (uint64_t)d[1].effective << 32;
	*perm = d[0].permitted | (uint64_t)d[1].permitted << 32;
}

/* The BPF program in file `path` (NULL for none), its length in *n. */
static struct sock_filter *load_seccomp(const char *path, int *n) {
	struct sock_filter *prog = NULL; struct stat st;
	*n = 0;
	if (!path) return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	check(fd < 0 || fstat(fd, &st) || !(prog = malloc(st.st_size + 1)) || read(fd, prog, st.st_size) != st.st_size, "read %s", path);
	*n = st.st_size / sizeof *prog; close(fd);
	return prog;
}

static void install_seccomp(struct sock_filter *prog, int n) {
	struct sock_fprog fp = { (unsigned short)n, prog };
	check(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp), "install seccomp filter");
}

/*
 * The app's credentials, in the order the kernel requires: oom score, bounding set, inheritable
 * set, groups and ids (keeping the capabilities raised as ambient ones), no_new_privs, seccomp
 * filter `prog` (n instructions, or NULL). Without no_new_privs, installing a filter takes
 * CAP_SYS_ADMIN, which a non-root app loses with its uid: its filter is installed before the
 * groups and ids change, and then applies to those calls too (as runc does). Shared by app
 * starts and `init exec`.
 */
static void apply_creds(struct app *a, struct sock_filter *prog, int n) {
	int early = prog && !a->nnp && a->uid != 0;
	if (a->has_oom) { char b[16]; snprintf(b, sizeof b, "%d", a->oom); if (write_str("/proc/self/oom_score_adj", b)) fprintf(stderr, "stage1 init: warning: app %s: oom_score_adj %d: %s\n", a->name, a->oom, strerror(errno)); }
	for (int c = 0; c <= last_cap; c++)
		if (!(a->bounding >> c & 1)) check(prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL, "drop capability %d", c);
	uint64_t eff, perm; get_caps(&eff, &perm);
	set_caps(eff, perm, a->inheritable & perm);
	if (a->ambient) check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep capabilities");
	if (early) install_seccomp(prog, n);
	check(setgroups(a->ngroups, a->groups), "setgroups");
	check(setresgid(a->gid, a->gid, a->gid), "setresgid %u", a->gid);
	check(setresuid(a->uid, a->uid, a->uid), "setresuid %u", a->uid);
	if (a->ambient) {
		set_caps(a->ambient, a->ambient, a->ambient);
		for (int c = 0; c <= last_cap; c++)
			if (a->ambient >> c & 1) check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0), "raise ambient capability %d", c);
	}
	if (a->nnp) check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs");
	if (prog && !early) install_seccomp(prog, n);
}

/* ------------------------------------------------------------------------------------------
 * SELinux (spec key `selinux-context`). The label is written to /proc/self/attr/exec, which the
 * kernel applies at the next execve (libselinux's setexeccon), in the process about to exec,
 * before its credentials change and its seccomp filter is installed. On a host without
 * SELinux, /proc/self/attr/exec belongs to no LSM or to another one (AppArmor reads
 * `exec <profile>` there), so the label is only written where selinuxfs is mounted on the host
 * (S.se_on, seen before pivot_root); elsewhere the process fails, naming the label: a pod meant
 * to be confined never runs unconfined.
 */

#ifndef SELINUX_MAGIC
#define SELINUX_MAGIC 0xf97cff8c
#endif
/* selinuxfs at /sys/fs/selinux: the kernel runs SELinux (it registers no selinuxfs otherwise) */
static int selinux_enabled(void) {
	struct statfs sf;
	return !statfs("/sys/fs/selinux", &sf) && (unsigned long)sf.f_type == SELINUX_MAGIC;
}
/* In the process of app `app` before its exec: the pod's label for that exec, if it has one. */
static void set_exec_label(const char *app) {
	if (!S.se_ctx) return;
	errno = 0;
	check(!S.se_on, "app %s: cannot set SELinux label %s: SELinux is not enabled on this host (no selinuxfs at /sys/fs/selinux)", app, S.se_ctx);
	int fd = open("/proc/self/attr/exec", O_WRONLY | O_CLOEXEC);
	check(fd < 0, "app %s: cannot set SELinux label %s: open /proc/self/attr/exec", app, S.se_ctx);
	size_t n = strlen(S.se_ctx);
	errno = 0;
	check(write(fd, S.se_ctx, n) != (ssize_t)n, "app %s: cannot set SELinux label %s: write /proc/self/attr/exec", app, S.se_ctx);
	close(fd);
	dbg("app %s: SELinux label %s at exec", app, S.se_ctx);
}
/* The value of pod key `key` in the spec text `buf` (left as it is), unescaped, or NULL. */
static char *spec_pod_value(const char *buf, const char *key) {
	size_t kl = strlen(key);
	for (const char *line = buf; line && *line;) {
		const char *next = strchr(line, '\n');
		size_t len = next ? (size_t)(next - line) : strlen(line);
		if (!strncmp(line, "app ", 4)) break; /* pod keys come first */
		if (len > kl && !strncmp(line, key, kl) && line[kl] == ' ') {
			char *v = strndup(line + kl + 1, len - kl - 1);
			if (!v) { errno = 0; die("out of memory"); }
			return unescape(v);
		}
		line = next ? next + 1 : NULL;
	}
	return NULL;
}

/*
 * In an app with a pid namespace of its own (its PID 1), after pivot_root: the pod's /proc
 * (and the masks below it) replaced by a /proc of the app's namespace, masked and made
 * read-only again where the app's masks and read-only paths say.
 */
static void own_proc(struct app *a) {
	/* in a user namespace a proc may only be mounted where one is visible: the pod's stays under */
	if (!US.on) check(umount2("/proc", MNT_DETACH), "unmount the pod's /proc");
	check(mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount /proc");
	int rfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	check(rfd < 0, "open /");
	for (int i = 0; i < a->masks.n; i++)
		if (!strncmp(a->masks.v[i], "/proc/", 6)) check(cover_path(rfd, a->masks.v[i], "/dev/null") < 0, "mask %s", a->masks.v[i]);
	for (int i = 0; i < a->ros.n; i++)
		if (!strncmp(a->ros.v[i], "/proc/", 6)) check(cover_path(rfd, a->ros.v[i], NULL) < 0, "make %s read-only", a->ros.v[i]);
	close(rfd);
}

/*
 * fork() for an app's process. With a pid namespace of its own (`pidns private`) the child is
 * the init of a new namespace: unshare(CLONE_NEWPID) puts the next child there, and PID 1 goes
 * back to its own namespace (S.pidns_fd) for the children after it.
 */
static pid_t app_fork(struct app *a) {
	if (!a->pidns) return fork();
	if (S.pidns_fd < 0) { errno = EBADF; return -1; }
	if (unshare(CLONE_NEWPID)) return -1;
	pid_t p = fork();
	int e = errno;
	if (p != 0) check(setns(S.pidns_fd, CLONE_NEWPID), "return to the pod's pid namespace");
	errno = e;
	return p;
}

/* In the app's child: everything from cgroup to exec of `argv` (the app's, or an event
 * handler's), in the order the kernel requires. */
static void exec_app(struct app *a, char **argv) {
	int n;
	sigset_t none; sigemptyset(&none); sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < a->cgroups.n; i++) check(write(a->cgfds[i], "0", 1) != 1, "join cgroup %s", a->cgroups.v[i]);
	struct sock_filter *prog = load_seccomp(a->seccomp, &n);
	check(unshare(CLONE_NEWNS), "unshare mount namespace");
	pivot(a->root);
	if (a->pidns) own_proc(a);
	check(chdir(a->workdir), "chdir %s", a->workdir);
	if (S.mutable) {
		for (int s = 0; s < 3; s++) {
			if (a->io[s] != IO_NULL) continue;
			int fd = open("/dev/null", s ? O_WRONLY : O_RDONLY);
			check(fd < 0 || dup2(fd, s) < 0, "open /dev/null");
			if (fd > 2) close(fd);
		}
	} else if (!S.interactive) { int fd = open("/dev/null", O_RDONLY); check(fd < 0 || dup2(fd, 0) < 0, "open /dev/null"); close(fd); }
	set_exec_label(a->name);
	apply_creds(a, prog, n);
	execve(argv[0], argv, a->env.v ? a->env.v : (char *[]){ NULL });
	die("app %s: exec %s", a->name, argv[0]);
}

static void record_pid(struct app *a) {
	char path[4096];
	snprintf(path, sizeof path, "/rkt/pids/%s", a->name);
	if (write_int_atomic(path, a->pid)) { if (!S.mutable) die("write %s", path); warnx("warning: write %s: %s", path, strerror(errno)); }
}

static void signal_app(struct app *a, int sig);
/* signals every process of the pod: kill(-1) in its own pid namespace; in the host's (where
 * kill(-1) would reach every process of the host) those in the apps' cgroups */
static void stop_all(int sig) {
	dbg("sending signal %d to the pod", sig);
	if (!S.host_pid && getpid() == 1) { kill(-1, sig); return; }
	for (int i = 0; i < S.napps; i++) if (S.apps[i].name) signal_app(&S.apps[i], sig);
}

static void write_status(struct app *a, int code) {
	char path[4096];
	snprintf(path, sizeof path, "/rkt/status/%s", a->name);
	if (write_int_atomic(path, code)) { if (!S.mutable) die("write %s", path); warnx("warning: write %s: %s", path, strerror(errno)); }
}

/* ------------------------------------------------------------------------------------------
 * Mutable pods: the control socket, logs and attach.
 */

static struct client clients[MAX_CLIENTS];
static int nclients, pod_stopping;
static struct timespec pod_deadline;

static long ms_until(const struct timespec *t) {
	struct timespec now; clock_gettime(CLOCK_MONOTONIC, &now);
	return (t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
}
static void deadline_in(struct timespec *t, int seconds) { clock_gettime(CLOCK_MONOTONIC, t); t->tv_sec += seconds; }
static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }
static void close_fd(int *fd) { if (*fd >= 0) close(*fd); *fd = -1; }

static struct app *find_app(const char *name) {
	for (int i = 0; i < S.napps; i++) if (S.apps[i].state != A_FREE && !strcmp(S.apps[i].name, name)) return &S.apps[i];
	return NULL;
}

/* a cgroup file: through the pod cgroup directories opened before pivot_root when it is below one */
static int open_cgroup(const char *path, int flags) {
	for (int i = 0; i < S.cg_dir.n; i++) {
		size_t l = strlen(S.cg_dir.v[i]);
		if (S.cg_dirfd[i] >= 0 && !strncmp(path, S.cg_dir.v[i], l) && path[l] == '/') return openat(S.cg_dirfd[i], path + l + 1, flags | O_CLOEXEC);
	}
	return open(path, flags | O_CLOEXEC);
}

/* sends `sig` to every process in the app's cgroup (the first hierarchy) and to its main process */
static void signal_app(struct app *a, int sig) {
	if (a->state == A_RUNNING) kill(a->pid, sig);
	if (a->cgroups.n == 0) return;
	int fd = open_cgroup(a->cgroups.v[0], O_RDONLY);
	if (fd < 0) return;
	char buf[8192]; ssize_t n; size_t len = 0;
	while ((n = read(fd, buf + len, sizeof buf - 1 - len)) > 0) {
		len += n; buf[len] = 0;
		char *end = strrchr(buf, '\n');
		if (!end) { if (len == sizeof buf - 1) len = 0; continue; }
		for (char *p = buf, *q; p < end; p = q) {
			long pid = strtol(p, &q, 10);
			if (q == p) break;
			if (pid > 1) kill(pid, sig);
			while (*q == '\n') q++;
		}
		len = strlen(end + 1); memmove(buf, end + 1, len + 1);
	}
	close(fd);
}

/* ----- clients */

static void client_put(struct client *c, const void *p, size_t n) {
	if (c->fd < 0 || c->closing > 1) return;
	if (c->outlen + n > CLIENT_OUT_MAX) { dbg("dropping a slow attach client"); c->closing = 2; c->outlen = 0; return; }
	if (c->outlen + n > c->outcap) { c->outcap = (c->outlen + n) * 2; c->out = xrealloc(c->out, c->outcap); }
	memcpy(c->out + c->outlen, p, n); c->outlen += n;
}
static void reply(struct client *c, const char *fmt, ...) {
	char line[1024]; va_list ap; va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 1, fmt, ap); va_end(ap);
	if (n < 0) n = 0;
	if (n > (int)sizeof line - 2) n = sizeof line - 2;
	line[n++] = '\n';
	client_put(c, line, n);
	if (c->kind != C_ATTACH) c->closing = 1;
}
static void frame(struct client *c, char type, const void *p, uint32_t n) {
	unsigned char h[5] = { type, n >> 24, n >> 16, n >> 8, n };
	client_put(c, h, 5); if (n) client_put(c, p, n);
}
static void drop_client(struct client *c);

/*
 * A client whose last reply or frame was sent. An attach client may still be writing (its stdin
 * ended, a resize): closing now would make its writes fail (EPIPE) and lose what it has not read
 * yet, so our side is shut down and its input dropped until it closes (at most 5 s).
 */
static void finish_client(struct client *c) {
	if (c->kind != C_ATTACH || c->closing > 1) { drop_client(c); return; }
	shutdown(c->fd, SHUT_WR);
	c->kind = C_DRAIN; c->closing = 0; c->inlen = 0;
	deadline_in(&c->until, 5);
}

/* ----- logs */

static void log_line(struct app *a, int s, const char *text, size_t n, int partial) {
	char ts[96]; struct timespec now; struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now); gmtime_r(&now.tv_sec, &tm);
	size_t l = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	l += snprintf(ts + l, sizeof ts - l, ".%09ldZ %s %c ", now.tv_nsec, s ? "stderr" : "stdout", partial ? 'P' : 'F');
	struct iovec iov[3] = { { ts, l }, { (void *)text, n }, { "\n", 1 } };
	if (a->log_fd >= 0 && writev(a->log_fd, iov, 3) < 0) dbg("app %s: write log: %s", a->name, strerror(errno));
	if (a->ext_fd >= 0 && writev(a->ext_fd, iov, 3) < 0) dbg("app %s: write %s: %s", a->name, a->extlog, strerror(errno));
}
/* splits output into lines: F for a whole line, P for a piece of a line longer than LINE_CAP */
static void log_data(struct app *a, int s, const char *p, size_t n) {
	struct lbuf *b = &a->lb[s];
	if (!b->b) b->b = xrealloc(NULL, LINE_CAP);
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;
		if (take > LINE_CAP - b->n) take = LINE_CAP - b->n;
		memcpy(b->b + b->n, p, take); b->n += take; p += take; n -= take;
		if (nl && p == nl) { log_line(a, s, b->b, b->n, 0); b->n = 0; p++; n--; }
		else if (b->n == LINE_CAP) { log_line(a, s, b->b, b->n, 1); b->n = 0; }
	}
}
static void log_flush(struct app *a) {
	for (int s = 0; s < 2; s++) if (a->lb[s].n) { log_line(a, s, a->lb[s].b, a->lb[s].n, 0); a->lb[s].n = 0; }
}
static int open_logs(struct app *a, char *err, size_t errlen) {
	char path[512];
	snprintf(path, sizeof path, "/rkt/log/%s", a->name);
	close_fd(&a->log_fd); close_fd(&a->ext_fd);
	if ((a->log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) { snprintf(err, errlen, "open %s: %s", path, strerror(errno)); return -1; }
	if (a->extlog && (a->ext_fd = open(a->extlog, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) < 0) { snprintf(err, errlen, "open %s: %s", a->extlog, strerror(errno)); return -1; }
	return 0;
}

/* output of an app: to its log and to the clients attached to that stream */
static void tee_out(int s, const char *p, size_t n);
static void app_output(struct app *a, int s, const char *p, size_t n) {
	log_data(a, s, p, n);
	if (!S.mutable) { tee_out(s, p, n); return; }
	int want = s ? E_STDERR : (E_STDOUT | E_TTYOUT);
	for (int i = 0; i < nclients; i++) {
		struct client *c = &clients[i];
		if (c->kind == C_ATTACH && c->app == a - S.apps && (c->want & want)) frame(c, s ? 'e' : 'o', p, n);
	}
}
/* reads what is there; returns 0 at end of file (or a hung-up pty), 1 otherwise */
static int drain(struct app *a, int *fd, int s) {
	char buf[65536];
	for (;;) {
		ssize_t n = read(*fd, buf, sizeof buf);
		if (n > 0) { app_output(a, s, buf, n); continue; }
		if (n < 0 && errno == EINTR) continue;
		if (n < 0 && errno == EAGAIN) return 1;
		close_fd(fd);
		return 0;
	}
}

/* ----- input */

static int input_fd(struct app *a) { return a->io[0] == IO_TTY ? a->pty : a->in_fd; }
static void close_input(struct app *a) {
	if (a->io[0] == IO_TTY) return;
	if (a->npend) { a->close_in = 1; return; }
	close_fd(&a->in_fd); a->close_in = 0;
}
static void flush_input(struct app *a) {
	int fd = input_fd(a);
	if (fd < 0) { a->npend = 0; return; }
	while (a->npend > 0) {
		ssize_t w = write(fd, a->pend, a->npend);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && errno == EAGAIN) return;
		if (w < 0) { a->npend = 0; if (a->io[0] != IO_TTY) close_fd(&a->in_fd); return; }
		memmove(a->pend, a->pend + w, a->npend - w); a->npend -= w;
	}
	if (a->close_in) close_input(a);
}
static void app_input(struct app *a, const char *p, size_t n) {
	if (input_fd(a) < 0) return;
	a->pend = xrealloc(a->pend, a->npend + n);
	memcpy(a->pend + a->npend, p, n); a->npend += n;
	flush_input(a);
}

/* ----- app lifecycle */

static void app_exited(struct app *a, int code) {
	a->state = A_EXITED; a->status = code; a->kill_armed = 0;
	write_status(a, code);
	dbg("app %s exited with %d", a->name, code);
	if (a->pty >= 0) drain(a, &a->pty, 0);
	for (int s = 0; s < 2; s++) if (a->out_fd[s] >= 0) { drain(a, &a->out_fd[s], s); close_fd(&a->out_fd[s]); }
	close_fd(&a->pty); close_fd(&a->in_fd);
	a->npend = 0; a->close_in = 0;
	log_flush(a);
	/* what the app left behind goes with it, as when a container's init exits */
	signal_app(a, SIGKILL);
	unsigned char st[4] = { code >> 24, code >> 16, code >> 8, code };
	for (int i = 0; i < nclients; i++) {
		struct client *c = &clients[i];
		if (c->app != a - S.apps) continue;
		if (c->kind == C_WAIT) reply(c, "ok %d", code);
		else if (c->kind == C_ATTACH) { frame(c, 'x', st, 4); c->closing = 1; }
	}
}

static int start_mutable(struct app *a, char *err, size_t errlen) {
	int in = -1, out[2] = { -1, -1 }, ep[2] = { -1, -1 }, p[2];
	a->cgfds = xrealloc(a->cgfds, sizeof(int) * (a->cgroups.n + 1));
	for (int i = 0; i < a->cgroups.n; i++) a->cgfds[i] = -1;
#define SFAIL(...) do { int e_ = errno; int n_ = snprintf(err, errlen, __VA_ARGS__); snprintf(err + n_, errlen - n_, ": %s", strerror(e_)); goto fail; } while (0)
	for (int i = 0; i < a->cgroups.n; i++) if ((a->cgfds[i] = open_cgroup(a->cgroups.v[i], O_WRONLY)) < 0) SFAIL("open %s", a->cgroups.v[i]);
	if (a->io[0] == IO_TTY) {
		char ptmx[4096]; int unlock = 0; struct winsize ws = { .ws_row = 24, .ws_col = 80 };
		snprintf(ptmx, sizeof ptmx, "%s/dev/pts/ptmx", a->root);
		if ((a->pty = open(ptmx, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK)) < 0) SFAIL("open %s", ptmx);
		if (ioctl(a->pty, TIOCSPTLCK, &unlock)) SFAIL("unlock pty");
		ioctl(a->pty, TIOCSWINSZ, &ws);
	} else {
		if (a->io[0] == IO_STREAM) { if (pipe2(p, O_CLOEXEC)) SFAIL("pipe"); in = p[0]; a->in_fd = p[1]; set_nonblock(a->in_fd); }
		for (int s = 0; s < 2; s++) {
			if (a->io[s + 1] == IO_NULL) continue;
			if (pipe2(p, O_CLOEXEC)) SFAIL("pipe");
			a->out_fd[s] = p[0]; out[s] = p[1]; set_nonblock(a->out_fd[s]);
		}
	}
	if (pipe2(ep, O_CLOEXEC)) SFAIL("pipe");
	pid_t pid = app_fork(a);
	if (pid < 0) SFAIL("fork");
	if (pid == 0) {
		close(ep[0]); errpipe = ep[1];
		check(setsid() < 0, "setsid");
		if (a->pty >= 0) {
			int slave = ioctl(a->pty, TIOCGPTPEER, O_RDWR | O_NOCTTY);
			check(slave < 0, "open the pty of app %s", a->name);
			if (fchown(slave, a->uid, -1)) { /* the app may not own its terminal: not fatal */ }
			check(ioctl(slave, TIOCSCTTY, 0), "set the controlling terminal");
			for (int s = 0; s < 3; s++) check(dup2(slave, s) < 0, "dup2");
			if (slave > 2) close(slave);
		} else {
			if (in >= 0) check(dup2(in, 0) < 0, "dup2");
			for (int s = 0; s < 2; s++) if (out[s] >= 0) check(dup2(out[s], s + 1) < 0, "dup2");
		}
		exec_app(a, a->args.v);
	}
	close(ep[1]); ep[1] = -1;
	close_fd(&in); close_fd(&out[0]); close_fd(&out[1]);
	for (int i = 0; i < a->cgroups.n; i++) close_fd(&a->cgfds[i]);
	a->pid = pid; a->state = A_RUNNING; a->kill_armed = 0; a->npend = 0; a->close_in = 0;
	char msg[1024]; ssize_t n, len = 0;
	while ((n = read(ep[0], msg + len, sizeof msg - 1 - len)) != 0) {
		if (n < 0 && errno == EINTR) continue;
		if (n < 0) break;
		len += n;
		if (len == (ssize_t)sizeof msg - 1) break;
	}
	close(ep[0]);
	record_pid(a);
	if (len > 0) { msg[len] = 0; snprintf(err, errlen, "%s", msg); return -1; }
	dbg("app %s started, pid %d", a->name, pid);
	return 0;
fail:
	for (int i = 0; i < a->cgroups.n; i++) close_fd(&a->cgfds[i]);
	close_fd(&in); close_fd(&out[0]); close_fd(&out[1]); close_fd(&ep[0]); close_fd(&ep[1]);
	close_fd(&a->pty); close_fd(&a->in_fd); close_fd(&a->out_fd[0]); close_fd(&a->out_fd[1]);
	return -1;
#undef SFAIL
}

static void free_app(struct app *a) {
	struct strv *lists[] = { &a->cgroups, &a->masks, &a->ros, &a->env, &a->args, &a->pre, &a->post };
	for (unsigned i = 0; i < sizeof lists / sizeof *lists; i++) free(lists[i]->v);
	free(a->cgfds); free(a->lb[0].b); free(a->lb[1].b); free(a->pend); free(a->spec);
	memset(a, 0, sizeof *a);
	while (S.napps > 0 && S.apps[S.napps - 1].state == A_FREE) S.napps--;
}

/* detaches the app's root (with /proc, /sys and everything app/add grafted) and its extra log directory */
static void unmount_app(struct app *a) {
	if (umount2(a->root, MNT_DETACH)) dbg("unmount %s: %s", a->root, strerror(errno));
	if (a->extlog) {
		char dir[4096], *slash;
		snprintf(dir, sizeof dir, "%s", a->extlog);
		if ((slash = strrchr(dir, '/')) && slash != dir) { *slash = 0; if (umount2(dir, MNT_DETACH)) dbg("unmount %s: %s", dir, strerror(errno)); }
	}
}

/* ----- commands */

static int valid_name(const char *n) {
	if (!*n || strlen(n) > 255) return 0;
	for (const char *p = n; *p; p++) if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-')) return 0;
	return 1;
}

static void cmd_add(struct client *c, const char *name) {
	char path[512], err[1024];
	if (find_app(name)) { reply(c, "error app.exists app %s already exists", name); return; }
	int slot = -1;
	for (int i = 0; i < S.napps; i++) if (S.apps[i].state == A_FREE) { slot = i; break; }
	if (slot < 0) { if (S.napps == MAX_APPS) { reply(c, "error pod.full the pod has %d apps already", MAX_APPS); return; } slot = S.napps++; }
	struct app *a = &S.apps[slot];
	memset(a, 0, sizeof *a);
	snprintf(path, sizeof path, "/rkt/spec/%s", name);
	if (!(a->spec = slurp(path))) { reply(c, "error app.spec cannot read %s: %s", path, strerror(errno)); free_app(a); return; }
	if (parse(a->spec, a, err, sizeof err)) { reply(c, "error app.spec %s: %s", path, err); free_app(a); return; }
	if (strcmp(a->name, name)) { reply(c, "error app.spec %s describes app %s", path, a->name); free_app(a); return; }
	if (mount_app_fs(a, err, sizeof err) || open_logs(a, err, sizeof err)) {
		reply(c, "error app.setup app %s: %s", name, err);
		close_fd(&a->log_fd); close_fd(&a->ext_fd);
		/* the app's mounts (grafted by app/add, /proc, /sys) go: app/rm will not know the app */
		unmount_app(a);
		free_app(a); return;
	}
	a->state = A_CREATED;
	dbg("app %s added", name);
	reply(c, "ok");
}

static void cmd_start(struct client *c, struct app *a) {
	char err[1024];
	if (pod_stopping) { reply(c, "error pod.stopping the pod is stopping"); return; }
	if (a->state == A_RUNNING) { reply(c, "error app.running app %s is already running", a->name); return; }
	if (start_mutable(a, err, sizeof err)) {
		reply(c, "error app.start app %s: %s", a->name, err);
		return;
	}
	reply(c, "ok %d", a->pid);
}

static void cmd_stop(struct client *c, struct app *a, int sig, int timeout) {
	if (a->state != A_RUNNING) { if (a->state == A_EXITED) reply(c, "ok %d", a->status); else reply(c, "ok -"); return; }
	if (sig <= 0 || sig >= NSIG) sig = SIGTERM;
	dbg("stopping app %s: signal %d, %d s", a->name, sig, timeout);
	kill(a->pid, sig);
	if (timeout <= 0) signal_app(a, SIGKILL);
	else if (!a->kill_armed || ms_until(&a->kill_at) > timeout * 1000L) { a->kill_armed = 1; deadline_in(&a->kill_at, timeout); }
	c->kind = C_WAIT; c->app = a - S.apps;
}

static void cmd_rm(struct client *c, struct app *a) {
	char path[4096];
	if (a->state == A_RUNNING) { reply(c, "error app.running app %s is running, stop it first", a->name); return; }
	for (int i = 0; i < nclients; i++) if (clients[i].app == a - S.apps && clients[i].kind != C_CMD) drop_client(&clients[i]);
	close_fd(&a->log_fd); close_fd(&a->ext_fd);
	unmount_app(a);
	snprintf(path, sizeof path, "/rkt/pids/%s", a->name); unlink(path);
	dbg("app %s removed", a->name);
	free_app(a);
	reply(c, "ok");
}

/* endpoints an app offers */
static int endpoints_of(struct app *a) {
	if (a->io[0] == IO_TTY) return E_TTYIN | E_TTYOUT;
	return (a->io[0] == IO_STREAM ? E_STDIN : 0) | (a->io[1] != IO_NULL ? E_STDOUT : 0) | (a->io[2] != IO_NULL ? E_STDERR : 0);
}
static const char *ep_names[] = { "stdin", "stdout", "stderr", "tty-in", "tty-out" };
static void format_endpoints(char *out, size_t len, int eps) {
	out[0] = 0;
	for (int i = 0; i < 5; i++) if (eps & (1 << i)) { if (out[0]) strncat(out, ",", len - strlen(out) - 1); strncat(out, ep_names[i], len - strlen(out) - 1); }
	if (!out[0]) snprintf(out, len, "-");
}

static void cmd_attach(struct client *c, struct app *a, char *what) {
	int have = endpoints_of(a), want = 0; char list[128];
	if (a->state != A_RUNNING) { reply(c, "error app.not-running app %s is not running", a->name); return; }
	if (!strcmp(what, "auto")) want = have;
	else for (char *tok = strtok(what, ","); tok; tok = strtok(NULL, ",")) {
		int found = 0;
		for (int i = 0; i < 5; i++) if (!strcmp(tok, ep_names[i])) { want |= 1 << i; found = 1; }
		if (!found) { reply(c, "error attach.endpoint unknown endpoint %s", tok); return; }
	}
	if (want & ~have) { format_endpoints(list, sizeof list, want & ~have); reply(c, "error attach.endpoint app %s has no %s endpoint", a->name, list); return; }
	if (!want) { reply(c, "error attach.endpoint app %s has no endpoint to attach to", a->name); return; }
	c->kind = C_ATTACH; c->app = a - S.apps; c->want = want;
	format_endpoints(list, sizeof list, want);
	reply(c, "ok %s", list);
}

static void cmd_list(struct client *c) {
	char line[1024]; size_t len = 0;
	static const char *states[] = { "free", "created", "running", "exited" };
	len += snprintf(line, sizeof line, "ok");
	for (int i = 0; i < S.napps && len < sizeof line - 1; i++) {
		struct app *a = &S.apps[i];
		if (a->state == A_FREE) continue;
		len += snprintf(line + len, sizeof line - len, " %s:%s:%d:%d", a->name, states[a->state], a->state == A_RUNNING ? a->pid : 0, a->state == A_EXITED ? a->status : -1);
	}
	reply(c, "%s", line);
}

static void command(struct client *c, char *line) {
	char *argv[8]; int argc = 0;
	for (char *tok = strtok(line, " "); tok && argc < 8; tok = strtok(NULL, " ")) argv[argc++] = tok;
	if (argc == 0) { reply(c, "error ctl.invalid empty request"); return; }
	dbg("control: %s%s%s", argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
	if (!strcmp(argv[0], "list")) { cmd_list(c); return; }
	if (argc < 2 || !valid_name(argv[1])) { reply(c, "error ctl.invalid %s needs an app name", argv[0]); return; }
	if (!strcmp(argv[0], "add")) { if (argc != 2) reply(c, "error ctl.invalid usage: add <app>"); else cmd_add(c, argv[1]); return; }
	struct app *a = find_app(argv[1]);
	if (!a) { reply(c, "error app.unknown app %s is not in the pod", argv[1]); return; }
	if (!strcmp(argv[0], "start") && argc == 2) cmd_start(c, a);
	else if (!strcmp(argv[0], "stop") && argc == 4) cmd_stop(c, a, atoi(argv[2]), atoi(argv[3]));
	else if (!strcmp(argv[0], "rm") && argc == 2) cmd_rm(c, a);
	else if (!strcmp(argv[0], "attach") && argc == 3) cmd_attach(c, a, argv[2]);
	else if (!strcmp(argv[0], "endpoints") && argc == 2) { char list[128]; format_endpoints(list, sizeof list, endpoints_of(a)); reply(c, "ok %s", list); }
	else if (!strcmp(argv[0], "reopen") && argc == 2) { char err[1024]; if (open_logs(a, err, sizeof err)) reply(c, "error app.log %s", err); else reply(c, "ok"); }
	else reply(c, "error ctl.invalid unknown request %s with %d arguments", argv[0], argc - 1);
}

/* frames from an attach client: 'i' input, 'c' close stdin, 'r' resize (rows, cols) */
static void attach_frames(struct client *c) {
	struct app *a = &S.apps[c->app];
	size_t off = 0;
	while (c->inlen - off >= 5) {
		unsigned char *h = (unsigned char *)c->in + off;
		uint32_t n = (uint32_t)h[1] << 24 | h[2] << 16 | h[3] << 8 | h[4];
		if (n > FRAME_MAX) { drop_client(c); return; }
		if (c->inlen - off < 5 + n) break;
		char *p = c->in + off + 5;
		if (h[0] == 'i' && (c->want & (E_STDIN | E_TTYIN))) app_input(a, p, n);
		else if (h[0] == 'c' && (c->want & E_STDIN) && a->stdin_once) close_input(a);
		else if (h[0] == 'r' && n == 4 && a->pty >= 0) {
			struct winsize ws = { .ws_row = (unsigned char)p[0] << 8 | (unsigned char)p[1], .ws_col = (unsigned char)p[2] << 8 | (unsigned char)p[3] };
			ioctl(a->pty, TIOCSWINSZ, &ws);
		}
		off += 5 + n;
	}
	memmove(c->in, c->in + off, c->inlen - off); c->inlen -= off;
}

static void drop_client(struct client *c) {
	if (c->fd < 0) return;
	if (c->kind == C_ATTACH && (c->want & E_STDIN)) {
		struct app *a = &S.apps[c->app];
		if (a->stdin_once && a->state == A_RUNNING) close_input(a);
	}
	close(c->fd); c->fd = -1;
	free(c->in); free(c->out); c->in = c->out = NULL;
}

static void client_read(struct client *c) {
	size_t cap = 5 + FRAME_MAX;
	ssize_t n = read(c->fd, c->in + c->inlen, cap - c->inlen);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
	if (n <= 0) { drop_client(c); return; }
	c->inlen += n;
	if (c->kind == C_ATTACH) { attach_frames(c); return; }
	if (c->kind != C_CMD) { c->inlen = 0; return; }
	char *nl = memchr(c->in, '\n', c->inlen);
	if (!nl) { if (c->inlen >= 4096) { reply(c, "error ctl.invalid request too long"); c->inlen = 0; } return; }
	*nl = 0;
	size_t rest = c->inlen - (nl + 1 - c->in);
	char line[4096]; snprintf(line, sizeof line, "%s", c->in);
	memmove(c->in, nl + 1, rest); c->inlen = rest;
	command(c, line);
	if (c->kind == C_ATTACH && c->inlen) attach_frames(c);
}

static void client_write(struct client *c) {
	while (c->outlen > 0) {
		ssize_t w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && errno == EAGAIN) return;
		if (w < 0) { drop_client(c); return; }
		memmove(c->out, c->out + w, c->outlen - w); c->outlen -= w;
	}
	if (c->closing) finish_client(c);
}

/* ----- the loop */

static void begin_pod_stop(void) {
	if (!pod_stopping) { pod_stopping = 1; deadline_in(&pod_deadline, S.stop_timeout); dbg("stopping the pod"); }
	stop_all(SIGTERM);
}

static int running_apps(void) {
	int n = 0;
	for (int i = 0; i < S.napps; i++) n += S.apps[i].state == A_RUNNING;
	return n;
}

/* ------------------------------------------------------------------------------------------
 * Immutable pods: start every app, tee their output to the log and to rkt run's stdout/stderr.
 */

/* whether rkt run's stdout (0) and stderr (1) still take output (a closed reader stops the tee) */
static int tee_ok[2] = { 1, 1 };
/* app output to the init's own stdout/stderr, waiting while the reader is slow (no data lost) */
static void tee_out(int s, const char *p, size_t n) {
	int fd = s ? 2 : 1;
	while (tee_ok[s] && n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) { p += w; n -= w; continue; }
		if (w < 0 && errno == EINTR) continue;
		if (w < 0 && errno == EAGAIN) { struct pollfd q = { fd, POLLOUT, 0 }; poll(&q, 1, -1); continue; }
		tee_ok[s] = 0;
	}
}
static void log_flush_stream(struct app *a, int s) {
	if (a->lb[s].n) { log_line(a, s, a->lb[s].b, a->lb[s].n, 0); a->lb[s].n = 0; }
}
/* reads what an app's stream holds now; at its end, its last unterminated line is logged */
static void drain_stream(struct app *a, int s) {
	if (a->out_fd[s] >= 0 && !drain(a, &a->out_fd[s], s)) log_flush_stream(a, s);
}

static pid_t fork_exec(struct app *a, char **argv) {
	pid_t p = fork();
	check(p < 0, "fork app %s", a->name);
	if (p == 0) exec_app(a, argv);
	return p;
}
static int wait_status(pid_t p) {
	int st;
	while (waitpid(p, &st, 0) < 0) if (errno != EINTR) return FAIL;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
/*
 * The child of PID 1 for an app with event handlers: runs the pre-start handler, then (if it
 * exited 0) the app, then the post-stop handler, each in the app's context (cgroup, root, ids,
 * environment, capabilities, seccomp), and exits with the app's status, or the pre-start
 * handler's when it failed. Its signals stay blocked: a pod stop reaches the app, not it.
 */
static void supervise_app(struct app *a) {
	int code = 0;
	if (a->pre.n && (code = wait_status(fork_exec(a, a->pre.v))))
		fprintf(stderr, "stage1 init: app %s: pre-start handler failed with status %d\n", a->name, code);
	if (!code) {
		a->pid = fork_exec(a, a->args.v);
		record_pid(a);
		code = wait_status(a->pid);
	}
	int post = a->post.n ? wait_status(fork_exec(a, a->post.v)) : 0;
	if (post) fprintf(stderr, "stage1 init: app %s: post-stop handler failed with status %d\n", a->name, post);
	_exit(code);
}

/* forks an app; without --interactive its stdout and stderr are pipes the init reads */
static void start_app(struct app *a) {
	int out[2] = { -1, -1 }, p[2];
	if (!S.interactive) for (int s = 0; s < 2; s++) {
		check(pipe2(p, O_CLOEXEC), "pipe");
		a->out_fd[s] = p[0]; out[s] = p[1]; set_nonblock(p[0]);
	}
	pid_t pid = app_fork(a);
	check(pid < 0, "fork app %s", a->name);
	if (pid == 0) {
		for (int s = 0; s < 2; s++) if (out[s] >= 0) check(dup2(out[s], s + 1) < 0, "dup2");
		if (a->pre.n || a->post.n) supervise_app(a);
		exec_app(a, a->args.v);
	}
	for (int s = 0; s < 2; s++) close_fd(&out[s]);
	a->pid = pid;
	for (int i = 0; i < a->cgroups.n; i++) close(a->cgfds[i]);
	/* with event handlers, the app's supervisor records the app's own pid */
	if (!a->pre.n && !a->post.n) record_pid(a);
	dbg("app %s started, pid %d", a->name, pid);
}

/*
 * What PID 1 takes from the host's view before pivot_root: its own pid namespace (to come back
 * to after forking an app into a new one), the pod cgroup directories (`cg-dir`, to reach the
 * apps' cgroups), and, in the host's pid namespace, the role of reaper of the pod's orphans
 * (which the init of a pid namespace has anyway).
 */
static void pid1_prepare(void) {
	if ((S.pidns_fd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC)) < 0) dbg("open /proc/self/ns/pid: %s", strerror(errno));
	if (S.host_pid) check(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), "become the reaper of the pod's orphans");
	S.cg_dirfd = calloc(S.cg_dir.n + 1, sizeof(int));
	for (int i = 0; i < S.cg_dir.n; i++) check((S.cg_dirfd[i] = open(S.cg_dir.v[i], O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0, "open %s", S.cg_dir.v[i]);
}

/* PID 1 of an immutable pod: start every app, stop the pod when one fails, exit when all exited. */
static void pod_init(int ready) {
	sigset_t set; char err[1024];
	int running = 0, stopping = 0, status = 0; struct timespec deadline = { 0 };
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (S.lockfd >= 0) close(S.lockfd);
	check(unshare(CLONE_NEWNS), "unshare mount namespace");
	pid1_prepare();
	for (int i = 0; i < S.napps; i++) {
		struct app *a = &S.apps[i];
		a->cgfds = calloc(a->cgroups.n + 1, sizeof(int));
		for (int j = 0; j < a->cgroups.n; j++) check((a->cgfds[j] = open(a->cgroups.v[j], O_WRONLY | O_CLOEXEC)) < 0, "open %s", a->cgroups.v[j]);
	}
	pivot(S.stage1);
	for (int i = 0; i < S.napps; i++) if (mount_app_fs(&S.apps[i], err, sizeof err)) { errno = 0; die("%s", err); }
	if (!S.interactive) {
		mkdir("/rkt/log", 0755);
		for (int i = 0; i < S.napps; i++) if (open_logs(&S.apps[i], err, sizeof err)) { errno = 0; die("%s", err); }
	}
	sigemptyset(&set);
	for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP && !(S.interactive && (s == SIGINT || s == SIGQUIT))) sigaddset(&set, s);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	check(sfd < 0, "signalfd");
	for (int i = 0; i < S.napps; i++) { start_app(&S.apps[i]); running++; }
	supervisor_ready();
	check(write(ready, "r", 1) != 1, "report readiness"); close(ready);
	struct pollfd pfd[1 + 2 * MAX_APPS]; int who[1 + 2 * MAX_APPS];
	while (running > 0) {
		int n = 0; long timeout = -1;
		pfd[n++] = (struct pollfd){ sfd, POLLIN, 0 };
		for (int i = 0; i < S.napps; i++)
			for (int s = 0; s < 2; s++) if (S.apps[i].out_fd[s] >= 0) { pfd[n] = (struct pollfd){ S.apps[i].out_fd[s], POLLIN, 0 }; who[n++] = 2 * i + s; }
		if (stopping) {
			timeout = ms_until(&deadline);
			if (timeout <= 0) { stop_all(SIGKILL); deadline_in(&deadline, 1); timeout = 1000; }
		}
		int r = poll(pfd, n, (int)timeout);
		check(r < 0 && errno != EINTR, "poll");
		for (int k = 1; r > 0 && k < n; k++) if (pfd[k].revents) drain_stream(&S.apps[who[k] / 2], who[k] % 2);
		if (r > 0 && pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == sizeof si) {
				int sig = si.ssi_signo;
				if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
					if (!stopping) { stopping = 1; deadline_in(&deadline, S.stop_timeout); }
					stop_all(SIGTERM);
				} else if (sig == SIGUSR1 || sig == SIGUSR2) stop_all(sig);
			}
		}
		int st; pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			for (int i = 0; i < S.napps; i++) {
				struct app *a = &S.apps[i];
				if (a->pid != p || a->done) continue;
				int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				a->done = 1; running--;
				/* what it wrote before exiting is in the pipes: log it before the status appears */
				for (int s = 0; s < 2; s++) drain_stream(a, s);
				write_status(a, code);
				dbg("app %s exited with %d", a->name, code);
				if (code != 0 && !status) status = code;
				if (code != 0 && !stopping && running > 0) { stopping = 1; stop_all(SIGTERM); deadline_in(&deadline, S.stop_timeout); }
			}
		}
	}
	/* output still buffered by processes the apps left behind, then the last partial lines */
	for (int i = 0; i < S.napps; i++) for (int s = 0; s < 2; s++) { drain_stream(&S.apps[i], s); log_flush_stream(&S.apps[i], s); }
	dbg("all apps exited, pod status %d", status);
	/* in the host's pid namespace nothing ends with PID 1: what the apps left goes now */
	if (S.host_pid) stop_all(SIGKILL);
	_exit(status);
}

/* PID 1 of a mutable pod: serve the control socket until stopped. */
static void pod_init_mutable(int ready) {
	sigset_t set; struct sockaddr_un sa = { .sun_family = AF_UNIX };
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (S.lockfd >= 0) close(S.lockfd);
	check(unshare(CLONE_NEWNS), "unshare mount namespace");
	pid1_prepare();
	pivot(S.stage1);
	mkdir("/rkt/log", 0755); mkdir("/rkt/spec", 0755);
	sigemptyset(&set);
	int sigs[] = { SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE };
	for (unsigned i = 0; i < sizeof sigs / sizeof *sigs; i++) sigaddset(&set, sigs[i]);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	check(sfd < 0, "signalfd");
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	check(lfd < 0, "socket");
	strcpy(sa.sun_path, CTL_PATH);
	unlink(CTL_PATH);
	mode_t old = umask(0077);
	check(bind(lfd, (struct sockaddr *)&sa, sizeof sa), "bind %s", CTL_PATH);
	umask(old);
	check(listen(lfd, 64), "listen %s", CTL_PATH);
	supervisor_ready();
	check(write(ready, "r", 1) != 1, "report readiness"); close(ready);
	dbg("mutable pod ready, serving %s", CTL_PATH);

	struct pollfd pfd[2 + MAX_CLIENTS + 3 * MAX_APPS];
	struct { int kind, idx, s; } who[2 + MAX_CLIENTS + 3 * MAX_APPS];
	for (;;) {
		if (pod_stopping && running_apps() == 0) break;
		int n = 0; long timeout = -1;
		pfd[n] = (struct pollfd){ sfd, POLLIN, 0 }; who[n++].kind = 0;
		if (!pod_stopping) { pfd[n] = (struct pollfd){ lfd, POLLIN, 0 }; who[n++].kind = 1; }
		for (int i = 0; i < nclients; i++) {
			struct client *c = &clients[i];
			short ev = c->outlen ? POLLOUT : 0;
			if (c->kind == C_CMD || c->kind == C_DRAIN || (c->kind == C_ATTACH && S.apps[c->app].npend == 0 && !c->closing)) ev |= POLLIN;
			pfd[n] = (struct pollfd){ c->fd, ev, 0 }; who[n].kind = 2; who[n++].idx = i;
			if (c->kind == C_DRAIN) { long ms = ms_until(&c->until); if (ms < 0) ms = 0; if (timeout < 0 || ms < timeout) timeout = ms; }
		}
		for (int i = 0; i < S.napps; i++) {
			struct app *a = &S.apps[i];
			if (a->state == A_FREE) continue;
			for (int s = 0; s < 2; s++) if (a->out_fd[s] >= 0) { pfd[n] = (struct pollfd){ a->out_fd[s], POLLIN, 0 }; who[n].kind = 3; who[n].idx = i; who[n++].s = s; }
			if (a->pty >= 0) { pfd[n] = (struct pollfd){ a->pty, POLLIN | (a->npend ? POLLOUT : 0), 0 }; who[n].kind = 4; who[n++].idx = i; }
			else if (a->in_fd >= 0 && a->npend) { pfd[n] = (struct pollfd){ a->in_fd, POLLOUT, 0 }; who[n].kind = 5; who[n++].idx = i; }
			if (a->kill_armed) { long ms = ms_until(&a->kill_at); if (ms < 0) ms = 0; if (timeout < 0 || ms < timeout) timeout = ms; }
		}
		if (pod_stopping) { long ms = ms_until(&pod_deadline); if (ms < 0) ms = 1000; if (timeout < 0 || ms < timeout) timeout = ms; }
		int r = poll(pfd, n, (int)(timeout > 600000 ? 600000 : timeout));
		check(r < 0 && errno != EINTR, "poll");
		for (int k = 0; r > 0 && k < n; k++) {
			short re = pfd[k].revents;
			if (!re) continue;
			if (who[k].kind == 0) {
				struct signalfd_siginfo si;
				while (read(sfd, &si, sizeof si) == sizeof si) {
					int sig = si.ssi_signo;
					if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) begin_pod_stop();
					else if (sig == SIGUSR1 || sig == SIGUSR2) stop_all(sig);
				}
				int st; pid_t p;
				while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
					for (int i = 0; i < S.napps; i++) {
						struct app *a = &S.apps[i];
						if (a->state == A_RUNNING && a->pid == p) app_exited(a, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
					}
				}
			} else if (who[k].kind == 1) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (nclients == MAX_CLIENTS) { close(fd); continue; }
					clients[nclients++] = (struct client){ .fd = fd, .kind = C_CMD, .app = -1, .in = xrealloc(NULL, 5 + FRAME_MAX) };
				}
			} else if (who[k].kind == 2) {
				struct client *c = &clients[who[k].idx];
				if (c->fd >= 0 && (re & (POLLIN | POLLHUP | POLLERR))) {
					if (re & POLLIN) client_read(c);
					else drop_client(c);
				}
				if (c->fd >= 0 && (re & POLLOUT)) client_write(c);
			} else if (who[k].kind == 3) {
				struct app *a = &S.apps[who[k].idx];
				int s = who[k].s;
				if (a->out_fd[s] >= 0 && !drain(a, &a->out_fd[s], s)) log_flush(a);
			} else if (who[k].kind == 4) {
				struct app *a = &S.apps[who[k].idx];
				if (a->pty >= 0 && (re & POLLOUT)) flush_input(a);
				if (a->pty >= 0 && (re & (POLLIN | POLLHUP | POLLERR)) && !drain(a, &a->pty, 0)) log_flush(a);
			} else if (who[k].kind == 5) {
				flush_input(&S.apps[who[k].idx]);
			}
		}
		/* replies queued by the handlers above */
		for (int i = 0; i < nclients; i++) if (clients[i].fd >= 0 && clients[i].outlen) client_write(&clients[i]);
		for (int i = 0; i < nclients; i++) {
			struct client *c = &clients[i];
			if (c->fd >= 0 && c->closing && !c->outlen) finish_client(c);
			if (c->fd >= 0 && c->kind == C_DRAIN && ms_until(&c->until) <= 0) drop_client(c);
		}
		int w = 0;
		for (int i = 0; i < nclients; i++) if (clients[i].fd >= 0) clients[w++] = clients[i];
		nclients = w;
		for (int i = 0; i < S.napps; i++) {
			struct app *a = &S.apps[i];
			if (a->kill_armed && ms_until(&a->kill_at) <= 0) { dbg("app %s: stop timeout, killing it", a->name); signal_app(a, SIGKILL); a->kill_armed = 0; }
		}
		if (pod_stopping && ms_until(&pod_deadline) <= 0) { stop_all(SIGKILL); deadline_in(&pod_deadline, 1); }
	}
	for (int i = 0; i < nclients; i++) { client_write(&clients[i]); drop_client(&clients[i]); }
	unlink(CTL_PATH);
	dbg("all apps exited, mutable pod done");
	if (S.host_pid) stop_all(SIGKILL);
	_exit(0);
}

/* ------------------------------------------------------------------------------------------ */

/*
 * init graft <pid> [--source-ns=<fd>] [--read-only] <source> <target> ...: see the header
 * comment. With --source-ns the sources are cloned in the mount namespace of open file <fd>
 * (the caller's original one: a clone of a shared mount there is a peer of it, and mounts
 * propagate both ways); --read-only makes the clones read-only, recursively.
 */
static int graft(int argc, char **argv) {
	char path[64]; int src_ns = -1, ro = 0, first = 3;
	for (; first < argc && !strncmp(argv[first], "--", 2); first++) {
		if (!strncmp(argv[first], "--source-ns=", 12)) src_ns = atoi(argv[first] + 12);
		else if (!strcmp(argv[first], "--read-only")) ro = 1;
		else { errno = 0; die("graft: unknown option %s", argv[first]); }
	}
	/* the pairs: argv[first], argv[first + 1], ... */
	check(argc - first < 2 || (argc - first) % 2, "usage: init graft <pid> [--source-ns=<fd>] [--read-only] <source> <target> [<source> <target> ...]");
	char **pairs = argv + first;
	snprintf(path, sizeof path, "/proc/%d/ns/mnt", atoi(argv[2]));
	int ns = open(path, O_RDONLY | O_CLOEXEC);
	check(ns < 0, "open %s", path);
	snprintf(path, sizeof path, "/proc/%d/root", atoi(argv[2]));
	int root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	check(root < 0, "open %s", path);
	int n = (argc - first) / 2, fds[64];
	check(n > 64, "too many mounts to graft");
	if (src_ns >= 0) check(setns(src_ns, CLONE_NEWNS), "join the source mount namespace");
	for (int i = 0; i < n; i++) {
		fds[i] = syscall(SYS_open_tree, AT_FDCWD, pairs[2 * i], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
		check(fds[i] < 0, "clone the mounts at %s", pairs[2 * i]);
		struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY };
		if (ro) check(syscall(SYS_mount_setattr, fds[i], "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr), "make the mounts at %s read-only", pairs[2 * i]);
	}
	check(setns(ns, CLONE_NEWNS), "join the mount namespace of process %s", argv[2]);
	for (int i = 0; i < n; i++) {
		const char *dst = pairs[2 * i + 1];
		while (*dst == '/') dst++;
		check(syscall(SYS_move_mount, fds[i], "", root, dst, MOVE_MOUNT_F_EMPTY_PATH), "attach %s at /%s", pairs[2 * i], dst);
	}
	return 0;
}

/* ------------------------------------------------------------------------------------------
 * sd_notify (spec keys `notify <host address>`, `notify-pod <pod address>`, app `notify 1`).
 *
 * When rkt run was started with NOTIFY_SOCKET (a systemd unit of Type=notify), the parent tells
 * the host when the pod is ready: it is the process systemd started (stage0, run and the init
 * are one chain of execs), so NotifyAccess=main accepts it. It connects a datagram socket to the
 * host's address before it leaves the host's network namespace (an abstract address belongs to
 * one), and binds the pod-side address, in the pod's network namespace, for the apps that
 * declare sd_notify support (run put it in their NOTIFY_SOCKET). READY=1 goes to the host once
 * every such app sent READY=1, or, without any (and in a mutable pod), once the apps are started
 * (<pod>/pid written). STATUS= lines of the pod's apps are forwarded as they are; everything
 * else (MAINPID=, WATCHDOG=1, file descriptors...) is dropped. A message counts for the app whose
 * cgroup its sender is in (the parent sees cgroup paths relative to the pod's: "/<app>/...");
 * one of a process outside the pod is ignored, one of a process already gone counts for the
 * first app still expected. With the pod-side socket the parent waits for PID 1 in ppoll() on
 * it with SIGCHLD let through: two fds, no thread, nothing read until a message comes.
 */

/* an AF_UNIX address from a NOTIFY_SOCKET value (a path, or @name for an abstract one); 0: invalid */
static socklen_t notify_addr(const char *v, struct sockaddr_un *sa) {
	size_t n = strlen(v);
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if (n < 2 || n >= sizeof sa->sun_path || (*v != '/' && *v != '@')) return 0;
	memcpy(sa->sun_path, v, n);
	if (*v == '@') { sa->sun_path[0] = 0; return offsetof(struct sockaddr_un, sun_path) + n; }
	return offsetof(struct sockaddr_un, sun_path) + n + 1;
}

/* the host's socket, before the namespaces; a failure is a warning (the pod runs, unannounced) */
static void notify_open_host(void) {
	struct sockaddr_un sa; socklen_t len;
	if (!N.host) return;
	if (!(len = notify_addr(N.host, &sa))) { warnx("warning: invalid NOTIFY_SOCKET %s", N.host); return; }
	N.host_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (N.host_fd >= 0 && !connect(N.host_fd, (struct sockaddr *)&sa, len)) return;
	warnx("warning: cannot connect to NOTIFY_SOCKET %s: %s", N.host, strerror(errno));
	close_fd(&N.host_fd);
}

/* the apps' socket, bound in the network namespace this process is in, passing senders' credentials */
static void notify_bind_pod(void) {
	struct sockaddr_un sa; socklen_t len; int on = 1;
	if (!N.pod) return;
	errno = 0;
	check(!(len = notify_addr(N.pod, &sa)), "invalid notify-pod address %s", N.pod);
	N.pod_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	check(N.pod_fd < 0 || setsockopt(N.pod_fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) || bind(N.pod_fd, (struct sockaddr *)&sa, len), "bind the pod's notify socket %s", N.pod);
}

/* the same in the network namespace of process `pid` (one a user namespace of the pod's owns) */
static void notify_bind_pod_in(pid_t pid) {
	char p[64];
	if (!N.pod) return;
	snprintf(p, sizeof p, "/proc/%d/ns/net", (int)pid);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	check(fd < 0 || setns(fd, CLONE_NEWNET), "join the network namespace of process %d", (int)pid);
	close(fd);
	notify_bind_pod();
}

/* PID 1 holds neither socket */
static void notify_close(void) { close_fd(&N.host_fd); close_fd(&N.pod_fd); }

static void notify_send(const char *msg) {
	if (N.host_fd < 0) return;
	if (send(N.host_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0) warnx("warning: cannot notify %s: %s", N.host, strerror(errno));
	else dbg("notified %s: %s", N.host, msg);
}

/* READY=1, once, when no app is still expected to send it */
static void notify_maybe_ready(void) {
	for (int i = 0; i < S.napps; i++) if (S.apps[i].notify && !S.apps[i].notified) return;
	if (!N.ready_sent) { N.ready_sent = 1; notify_send("READY=1"); }
}

/* The app process `pid` belongs to, from its cgroup paths (relative to the pod's cgroup: the
 * parent's cgroup namespace), in `app`; 0 found, -1 not an app of the pod, 1 the process is gone */
static int notify_sender(pid_t pid, char *app, size_t len) {
	char path[64], buf[8192]; ssize_t n, got = 0; int found = -1;
	snprintf(path, sizeof path, "/proc/%d/cgroup", (int)pid);
	int fd = pid > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) return pid > 0 && errno == ENOENT ? 1 : -1;
	while ((size_t)got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += n;
	close(fd);
	buf[got] = 0;
	for (char *line = buf, *next; *line; line = next) {
		next = line + strcspn(line, "\n");
		if (*next) *next++ = 0;
		char *p = strchr(line, ':');
		if (!p || !(p = strchr(p + 1, ':'))) continue;
		p++;
		if (!strcmp(p, "/..") || !strncmp(p, "/../", 4)) return -1;
		size_t k = strcspn(p + 1, "/");
		if (found < 0 && *p == '/' && k > 0 && k < len) { memcpy(app, p + 1, k); app[k] = 0; found = 0; }
	}
	return got ? found : 1;
}

/* reads what the apps sent */
static void notify_recv(void) {
	char buf[4097], ctl[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))], app[256];
	for (;;) {
		struct iovec iov = { buf, sizeof buf - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
		ssize_t n = recvmsg(N.pod_fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) return;
		struct ucred uc = { 0 };
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level != SOL_SOCKET) continue;
			if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof uc)) memcpy(&uc, CMSG_DATA(c), sizeof uc);
			else if (c->cmsg_type == SCM_RIGHTS)
				for (int *fd = (int *)CMSG_DATA(c); (char *)(fd + 1) <= (char *)c + c->cmsg_len; fd++) close(*fd);
		}
		if (mh.msg_flags & MSG_TRUNC) continue;
		buf[n] = 0;
		int who = notify_sender(uc.pid, app, sizeof app);
		if (who < 0) { dbg("notify: ignoring a message of process %d, not an app of the pod", (int)uc.pid); continue; }
		for (char *line = buf, *next; *line; line = next) {
			next = line + strcspn(line, "\n");
			if (*next) *next++ = 0;
			if (!strncmp(line, "STATUS=", 7)) { notify_send(line); continue; }
			if (strcmp(line, "READY=1")) continue;
			for (int i = 0; i < S.napps; i++) {
				struct app *a = &S.apps[i];
				if (!a->notify || a->notified || (who == 0 && strcmp(a->name, app))) continue;
				a->notified = 1;
				dbg("app %s is ready", a->name);
				notify_maybe_ready();
				break;
			}
		}
	}
}

static void sigchld_noop(int sig) { (void)sig; }

/* the parent's wait for PID 1 (status in *st) while it serves the pod-side socket */
static void notify_wait(pid_t pid, int *st) {
	sigset_t chld, during;
	struct sigaction sa = { .sa_handler = sigchld_noop };
	struct pollfd p = { N.pod_fd, POLLIN, 0 };
	sigemptyset(&chld); sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &during);
	sigdelset(&during, SIGCHLD);
	sigaction(SIGCHLD, &sa, NULL);
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid) return;
		check(r < 0 && errno != EINTR, "wait for pod");
		if (ppoll(&p, 1, NULL, &during) > 0) notify_recv();
		else check(errno != EINTR, "poll the notify socket");
	}
}

/* ------------------------------------------------------------------------------------------
 * User namespace (spec key `userns <shift> <count>`, rkt run --private-users).
 *
 * PID 1 is cloned into a new user namespace whose uids and gids 0..count-1 are host ids
 * shift..shift+count-1, together with new pid, UTS and IPC (unless --ipc=parent) namespaces
 * and, with --net=none, the network namespace, so that the user namespace owns them. The parent
 * stays in the host's user namespace: it writes the id maps and keeps the lock, the cgroup
 * namespace (made before, as without a user namespace) and the joined network. A network made
 * by CNI, or the host's, belongs to the host's user namespace, where no user namespace may mount
 * a sysfs of it: the parent mounts one on the stage1 root's /sys and the apps get binds of it.
 *
 * PID 1 starts as host uid 0 (unmapped in its namespace, where it holds every capability), walks
 * the pod directory and pivots into the stage1 root, then becomes the namespace's root (host uid
 * <shift>): a process of host uid 0 could write the host's sysctls through any /proc. Before the
 * pivot it mounts the pod's /proc (and, in a network of its own, /sys) on the stage1 root: the
 * kernel lets a user namespace mount proc or sysfs only where one is fully visible already, and
 * after the pivot the host's are gone. Mounts copied from the parent's namespace are locked
 * (pivot_root refuses them), so every root is bound onto itself before a pivot.
 *
 * The apps' roots are made idmapped by run before the init starts (`init idmap` below), so that
 * the image's uid 0 is the namespace's root without any chown of the image.
 */

static int net_none(void) { return S.net && !strcmp(S.net, "none"); }
/* sysctls left for PID 1 as the namespace's root: path below /proc/sys, value, ... */
static struct strv userns_sysctls;

/* writes "0 <shift> <count>" to the uid_map and gid_map of process `pid`; -1 with errno */
static int write_id_maps(pid_t pid) {
	char path[64], map[64];
	int n = snprintf(map, sizeof map, "0 %u %u\n", US.shift, US.count);
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, i ? "gid_map" : "uid_map");
		int fd = open(path, O_WRONLY | O_CLOEXEC), r = fd >= 0 && write(fd, map, n) == n ? 0 : -1, e = errno;
		if (fd >= 0) close(fd);
		errno = e;
		if (r) return -1;
	}
	return 0;
}

/* root of the user namespace the process is in, with the namespace's every capability */
static void become_ns_root(void) {
	check(setgroups(0, NULL) || setresgid(0, 0, 0) || setresuid(0, 0, 0), "become root of the pod's user namespace");
}

/*
 * fork() of the pod's PID 1 into a user namespace (see above); returns as fork() does. The child
 * waits for its id maps, then sets the hostname, brings up lo in a network of its own and writes
 * the pod's sysctls (its namespaces are the pod's now) before it goes on as PID 1.
 */
static pid_t userns_fork(void) {
	char p[4096]; int go[2];
	if (!net_none()) {
		snprintf(p, sizeof p, "%s/sys", S.stage1);
		check(mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount sysfs on %s", p);
	}
	/* in a CNI network the pod's root has no capability: ports below 1024 are made unprivileged
	 * there, as Docker does (a sysctl of the pod's own network namespace) */
	if (S.net && !strcmp(S.net, "join") && write_str("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0"))
		warnx("warning: cannot make ports below 1024 unprivileged in the pod's network: %s", strerror(errno));
	check(pipe2(go, O_CLOEXEC), "pipe");
	int flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWUTS | (S.ipc_private ? CLONE_NEWIPC : 0) | (net_none() ? CLONE_NEWNET : 0);
	pid_t c = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, NULL);
	check(c < 0, "create the pod's user namespace");
	if (c == 0) {
		char b;
		close(go[1]);
		if (read(go[0], &b, 1) != 1) _exit(FAIL);
		close(go[0]);
		if (S.hostname) check(sethostname(S.hostname, strlen(S.hostname)), "sethostname %s", S.hostname);
		if (net_none()) lo_up();
		/* host uid 0 may write the sysctls of a network of the host's user namespace; IPC ones
		 * only the namespace's root may: those are written once PID 1 is that root */
		for (int i = 0; i + 1 < S.sysctl.n; i += 2) {
			snprintf(p, sizeof p, "/proc/sys/%s", S.sysctl.v[i]);
			if (!write_str(p, S.sysctl.v[i + 1])) continue;
			check(errno != EACCES, "set sysctl %s to %s", S.sysctl.v[i], S.sysctl.v[i + 1]);
			push(&userns_sysctls, S.sysctl.v[i]); push(&userns_sysctls, S.sysctl.v[i + 1]);
		}
		return 0;
	}
	close(go[0]);
	check(write_id_maps(c), "write the id maps of the pod's user namespace");
	/* the pod's own network exists now: the apps' notify socket is bound there before they start */
	if (net_none()) notify_bind_pod_in(c);
	check(write(go[1], "g", 1) != 1, "start the pod");
	close(go[1]);
	dbg("pod in a user namespace: ids 0..%u are host %u..%u", US.count - 1, US.shift, US.shift + US.count - 1);
	return c;
}

static void userns_pre_pivot(const char *root) {
	char p[4096];
	if (!US.on) return;
	check(mount(root, root, NULL, MS_BIND | MS_REC, NULL), "bind %s onto itself", root);
	if (root != S.stage1) return;
	snprintf(p, sizeof p, "%s/proc", root);
	check(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount proc on %s", p);
	if (!net_none()) return;
	snprintf(p, sizeof p, "%s/sys", root);
	check(mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount sysfs on %s", p);
}

static void userns_post_pivot(const char *root) {
	char p[4096];
	if (!US.on || root != S.stage1) return;
	become_ns_root();
	for (int i = 0; i + 1 < userns_sysctls.n; i += 2) {
		snprintf(p, sizeof p, "/proc/sys/%s", userns_sysctls.v[i]);
		check(write_str(p, userns_sysctls.v[i + 1]), "set sysctl %s to %s", userns_sysctls.v[i], userns_sysctls.v[i + 1]);
	}
}

/* after a refused sysfs mount (errno EPERM) on an app's `target`: the parent's sysfs of the
 * pod's network (the stage1 root's /sys), bound; -1 with errno when that is not the case */
static int userns_sys_fallback(const char *target) {
	if (!US.on || errno != EPERM) return -1;
	return mount("/sys", target, NULL, MS_BIND, NULL);
}

/* init exec: an fd of the user namespace of process `pid` when it is not ours (a pod with
 * --private-users), else -1; opened before the mount namespace is left */
static int userns_of(const char *pid) {
	char path[64]; struct stat a, b;
	snprintf(path, sizeof path, "/proc/%s/ns/user", pid);
	check(stat(path, &a) || stat("/proc/self/ns/user", &b), "stat %s", path);
	if (a.st_ino == b.st_ino && a.st_dev == b.st_dev) return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	check(fd < 0, "open %s", path);
	return fd;
}

/* joins it after the other namespaces (joining those takes the host's capabilities, and a CNI
 * network belongs to the host's user namespace) and becomes its root, like the pod's PID 1 */
static void userns_join(int fd, const char *pid) {
	if (fd < 0) return;
	check(setns(fd, CLONE_NEWUSER), "join the user namespace of process %s", pid);
	close(fd);
	become_ns_root();
}

/* a user namespace with the pod's mapping, for idmapped mounts: an fd of it, or -1 with errno */
static int idmap_userns(void) {
	int p[2], fd = -1, e;
	char path[64];
	if (pipe2(p, O_CLOEXEC)) return -1;
	pid_t c = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, NULL);
	if (c == 0) { char b; close(p[1]); _exit(read(p[0], &b, 1) < 0); }
	e = errno;
	if (c > 0) {
		snprintf(path, sizeof path, "/proc/%d/ns/user", (int)c);
		if (!write_id_maps(c)) fd = open(path, O_RDONLY | O_CLOEXEC);
		e = errno;
	}
	close(p[0]); close(p[1]);
	if (c > 0) waitpid(c, NULL, 0);
	errno = e;
	return fd;
}

/* a detached copy of the mount at `path` (or a bind of the directory), idmapped with user
 * namespace `ns` (the top mount only); -1 with errno */
static int idmapped_clone(int ns, const char *path, int flags) {
	int t = syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags);
	if (t < 0) return -1;
	struct mount_attr attr = { .attr_set = MOUNT_ATTR_IDMAP, .userns_fd = ns };
	if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH, &attr, sizeof attr)) { int e = errno; close(t); errno = e; return -1; }
	return t;
}

/* the error messages of a filesystem context (after a failed fsconfig), or "" */
static const char *fs_log(int fs) {
	static char msg[512]; char line[256]; ssize_t n; size_t len = 0;
	msg[0] = 0;
	while ((n = read(fs, line, sizeof line - 1)) > 0) {
		line[n] = 0;
		if (n > 2 && line[1] == ' ') len += snprintf(msg + len, sizeof msg - len, "%s%s", len ? "; " : "", line + 2);
		if (len >= sizeof msg - 1) break;
	}
	return msg;
}

/* overlayfs writes its upper dir (work dir, whiteouts, copy-up) as the process that made it:
 * through an idmapped upper that must be a mapped id, the pod's root, with the capabilities that
 * setfsuid clears raised again */
static void fs_as_pod_root(int on) {
	uint64_t eff, perm;
	setfsgid(on ? US.shift : 0);
	setfsuid(on ? US.shift : 0);
	if (on && (unsigned)setfsuid(-1) != US.shift) { errno = EPERM; die("set the filesystem ids to %u", US.shift); }
	if (on) { get_caps(&eff, &perm); set_caps(perm, perm, 0); }
}

static void fsconfig_fd(int fs, const char *key, int fd, const char *what) {
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, key, NULL, fd)) { int e = errno; const char *m = fs_log(fs); errno = e; die("overlay %s %s%s%s", key, what, *m ? ": " : "", m); }
}

/* see idmap_main: replaces the overlay at v[0]. The detached copies stay open until the overlay
 * exists: closing the last fd of one unmounts it, and overlayfs clones its layers' mounts then */
static void idmap_overlay(int ns, char **v, int nlow) {
	const char *target = v[0], *base = v[1];
	int fs = syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	check(fs < 0, "fsopen overlay");
	for (int i = 0; i < nlow; i++) {
		int t = idmapped_clone(ns, v[5 + i], 0);
		check(t < 0, "idmap %s", v[5 + i]);
		fsconfig_fd(fs, "lowerdir+", t, v[5 + i]);
	}
	int b = idmapped_clone(ns, base, 0);
	check(b < 0, "idmap %s", base);
	for (int i = 0; i < 2; i++) {
		int d = openat(b, v[2 + i], O_PATH | O_DIRECTORY | O_CLOEXEC);
		check(d < 0, "open %s/%s", base, v[2 + i]);
		fsconfig_fd(fs, i ? "workdir" : "upperdir", d, v[2 + i]);
	}
	/* the overlay there uses the upper dir until it is gone */
	check(umount2(target, MNT_DETACH), "unmount the overlay at %s", target);
	fs_as_pod_root(1);
	int r = syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), e = errno;
	fs_as_pod_root(0);
	if (r) { const char *m = fs_log(fs); errno = e; die("create an idmapped overlay for %s%s%s", target, *m ? ": " : "", m); }
	int m = syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, 0);
	check(m < 0, "mount the idmapped overlay for %s", target);
	check(syscall(SYS_move_mount, m, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH), "attach the idmapped overlay at %s", target);
	close(m); close(fs);
}

/*
 * init idmap <shift> <count> <op>...: run's helper for the apps' roots, in the host's mount
 * namespace, with a user namespace of the pod's mapping made for the idmapped mounts. Ops:
 *   check <dir>   whether <dir> can be mounted idmapped (a detached copy, dropped)
 *   layer <dir>   same, and overlayfs takes the copy as a lower layer
 *   bind <dir>    an idmapped bind of <dir> mounted on it
 *   overlay <target> <base> <upper> <work> <n> <lower>...
 *                 the overlay at <target> replaced by one of the same directories, idmapped: the
 *                 <n> lower dirs (uppermost first) and <base>, which holds <upper> and <work>
 *                 (paths relative to it: the two must be on one mount)
 * A failed check prints "<dir>: <reason>" on stdout and the status is 3 once all ran; any other
 * failure ends the helper with status 254.
 */
static int idmap_main(int argc, char **argv) {
	int failed = 0;
	check(argc < 4 || sscanf(argv[2], "%u", &US.shift) != 1 || sscanf(argv[3], "%u", &US.count) != 1 || !US.count, "usage: init idmap <shift> <count> <op>...");
	int ns = idmap_userns();
	if (ns < 0) { printf("user namespace: %s\n", strerror(errno)); return 3; }
	for (int i = 4; i < argc; i++) {
		const char *op = argv[i];
		if ((!strcmp(op, "check") || !strcmp(op, "layer")) && i + 1 < argc) {
			const char *dir = argv[++i], *why = NULL;
			int t = idmapped_clone(ns, dir, 0);
			if (t < 0) why = strerror(errno);
			else if (op[0] == 'l') {
				int fs = syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
				if (fs < 0) why = strerror(errno);
				else {
					if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_FD, "lowerdir+", NULL, t)) { int e = errno; why = fs_log(fs); if (!*why) why = strerror(e); }
					close(fs);
				}
			}
			if (t >= 0) close(t);
			if (why) { printf("%s: %s\n", dir, why); failed = 1; }
		} else if (!strcmp(op, "bind") && i + 1 < argc) {
			const char *dir = argv[++i];
			int t = idmapped_clone(ns, dir, AT_RECURSIVE);
			check(t < 0, "idmap %s", dir);
			check(syscall(SYS_move_mount, t, "", AT_FDCWD, dir, MOVE_MOUNT_F_EMPTY_PATH), "attach the idmapped bind at %s", dir);
			close(t);
		} else if (!strcmp(op, "overlay") && i + 6 < argc) {
			int n = atoi(argv[i + 5]);
			errno = 0;
			check(n < 1 || i + 5 + n >= argc, "idmap overlay: expected %d lower dirs", n);
			idmap_overlay(ns, argv + i + 1, n);
			i += 5 + n;
		} else { errno = 0; die("idmap: unknown or incomplete op %s", op); }
	}
	fflush(stdout);
	return failed ? 3 : 0;
}

static void forward(int sig) { if (child > 0) kill(child, sig); }

static void read_last_cap(void) {
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) { if (fscanf(f, "%d", &last_cap) != 1) last_cap = 40; fclose(f); }
}

/*
 * In `init exec`'s child, the first process in the app's pid namespace (signals blocked): forks
 * the command's process and stays its parent, forwarding the stop signals, until it exits, then
 * exits with its status. Returns in the command's process only. The command's parent is thus in
 * the pod: when `init exec` is killed (an ExecSync timeout kills the caller's whole process
 * group), what is left of the command is reparented to the pod's PID 1 (or the app's, in a pid
 * namespace of its own), which reaps it, not to a reaper of the host.
 */
static void exec_middle(sigset_t *old) {
	pid_t cmd = fork();
	check(cmd < 0, "fork");
	if (cmd == 0) return;
	child = cmd;
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	for (unsigned i = 0; i < sizeof fwd / sizeof *fwd; i++) sigaction(fwd[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, old, NULL);
	_exit(wait_status(cmd));
}

/* init exec <pod-pid> <app-pid> <app> -- <command>...: see the header comment */
static int exec_in_app(int argc, char **argv) {
	static const char *const nss[] = { "cgroup", "ipc", "uts", "net", "pid", "mnt" };
	static const int types[] = { CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWPID, CLONE_NEWNS };
	char path[4096], err[1024]; int fds[6], n;
	check(argc < 7 || strcmp(argv[5], "--"), "usage: init exec <pod-pid> <app-pid> <app> -- <command> [<arg>...]");
	const char *pod = argv[2], *pid = argv[3], *name = argv[4];
	errno = 0;
	check(!valid_name(name), "invalid app name %s", name);
	read_last_cap();
	/* the app's spec: its own file in a mutable pod, else the pod's */
	snprintf(path, sizeof path, "/proc/%s/root/rkt/spec/%s", pod, name);
	char *spec = slurp(path);
	if (spec) {
		/* a mutable pod's app: the pod's SELinux label is in the pod's spec */
		snprintf(path, sizeof path, "/proc/%s/root/rkt/init.spec", pod);
		char *pod_spec = slurp(path);
		check(!pod_spec, "read %s", path);
		S.se_ctx = spec_pod_value(pod_spec, "selinux-context");
		if (S.se_ctx && !*S.se_ctx) S.se_ctx = NULL;
		free(pod_spec);
		snprintf(path, sizeof path, "/proc/%s/root/rkt/spec/%s", pod, name);
	} else { snprintf(path, sizeof path, "/proc/%s/root/rkt/init.spec", pod); spec = slurp(path); }
	check(!spec, "read %s", path);
	S.stage1 = "/"; /* a per-app spec has no pod keys */
	if (parse(spec, NULL, err, sizeof err)) { errno = 0; die("%s: %s", path, err); }
	struct app *a = NULL;
	for (int i = 0; i < S.napps && !a; i++) if (!strcmp(S.apps[i].name, name)) a = &S.apps[i];
	errno = 0;
	check(!a, "no app %s in %s", name, path);
	/* the host's view, before the pod's mount namespace */
	if (S.se_ctx) S.se_on = selinux_enabled();
	struct sock_filter *prog = NULL;
	if (a->seccomp) { snprintf(path, sizeof path, "/proc/%s/root%s", pod, a->seccomp); prog = load_seccomp(path, &n); }
	for (int i = 0; i < 6; i++) {
		snprintf(path, sizeof path, "/proc/%s/ns/%s", pid, nss[i]);
		check((fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0, "open %s", path);
	}
	snprintf(path, sizeof path, "/proc/%s/root", pid);
	int root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	check(root < 0, "open %s", path);
	for (int i = 0; i < a->cgroups.n; i++) check(write_str(a->cgroups.v[i], "0"), "join cgroup %s", a->cgroups.v[i]);
	int ufd = userns_of(pid);
	for (int i = 0; i < 6; i++) { check(setns(fds[i], types[i]), "join the %s namespace of process %s", nss[i], pid); close(fds[i]); }
	userns_join(ufd, pid);
	sigset_t all, old; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, &old);
	/* the pid namespace applies to children only */
	child = fork();
	check(child < 0, "fork");
	if (child == 0) {
		exec_middle(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
		/* a terminal on stdin becomes the command's controlling terminal, in a session of its own
		 * inside the pod's pid namespace (job control, SIGWINCH on resize, SIGHUP when the other
		 * end closes); a terminal that already controls another session (the caller's) is left
		 * alone, the signals forwarded below still reach the command */
		if (isatty(0) && setsid() >= 0 && ioctl(0, TIOCSCTTY, 0)) dbg("exec: stdin does not become the controlling terminal: %s", strerror(errno));
		check(fchdir(root) || chroot("."), "enter the root of process %s", pid);
		close(root);
		check(chdir(a->workdir), "chdir %s", a->workdir);
		set_exec_label(name);
		apply_creds(a, prog, n);
		extern char **environ;
		environ = a->env.v ? a->env.v : (char *[]){ NULL };
		execvp(argv[6], argv + 6);
		die("app %s: exec %s", name, argv[6]);
	}
	close(root);
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	for (unsigned i = 0; i < sizeof fwd / sizeof *fwd; i++) sigaction(fwd[i], &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	return wait_status(child);
}

int main(int argc, char **argv) {
	char buf[16], err[1024]; int ready[2];
	if (argc >= 2 && !strcmp(argv[1], "graft")) return graft(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "exec")) return exec_in_app(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "idmap")) return idmap_main(argc, argv);
	check(argc != 2, "usage: init <spec>");
	char *spec = slurp(argv[1]);
	check(!spec, "read %s", argv[1]);
	if (parse(spec, NULL, err, sizeof err)) { errno = 0; die("%s: %s", argv[1], err); }
	read_last_cap();
	/* the host's view, before pivot_root: inherited by PID 1 and every app process */
	if (S.se_ctx) S.se_on = selinux_enabled();
	notify_open_host();
	snprintf(buf, sizeof buf, "%d", getpid());
	for (int i = 0; i < S.cg_join.n; i++) check(write_str(S.cg_join.v[i], buf), "join cgroup %s", S.cg_join.v[i]);
	if (S.net && !strcmp(S.net, "none") && !US.on) { check(unshare(CLONE_NEWNET), "unshare network namespace"); lo_up(); }
	else if (S.net && !strcmp(S.net, "join")) {
		int fd = S.netns ? open(S.netns, O_RDONLY | O_CLOEXEC) : -1;
		check(fd < 0 || setns(fd, CLONE_NEWNET), "join network namespace %s", S.netns ? S.netns : "(none)");
		close(fd);
	}
	/* in a user namespace, the others are created with it (userns_fork) so that it owns them */
	check(unshare(US.on ? CLONE_NEWCGROUP : (S.host_pid ? 0 : CLONE_NEWPID) | CLONE_NEWUTS | CLONE_NEWCGROUP | (S.ipc_private ? CLONE_NEWIPC : 0)), "unshare namespaces");
	for (int i = 0; i < S.cg_move.n; i++) check(write_str(S.cg_move.v[i], buf), "move to cgroup %s", S.cg_move.v[i]);
	for (int i = 0; i + 1 < S.cg_write.n; i += 2) check(write_str(S.cg_write.v[i], S.cg_write.v[i + 1]), "write %s to %s", S.cg_write.v[i + 1], S.cg_write.v[i]);
	if (S.hostname && !US.on) check(sethostname(S.hostname, strlen(S.hostname)), "sethostname %s", S.hostname);
	/* namespaced sysctls (checked by run): /proc/sys shows the namespaces of the writer, the
	 * pod's network, IPC and UTS ones now */
	for (int i = 0; !US.on && i + 1 < S.sysctl.n; i += 2) {
		char p[4096];
		snprintf(p, sizeof p, "/proc/sys/%s", S.sysctl.v[i]);
		check(write_str(p, S.sysctl.v[i + 1]), "set sysctl %s to %s", S.sysctl.v[i], S.sysctl.v[i + 1]);
		dbg("sysctl %s = %s", S.sysctl.v[i], S.sysctl.v[i + 1]);
	}
	/* in the pod's network namespace now, unless a user namespace of the pod's is to own it */
	if (!(US.on && net_none())) notify_bind_pod();
	sigset_t all, old; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, &old);
	check(pipe2(ready, O_CLOEXEC), "pipe");
	child = US.on ? userns_fork() : fork();
	check(child < 0, "fork");
	if (child == 0) { close(ready[0]); notify_close(); if (S.mutable) pod_init_mutable(ready[1]); else pod_init(ready[1]); }
	close(ready[1]);
	struct sigaction sa = { .sa_handler = forward, .sa_flags = SA_RESTART };
	int fwd[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };
	for (unsigned i = 0; i < sizeof fwd / sizeof *fwd; i++) {
		if (S.interactive && (fwd[i] == SIGINT || fwd[i] == SIGQUIT)) signal(fwd[i], SIG_IGN);
		else sigaction(fwd[i], &sa, NULL);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	ssize_t r;
	while ((r = read(ready[0], buf, 1)) < 0 && errno == EINTR) ;
	if (r == 1) { check(write_int_atomic("pid", child), "write pid"); notify_maybe_ready(); }
	int st;
	if (N.pod_fd >= 0) notify_wait(child, &st);
	else while (waitpid(child, &st, 0) < 0) check(errno != EINTR, "wait for pod");
	dbg("pod exited, status %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
