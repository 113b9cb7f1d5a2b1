/*
 * The run argv (Go flag syntax, as @rktnetes/stage1-abi parseRunArgs reads it) and the
 * environment. Only what the native path implements is accepted; every other flag value, and
 * every malformed argv (which the Node run rejects with its usage error), falls back.
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

/* A --net value: only a list that is exactly `host` or exactly `none` (repeats included). */
static void net_flag(run_args_t *a, const char *v, int *nets) {
  if (strcmp(v, "host") != 0 && strcmp(v, "none") != 0) fallback("--net=%s", v);
  if (++*nets > 1) fallback("several --net flags");
  a->net_host = strcmp(v, "host") == 0;
}

void parse_run_args(int argc, char **argv, run_args_t *a) {
  memset(a, 0, sizeof *a);
  a->net_host = true; /* no --net at all means host networking (rkt) */
  int nets = 0;
  int i = 1;
  for (; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--") == 0) {
      i++;
      break;
    }
    if (strlen(arg) < 2 || arg[0] != '-') break;
    const char *body = arg[1] == '-' ? arg + 2 : arg + 1;
    if (!*body || *body == '-' || *body == '=') fallback("bad flag syntax %s", arg);
    const char *eq = strchr(body, '=');
    char *name = eq ? strndup(body, (size_t)(eq - body)) : xstrdup(body);
    const char *inline_v = eq ? eq + 1 : NULL;
    static const char *BOOLS[] = {"debug", "interactive", "disable-capabilities-restriction", "disable-paths", "disable-seccomp", "mutable"};
    int b = -1;
    for (int k = 0; k < 6; k++)
      if (strcmp(name, BOOLS[k]) == 0) b = k;
    if (b >= 0) {
      int v = inline_v ? go_bool(inline_v) : 1;
      if (v < 0) fallback("invalid boolean for --%s", name);
      switch (b) {
        case 0: a->debug = g_debug = v; break;
        case 1: if (v) fallback("--interactive"); break;
        case 2: a->disable_caps = v; break;
        case 3: a->disable_paths = v; break;
        case 4: a->disable_seccomp = v; break;
        case 5: if (v) fallback("--mutable"); break;
      }
      continue;
    }
    static const char *VALUES[] = {"net", "private-users", "mds-token", "local-config", "hostname", "dns-conf-mode", "ipc"};
    int k = -1;
    for (int j = 0; j < 7; j++)
      if (strcmp(name, VALUES[j]) == 0) k = j;
    if (k < 0) fallback("unknown flag -%s", name);
    const char *v = inline_v;
    if (!v) {
      if (i + 1 >= argc) fallback("--%s needs an argument", name);
      v = argv[++i];
    }
    switch (k) {
      case 0: net_flag(a, v, &nets); break;
      case 1: if (*v) fallback("--private-users"); break;
      case 2: if (*v) fallback("--mds-token"); break;
      case 3: break; /* only CNI networks read the local configuration */
      case 4: free(a->hostname), a->hostname = *v ? xstrdup(v) : NULL; break;
      case 5: fallback("--dns-conf-mode"); break;
      case 6:
        if (!*v) a->ipc_parent = false;
        else if (strcmp(v, "parent") == 0) a->ipc_parent = true;
        else if (strcmp(v, "private") == 0 || strcmp(v, "auto") == 0) a->ipc_parent = false;
        else fallback("--ipc=%s", v);
        break;
    }
  }
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

bool node_forced(void) {
  const char *s = getenv("RKTNETES_STAGE1_RUN");
  return s && strcmp(s, "node") == 0;
}
