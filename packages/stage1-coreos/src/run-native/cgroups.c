/*
 * The pod's cgroups, as src/run/cgroups.ts detects, plans and creates them for a pod without
 * resource isolators and without a cgroup parent: `rkt-<uuid>` below the caller's cgroup in
 * every mounted hierarchy, an app child per app, the `_stage1` leaf and the subtree_control
 * writes on a unified host, the v1 devices whitelist unless --disable-paths.
 *
 * Joining a cgroup costs the first writer an RCU grace period: a thread writes this process's
 * pid to the pod cgroups while the main thread sets up the mounts (the init's own joins, done
 * again after exec, are the ones that report errors).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"
#include "run-native-gen.h"

typedef struct {
  int version;
  strv_t controllers;
  char *mount_point, *self_path, *base;
} hierarchy_t;

/* Undoes mountinfo's octal escapes (`\040`). */
static char *unescape(const char *s) {
  buf_t b = {0};
  buf_add(&b, "", 0);
  for (; *s; s++) {
    if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
      char c = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
      buf_add(&b, &c, 1);
      s += 3;
    } else buf_add(&b, s, 1);
  }
  return b.s;
}

typedef struct {
  char *root, *mount_point, *fstype;
  strv_t super_options;
} mount_t;

static mount_t *read_mounts(size_t *n) {
  char *text = read_file("/proc/self/mountinfo", NULL);
  if (!text) fallback("cannot read /proc/self/mountinfo");
  size_t cap = 64;
  mount_t *out = xmalloc(cap * sizeof *out);
  *n = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    strv_t f = {0};
    for (char *s2 = NULL, *w = strtok_r(line, " ", &s2); w; w = strtok_r(NULL, " ", &s2)) strv_push(&f, w);
    size_t sep = 6;
    while (sep < f.n && strcmp(f.v[sep], "-") != 0) sep++;
    if (f.n < 5 || sep + 1 >= f.n) continue;
    if (*n == cap) {
      mount_t *bigger = xmalloc(2 * cap * sizeof *out);
      memcpy(bigger, out, cap * sizeof *out);
      out = bigger, cap *= 2;
    }
    mount_t *m = &out[(*n)++];
    memset(m, 0, sizeof *m);
    m->root = unescape(f.v[3]);
    m->mount_point = unescape(f.v[4]);
    m->fstype = unescape(f.v[sep + 1]);
    if (sep + 3 < f.n) {
      char *opts = unescape(f.v[sep + 3]);
      for (char *s3 = NULL, *o = strtok_r(opts, ",", &s3); o; o = strtok_r(NULL, ",", &s3)) strv_push(&m->super_options, o);
    }
  }
  return out;
}

