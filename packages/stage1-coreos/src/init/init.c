/*
 * rktnetes stage1-coreos init: the pod's PID 1 and its tiny parent.
 *
 * run (Node) prepares everything it can and execs this program with the path of the init spec
 * (format: src/run/spec.ts). The parent joins the pod cgroups, creates the namespaces, forks the
 * pod's PID 1, writes <pod>/pid once the apps run, forwards signals and exits with PID 1's
 * status, holding the pod lock until then. PID 1 pivots into the stage1 root, mounts /proc and
 * /sys for each app, starts the apps (cgroup, mount namespace, pivot_root, capabilities, ids,
 * no_new_privs, seccomp, exec), reaps, writes /rkt/status/<app> and stops the pod when an app
 * fails or a stop signal comes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAIL 254

struct strv { char **v; int n; };
struct app {
	char *name, *root, *workdir, *seccomp;
	uid_t uid; gid_t gid; gid_t groups[64]; int ngroups;
	uint64_t bounding, inheritable, ambient;
	int nnp, has_oom, oom;
	struct strv cgroups, masks, ros, env, args;
	int *cgfds;
	pid_t pid; int done;
};
static struct {
	int debug, lockfd, interactive, stop_timeout, ipc_private;
	char *stage1, *hostname, *net, *netns;
	struct strv cg_join, cg_move, cg_write;
	struct app apps[64]; int napps;
} S = { .lockfd = -1, .stop_timeout = 10, .ipc_private = 1 };
static volatile pid_t child;
static int last_cap = 40;

static void die(const char *fmt, ...) {
	int e = errno; va_list ap; va_start(ap, fmt);
	fputs("stage1 init: ", stderr); vfprintf(stderr, fmt, ap); va_end(ap);
	fprintf(stderr, e ? ": %s\n" : "\n", strerror(e));
	_exit(FAIL);
}
#define dbg(...) do { if (S.debug) { fputs("stage1 init: ", stderr); fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define check(c, ...) do { if (c) die(__VA_ARGS__); } while (0)

static void push(struct strv *s, char *v) {
	s->v = realloc(s->v, sizeof(char *) * (s->n + 2));
	check(!s->v, "out of memory");
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

static void parse(const char *path) {
	FILE *f = fopen(path, "re"); char *line = NULL; size_t cap = 0; ssize_t n;
	struct app *a = NULL;
	check(!f, "open %s", path);
	while ((n = getline(&line, &cap, f)) > 0) {
		if (line[n - 1] == '\n') line[--n] = 0;
		if (!*line || *line == '#') continue;
		char *rest = strchr(line, ' '), *key = line;
		if (rest) *rest++ = 0; else rest = line + n;
		char *v = strdup(rest), *raw = v;
		check(!v, "out of memory");
		if (!strcmp(key, "app")) { check(S.napps == 64, "too many apps"); a = &S.apps[S.napps++]; a->name = unescape(v); a->workdir = "/"; continue; }
		if (!strcmp(key, "end")) { a = NULL; continue; }
		if (!strcmp(key, "cg-write")) { push(&S.cg_write, field(&raw)); push(&S.cg_write, unescape(raw)); continue; }
		if (!strcmp(key, "groups") && a) { while (*raw && a->ngroups < 64) a->groups[a->ngroups++] = strtoul(field(&raw), NULL, 10); continue; }
		unescape(v);
		if (!a) {
			if (!strcmp(key, "version")) check(strcmp(v, "1"), "unsupported spec version %s", v);
			else if (!strcmp(key, "debug")) S.debug = atoi(v);
			else if (!strcmp(key, "lockfd")) S.lockfd = atoi(v);
			else if (!strcmp(key, "stage1")) S.stage1 = v;
			else if (!strcmp(key, "hostname")) S.hostname = v;
			else if (!strcmp(key, "net")) S.net = v;
			else if (!strcmp(key, "netns")) S.netns = v;
			else if (!strcmp(key, "ipc")) S.ipc_private = strcmp(v, "parent") != 0;
			else if (!strcmp(key, "interactive")) S.interactive = atoi(v);
			else if (!strcmp(key, "stop-timeout")) S.stop_timeout = atoi(v);
			else if (!strcmp(key, "cg-join")) push(&S.cg_join, v);
			else if (!strcmp(key, "cg-move")) push(&S.cg_move, v);
			else { errno = 0; die("unknown spec key %s", key); }
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
		else if (!strcmp(key, "seccomp")) a->seccomp = v;
		else if (!strcmp(key, "oom")) { a->has_oom = 1; a->oom = atoi(v); }
		else if (!strcmp(key, "env")) push(&a->env, v);
		else if (!strcmp(key, "arg")) push(&a->args, v);
		else { errno = 0; die("unknown spec key %s in app %s", key, a->name); }
	}
	free(line); fclose(f);
	errno = 0;
	check(!S.stage1, "spec has no stage1 root");
	for (int i = 0; i < S.napps; i++) check(!S.apps[i].root || S.apps[i].args.n == 0, "app %s has no root or no program", S.apps[i].name);
}

static int write_str(const char *path, const char *s) {
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = -1;
	if (fd >= 0) { r = write(fd, s, strlen(s)) == (ssize_t)strlen(s) ? 0 : -1; close(fd); }
	return r;
}
/* decimal + newline, via a temporary file and rename, so readers never see half a file */
static void write_int_atomic(const char *path, long v) {
	char tmp[4096], buf[32];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	check(fd < 0, "create %s", tmp);
	int len = snprintf(buf, sizeof buf, "%ld\n", v);
	check(write(fd, buf, len) != len || fsync(fd) || close(fd), "write %s", tmp);
	check(rename(tmp, path), "rename %s", tmp);
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
	check(chdir(root), "chdir %s", root);
	check(syscall(SYS_pivot_root, ".", "."), "pivot_root %s", root);
	check(umount2(".", MNT_DETACH), "detach old root");
	check(chdir("/"), "chdir /");
}

