/*
 * app/add of a mutable pod, native: what src/mutable/add.ts appAdd does for the common app,
 * without Node's start-up. It parses the stage1-abi argv (`--debug --uuid --app`, the
 * `--disable-*` flags), reads the pod's run argv (`rkt/run-args`), the pod manifest (stage0 has
 * added the app to it) and the app's image, then, as appAdd: the app's cgroups below the pod's,
 * its env file and seccomp program, its log directories, its spec `rkt/spec/<app>`, the hosts
 * entry; a private mount namespace with the app's filesystem (setup_app_fs, as run makes it),
 * `init graft` to attach it in PID 1's mount namespace, and `add <app>` on PID 1's control
 * socket.
 *
 * The app is resolved by the same code as run's (manifest.c, app.c): apps with volumes, mounts,
 * isolators, event handlers, ports or rktnetes.io annotations other than the stdio ones go to
 * the Node implementation, as does a pod run with `--private-users`, `--mds-token` or a
 * `--dns-conf-mode` hosts mode, one with an sd_notify socket or an SELinux mount label, and
 * everything the Node implementation would reject (it then reports the error).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crossing-gen.h"
#include "native.h"
#include "run-native-gen.h"

/* ------------------------------------------------------------------ argv */

typedef struct {
  char *uuid, *app;
  bool disable_caps, disable_paths, disable_seccomp;
} add_args_t;

enum { AF_DEBUG, AF_DISABLE_CAPS, AF_DISABLE_PATHS, AF_DISABLE_SECCOMP };
enum { AF_UUID = GO_VALUE_FLAG, AF_APP, AF_PRIVATE_USERS };

static void add_flag(void *ctx, int flag, const char *v, int bv, const char **why) {
  add_args_t *a = ctx;
  switch (flag) {
    case AF_DEBUG: break; /* debug_asked() read it */
    case AF_DISABLE_CAPS: a->disable_caps = bv; break;
    case AF_DISABLE_PATHS: a->disable_paths = bv; break;
    case AF_DISABLE_SECCOMP: a->disable_seccomp = bv; break;
    /* parseUuidArg normalises other uuid forms: the Node path's */
    case AF_UUID: if (!is_canonical_uuid(v)) *why = "--uuid not in canonical form"; else a->uuid = (char *)v; break;
    case AF_APP: if (!is_app_name(v)) *why = "invalid app name"; else a->app = (char *)v; break;
    case AF_PRIVATE_USERS: if (*v) *why = "--private-users"; break;
  }
}

/* parseAppAddArgs: Go flags, no positionals, `--uuid` and `--app` required. */
static void parse_add_args(int argc, char **argv, add_args_t *a) {
  static const char *const BOOLS[] = {"debug", "disable-capabilities-restriction", "disable-paths", "disable-seccomp", NULL};
  static const char *const VALUES[] = {"uuid", "app", "private-users", NULL};
  memset(a, 0, sizeof *a);
  const char *why = NULL;
  int i = go_flags(argc, argv, 1, BOOLS, VALUES, add_flag, a, &why);
  if (i < 0) fallback("%s", why);
  if (i < argc) fallback("unexpected argument");
  if (!a->uuid) fallback("missing --uuid");
  if (!a->app) fallback("missing --app");
}

/* ------------------------------------------------------------------ the pod */

static bool plain_pid(const char *s, long *out) {
  size_t n = strspn(s, "0123456789");
  if (n == 0 || n > 9 || s[n]) return false;
  *out = strtol(s, NULL, 10);
  return *out >= 1;
}

/* podPid1 of add.ts: RKT_STAGE1_ENTERPID (with RKT_STAGE1_ENTERCMD) as stage0 passes it, else `<pod>/pid`. */
static long pod_pid1(const char *pod) {
  const char *cmd = getenv("RKT_STAGE1_ENTERCMD"), *pid = getenv("RKT_STAGE1_ENTERPID");
  long n;
  if (cmd && *cmd && pid && *pid) {
    if (!plain_pid(pid, &n)) fallback("RKT_STAGE1_ENTERPID=%s", pid);
    return n;
  }
  char *text = read_file(xasprintf("%s/pid", pod), NULL);
  if (!text) fallback("no %s/pid", pod);
  size_t len = strlen(text);
  while (len && text[len - 1] == '\n') text[--len] = 0;
  if (!plain_pid(text, &n)) fallback("%s/pid: not a plain pid", pod);
  return n;
}

/* An annotation of a runtime app, or NULL. */
static const char *annotation(const jv_t *ra, const char *name) {
  const jv_t *list = json_get(ra, "annotations");
  for (size_t i = 0; list && i < list->n; i++)
    if (strcmp(json_get(list->items[i], "name")->str, name) == 0) return json_get(list->items[i], "value")->str;
  return NULL;
}

