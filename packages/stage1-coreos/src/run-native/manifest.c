/*
 * The pod manifest and the apps' image manifests, checked against a strict subset of what
 * @rktnetes/schema accepts: every field known by its exact name and type, and the features the
 * native path does not implement absent (volumes, mounts, isolators, event handlers, ports,
 * dependencies, rktnetes.io annotations). A manifest outside the subset is left to the Node
 * run, valid or not: it applies it or reports the proper error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "crossing-gen.h"
#include "native.h"

/* Falls back unless every key of `obj` is in the NULL-terminated `known`. */
static void only_keys(const jv_t *obj, const char *what, const char *const *known) {
  for (size_t i = 0; i < obj->n; i++) {
    bool ok = false;
    for (const char *const *k = known; *k && !ok; k++) ok = strcmp(obj->keys[i], *k) == 0;
    if (!ok) fallback("%s: field %s", what, obj->keys[i]);
  }
}

static const jv_t *want(const jv_t *v, jtype_t t, const char *what) {
  if (!v || v->type != t) fallback("%s: unexpected type", what);
  return v;
}

static bool in_set(char c, const char *set) { return c && strchr(set, c); }

/* AC Identifier: [a-z0-9] at both ends, [a-z0-9-._~/] between. */
static bool ac_identifier(const char *s) {
  size_t n = strlen(s);
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (!in_set(s[i], "abcdefghijklmnopqrstuvwxyz0123456789-._~/")) return false;
  return in_set(s[0], "abcdefghijklmnopqrstuvwxyz0123456789") && in_set(s[n - 1], "abcdefghijklmnopqrstuvwxyz0123456789");
}

/* AC Name: [a-z0-9] at both ends, [a-z0-9-] between. */
static bool ac_name(const char *s) {
  size_t n = strlen(s);
  if (!n) return false;
  for (size_t i = 0; i < n; i++)
    if (!in_set(s[i], "abcdefghijklmnopqrstuvwxyz0123456789-")) return false;
  return s[0] != '-' && s[n - 1] != '-';
}

/* `MAJOR.MINOR.PATCH` without leading zeros (pre-release and build suffixes: fallback). */
static bool plain_semver(const char *s) {
  for (int part = 0; part < 3; part++) {
    size_t n = strspn(s, "0123456789");
    if (n == 0 || n > 15 || (n > 1 && s[0] == '0')) return false;
    s += n;
    if (part < 2 && *s++ != '.') return false;
  }
  return *s == 0;
}

static bool image_id(const char *s) {
  if (!starts_with(s, "sha512-")) return false;
  s += 7;
  size_t n = strspn(s, "0123456789abcdef");
  return s[n] == 0 && (n == 64 || n == 128);
}

