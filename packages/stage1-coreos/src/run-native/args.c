/*
 * Argv in Go flag syntax, as @rktnetes/stage1-abi parseGoFlags reads it (one scanner for every
 * native entrypoint), the run argv and the environment of run. Only what the native path
 * implements is accepted; every other flag value, and every malformed argv (which the Node run
 * rejects with its usage error), falls back.
 */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "native.h"

int go_bool(const char *v) {
  static const char *T[] = {"1", "t", "T", "TRUE", "true", "True"};
  static const char *F[] = {"0", "f", "F", "FALSE", "false", "False"};
  for (int i = 0; i < 6; i++) {
    if (strcmp(v, T[i]) == 0) return 1;
    if (strcmp(v, F[i]) == 0) return 0;
  }
  return -1;
}

bool is_canonical_uuid(const char *s) {
  if (strlen(s) != 36) return false;
  for (int i = 0; i < 36; i++) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
  }
  return true;
}

int go_flags(int argc, char **argv, int start, const char *const *bools, const char *const *values, go_flag_fn set, void *ctx, const char **why) {
  int i = start;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) return i + 1;
    if (strlen(arg) < 2 || arg[0] != '-') break;
    const char *body = arg[1] == '-' ? arg + 2 : arg + 1;
    if (!*body || *body == '-' || *body == '=') {
      *why = xasprintf("bad flag syntax %s", arg);
      return -1;
    }
    const char *eq = strchr(body, '=');
    char *name = eq ? strndup(body, (size_t)(eq - body)) : xstrdup(body);
    int b = -1, k = -1;
    for (int j = 0; bools[j]; j++)
      if (strcmp(name, bools[j]) == 0) b = j;
    for (int j = 0; values[j]; j++)
      if (strcmp(name, values[j]) == 0) k = j;
    const char *v = eq ? eq + 1 : NULL;
    *why = NULL;
    if (b >= 0) {
      int bv = v ? go_bool(v) : 1;
      if (bv < 0) *why = xasprintf("invalid boolean for --%s", name);
      else set(ctx, b, NULL, bv, why);
    } else if (k < 0) {
      *why = xasprintf("unknown flag -%s", name);
    } else if (!v && i + 1 >= argc) {
      *why = xasprintf("--%s needs an argument", name);
    } else {
      set(ctx, GO_VALUE_FLAG + k, v ? v : argv[++i], 0, why);
    }
    free(name);
    if (*why) return -1;
  }
  return i;
}

const char *const RUN_BOOL_FLAGS[] = {"debug", "interactive", "disable-capabilities-restriction", "disable-paths", "disable-seccomp", "mutable", NULL};
const char *const RUN_VALUE_FLAGS[] = {"net", "private-users", "mds-token", "local-config", "hostname", "dns-conf-mode", "ipc", NULL};

/* What the native run takes of each run flag: every value it does not implement falls back. */
static void run_flag(void *ctx, int flag, const char *v, int bv, const char **why) {
  run_args_t *a = ctx;
  switch (flag) {
    case RF_DEBUG: a->debug = g_debug = bv; break;
    case RF_INTERACTIVE: if (bv) *why = "--interactive"; break;
    case RF_DISABLE_CAPS: a->disable_caps = bv; break;
    case RF_DISABLE_PATHS: a->disable_paths = bv; break;
    case RF_DISABLE_SECCOMP: a->disable_seccomp = bv; break;
    case RF_MUTABLE: if (bv) *why = "--mutable"; break;
    case RF_NET:
      /* only a list that is exactly `host` or exactly `none` (no --net at all: host, as rkt) */
      if (strcmp(v, "host") != 0 && strcmp(v, "none") != 0) *why = xasprintf("--net=%s", v);
      else if (a->nets++) *why = "several --net flags";
      else a->net_host = strcmp(v, "host") == 0;
      break;
    case RF_PRIVATE_USERS: if (*v) *why = "--private-users"; break;
    case RF_MDS_TOKEN: if (*v) *why = "--mds-token"; break;
    case RF_LOCAL_CONFIG: break; /* only CNI networks read the local configuration */
    case RF_HOSTNAME: free(a->hostname), a->hostname = *v ? xstrdup(v) : NULL; break;
    case RF_DNS_CONF_MODE: *why = "--dns-conf-mode"; break;
    case RF_IPC:
      if (!*v || strcmp(v, "private") == 0 || strcmp(v, "auto") == 0) a->ipc_parent = false;
      else if (strcmp(v, "parent") == 0) a->ipc_parent = true;
      else *why = xasprintf("--ipc=%s", v);
      break;
  }
}

void parse_run_args(int argc, char **argv, run_args_t *a) {
  memset(a, 0, sizeof *a);
  a->net_host = true;
  const char *why = NULL;
  int i = go_flags(argc, argv, 1, RUN_BOOL_FLAGS, RUN_VALUE_FLAGS, run_flag, a, &why);
  if (i < 0) fallback("%s", why);
  if (argc - i != 1) fallback("expected one positional argument");
  if (!is_canonical_uuid(argv[i])) fallback("pod uuid not in canonical form");
  a->uuid = argv[i];

  /* the environment: what only the Node run handles */
  const char *lock = getenv("RKT_LOCK_FD");
  if (!lock || !*lock || strspn(lock, "0123456789") != strlen(lock) || strlen(lock) > 9) fallback("RKT_LOCK_FD");
  a->lock_fd = atoi(lock);
  const char *s;
  if (node_forced()) fallback("RKTNETES_STAGE1_RUN=node");
  if (getenv("NOTIFY_SOCKET")) fallback("NOTIFY_SOCKET");
  if ((s = getenv("RKT_SELINUX_CONTEXT")) && *s) fallback("RKT_SELINUX_CONTEXT");
  if ((s = getenv("RKT_SELINUX_MOUNT_CONTEXT")) && *s) fallback("RKT_SELINUX_MOUNT_CONTEXT");
}

void check_hostname(const char *h) {
  for (const unsigned char *p = (const unsigned char *)h; *p; p++)
    if (*p <= ' ' || *p >= 0x7f) fallback("hostname with blanks or non-ASCII characters");
}

bool node_forced(void) {
  const char *s = getenv("RKTNETES_STAGE1_RUN");
  return s && strcmp(s, "node") == 0;
}