/* detectHierarchies of cgroups.ts. */
static hierarchy_t *detect(size_t *count) {
  size_t nm;
  mount_t *mounts = read_mounts(&nm);
  char *text = read_file("/proc/self/cgroup", NULL);
  if (!text) fallback("cannot read /proc/self/cgroup");
  hierarchy_t *out = xmalloc(64 * sizeof *out);
  *count = 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line && *count < 64; line = strtok_r(NULL, "\n", &save)) {
    size_t idn = strspn(line, "0123456789");
    if (idn == 0 || line[idn] != ':') continue;
    char *names_s = line + idn + 1;
    char *colon = strchr(names_s, ':');
    if (!colon) continue;
    *colon = 0;
    const char *self = colon + 1;
    strv_t names = {0};
    char *nc = xstrdup(names_s);
    if (*nc)
      for (char *s2 = NULL, *w = strtok_r(nc, ",", &s2); w; w = strtok_r(NULL, ",", &s2)) strv_push(&names, w);
    /* "a,,b" would give an empty name in the Node split: not a kernel format, leave it */
    if (*names_s && (strstr(names_s, ",,") || names_s[0] == ',' || names_s[strlen(names_s) - 1] == ',')) fallback("odd /proc/self/cgroup");
    bool v2 = idn == 1 && line[0] == '0' && names.n == 0;
    mount_t *m = NULL;
    for (size_t i = 0; i < nm && !m; i++) {
      if (v2 ? strcmp(mounts[i].fstype, "cgroup2") != 0 : strcmp(mounts[i].fstype, "cgroup") != 0) continue;
      bool all = true;
      for (size_t j = 0; j < names.n && !v2; j++) all = all && strv_has(&mounts[i].super_options, names.v[j]);
      if (all) m = &mounts[i];
    }
    if (!m) continue;
    const char *rel;
    if (strcmp(m->root, "/") == 0) rel = self;
    else if (starts_with(self, m->root)) rel = self + strlen(m->root);
    else continue;
    hierarchy_t *h = &out[(*count)++];
    memset(h, 0, sizeof *h);
    h->version = v2 ? 2 : 1;
    h->mount_point = m->mount_point;
    h->self_path = xstrdup(self);
    h->base = path_join(m->mount_point, rel);
    size_t bl = strlen(h->base);
    while (bl > 1 && h->base[bl - 1] == '/') h->base[--bl] = 0;
    if (v2) {
      char *p = xasprintf("%s/cgroup.controllers", h->base);
      char *c = read_file(p, NULL);
      if (c)
        for (char *s2 = NULL, *w = strtok_r(c, " \t\n", &s2); w; w = strtok_r(NULL, " \t\n", &s2)) strv_push(&h->controllers, w);
    } else h->controllers = names;
  }
  return out;
}

static hierarchy_t *g_hs;
static size_t g_nh;

/* planPodCgroups for the hierarchies `hs`: the pod cgroup, its `_stage1` leaf, an app child each. */
static void plan_dirs(const pod_t *pod, hierarchy_t *hs, size_t nh, cg_plan_t *plan) {
  memset(plan, 0, sizeof *plan);
  plan->app_procs = xmalloc((pod->napps + 1) * sizeof *plan->app_procs);
  /* unified: no v1 hierarchy with a real (not name=) controller */
  plan->unified = true;
  for (size_t i = 0; i < nh; i++)
    if (hs[i].version == 1)
      for (size_t j = 0; j < hs[i].controllers.n; j++)
        if (!starts_with(hs[i].controllers.v[j], "name=")) plan->unified = false;
  char *pod_cg = xasprintf("rkt-%s", pod->args.uuid);
  static const char *const WANTED[] = {"cpu", "memory", "pids"};
  for (size_t i = 0; i < nh; i++) {
    hierarchy_t *h = &hs[i];
    char *dir = path_join(h->base, pod_cg);
    bool delegate = h->version == 2 && plan->unified;
    strv_push(&plan->dirs, dir);
    strv_push(&plan->joins, path_join(dir, "cgroup.procs"));
    if (delegate) {
      char *leaf = path_join(dir, STAGE1_LEAF);
      strv_push(&plan->dirs, leaf);
      strv_push(&plan->moves, path_join(leaf, "cgroup.procs"));
      buf_t w = {0};
      for (int k = 0; k < 3; k++)
        if (strv_has(&h->controllers, WANTED[k])) buf_printf(&w, "%s+%s", w.len ? " " : "", WANTED[k]);
      if (w.len) {
        strv_push(&plan->write_paths, path_join(dir, "cgroup.subtree_control"));
        strv_push(&plan->write_values, w.s);
      }
    }
    for (size_t a = 0; a < pod->napps; a++) {
      char *adir = path_join(dir, pod->apps[a].name);
      strv_push(&plan->dirs, adir);
      strv_push(&plan->app_procs[a], path_join(adir, "cgroup.procs"));
      if (h->version == 1 && strv_has(&h->controllers, "devices") && !pod->args.disable_paths) {
        strv_push(&plan->write_paths, path_join(adir, "devices.deny"));
        strv_push(&plan->write_values, "a");
        for (size_t d = 0; d < sizeof ALLOWED_DEVICES / sizeof ALLOWED_DEVICES[0]; d++) {
          strv_push(&plan->write_paths, path_join(adir, "devices.allow"));
          strv_push(&plan->write_values, (char *)ALLOWED_DEVICES[d]);
        }
      }
    }
  }
}

