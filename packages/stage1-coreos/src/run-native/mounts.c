/*
 * The mounts of src/run/mounts.ts for apps without volumes and without a console: a private
 * mount namespace (`/` a recursive slave), the stage1 root bound onto itself, and for each app
 * its root bound onto itself, a private /dev, /proc and /sys mount points, the /etc binds of
 * hostsBinds (src/run/run.ts), /etc/mtab, and the read-only root when asked. Mount targets are
 * resolved inside the app root like rootfs.ts does. Failures are reported like the Node run's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "native.h"
#include "run-native-gen.h"

/* sys.mount of @rktnetes/sys: its error reads `mount <fstype|source> <target>: <message>`. */
static void do_mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data) {
  while (mount(source, target, fstype, flags, data) < 0) {
    if (errno == EINTR) continue;
    const char *what = fstype ? fstype : source;
    if (what) fail("mount %s %s: %s", what, target, errno_message(errno));
    fail("mount %s: %s", target, errno_message(errno));
  }
}

void hosts_binds(const pod_t *pod, bind_t *binds, size_t *n) {
  *n = 0;
  binds[(*n)++] = (bind_t){xasprintf("%s/etc/hostname", pod->stage1), "/etc/hostname", false, false};
  /* the hostname entry in the hosts fallback, unless a line already is exactly it */
  char *fb = xasprintf("%s/etc/hosts-fallback", pod->stage1);
  char *entry = xasprintf("127.0.0.1 %s", pod->hostname);
  char *text = read_file(fb, NULL);
  if (!text) text = "";
  bool found = false;
  for (const char *line = text; !found;) {
    const char *nl = strchr(line, '\n');
    size_t len = nl ? (size_t)(nl - line) : strlen(line);
    found = len == strlen(entry) && strncmp(line, entry, len) == 0;
    if (!nl) break;
    line = nl + 1;
  }
  if (!found) {
    int fd = open(fb, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) fail("%s: %s, open '%s'", errno_name(errno), errno_message(errno), fb);
    char *add = xasprintf("%s%s\n", text[0] == 0 || text[strlen(text) - 1] == '\n' ? "" : "\n", entry);
    if (write(fd, add, strlen(add)) < 0) fail("%s: %s, write", errno_name(errno), errno_message(errno));
    close(fd);
  }
  binds[(*n)++] = (bind_t){fb, "/etc/hosts", true, false};
  const char *mode = pod->resolv ? pod->resolv : "default";
  char *resolv = xasprintf("%s/etc/rkt-resolv.conf", pod->stage1);
  if (strcmp(mode, "host") == 0 && access("/etc/resolv.conf", F_OK) == 0) binds[(*n)++] = (bind_t){"/etc/resolv.conf", "/etc/resolv.conf", false, true};
  else if (strcmp(mode, "stage0") == 0) {
    if (access(resolv, F_OK) == 0) binds[(*n)++] = (bind_t){resolv, "/etc/resolv.conf", false, false};
    else warnf("--dns-conf-mode=resolv=stage0 but stage0 wrote no %s, apps keep their own /etc/resolv.conf", resolv);
  }
  /* a network's DNS settings: only CNI networks write them, but stage0 may have left some */
  else if (strcmp(mode, "default") == 0 && access(resolv, F_OK) == 0) binds[(*n)++] = (bind_t){resolv, "/etc/resolv.conf", false, false};
}

void enter_private_mount_ns(void) {
  if (unshare(CLONE_NEWNS) < 0) fail("unshare 0x%x: %s", CLONE_NEWNS, errno_message(errno));
  do_mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
}

void bind_self(const char *dir) { do_mount(dir, dir, NULL, MS_BIND | MS_REC, NULL); }

/* ensureParentInRoot: the host path of `path` in `root`, its parent directories created. */
static char *ensure_parent(const char *root, const char *path) {
  char *host = resolve_in_root(root, path);
  if (!host) fail("too many levels of symbolic links resolving %s in %s", path, root);
  char *parent = xstrdup(host);
  *strrchr(parent, '/') = 0;
  if (strlen(parent) >= strlen(root)) {
    int e = mkdir_p(parent, 0755);
    if (e) fail("%s: %s, mkdir '%s'", errno_name(e), errno_message(e), parent);
  }
  free(parent);
  return host;
}

