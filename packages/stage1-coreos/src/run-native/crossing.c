/*
 * app/start and app/stop of a mutable pod, native: what src/mutable/ops.ts appStart and appStop
 * do, without Node's start-up. Both parse the stage1-abi argv (`--debug=<bool> --app=<name>`,
 * Go flag forms), check that the pod runs as a mutable one (readRunArgs of src/mutable/pod.ts:
 * `rkt/run-args` holds a run argv with `--mutable`), then send one request line on PID 1's
 * control socket and read its one reply line (src/mutable/control.ts). Anything not exactly
 * understood before the request (argv, run-args, the stop timeout, RKTNETES_STAGE1_RUN=node)
 * goes to the Node entrypoint, which reports what is wrong; once the request is on its way,
 * failures are one `stage1: <message>` line and status 254, worded as the Node client words
 * them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "crossing-gen.h"
#include "native.h"
#include "run-native-gen.h"

/* ------------------------------------------------------------------ argv */

bool is_app_name(const char *s) {
  if (!*s) return false;
  bool prev_dash = true; /* no leading dash */
  for (; *s; s++) {
    bool dash = *s == '-';
    if (!dash && !((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9'))) return false;
    if (dash && prev_dash) return false;
    prev_dash = dash;
  }
  return !prev_dash;
}

/* `--app`: a valid app name (the last one counts). */
static void app_flag(void *ctx, int flag, const char *v, int bv, const char **why) {
  (void)bv;
  if (flag != GO_VALUE_FLAG) return; /* --debug: debug_asked() read it */
  if (!is_app_name(v)) *why = "invalid app name";
  else *(const char **)ctx = v;
}

/*
 * parseAppArgs: `--debug[=<bool>]` and `--app <name>` in any Go flag form and order, repeats
 * allowed; no positionals, `--app` required. Everything else is a usage error of the Node
 * entrypoint: fallback.
 */
static const char *parse_app_args(int argc, char **argv) {
  static const char *const BOOLS[] = {"debug", NULL}, *const VALUES[] = {"app", NULL};
  const char *app = NULL, *why = NULL;
  int i = go_flags(argc, argv, 1, BOOLS, VALUES, app_flag, &app, &why);
  if (i < 0) fallback("%s", why);
  if (i < argc) fallback("unexpected argument");
  if (!app) fallback("missing --app");
  return app;
}

bool debug_asked(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (a[0] != '-') continue;
    a += a[1] == '-' ? 2 : 1;
    if (strncmp(a, "debug", 5) != 0) continue;
    a += 5;
    if (!*a || (*a == '=' && go_bool(a + 1) == 1)) return true;
  }
  return false;
}

/* ------------------------------------------------------------------ the pod */

/* parseNetList of one --net value, added to the names of earlier ones; false when Node rejects it. */
static bool net_list_ok(const char *value, strv_t *names) {
  char *copy = xstrdup(value);
  bool ok = true;
  for (char *part = copy, *next; ok && part; part = next) {
    next = strchr(part, ',');
    if (next) *next++ = 0;
    char *colon = strchr(part, ':');
    if (colon) *colon = 0;
    if (!*part || strv_has(names, part)) ok = false;
    else if (colon && strchr(colon + 1, ':')) ok = false;
    else if (colon && (strcmp(part, "all") == 0 || strcmp(part, "host") == 0)) ok = false;
    else strv_push(names, xstrdup(part));
  }
  free(copy);
  return ok;
}

/* parseDnsConfMode: `resolv=<mode>` and `hosts=<mode>` pairs, set over the earlier ones in `r`. */
static bool dns_conf_mode_ok(const char *value, mutable_run_t *r) {
  static const char *const RESOLV[] = {"host", "stage0", "none", "default", NULL};
  static const char *const HOSTS[] = {"host", "stage0", "default", NULL};
  char *copy = xstrdup(value);
  bool ok = true;
  for (char *pair = copy, *next; ok && pair; pair = next) {
    next = strchr(pair, ',');
    if (next) *next++ = 0;
    char *eq = strchr(pair, '=');
    if (!eq) {
      ok = false;
      break;
    }
    *eq = 0;
    bool resolv = strcmp(pair, "resolv") == 0;
    const char *const *modes = resolv ? RESOLV : strcmp(pair, "hosts") == 0 ? HOSTS : NULL;
    ok = false;
    for (; modes && *modes && !ok; modes++) {
      if (strcmp(*modes, eq + 1) != 0) continue;
      ok = true;
      *(resolv ? &r->resolv : &r->hosts) = *modes;
    }
  }
  free(copy);
  return ok;
}

/* parsePrivateUsers: `shift:count`, decimal; numbers too long to be sure of are left to Node. */
static bool private_users_ok(const char *v) {
  size_t a = strspn(v, "0123456789");
  if (a == 0 || a > 15 || v[a] != ':') return false;
  size_t b = strspn(v + a + 1, "0123456789");
  if (b == 0 || b > 15 || v[a + 1 + b]) return false;
  unsigned long long shift = strtoull(v, NULL, 10), count = strtoull(v + a + 1, NULL, 10);
  return count >= 1 && shift + count <= (1ULL << 32);
}

/* parseRunArgs' checks of each flag of a mutable run argv, and what app/add takes of it. */
static void mutable_run_flag(void *ctx, int flag, const char *v, int bv, const char **why) {
  mutable_run_t *r = ctx;
  switch (flag) {
    case RF_DISABLE_CAPS: r->disable_caps = bv; break;
    case RF_DISABLE_PATHS: r->disable_paths = bv; break;
    case RF_DISABLE_SECCOMP: r->disable_seccomp = bv; break;
    case RF_MUTABLE: r->mutable = bv; break;
    case RF_NET: if (!net_list_ok(v, &r->nets)) *why = "--net"; break;
    case RF_PRIVATE_USERS:
      if (*v && !private_users_ok(v)) *why = "--private-users";
      r->private_users = *v != 0;
      break;
    case RF_MDS_TOKEN: r->mds_token = *v != 0; break;
    case RF_HOSTNAME: r->hostname = *v ? xstrdup(v) : NULL; break;
    case RF_DNS_CONF_MODE: if (!dns_conf_mode_ok(v, r)) *why = "--dns-conf-mode"; break;
    case RF_IPC:
      if (*v && strcmp(v, "auto") != 0 && strcmp(v, "private") != 0 && strcmp(v, "parent") != 0) *why = "--ipc";
      break;
  }
}

void check_mutable_pod(mutable_run_t *r) {
  memset(r, 0, sizeof *r);
  r->resolv = r->hosts = "default";
  char *path = xasprintf("%s/%s", g_stage1, RUN_ARGS_PATH);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) fallback("cannot read %s", path);
  const char *why = NULL;
  jv_t *doc = json_parse(text, len, &why);
  if (!doc || doc->type != J_OBJECT) fallback("%s: not a JSON object", path);
  jv_t *argv = json_get(doc, "argv");
  if (!argv || argv->type != J_ARRAY) fallback("%s: no argv", path);
  /* argv[0] is a program name to the scanner */
  char **v = xmalloc((argv->n + 2) * sizeof *v);
  v[0] = "run";
  for (size_t i = 0; i < argv->n; i++) {
    if (argv->items[i]->type != J_STRING) fallback("%s: argv is not a list of strings", path);
    v[i + 1] = argv->items[i]->str;
  }
  int argc = (int)argv->n + 1;
  int i = go_flags(argc, v, 1, RUN_BOOL_FLAGS, RUN_VALUE_FLAGS, mutable_run_flag, r, &why);
  if (i < 0 || !r->mutable || argc - i != 1 || !is_canonical_uuid(v[i])) fallback("%s: not a mutable run argv this program reads", path);
  r->uuid = v[i];
}

/* stopTimeout of ops.ts: RKTNETES_STOP_TIMEOUT when a non-negative integer, else the default. */
static char *stop_timeout(void) {
  const char *v = getenv(ENV_STOP_TIMEOUT);
  if (!v || !*v) return xasprintf("%d", STOP_TIMEOUT_SECONDS);
  /* plain decimals only: JavaScript's Number() reads many other forms, the Node path has it */
  size_t n = strlen(v);
  if (strspn(v, "0123456789") != n || n > 15) fallback("%s=%s", ENV_STOP_TIMEOUT, v);
  while (v[0] == '0' && v[1]) v++;
  return xstrdup(v);
}

/* ------------------------------------------------------------------ the control socket */

/* JavaScript's \s among the bytes a reply may hold (PID 1 writes ASCII). */
static bool js_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* parseCtlReply: `ok [data]`, `error <code> [message]`, anything else ctl.invalid. */
static void parse_reply(const char *line, reply_t *r) {
  memset(r, 0, sizeof *r);
  if (strcmp(line, "ok") == 0 || starts_with(line, "ok ")) {
    r->ok = true;
    r->data = xstrdup(line[2] ? line + 3 : "");
    return;
  }
  /* /^error (\S+) ?(.*)$/: `.` matches neither \n nor \r */
  if (starts_with(line, "error ") && !strchr(line, '\r')) {
    const char *c = line + 6, *e = c;
    while (*e && !js_space((unsigned char)*e)) e++;
    if (e > c) {
      r->code = strndup(c, (size_t)(e - c));
      r->message = xstrdup(*e == ' ' ? e + 1 : e);
      return;
    }
  }
  buf_t m = {0};
  buf_puts(&m, "unexpected reply ");
  json_quote(&m, line);
  r->code = "ctl.invalid";
  r->message = m.s;
}

/*
 * ctlRequest: connects to `<pod>/stage1/rootfs/rkt/ctl` by its path relative to the pod
 * directory (the working directory, as ctlAddress picks it: always short enough for a socket
 * address), writes the request line and reads the reply line. No timeout, as the Node client:
 * PID 1 bounds a stop by the stop timeout.
 */
void ctl_request(const char *pod, const char *request, reply_t *r) {
  const char *address = STAGE1_ROOTFS_REL "/" CTL_PATH;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("cannot reach the supervisor of pod %s: %s", pod, errno_message(errno));
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, address, strlen(address));
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) fail("cannot reach the supervisor of pod %s: connect %s %s", pod, errno_name(errno), address);
  char *line = xasprintf("%s\n", request);
  for (size_t off = 0, n = strlen(line); off < n;) {
    ssize_t w = send(fd, line + off, n - off, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("the connection to the pod supervisor failed: write %s", errno_name(errno));
    off += (size_t)w;
  }
  buf_t in = {0};
  buf_add(&in, "", 0);
  for (;;) {
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("the connection to the pod supervisor failed: read %s", errno_name(errno));
    if (n == 0) fail("the pod supervisor closed the connection without a reply");
    buf_add(&in, chunk, (size_t)n);
    char *nl = memchr(in.s, '\n', in.len);
    if (!nl) continue;
    *nl = 0;
    break;
  }
  close(fd);
  parse_reply(in.s, r);
}

