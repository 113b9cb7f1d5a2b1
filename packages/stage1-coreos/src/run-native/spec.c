/*
 * The init spec and a mutable pod's app spec (format: src/run/spec.ts), written with the same
 * keys in the same order as formatInitSpec and formatAppSpec do for the pods the native path
 * handles.
 */
#define _GNU_SOURCE
#include <string.h>

#include "native.h"
#include "run-native-gen.h"

/* escapeSpecValue: `\\`, `\n`, `\s` (values never hold NUL: C strings) */
static void put_value(buf_t *b, const char *v) {
  for (; *v; v++) {
    if (*v == '\\') buf_puts(b, "\\\\");
    else if (*v == '\n') buf_puts(b, "\\n");
    else if (*v == ' ') buf_puts(b, "\\s");
    else buf_add(b, v, 1);
  }
}

/* `key value` (one escaped field) */
static void put(buf_t *b, const char *key, const char *value) {
  buf_puts(b, key);
  if (value) {
    buf_puts(b, " ");
    put_value(b, value);
  }
  buf_puts(b, "\n");
}

static void put2(buf_t *b, const char *key, const char *v1, const char *v2) {
  buf_printf(b, "%s ", key);
  put_value(b, v1);
  buf_puts(b, " ");
  put_value(b, v2);
  buf_puts(b, "\n");
}

/* putApp: one app section, `app <name>` ... `end`. */
static void put_app(buf_t *b, const pod_t *pod, const app_t *app, const strv_t *procs) {
  const run_args_t *a = &pod->args;
  put(b, "app", app->name);
  char *root = xasprintf("%s%s%s", APP_ROOT_PREFIX, app->name, APP_ROOT_SUFFIX);
  put(b, "root", root);
  for (size_t j = 0; j < procs->n; j++) put(b, "cgroup", procs->v[j]);
  if (!a->disable_paths) {
    for (size_t j = 0; j < sizeof MASKED_PATHS / sizeof MASKED_PATHS[0]; j++) put(b, "mask", MASKED_PATHS[j]);
    for (size_t j = 0; j < sizeof READONLY_PATHS / sizeof READONLY_PATHS[0]; j++) put(b, "ro", READONLY_PATHS[j]);
  }
  put(b, "workdir", app->workdir);
  buf_printf(b, "uid %lu\ngid %lu\n", app->uid, app->gid);
  buf_puts(b, "groups");
  for (size_t j = 0; j < app->groups.n; j++) buf_printf(b, " %s", app->groups.v[j]);
  buf_puts(b, "\n");
  put(b, "bounding", a->disable_caps ? CAPS_ALL_MASK : CAPS_DEFAULT_MASK);
  /* no capability retain set: nothing inheritable or ambient */
  put(b, "inheritable", CAPS_NONE_MASK);
  put(b, "ambient", CAPS_NONE_MASK);
  put(b, "nnp", app->nnp ? "1" : "0");
  if (app->pidns_private) put(b, "pidns", "private");
  if (app->seccomp) put(b, "seccomp", xasprintf("/rkt/seccomp/%s.bpf", app->name));
  for (size_t j = 0; j < app->env.n; j++) put(b, "env", app->env.v[j]);
  for (size_t j = 0; j < app->argv.n; j++) put(b, "arg", app->argv.v[j]);
  if (app->stdio[0]) {
    put(b, "stdin", app->stdio[0]);
    put(b, "stdout", app->stdio[1]);
    put(b, "stderr", app->stdio[2]);
  }
  if (app->stdin_once) put(b, "stdin-once", "1");
  if (app->ext_log) put(b, "extlog", app->ext_log);
  put(b, "end", NULL);
}

char *format_init_spec(const pod_t *pod, const cg_plan_t *plan) {
  buf_t b = {0};
  const run_args_t *a = &pod->args;
  buf_puts(&b, "# rktnetes stage1-coreos init spec\n");
  buf_printf(&b, "version %d\n", INIT_SPEC_VERSION);
  put(&b, "debug", a->debug ? "1" : "0");
  buf_printf(&b, "lockfd %d\n", a->lock_fd);
  put(&b, "stage1", pod->stage1);
  put(&b, "hostname", pod->hostname);
  put(&b, "net", a->net_host ? "host" : "none");
  put(&b, "ipc", a->ipc_parent ? "parent" : "private");
  put(&b, "interactive", "0");
  buf_printf(&b, "stop-timeout %d\n", STOP_TIMEOUT_SECONDS);
  for (size_t i = 0; i < plan->joins.n; i++) put(&b, "cg-join", plan->joins.v[i]);
  for (size_t i = 0; i < plan->moves.n; i++) put(&b, "cg-move", plan->moves.v[i]);
  if (plan->unified)
    for (size_t i = 0; i < plan->write_paths.n; i++) put2(&b, "cg-write", plan->write_paths.v[i], plan->write_values.v[i]);
  char *suffix = xasprintf("/rkt-%s", a->uuid);
  for (size_t i = 0; i < plan->dirs.n; i++)
    if (ends_with(plan->dirs.v[i], suffix)) put(&b, "cg-dir", plan->dirs.v[i]);

  for (size_t i = 0; i < pod->napps; i++) put_app(&b, pod, &pod->apps[i], &plan->app_procs[i]);
  return b.s;
}

char *format_app_spec(const pod_t *pod, const cg_plan_t *plan) {
  buf_t b = {0};
  buf_puts(&b, "# rktnetes stage1-coreos app spec\n");
  buf_printf(&b, "version %d\n", INIT_SPEC_VERSION);
  put_app(&b, pod, &pod->apps[0], &plan->app_procs[0]);
  return b.s;
}