/* ensureMountTarget: `path` in `root` made to exist as a directory or an empty file. */
static char *ensure_target(const char *root, const char *path, bool dir) {
  char *host = ensure_parent(root, path);
  struct stat st;
  if (lstat(host, &st) == 0) return host;
  if (dir) {
    int e = mkdir_p(host, 0755);
    if (e) fail("%s: %s, mkdir '%s'", errno_name(e), errno_message(e), host);
  } else {
    int fd = open(host, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail("%s: %s, open '%s'", errno_name(errno), errno_message(errno), host);
    close(fd);
  }
  return host;
}

static void setup_dev(const app_t *app) {
  char *dev = ensure_target(app->root, "/dev", true);
  do_mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  for (size_t i = 0; i < sizeof APP_DEVICES / sizeof APP_DEVICES[0]; i++) {
    char *p = xasprintf("%s/%s", dev, APP_DEVICES[i].name);
    if (mknod(p, S_IFCHR | 0666, makedev(APP_DEVICES[i].major, APP_DEVICES[i].minor)) < 0) fail("mknod %s: %s", p, errno_message(errno));
    if (chmod(p, 0666) < 0) fail("%s: %s, chmod '%s'", errno_name(errno), errno_message(errno), p);
  }
  for (size_t i = 0; i < sizeof APP_DEV_LINKS / sizeof APP_DEV_LINKS[0]; i++) {
    char *p = xasprintf("%s/%s", dev, APP_DEV_LINKS[i][0]);
    if (symlink(APP_DEV_LINKS[i][1], p) < 0) fail("%s: %s, symlink '%s' -> '%s'", errno_name(errno), errno_message(errno), APP_DEV_LINKS[i][1], p);
  }
  char *pts = xasprintf("%s/pts", dev);
  if (mkdir(pts, 0755) < 0) fail("%s: %s, mkdir '%s'", errno_name(errno), errno_message(errno), pts);
  do_mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  char *shm = xasprintf("%s/shm", dev);
  if (mkdir(shm, 01777) < 0) fail("%s: %s, mkdir '%s'", errno_name(errno), errno_message(errno), shm);
  do_mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
}

/* MS_NOSUID/NODEV/NOEXEC of the last mount at `target` (kept when it is remounted). */
static unsigned long locked_flags(const char *target) {
  char *text = read_file("/proc/self/mountinfo", NULL);
  unsigned long flags = 0;
  if (!text) return 0;
  for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *f[6] = {0};
    char *s2 = NULL;
    int i = 0;
    for (char *w = strtok_r(line, " ", &s2); w && i < 6; w = strtok_r(NULL, " ", &s2)) f[i++] = w;
    if (i < 6) continue;
    /* mount points with escapes (\040) never equal an app root, which has none */
    if (strcmp(f[4], target) != 0) continue;
    flags = 0;
    for (char *s3 = NULL, *o = strtok_r(f[5], ",", &s3); o; o = strtok_r(NULL, ",", &s3)) {
      if (strcmp(o, "nosuid") == 0) flags |= MS_NOSUID;
      if (strcmp(o, "nodev") == 0) flags |= MS_NODEV;
      if (strcmp(o, "noexec") == 0) flags |= MS_NOEXEC;
    }
  }
  return flags;
}

void setup_app_fs(const app_t *app, const bind_t *binds, size_t nbinds) {
  bind_self(app->root);
  setup_dev(app);
  ensure_target(app->root, "/proc", true);
  ensure_target(app->root, "/sys", true);
  for (size_t i = 0; i < nbinds; i++) {
    const bind_t *b = &binds[i];
    struct stat st;
    if (b->if_missing) {
      char *host = resolve_in_root(app->root, b->path);
      if (!host) fail("too many levels of symbolic links resolving %s in %s", b->path, app->root);
      if (lstat(host, &st) == 0) continue;
    }
    if (stat(b->source, &st) < 0) fail("%s: %s, stat '%s'", errno_name(errno), errno_message(errno), b->source);
    char *target = ensure_target(app->root, b->path, S_ISDIR(st.st_mode));
    do_mount(b->source, target, NULL, MS_BIND, NULL);
    if (b->read_only) do_mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(target), NULL);
  }
  char *mtab = resolve_in_root(app->root, "/etc/mtab");
  struct stat st;
  if (!mtab) fail("too many levels of symbolic links resolving /etc/mtab in %s", app->root);
  if (lstat(mtab, &st) < 0) {
    ensure_parent(app->root, "/etc/mtab");
    if (symlink("../proc/self/mounts", mtab) < 0) fail("%s: %s, symlink '../proc/self/mounts' -> '%s'", errno_name(errno), errno_message(errno), mtab);
  }
  if (app->read_only_root) do_mount(NULL, app->root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | locked_flags(app->root), NULL);
}