/* ------------------------------------------------------------------ the entrypoints */

/* What both do before the request: argv, the forced fallback, the pod. */
static const char *prepare(int argc, char **argv, char **pod) {
  g_debug = debug_asked(argc, argv);
  if (node_forced()) fallback("RKTNETES_STAGE1_RUN=node");
  const char *app = parse_app_args(argc, argv);
  static char cwd[4096];
  if (!getcwd(cwd, sizeof cwd)) fallback("getcwd");
  *pod = cwd;
  g_stage1 = xasprintf("%s/%s", cwd, STAGE1_ROOTFS_REL);
  mutable_run_t run;
  check_mutable_pod(&run);
  return app;
}

int app_start_main(int argc, char **argv) {
  char *pod;
  const char *app = prepare(argc, argv, &pod);
  debugf("%s: native", g_entrypoint);
  g_acting = true;
  reply_t r;
  ctl_request(pod, xasprintf("start %s", app), &r);
  if (!r.ok) fail("%s", r.message);
  debugf("app %s started, pid %s in the pod", app, r.data);
  return 0;
}

int app_stop_main(int argc, char **argv) {
  char *pod;
  const char *app = prepare(argc, argv, &pod);
  char *timeout = stop_timeout();
  debugf("%s: native", g_entrypoint);
  g_acting = true;
  reply_t r;
  ctl_request(pod, xasprintf("stop %s %d %s", app, SIGTERM, timeout), &r);
  if (!r.ok && strcmp(r.code, "app.unknown") == 0) {
    warnf("%s", r.message);
    return EXIT_APP_STOP_NO_SUCH_APP;
  }
  if (!r.ok) fail("%s", r.message);
  debugf("app %s stopped: %s", app, r.data);
  return 0;
}
