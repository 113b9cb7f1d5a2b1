/*
 * One app resolved as src/run/app.ts prepareApp does for an app without isolators: identity
 * (src/run/identity.ts), program (src/run/exec.ts resolveExec), environment
 * (composeEnvironment), capabilities (src/run/caps.ts, from the generated masks), seccomp and
 * no_new_privs (@rktnetes/seccomp appSeccomp / appNoNewPrivileges: the default filter, nnp
 * for a non-root app). Every error here is a user error of the Node run: fallback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crossing-gen.h"
#include "native.h"
#include "run-native-gen.h"

#define MAX_SYMLINKS 40

/* Splits `path` into its components, `.` and empty ones dropped, appended to `out`. */
static void split_into(strv_t *out, const char *path) {
  char *tmp = xstrdup(path);
  for (char *save = NULL, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save))
    if (strcmp(c, ".") != 0) strv_push(out, xstrdup(c));
  free(tmp);
}

static char *joined(const char *root, const strv_t *parts, size_t n, const char *last) {
  buf_t b = {0};
  buf_puts(&b, root);
  for (size_t i = 0; i < n; i++) buf_printf(&b, "/%s", parts->v[i]);
  if (last) buf_printf(&b, "/%s", last);
  char *r = path_normalize(b.s);
  free(b.s);
  return r;
}

char *resolve_in_root(const char *root, const char *path) {
  /* pending is a stack: its next component is the last element */
  strv_t fwd = {0}, pending = {0}, resolved = {0};
  split_into(&fwd, path);
  for (size_t i = fwd.n; i-- > 0;) strv_push(&pending, fwd.v[i]);
  int links = 0;
  while (pending.n > 0) {
    char *part = pending.v[--pending.n];
    if (strcmp(part, "..") == 0) {
      if (resolved.n) resolved.n--;
      continue;
    }
    char *candidate = joined(root, &resolved, resolved.n, part);
    struct stat st;
    if (lstat(candidate, &st) == 0 && S_ISLNK(st.st_mode)) {
      if (++links > MAX_SYMLINKS) return NULL;
      char target[4096];
      ssize_t n = readlink(candidate, target, sizeof target - 1);
      if (n < 0) return NULL;
      target[n] = 0;
      if (target[0] == '/') resolved.n = 0;
      strv_t t = {0};
      split_into(&t, target);
      for (size_t i = t.n; i-- > 0;) strv_push(&pending, t.v[i]);
      free(candidate);
      continue;
    }
    free(candidate);
    strv_push(&resolved, part);
  }
  return joined(root, &resolved, resolved.n, NULL);
}

/* ------------------------------------------------------------------ identity */

#define MAX_ID 4294967294UL

static bool numeric_id(const char *v, unsigned long *out) {
  if (!*v || strspn(v, "0123456789") != strlen(v)) return false;
  while (v[0] == '0' && v[1]) v++; /* Number("007") is 7 */
  if (strlen(v) > 10) return false;
  unsigned long n = strtoul(v, NULL, 10);
  if (n > MAX_ID) return false;
  *out = n;
  return true;
}

/* The id field of `name` in the image's /etc/passwd or /etc/group, as identity.ts readEtc. */
static bool etc_lookup(const char *root, const char *file, const char *name, unsigned long *out) {
  char *host = resolve_in_root(root, file);
  if (!host) fallback("symlink loop resolving %s", file);
  size_t len;
  char *text = read_file(host, &len);
  if (!text) return false;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)text[i] >= 0x80 || text[i] == 0) fallback("%s: not ASCII", file);
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#') continue;
    char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : strlen(line);
    if (strlen(name) != n || strncmp(line, name, n) != 0) continue;
    /* the first matching entry decides, its id (third field) valid or not */
    if (!colon) return false;
    char *second = strchr(colon + 1, ':');
    if (!second) return false;
    char *third_end = strchr(second + 1, ':');
    char *id = third_end ? strndup(second + 1, (size_t)(third_end - second - 1)) : xstrdup(second + 1);
    return numeric_id(id, out);
  }
  return false;
}

static unsigned long resolve_one(const char *root, const char *app, const char *value, bool user) {
  unsigned long id;
  if (numeric_id(value, &id)) return id;
  if (value[0] == '/') {
    char *host = resolve_in_root(root, value);
    struct stat st;
    if (!host || stat(host, &st) < 0) fallback("app %s: cannot stat %s", app, value);
    return user ? st.st_uid : st.st_gid;
  }
  if (etc_lookup(root, user ? "/etc/passwd" : "/etc/group", value, &id)) return id;
  if (strcmp(value, "root") == 0) return 0;
  fallback("app %s: %s %s not found", app, user ? "user" : "group", value);
}

/* ------------------------------------------------------------------ exec */