static void mount_app_fs(struct app *a) {
	char p[4096], q[4096];
	snprintf(p, sizeof p, "%s/proc", a->root);
	check(mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount proc on %s", p);
	snprintf(p, sizeof p, "%s/sys", a->root);
	check(mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mount sysfs on %s", p);
	for (int i = 0; i < a->masks.n; i++) {
		struct stat st;
		snprintf(p, sizeof p, "%s%s", a->root, a->masks.v[i]);
		if (lstat(p, &st)) continue;
		if (S_ISDIR(st.st_mode)) check(mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "mask %s", p);
		else { snprintf(q, sizeof q, "%s/dev/null", a->root); check(mount(q, p, NULL, MS_BIND, NULL), "mask %s", p); }
	}
	for (int i = 0; i < a->ros.n; i++) {
		snprintf(p, sizeof p, "%s%s", a->root, a->ros.v[i]);
		if (access(p, F_OK)) continue;
		check(mount(p, p, NULL, MS_BIND | MS_REC, NULL) ||
		      mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL), "make %s read-only", p);
	}
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

/* In the app's child: everything from cgroup to exec, in the order the kernel requires. */
static void exec_app(struct app *a) {
	struct sock_filter *prog = NULL; struct stat st; int n = 0;
	sigset_t none; sigemptyset(&none); sigprocmask(SIG_SETMASK, &none, NULL);
	for (int i = 0; i < a->cgroups.n; i++) check(write(a->cgfds[i], "0", 1) != 1, "join cgroup %s", a->cgroups.v[i]);
	if (a->seccomp) {
		int fd = open(a->seccomp, O_RDONLY | O_CLOEXEC);
		check(fd < 0 || fstat(fd, &st) || !(prog = malloc(st.st_size + 1)) || read(fd, prog, st.st_size) != st.st_size, "read %s", a->seccomp);
		n = st.st_size / sizeof *prog; close(fd);
	}
	check(unshare(CLONE_NEWNS), "unshare mount namespace");
	pivot(a->root);
	check(chdir(a->workdir), "chdir %s", a->workdir);
	if (!S.interactive) { int fd = open("/dev/null", O_RDONLY); check(fd < 0 || dup2(fd, 0) < 0, "open /dev/null"); close(fd); }
	if (a->has_oom) { char b[16]; snprintf(b, sizeof b, "%d", a->oom); if (write_str("/proc/self/oom_score_adj", b)) fprintf(stderr, "stage1 init: warning: app %s: oom_score_adj %d: %s\n", a->name, a->oom, strerror(errno)); }
	for (int c = 0; c <= last_cap; c++)
		if (!(a->bounding >> c & 1)) check(prctl(PR_CAPBSET_DROP, c, 0, 0, 0) && errno != EINVAL, "drop capability %d", c);
	uint64_t eff, perm; get_caps(&eff, &perm);
	set_caps(eff, perm, a->inheritable & perm);
	if (a->ambient) check(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "keep capabilities");
	check(setgroups(a->ngroups, a->groups), "setgroups");
	check(setresgid(a->gid, a->gid, a->gid), "setresgid %u", a->gid);
	check(setresuid(a->uid, a->uid, a->uid), "setresuid %u", a->uid);
	if (a->ambient) {
		set_caps(a->ambient, a->ambient, a->ambient);
		for (int c = 0; c <= last_cap; c++)
			if (a->ambient >> c & 1) check(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0), "raise ambient capability %d", c);
	}
	if (a->nnp) check(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs");
	if (prog) {
		struct sock_fprog fp = { (unsigned short)n, prog };
		check(syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fp), "install seccomp filter");
	}
	execve(a->args.v[0], a->args.v, a->env.v ? a->env.v : (char *[]){ NULL });
	die("app %s: exec %s", a->name, a->args.v[0]);
}

static void start_app(struct app *a) {
	char path[4096];
	pid_t pid = fork();
	check(pid < 0, "fork app %s", a->name);
	if (pid == 0) exec_app(a);
	a->pid = pid;
	for (int i = 0; i < a->cgroups.n; i++) close(a->cgfds[i]);
	snprintf(path, sizeof path, "/rkt/pids/%s", a->name);
	write_int_atomic(path, pid);
	dbg("app %s started, pid %d", a->name, pid);
}

static void stop_all(int sig) { dbg("sending signal %d to the pod", sig); kill(-1, sig); }

/* PID 1 of the pod. */
static void pod_init(int ready) {
	sigset_t set; siginfo_t si; char path[4096];
	int running = 0, stopping = 0, status = 0; struct timespec deadline = { 0 }, now, wait;
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (S.lockfd >= 0) close(S.lockfd);
	check(unshare(CLONE_NEWNS), "unshare mount namespace");
	for (int i = 0; i < S.napps; i++) {
		struct app *a = &S.apps[i];
		a->cgfds = calloc(a->cgroups.n + 1, sizeof(int));
		for (int j = 0; j < a->cgroups.n; j++) check((a->cgfds[j] = open(a->cgroups.v[j], O_WRONLY | O_CLOEXEC)) < 0, "open %s", a->cgroups.v[j]);
	}
	pivot(S.stage1);
	for (int i = 0; i < S.napps; i++) mount_app_fs(&S.apps[i]);
	for (int i = 0; i < S.napps; i++) { start_app(&S.apps[i]); running++; }
	check(write(ready, "r", 1) != 1, "report readiness"); close(ready);
	sigemptyset(&set);
	for (int s = 1; s < NSIG; s++) if (s != SIGKILL && s != SIGSTOP && !(S.interactive && (s == SIGINT || s == SIGQUIT))) sigaddset(&set, s);
	while (running > 0) {
		int st; pid_t p;
		while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
			for (int i = 0; i < S.napps; i++) {
				struct app *a = &S.apps[i];
				if (a->pid != p || a->done) continue;
				int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				a->done = 1; running--;
				snprintf(path, sizeof path, "/rkt/status/%s", a->name);
				write_int_atomic(path, code);
				dbg("app %s exited with %d", a->name, code);
				if (code != 0 && !status) status = code;
				if (code != 0 && !stopping && running > 0) {
					stopping = 1; stop_all(SIGTERM);
					clock_gettime(CLOCK_MONOTONIC, &deadline); deadline.tv_sec += S.stop_timeout;
				}
			}
		}
		if (running == 0) break;
		struct timespec *tp = NULL;
		if (stopping) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (deadline.tv_sec - now.tv_sec) * 1000 + (deadline.tv_nsec - now.tv_nsec) / 1000000;
			if (ms <= 0) { stop_all(SIGKILL); ms = 1000; }
			wait.tv_sec = ms / 1000; wait.tv_nsec = ms % 1000 * 1000000; tp = &wait;
		}
		int sig = sigtimedwait(&set, &si, tp);
		if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP || sig == SIGQUIT) {
			if (!stopping) { stopping = 1; clock_gettime(CLOCK_MONOTONIC, &deadline); deadline.tv_sec += S.stop_timeout; }
			stop_all(SIGTERM);
		} else if (sig == SIGUSR1 || sig == SIGUSR2) {
			stop_all(sig);
		}
	}
	dbg("all apps exited, pod status %d", status);
	_exit(status);
}

