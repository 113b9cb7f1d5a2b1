/*
 * stage1-coreos `run`, native: the stage1 image's /run (entry.c picks it by name). For the common pod (immutable,
 * --net=none or host, apps without volumes, isolators, event handlers or rktnetes.io
 * annotations; see README "Native run") it does exactly what src/run/run.ts does, without
 * Node's start-up; for everything else, and with RKTNETES_STAGE1_RUN=node, it execs the Node
 * run (`stage1-coreos run <args>`), the complete implementation, with the same argv, env
 * and fds.
 *
 * Order (as run.ts): decide (argv, env, manifests, apps, cgroup plan: nothing written);
 * runtime-config (so that gc finds the cgroups whatever happens next); cgroups, joined from a
 * thread while the rest goes on; subcgroup; the stage1 state dirs, hostname, hosts entry, env
 * files and seccomp programs; a private mount namespace with the stage1 root and each app's
 * filesystem; the init spec; exec of the init with the lock fd kept.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "native.h"
#include "run-native-gen.h"

static struct timespec t0;

static double ms_since(const struct timespec *from) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - from->tv_sec) * 1e3 + (double)(now.tv_nsec - from->tv_nsec) / 1e6;
}

/* bench/run-latency.mjs reads these (RKT_TRACE=1) as it reads the Node stages' lines. */
static void trace_exec(const char *path) {
  const char *t = getenv("RKT_TRACE");
  if (!t || strcmp(t, "1") != 0) return;
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  double ms = ms_since(&t0);
  fprintf(stderr, "trace: run.node-ready 0.0\ntrace: run.exec %.1f %.1f %s\n", ms, (double)wall.tv_sec * 1e3 + (double)wall.tv_nsec / 1e6, path);
}

/* What sys.execve does before exec: only the kept fds and stdio survive, blocking stdio,
 * default SIGPIPE/SIGXFSZ, no blocked signals. */
static void exec_init(const pod_t *pod, const char *spec_path) {
  char *init = xasprintf("%s/%s", pod->stage1, INIT_PATH);
  int lock = pod->args.lock_fd;
  if (lock > 2 && fcntl(lock, F_GETFD) < 0) fail("execve %s: keep fd %d: %s", init, lock, errno_message(errno));
  if (syscall(436 /* close_range */, 3, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) < 0) {
    for (int fd = 3; fd < 1024; fd++) {
      int f = fcntl(fd, F_GETFD);
      if (f >= 0) fcntl(fd, F_SETFD, f | FD_CLOEXEC);
    }
  }
  if (lock > 2) fcntl(lock, F_SETFD, 0);
  for (int fd = 0; fd <= 2; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_NONBLOCK)) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  signal(SIGPIPE, SIG_DFL);
  signal(SIGXFSZ, SIG_DFL);
  sigset_t empty;
  sigemptyset(&empty);
  sigprocmask(SIG_SETMASK, &empty, NULL);
  debugf("exec %s %s", init, spec_path);
  trace_exec(init);
  fflush(stderr);
  char *argv[] = {INIT_PATH, (char *)spec_path, NULL};
  char *envp[] = {NULL};
  execve(init, argv, envp);
  fail("execve %s: %s", init, errno_message(errno));
}

int run_main(int argc, char **argv) {
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pod_t pod = {0};
  char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) fallback("getcwd");
  pod.pod = cwd;
  pod.stage1 = g_stage1 = xasprintf("%s/stage1/rootfs", cwd);

  /* ---- decide: nothing is written until every check passed */
  parse_run_args(argc, argv, &pod.args);
  pod.hostname = pod.args.hostname ? pod.args.hostname : xasprintf("rkt-%s", pod.args.uuid);
  check_hostname(pod.hostname);
  load_pod(&pod);
  cg_plan_t plan;
  plan_cgroups(&pod, &plan);
  size_t bpf_len = 0;
  char *bpf = NULL;
  if (!pod.args.disable_seccomp) {
    char *p = xasprintf("%s/%s", pod.stage1, SECCOMP_DEFAULT_PATH);
    if (!(bpf = read_file(p, &bpf_len)) || bpf_len == 0) fallback("no %s", p);
  }
  debugf("run: native");
  g_acting = true;
  warm_cgroup_lock();

  /* ---- act: runtime-config first, so that gc finds the cgroups whatever happens next */
  buf_t rc = {0};
  buf_puts(&rc, "{\"stage1\":\"coreos\",\"version\":1,\"cgroups\":[");
  char *suffix = xasprintf("/rkt-%s", pod.args.uuid);
  bool first = true;
  for (size_t i = 0; i < plan.dirs.n; i++) {
    if (!ends_with(plan.dirs.v[i], suffix)) continue;
    if (!first) buf_puts(&rc, ",");
    json_quote(&rc, plan.dirs.v[i]);
    first = false;
  }
  buf_puts(&rc, "]}\n");
  write_file_atomic(xasprintf("%s/runtime-config", pod.pod), rc.s, 0644);
  create_cgroups(&plan);
  join_in_background(&plan);
  write_file_atomic(xasprintf("%s/subcgroup", pod.pod), plan.subcgroup, 0644);
  if (g_debug) {
    buf_t d = {0};
    for (size_t i = 0; i < plan.dirs.n; i++) buf_printf(&d, "%s%s", i ? " " : "", plan.dirs.v[i]);
    debugf("pod cgroups: %s", d.s ? d.s : "");
  }

  for (size_t i = 0; i < sizeof STAGE1_STATE_DIRS / sizeof STAGE1_STATE_DIRS[0]; i++) {
    char *d = xasprintf("%s/%s", pod.stage1, STAGE1_STATE_DIRS[i]);
    int e = mkdir_p(d, 0755);
    if (e) fail("%s: %s, mkdir '%s'", errno_name(e), errno_message(e), d);
  }
  char *hn = xasprintf("%s\n", pod.hostname);
  write_file(xasprintf("%s/etc/hostname", pod.stage1), hn, strlen(hn), 0666);
  bind_t etc[4];
  size_t netc;
  hosts_binds(&pod, etc, &netc);
  for (size_t i = 0; i < pod.napps; i++) {
    app_t *a = &pod.apps[i];
    buf_t env = {0};
    buf_add(&env, "", 0);
    for (size_t j = 0; j < a->env.n; j++) buf_printf(&env, "%s\n", a->env.v[j]);
    write_file(xasprintf("%s/rkt/env/%s", pod.stage1, a->name), env.s, env.len, 0644);
    if (a->seccomp) {
      debugf("app %s: %s", a->name, SECCOMP_DEFAULT_DESCRIPTION);
      write_file(xasprintf("%s/rkt/seccomp/%s.bpf", pod.stage1, a->name), bpf, bpf_len, 0644);
    }
  }

  enter_private_mount_ns();
  bind_self(pod.stage1);
  for (size_t i = 0; i < pod.napps; i++) setup_app_fs(&pod.apps[i], etc, netc);

  char *spec = format_init_spec(&pod, &plan);
  char *spec_path = xasprintf("%s/%s", pod.stage1, INIT_SPEC_PATH);
  write_file(spec_path, spec, strlen(spec), 0600);
  join_wait();
  debugf("run: native set-up took %.1f ms", ms_since(&t0));
  exec_init(&pod, spec_path);
  return 254;
}