static bool executable_file(const char *host) {
  struct stat st;
  return stat(host, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

static const char *manifest_env(const jv_t *app, const char *name) {
  const jv_t *env = json_get(app, "environment");
  for (size_t i = 0; env && i < env->n; i++)
    if (strcmp(json_get(env->items[i], "name")->str, name) == 0) return json_get(env->items[i], "value")->str;
  return NULL;
}

static char *resolve_exec(const char *root, const char *app, const char *bin, const char *workdir, const jv_t *appobj) {
  if (bin[0] == '/') return xstrdup(bin);
  if (strchr(bin, '/')) return path_join(workdir, bin);
  const char *path_var = manifest_env(appobj, "PATH");
  strv_t dirs = {0};
  if (path_var) {
    /* String.split(':'): empty entries kept */
    const char *s = path_var;
    for (;;) {
      const char *c = strchr(s, ':');
      strv_push(&dirs, c ? strndup(s, (size_t)(c - s)) : xstrdup(s));
      if (!c) break;
      s = c + 1;
    }
  } else {
    strv_push(&dirs, xstrdup(workdir));
    strv_push(&dirs, "/bin");
    strv_push(&dirs, "/usr/bin");
  }
  for (size_t i = 0; i < dirs.n; i++) {
    char *dir = dirs.v[i][0] == '/' ? path_normalize(dirs.v[i]) : path_join(workdir, dirs.v[i]);
    char *candidate = path_join(dir, bin);
    char *host = resolve_in_root(root, candidate);
    if (!host) fallback("symlink loop resolving %s", candidate);
    if (executable_file(host)) return candidate;
  }
  fallback("app %s: executable %s not found", app, bin);
}

/* ------------------------------------------------------------------ the app */

void resolve_app(pod_t *pod, const app_src_t *src, app_t *a) {
  const jv_t *app = src->app;
  a->name = xstrdup(src->name);
  a->read_only_root = src->read_only_root;
  const jv_t *wd = json_get(app, "workingDirectory");
  a->workdir = xstrdup(wd && wd->str[0] ? wd->str : "/");

  a->uid = resolve_one(a->root, a->name, json_get(app, "user")->str, true);
  a->gid = resolve_one(a->root, a->name, json_get(app, "group")->str, false);
  strv_push(&a->groups, xasprintf("%lu", a->gid));
  const jv_t *gids = json_get(app, "supplementaryGIDs");
  for (size_t i = 0; gids && i < gids->n; i++) {
    char *g = xasprintf("%llu", (unsigned long long)gids->items[i]->num); /* -0 is 0 */
    if (!strv_has(&a->groups, g)) strv_push(&a->groups, g);
  }

  const jv_t *exec = json_get(app, "exec");
  strv_push(&a->argv, resolve_exec(a->root, a->name, exec->items[0]->str, a->workdir, app));
  for (size_t i = 1; i < exec->n; i++) strv_push(&a->argv, exec->items[i]->str);

  /* the manifest's variables with AC_APP_NAME set, the appc defaults it lacks first */
  strv_t names = {0}, values = {0};
  const jv_t *env = json_get(app, "environment");
  bool has_name = false;
  for (size_t i = 0; env && i < env->n; i++) {
    const char *n = json_get(env->items[i], "name")->str;
    const char *v = json_get(env->items[i], "value")->str;
    if (strcmp(n, "AC_APP_NAME") == 0) v = a->name, has_name = true;
    strv_push(&names, (char *)n);
    strv_push(&values, (char *)v);
  }
  if (!has_name) strv_push(&names, "AC_APP_NAME"), strv_push(&values, a->name);
  for (size_t i = 0; i < sizeof DEFAULT_APP_ENV / sizeof DEFAULT_APP_ENV[0]; i++)
    if (!strv_has(&names, DEFAULT_APP_ENV[i][0])) strv_push(&a->env, xasprintf("%s=%s", DEFAULT_APP_ENV[i][0], DEFAULT_APP_ENV[i][1]));
  for (size_t i = 0; i < names.n; i++) {
    /* formatEnvFile refuses these: the Node run reports it */
    if (strchr(values.v[i], '\n')) fallback("app %s: newline in %s", a->name, names.v[i]);
    strv_push(&a->env, xasprintf("%s=%s", names.v[i], values.v[i]));
  }

  /* appSeccomp and appNoNewPrivileges of @rktnetes/seccomp, for the isolators manifest.c lets
   * through: the default filter unless disabled or unconfined; no_new_privs as the isolator says,
   * else for a non-root app with a filter */
  const jv_t *isos = json_get(app, "isolators");
  const jv_t *nnp = NULL;
  bool unconfined = false;
  for (size_t i = 0; isos && i < isos->n; i++) {
    const char *n = json_get(isos->items[i], "name")->str;
    if (strcmp(n, ISOLATOR_NO_NEW_PRIVILEGES) == 0) nnp = json_get(isos->items[i], "value");
    if (strcmp(n, ISOLATOR_SECCOMP_RETAIN_SET) == 0) unconfined = true;
  }
  a->seccomp = !pod->args.disable_seccomp && !unconfined;
  a->nnp = nnp ? nnp->type == J_TRUE : a->seccomp && a->uid != 0;
}