void plan_cgroups(const pod_t *pod, cg_plan_t *plan) {
  size_t nh;
  hierarchy_t *hs = g_hs = detect(&nh);
  g_nh = nh;
  plan_dirs(pod, hs, nh, plan);
  char *pod_cg = xasprintf("rkt-%s", pod->args.uuid);
  hierarchy_t *main_h = NULL;
  for (size_t i = 0; i < nh && !main_h; i++)
    if (strv_has(&hs[i].controllers, "name=systemd")) main_h = &hs[i];
  for (size_t i = 0; i < nh && !main_h; i++)
    if (strv_has(&hs[i].controllers, "cpu")) main_h = &hs[i];
  if (!main_h && nh) main_h = &hs[0];
  plan->subcgroup = "";
  if (main_h) {
    /* the kernel's paths are absolute; the value has no leading slash */
    if (main_h->self_path[0] != '/') fallback("relative cgroup path in /proc/self/cgroup");
    char *j = path_join(main_h->self_path, pod_cg);
    while (*j == '/') j++;
    plan->subcgroup = j;
  }
}

/*
 * The pod cgroups run recorded in `runtime-config` (readRuntimeConfig of
 * src/run/runtime-config.ts); anything but the usual record is the Node path's.
 */
static strv_t recorded_pod_cgroups(const pod_t *pod) {
  char *path = xasprintf("%s/runtime-config", pod->pod);
  size_t len;
  char *text = read_file(path, &len);
  if (!text) fallback("cannot read %s", path);
  const char *why = NULL;
  const jv_t *rc = json_parse(text, len, &why);
  if (!rc || rc->type != J_OBJECT) fallback("%s: not a JSON object", path);
  const jv_t *s1 = json_get(rc, "stage1"), *cgs = json_get(rc, "cgroups");
  if (!s1 || s1->type != J_STRING || strcmp(s1->str, "coreos") != 0 || !cgs || cgs->type != J_ARRAY) fallback("%s: unexpected content", path);
  strv_t dirs = {0};
  for (size_t i = 0; i < cgs->n; i++) {
    if (cgs->items[i]->type != J_STRING || cgs->items[i]->str[0] != '/') fallback("%s: unexpected cgroup", path);
    strv_push(&dirs, cgs->items[i]->str);
  }
  return dirs;
}

void plan_app_cgroups(const pod_t *pod, cg_plan_t *plan) {
  size_t nh;
  hierarchy_t *hs = detect(&nh);
  strv_t recorded = recorded_pod_cgroups(pod);
  /* podHierarchies of src/mutable/cgroups.ts: each hierarchy's base moved to the parent of the
   * pod's cgroup in it (the deepest mount point holding it); hierarchies without one left out */
  hierarchy_t *kept = xmalloc((nh + 1) * sizeof *kept);
  size_t nk = 0;
  for (size_t i = 0; i < nh; i++) {
    char *prefix = xasprintf("%s/", hs[i].mount_point);
    const char *dir = NULL;
    for (size_t r = 0; r < recorded.n && !dir; r++) {
      if (!starts_with(recorded.v[r], prefix)) continue;
      bool deeper = false;
      for (size_t o = 0; o < nh && !deeper; o++) {
        char *op = xasprintf("%s/", hs[o].mount_point);
        deeper = o != i && strlen(hs[o].mount_point) > strlen(hs[i].mount_point) && starts_with(recorded.v[r], op);
        free(op);
      }
      if (!deeper) dir = recorded.v[r];
    }
    free(prefix);
    if (!dir) continue;
    kept[nk] = hs[i];
    char *base = xstrdup(dir);
    char *slash = strrchr(base, '/');
    if (slash == base) slash[1] = 0;
    else *slash = 0;
    kept[nk++].base = base;
  }
  plan_dirs(pod, kept, nk, plan);
}