static bool env_name(const char *s) {
  if (!(*s == '_' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
  for (s++; *s; s++)
    if (!(*s == '_' || *s == '.' || *s == '-' || (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))) return false;
  return true;
}

static void empty_list(const jv_t *obj, const char *key, const char *what) {
  const jv_t *v = json_get(obj, key);
  if (v && !(v->type == J_ARRAY && v->n == 0)) fallback("%s: %s", what, key);
}

static void string_map(const jv_t *obj, const char *key, const char *what) {
  const jv_t *v = json_get(obj, key);
  if (!v) return;
  want(v, J_OBJECT, what);
  for (size_t i = 0; i < v->n; i++) want(v->items[i], J_STRING, what);
}

/* A list of {name, value}: unique names, checked by `name_ok`; `value` a string. */
static void name_values(const jv_t *list, const char *what, bool (*name_ok)(const char *)) {
  want(list, J_ARRAY, what);
  static const char *const KEYS[] = {"name", "value", NULL};
  for (size_t i = 0; i < list->n; i++) {
    const jv_t *e = want(list->items[i], J_OBJECT, what);
    only_keys(e, what, KEYS);
    const jv_t *n = want(json_get(e, "name"), J_STRING, what);
    want(json_get(e, "value"), J_STRING, what);
    if (!name_ok(n->str)) fallback("%s: name %s", what, n->str);
    for (size_t j = 0; j < i; j++)
      if (strcmp(json_get(list->items[j], "name")->str, n->str) == 0) fallback("%s: duplicate %s", what, n->str);
  }
}

/* The rktnetes.io annotations of a runtime app the native app/add applies (src/mutable/stdio.ts, the pid namespace). */
static const char *const ADD_ANNOTATIONS[] = {ANNOTATION_APP_STDIN_ONCE, ANNOTATION_APP_LOG_PATH, ANNOTATION_APP_PID_NAMESPACE, NULL};

/*
 * Annotations, without the ones the native path does not apply or check (the rktnetes.io names
 * in the NULL-terminated `applied` excepted).
 */
static const char *const ANY_RKTNETES[] = {"rktnetes.io/", NULL};

/* app/add only (see isolators() below). */
static bool s_app_add;

static bool digits(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (s[i] < '0' || s[i] > '9') return false;
  return true;
}

static int num(const char *s, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; i++) v = v * 10 + (s[i] - '0');
  return v;
}

/* isTimestamp of @rktnetes/schema: `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`, fields in range. */
static bool timestamp(const char *s) {
  if (strlen(s) < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' || !digits(s + 8, 2) || s[10] != 'T' || !digits(s + 11, 2) || s[13] != ':' ||
      !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
    return false;
  const char *p = s + 19;
  if (*p == '.') {
    size_t n = strspn(p + 1, "0123456789");
    if (n == 0) return false;
    p += 1 + n;
  }
  if (strcmp(p, "Z") != 0 && !((p[0] == '+' || p[0] == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) && p[6] == 0)) return false;
  int mo = num(s + 5, 2), d = num(s + 8, 2), h = num(s + 11, 2), mi = num(s + 14, 2), se = num(s + 17, 2);
  return mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && h <= 23 && mi <= 59 && se <= 60;
}

static void annotations(const jv_t *obj, const char *what, const char *const *applied) {
  const jv_t *list = json_get(obj, "annotations");
  if (!list) return;
  name_values(list, what, ac_identifier);
  for (size_t i = 0; i < list->n; i++) {
    const char *n = json_get(list->items[i], "name")->str;
    bool ok = false;
    for (const char *const *a = applied; a && *a && !ok; a++) ok = applied == ANY_RKTNETES ? starts_with(n, *a) : strcmp(n, *a) == 0;
    if (ok) continue;
    /* app/add checks `created` as the schema does (images converted from Docker have it) */
    if (s_app_add && strcmp(n, "created") == 0 && timestamp(json_get(list->items[i], "value")->str)) continue;
    if (starts_with(n, "rktnetes.io/") || strcmp(n, "created") == 0 || strcmp(n, "homepage") == 0 || strcmp(n, "documentation") == 0)
      fallback("%s: annotation %s", what, n);
  }
}

static bool label_name(const char *s) { return ac_identifier(s) && strcmp(s, "name") != 0; }

static void labels(const jv_t *obj, const char *what) {
  const jv_t *list = json_get(obj, "labels");
  if (!list) return;
  name_values(list, what, label_name);
  static const char *const LINUX_ARCHS[] = {"amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64", "ppc64le", "s390x", NULL};
  const char *os = NULL, *arch = NULL;
  for (size_t i = 0; i < list->n; i++) {
    const char *n = json_get(list->items[i], "name")->str, *v = json_get(list->items[i], "value")->str;
    if (strcmp(n, "os") == 0) os = v;
    if (strcmp(n, "arch") == 0) arch = v;
  }
  if (!os) return;
  if (strcmp(os, "linux") != 0) fallback("%s: os %s", what, os);
  if (!arch) return;
  for (const char *const *a = LINUX_ARCHS; *a; a++)
    if (strcmp(*a, arch) == 0) return;
  fallback("%s: arch %s", what, arch);
}

/*
 * app/add only (it is what the CRI's containers carry): the isolators that choose no seccomp
 * filter (`os/linux/seccomp-retain-set` of `@appc.io/all`, as `--seccomp=unconfined` writes it)
 * and set no_new_privs (`os/linux/no-new-privileges`), each at most once, in their plain form.
 */
static void isolators(const jv_t *app, const char *what) {
  if (!s_app_add) {
    empty_list(app, "isolators", what);
    return;
  }
  const jv_t *list = json_get(app, "isolators");
  if (!list) return;
  want(list, J_ARRAY, what);
  static const char *const KEYS[] = {"name", "value", NULL}, *const SET_KEYS[] = {"set", NULL};
  bool nnp = false, unconfined = false;
  for (size_t i = 0; i < list->n; i++) {
    const jv_t *iso = want(list->items[i], J_OBJECT, what);
    only_keys(iso, what, KEYS);
    const char *name = want(json_get(iso, "name"), J_STRING, what)->str;
    const jv_t *v = json_get(iso, "value");
    if (strcmp(name, ISOLATOR_NO_NEW_PRIVILEGES) == 0 && !nnp && v && (v->type == J_TRUE || v->type == J_FALSE)) {
      nnp = true;
      continue;
    }
    if (strcmp(name, ISOLATOR_SECCOMP_RETAIN_SET) == 0 && !unconfined && v && v->type == J_OBJECT) {
      only_keys(v, what, SET_KEYS);
      const jv_t *set = want(json_get(v, "set"), J_ARRAY, what);
      if (set->n == 1 && want(set->items[0], J_STRING, what) && strcmp(set->items[0]->str, SECCOMP_GROUP_ALL) == 0) {
        unconfined = true;
        continue;
      }
    }
    fallback("%s: isolators (%s)", what, name);
  }
}

/* The app object (image or runtime app), without the parts the native path does not implement. */
static void app_object(const jv_t *app, const char *what) {
  static const char *const KEYS[] = {"exec", "user", "group", "supplementaryGIDs", "eventHandlers", "workingDirectory", "environment", "isolators", "mountPoints", "ports", "userAnnotations", "userLabels", NULL};
  want(app, J_OBJECT, what);
  only_keys(app, what, KEYS);
  const jv_t *exec = json_get(app, "exec");
  if (!exec || want(exec, J_ARRAY, what)->n == 0) fallback("%s: no exec", what);
  for (size_t i = 0; i < exec->n; i++) want(exec->items[i], J_STRING, what);
  if (!exec->items[0]->str[0]) fallback("%s: empty exec", what);
  if (!want(json_get(app, "user"), J_STRING, what)->str[0]) fallback("%s: empty user", what);
  if (!want(json_get(app, "group"), J_STRING, what)->str[0]) fallback("%s: empty group", what);
  const jv_t *gids = json_get(app, "supplementaryGIDs");
  if (gids) {
    want(gids, J_ARRAY, what);
    for (size_t i = 0; i < gids->n; i++) {
      double g = want(gids->items[i], J_NUMBER, what)->num;
      if (!(g >= 0 && g <= 4294967295.0 && (double)(unsigned long long)g == g)) fallback("%s: supplementaryGIDs", what);
    }
  }
  const jv_t *wd = json_get(app, "workingDirectory");
  if (wd && want(wd, J_STRING, what)->str[0] && wd->str[0] != '/') fallback("%s: workingDirectory", what);
  const jv_t *env = json_get(app, "environment");
  if (env) name_values(env, what, env_name);
  empty_list(app, "eventHandlers", what);
  isolators(app, what);
  empty_list(app, "mountPoints", what);
  empty_list(app, "ports", what);
  string_map(app, "userAnnotations", what);
  string_map(app, "userLabels", what);
}

static jv_t *read_json(const char *path) {
  size_t len;
  char *text = read_file(path, &len);
  if (!text) fallback("cannot read %s", path);
  const char *why = "?";
  jv_t *v = json_parse(text, len, &why);
  if (!v) fallback("%s: %s", path, why);
  return v;
}

static void image_manifest(const jv_t *m, const char *what) {
  static const char *const KEYS[] = {"acKind", "acVersion", "name", "labels", "app", "dependencies", "pathWhitelist", "annotations", NULL};
  want(m, J_OBJECT, what);
  only_keys(m, what, KEYS);
  if (strcmp(want(json_get(m, "acKind"), J_STRING, what)->str, "ImageManifest") != 0) fallback("%s: acKind", what);
  if (!plain_semver(want(json_get(m, "acVersion"), J_STRING, what)->str)) fallback("%s: acVersion", what);
  if (!ac_identifier(want(json_get(m, "name"), J_STRING, what)->str)) fallback("%s: name", what);
  labels(m, what);
  if (json_get(m, "app")) app_object(json_get(m, "app"), what);
  empty_list(m, "dependencies", what);
  const jv_t *wl = json_get(m, "pathWhitelist");
  if (wl) {
    want(wl, J_ARRAY, what);
    for (size_t i = 0; i < wl->n; i++)
      if (want(wl->items[i], J_STRING, what)->str[0] != '/') fallback("%s: pathWhitelist", what);
  }
  annotations(m, what, NULL);
}

/*
 * The pod manifest, checked whole (the Node path validates it before any app). A run's pod has
 * apps. For app/add of `target` (NULL for run), only the schema matters of what app/add does not
 * read: the pod's annotations (run applied them) and the other apps' (added before) may be any;
 * the target's rktnetes.io annotations are the ones add.c applies.
 */
static const jv_t *pod_manifest(const pod_t *pod, const char *target) {
  bool mutable = target != NULL;
  char *path = xasprintf("%s/pod", pod->pod);
  const jv_t *m = read_json(path);
  const char *what = "pod manifest";
  static const char *const KEYS[] = {"acKind", "acVersion", "apps", "volumes", "isolators", "annotations", "ports", "userAnnotations", "userLabels", NULL};
  want(m, J_OBJECT, what);
  only_keys(m, what, KEYS);
  if (strcmp(want(json_get(m, "acKind"), J_STRING, what)->str, "PodManifest") != 0) fallback("%s: acKind", what);
  if (!plain_semver(want(json_get(m, "acVersion"), J_STRING, what)->str)) fallback("%s: acVersion", what);
  empty_list(m, "volumes", what);
  empty_list(m, "isolators", what);
  empty_list(m, "ports", what);
  annotations(m, what, mutable ? ANY_RKTNETES : NULL);
  string_map(m, "userAnnotations", what);
  string_map(m, "userLabels", what);
  const jv_t *apps = want(json_get(m, "apps"), J_ARRAY, what);
  if (apps->n == 0 && !mutable) fallback("no apps");

  static const char *const RA_KEYS[] = {"name", "image", "app", "readOnlyRootFS", "mounts", "annotations", NULL};
  static const char *const IMG_KEYS[] = {"name", "id", "labels", NULL};
  for (size_t i = 0; i < apps->n; i++) {
    const jv_t *ra = want(apps->items[i], J_OBJECT, what);
    only_keys(ra, what, RA_KEYS);
    const char *name = want(json_get(ra, "name"), J_STRING, what)->str;
    if (!ac_name(name)) fallback("app name %s", name);
    for (size_t j = 0; j < i; j++)
      if (strcmp(json_get(apps->items[j], "name")->str, name) == 0) fallback("duplicate app %s", name);
    const jv_t *img = want(json_get(ra, "image"), J_OBJECT, what);
    only_keys(img, what, IMG_KEYS);
    const jv_t *in = json_get(img, "name");
    if (in && !ac_identifier(want(in, J_STRING, what)->str)) fallback("%s: image name", what);
    if (!image_id(want(json_get(img, "id"), J_STRING, what)->str)) fallback("%s: image id", what);
    labels(img, what);
    if (json_get(ra, "app")) app_object(json_get(ra, "app"), what);
    const jv_t *ro = json_get(ra, "readOnlyRootFS");
    if (ro && ro->type != J_TRUE && ro->type != J_FALSE) fallback("%s: readOnlyRootFS", what);
    empty_list(ra, "mounts", what);
    annotations(ra, what, !mutable ? NULL : strcmp(name, target) == 0 ? ADD_ANNOTATIONS : ANY_RKTNETES);
  }
  return m;
}

/* One runtime app: its root, its image manifest, and the app resolved (prepareApp). */
static void load_app(pod_t *pod, const jv_t *ra, app_t *out) {
  const char *name = json_get(ra, "name")->str;
  char *root = xasprintf("%s/opt/stage2/%s/rootfs", pod->stage1, name);
  struct stat st;
  if (stat(root, &st) < 0) fallback("app %s: no root filesystem", name);
  char *ipath = xasprintf("%s/opt/stage2/%s/manifest", pod->stage1, name);
  const jv_t *image = read_json(ipath);
  image_manifest(image, "image manifest");
  const jv_t *ro = json_get(ra, "readOnlyRootFS");
  app_src_t src = {name, json_get(ra, "app") ? json_get(ra, "app") : json_get(image, "app"), ro && ro->type == J_TRUE};
  if (!src.app) fallback("app %s has no executable", name);
  out->root = root;
  resolve_app(pod, &src, out);
}

void load_pod(pod_t *pod) {
  const jv_t *apps = json_get(pod_manifest(pod, NULL), "apps");
  pod->napps = apps->n;
  pod->apps = xmalloc(apps->n * sizeof *pod->apps);
  for (size_t i = 0; i < apps->n; i++) load_app(pod, apps->items[i], &pod->apps[i]);
}

const jv_t *load_mutable_app(pod_t *pod, const char *name) {
  s_app_add = true;
  const jv_t *apps = json_get(pod_manifest(pod, name), "apps");
  for (size_t i = 0; i < apps->n; i++) {
    const jv_t *ra = apps->items[i];
    if (strcmp(json_get(ra, "name")->str, name) != 0) continue;
    pod->napps = 1;
    pod->apps = xmalloc(sizeof *pod->apps);
    load_app(pod, ra, &pod->apps[0]);
    return ra;
  }
  fallback("app %s is not in the pod manifest", name);
}