/* appStdio of src/mutable/stdio.ts; what it rejects is the Node path's to report. */
static const char *app_stdio(const jv_t *ra, app_t *app) {
  static const char *const NAMES[] = {ANNOTATION_APP_STDIN, ANNOTATION_APP_STDOUT, ANNOTATION_APP_STDERR};
  static const char *const DEFAULTS[] = {"null", "log", "log"};
  static const char *const MODES[] = {"null", "log", "stream", "tty"};
  int ttys = 0;
  for (int i = 0; i < 3; i++) {
    const char *v = annotation(ra, NAMES[i]);
    if (!v || !*v) v = DEFAULTS[i];
    bool ok = false;
    for (int m = 0; m < 4; m++) ok = ok || strcmp(v, MODES[m]) == 0;
    if (!ok || (i == 0 && strcmp(v, "log") == 0)) fallback("app %s: stdio mode %s", app->name, v);
    ttys += strcmp(v, "tty") == 0;
    app->stdio[i] = v;
  }
  if (ttys != 0 && ttys != 3) fallback("app %s: a tty on some streams only", app->name);
  const char *once = annotation(ra, ANNOTATION_APP_STDIN_ONCE);
  app->stdin_once = once && strcmp(once, "true") == 0;
  const char *log = annotation(ra, ANNOTATION_APP_LOG_PATH);
  if (!log || !*log) return NULL;
  /* a normalised absolute file path: dirname and basename are then plain string cuts */
  if (log[0] != '/' || ends_with(log, "/") || strcmp(path_normalize(log), log) != 0) fallback("app %s: log path %s", app->name, log);
  return log;
}

/* selinuxOfSpec of the pod's init spec: a mount label there goes on the app's /dev mounts (Node's). */
static void check_init_spec(const char *s1) {
  char *path = xasprintf("%s/%s", s1, INIT_SPEC_PATH);
  char *text = read_file(path, NULL);
  if (!text) fallback("cannot read %s", path);
  if (starts_with(text, "selinux-mount-context ") || strstr(text, "\nselinux-mount-context ")) fallback("an SELinux mount label");
}

/* ------------------------------------------------------------------ graft */

/*
 * graft of add.ts: `<stage1>/init graft <pid> <source> <target>...` (stdin and stdout
 * /dev/null), its stderr the reason of a failure.
 */