static void write_cgroup_file(const char *path, const char *value) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
  if (fd < 0) fail("write %s to %s: %s: %s: %s, open '%s'", value, path, errno_name(errno), errno_name(errno), errno_message(errno), path);
  if (write(fd, value, strlen(value)) < 0) fail("write %s to %s: %s: %s: %s, write", value, path, errno_name(errno), errno_name(errno), errno_message(errno));
  close(fd);
}

static char *read_trimmed(const char *path) {
  char *s = read_file(path, NULL);
  if (!s) return NULL;
  char *start = s + strspn(s, " \t\n\r");
  size_t n = strlen(start);
  while (n && strchr(" \t\n\r", start[n - 1])) start[--n] = 0;
  return start;
}

void create_cgroups(const cg_plan_t *plan) {
  for (size_t i = 0; i < plan->dirs.n; i++) {
    const char *dir = plan->dirs.v[i];
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) fail("create cgroup %s: %s: %s: %s, mkdir '%s'", dir, errno_name(errno), errno_name(errno), errno_message(errno), dir);
    /* v1 only: a new cpuset cgroup is unusable until it has cpus and mems */
    char *cc = xasprintf("%s/cgroup.clone_children", dir);
    if (access(cc, F_OK) < 0) continue;
    char *parent = xstrdup(dir);
    *strrchr(parent, '/') = 0;
    static const char *const FILES[] = {"cpuset.cpus", "cpuset.mems"};
    for (int k = 0; k < 2; k++) {
      char *mine = read_trimmed(xasprintf("%s/%s", dir, FILES[k]));
      if (!mine || *mine) continue;
      char *theirs = read_trimmed(xasprintf("%s/%s", parent, FILES[k]));
      if (theirs && *theirs) write_cgroup_file(xasprintf("%s/%s", dir, FILES[k]), theirs);
    }
  }
  if (!plan->unified)
    for (size_t i = 0; i < plan->write_paths.n; i++) write_cgroup_file(plan->write_paths.v[i], plan->write_values.v[i]);
}

static pthread_t join_thread, warm_thread;
static bool join_started, warm_started;
static int warm_fd = -1;

/* Moves this process into the cgroup it is in: nothing changes but the kernel's cgroup
 * migration lock, which leaves its fast mode after an RCU grace period, and stays in the slow
 * one for a grace period after its last writer: joining the pod cgroups, once created, then
 * costs no grace period of its own. */
static void *warmer(void *arg) {
  (void)arg;
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
  if (write(warm_fd, pid, (size_t)n) < 0) {
    /* best effort: the joins then wait as they would have */
  }
  close(warm_fd);
  return NULL;
}

void warm_cgroup_lock(void) {
  for (size_t i = 0; i < g_nh && warm_fd < 0; i++) {
    char *p = path_join(g_hs[i].base, "cgroup.procs");
    warm_fd = open(p, O_WRONLY | O_CLOEXEC);
    free(p);
  }
  if (warm_fd >= 0) warm_started = pthread_create(&warm_thread, NULL, warmer, NULL) == 0;
  if (warm_fd >= 0 && !warm_started) close(warm_fd);
}

static int join_fds[64];
static size_t join_count;

static void *joiner(void *arg) {
  (void)arg;
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d", (int)getpid());
  for (size_t i = 0; i < join_count; i++) {
    /* failures are the init's to report */
    if (write(join_fds[i], pid, (size_t)n) < 0) {
    }
    close(join_fds[i]);
  }
  return NULL;
}

void join_in_background(const cg_plan_t *plan) {
  /* opened here, in the host's mount namespace, before the main thread leaves it */
  for (size_t i = 0; i < plan->joins.n && join_count < 64; i++) {
    int fd = open(plan->joins.v[i], O_WRONLY | O_CLOEXEC);
    if (fd >= 0) join_fds[join_count++] = fd;
  }
  join_started = pthread_create(&join_thread, NULL, joiner, NULL) == 0;
  if (!join_started) joiner(NULL);
}

void join_wait(void) {
  if (warm_started) pthread_join(warm_thread, NULL);
  if (join_started) pthread_join(join_thread, NULL);
}