static void forward(int sig) { if (child > 0) kill(child, sig); }

int main(int argc, char **argv) {
	char buf[16]; int ready[2];
	check(argc != 2, "usage: init <spec>");
	parse(argv[1]);
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	if (f) { if (fscanf(f, "%d", &last_cap) != 1) last_cap = 40; fclose(f); }
	snprintf(buf, sizeof buf, "%d", getpid());
	for (int i = 0; i < S.cg_join.n; i++) check(write_str(S.cg_join.v[i], buf), "join cgroup %s", S.cg_join.v[i]);
	if (S.net && !strcmp(S.net, "none")) { check(unshare(CLONE_NEWNET), "unshare network namespace"); lo_up(); }
	else if (S.net && !strcmp(S.net, "join")) {
		int fd = S.netns ? open(S.netns, O_RDONLY | O_CLOEXEC) : -1;
		check(fd < 0 || setns(fd, CLONE_NEWNET), "join network namespace %s", S.netns ? S.netns : "(none)");
		close(fd);
	}
	check(unshare(CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWCGROUP | (S.ipc_private ? CLONE_NEWIPC : 0)), "unshare namespaces");
	for (int i = 0; i < S.cg_move.n; i++) check(write_str(S.cg_move.v[i], buf), "move to cgroup %s", S.cg_move.v[i]);
	for (int i = 0; i + 1 < S.cg_write.n; i += 2) check(write_str(S.cg_write.v[i], S.cg_write.v[i + 1]), "write %s to %s", S.cg_write.v[i + 1], S.cg_write.v[i]);
	if (S.hostname) check(sethostname(S.hostname, strlen(S.hostname)), "sethostname %s", S.hostname);
	sigset_t all, old; sigfillset(&all); sigprocmask(SIG_BLOCK, &all, &old);
	check(pipe2(ready, O_CLOEXEC), "pipe");
	child = fork();
	check(child < 0, "fork");
	if (child == 0) { close(ready[0]); pod_init(ready[1]); }
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
	if (r == 1) write_int_atomic("pid", child);
	int st;
	while (waitpid(child, &st, 0) < 0) check(errno != EINTR, "wait for pod");
	dbg("pod exited, status %d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