static void graft(const char *s1, long pid1, const strv_t *pairs) {
  char *init = xasprintf("%s/%s", s1, INIT_PATH);
  strv_t argv = {0};
  strv_push(&argv, "graft");
  strv_push(&argv, xasprintf("%ld", pid1));
  for (size_t i = 0; i < pairs->n; i++) strv_push(&argv, pairs->v[i]);
  if (g_debug) {
    buf_t d = {0};
    for (size_t i = 0; i < argv.n; i++) buf_printf(&d, "%s%s", i ? " " : "", argv.v[i]);
    debugf("graft: %s", d.s);
  }
  const char *why = "cannot attach the mounts of the app in the pod";
  if (access(init, X_OK) < 0) fail("%s: spawnSync %s %s", why, init, errno_name(errno));
  int err[2];
  if (pipe2(err, O_CLOEXEC) < 0) fail("%s: %s", why, errno_message(errno));
  fflush(stderr);
  pid_t child = fork();
  if (child < 0) fail("%s: spawnSync %s %s", why, init, errno_name(errno));
  if (child == 0) {
    int null = open("/dev/null", O_RDWR);
    if (null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0 || dup2(err[1], 2) < 0) _exit(127);
    /* argv[0] as Node's spawnSync gives it: the program's path */
    char **av = xmalloc((argv.n + 2) * sizeof *av);
    av[0] = init;
    for (size_t i = 0; i < argv.n; i++) av[i + 1] = argv.v[i];
    execve(init, av, g_envp);
    _exit(127);
  }
  close(err[1]);
  buf_t out = {0};
  buf_add(&out, "", 0);
  for (;;) {
    char chunk[4096];
    ssize_t n = read(err[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf_add(&out, chunk, (size_t)n);
  }
  close(err[0]);
  int status;
  while (waitpid(child, &status, 0) < 0)
    if (errno != EINTR) fail("%s: waitpid: %s", why, errno_message(errno));
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  /* r.stderr.trim() without a leading `stage1 init: `, else the status */
  char *msg = out.s + strspn(out.s, " \t\n\r\v\f");
  size_t len = strlen(msg);
  while (len && strchr(" \t\n\r\v\f", msg[len - 1])) msg[--len] = 0;
  if (starts_with(msg, "stage1 init: ")) msg += strlen("stage1 init: ");
  if (*msg) fail("%s: %s", why, msg);
  if (WIFEXITED(status)) fail("%s: exit status %d", why, WEXITSTATUS(status));
  fail("%s: exit status null", why);
}

/* ------------------------------------------------------------------ the entrypoint */

static char *dirname_of(const char *path) {
  char *d = xstrdup(path);
  char *slash = strrchr(d, '/');
  if (slash == d) slash[1] = 0;
  else *slash = 0;
  return d;
}

int app_add_main(int argc, char **argv) {
  g_debug = debug_asked(argc, argv);
  if (node_forced()) fallback("RKTNETES_STAGE1_RUN=node");
  add_args_t args;
  parse_add_args(argc, argv, &args);
  static char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) fallback("getcwd");
  pod_t pod = {0};
  pod.pod = cwd;
  pod.stage1 = g_stage1 = xasprintf("%s/%s", cwd, STAGE1_ROOTFS_REL);

  /* ---- decide, in appAdd's order: nothing is written until every check passed */
  mutable_run_t run;
  check_mutable_pod(&run);
  if (run.private_users) fallback("a pod run with --private-users");
  if (run.mds_token) fallback("a pod run with --mds-token");
  if (strcmp(run.hosts, "default") != 0) fallback("a pod run with --dns-conf-mode=hosts=%s", run.hosts);
  pod.resolv = run.resolv;
  long pid1 = pod_pid1(cwd);
  pod.args.uuid = args.uuid;
  pod.args.disable_caps = run.disable_caps || args.disable_caps;
  pod.args.disable_paths = run.disable_paths || args.disable_paths;
  pod.args.disable_seccomp = run.disable_seccomp || args.disable_seccomp;
  pod.hostname = run.hostname ? run.hostname : xasprintf("rkt-%s", args.uuid);
  check_hostname(pod.hostname);
  const jv_t *ra = load_mutable_app(&pod, args.app);
  /* an app added before and not removed since (app/rm deletes its spec): Node refuses it */
  if (access(xasprintf("%s/%s%s", pod.stage1, APP_SPEC_PREFIX, args.app), F_OK) == 0) fallback("app %s is already in the pod", args.app);
  app_t *app = &pod.apps[0];
  const char *log_path = app_stdio(ra, app);
  /* appPidNamespace of @rktnetes/stage1-abi */
  const char *pidns = annotation(ra, ANNOTATION_APP_PID_NAMESPACE);
  if (pidns && *pidns && strcmp(pidns, "pod") != 0 && strcmp(pidns, "private") != 0) fallback("app %s: pid namespace %s", app->name, pidns);
  app->pidns_private = pidns && strcmp(pidns, "private") == 0;
  char *notify = read_file(xasprintf("%s/%s", pod.stage1, NOTIFY_ADDRESS_PATH), NULL);
  if (notify && notify[strspn(notify, " \t\n\r")]) fallback("the pod has an sd_notify socket");
  check_init_spec(pod.stage1);
  cg_plan_t plan;
  plan_app_cgroups(&pod, &plan);
  size_t bpf_len = 0;
  char *bpf = NULL;
  if (app->seccomp) {
    char *p = xasprintf("%s/%s", pod.stage1, SECCOMP_DEFAULT_PATH);
    if (!(bpf = read_file(p, &bpf_len)) || bpf_len == 0) fallback("no %s", p);
  }
  debugf("app_add: native");
  g_acting = true;

  /* ---- act */
  create_cgroups(&plan);
  buf_t env = {0};
  buf_add(&env, "", 0);
  for (size_t j = 0; j < app->env.n; j++) buf_printf(&env, "%s\n", app->env.v[j]);
  write_file(xasprintf("%s/rkt/env/%s", pod.stage1, app->name), env.s, env.len, 0644);
  if (app->seccomp) write_file(xasprintf("%s/rkt/seccomp/%s.bpf", pod.stage1, app->name), bpf, bpf_len, 0644);

  strv_t grafts = {0};
  strv_push(&grafts, app->root);
  strv_push(&grafts, xasprintf("%s%s%s", APP_ROOT_PREFIX, app->name, APP_ROOT_SUFFIX));
  if (log_path) {
    char *dir = dirname_of(log_path);
    char *ext = xasprintf("%s%s", APP_EXT_LOG_PREFIX, app->name);
    char *ext_host = xasprintf("%s/%s", pod.stage1, ext);
    int e = mkdir_p(dir, 0755);
    if (e) fail("%s: %s, mkdir '%s'", errno_name(e), errno_message(e), dir);
    if ((e = mkdir_p(ext_host, 0755))) fail("%s: %s, mkdir '%s'", errno_name(e), errno_message(e), ext_host);
    strv_push(&grafts, dir);
    strv_push(&grafts, xasprintf("/%s", ext));
    app->ext_log = xasprintf("/%s/%s", ext, strrchr(log_path, '/') + 1);
  }
  write_file_atomic(xasprintf("%s/%s%s", pod.stage1, APP_SPEC_PREFIX, app->name), format_app_spec(&pod, &plan), 0600);

  bind_t etc[4];
  size_t netc;
  hosts_binds(&pod, etc, &netc);
  enter_private_mount_ns();
  setup_app_fs(app, etc, netc);
  graft(pod.stage1, pid1, &grafts);
  reply_t r;
  ctl_request(cwd, xasprintf("add %s", app->name), &r);
  if (!r.ok) fail("%s", r.message);
  debugf("app %s added", app->name);
  return 0;
}
