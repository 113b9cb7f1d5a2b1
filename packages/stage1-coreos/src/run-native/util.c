/*
 * Strings, paths, errors and files for the native run (see native.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "native.h"

/* ------------------------------------------------------------------ strings */

void *xmalloc(size_t n) {
  void *p = calloc(1, n ? n : 1);
  if (!p) {
    /* before the decision the Node run can still do the job */
    if (!g_acting) fallback("out of memory");
    fail("out of memory");
  }
  return p;
}

char *xstrdup(const char *s) {
  size_t n = strlen(s);
  char *p = xmalloc(n + 1);
  memcpy(p, s, n);
  return p;
}

char *xasprintf(const char *fmt, ...) {
  char *s;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) {
    if (!g_acting) fallback("out of memory");
    fail("out of memory");
  }
  return s;
}

void buf_add(buf_t *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = xmalloc(cap);
    if (b->s) memcpy(p, b->s, b->len);
    free(b->s);
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = 0;
}

void buf_puts(buf_t *b, const char *s) { buf_add(b, s, strlen(s)); }

void buf_printf(buf_t *b, const char *fmt, ...) {
  char *s;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&s, fmt, ap);
  va_end(ap);
  if (n < 0) fail("out of memory");
  buf_add(b, s, (size_t)n);
  free(s);
}

void strv_push(strv_t *l, char *s) {
  if (l->n + 1 >= l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 8;
    char **v = xmalloc(cap * sizeof *v);
    if (l->v) memcpy(v, l->v, l->n * sizeof *v);
    free(l->v);
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n++] = s;
  l->v[l->n] = NULL;
}

bool strv_has(const strv_t *l, const char *s) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->v[i], s) == 0) return true;
  return false;
}

bool starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

bool ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

char *path_normalize(const char *p) {
  /* components of an absolute path; `..` never climbs above `/` */
  size_t n = strlen(p);
  char *tmp = xstrdup(p);
  char **parts = xmalloc((n + 1) * sizeof *parts);
  size_t np = 0;
  for (char *save = NULL, *c = strtok_r(tmp, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
    if (strcmp(c, ".") == 0) continue;
    if (strcmp(c, "..") == 0) {
      if (np) np--;
      continue;
    }
    parts[np++] = c;
  }
  buf_t b = {0};
  for (size_t i = 0; i < np; i++) {
    buf_puts(&b, "/");
    buf_puts(&b, parts[i]);
  }
  if (np == 0) buf_puts(&b, "/");
  else if (n > 0 && p[n - 1] == '/') buf_puts(&b, "/");
  free(parts);
  free(tmp);
  return b.s;
}

char *path_join(const char *a, const char *b) {
  char *j = xasprintf("%s/%s", a, b);
  /* posix.join keeps a trailing slash only when the last non-empty argument has one */
  if (b[0] == 0 && j[strlen(j) - 1] == '/' && a[strlen(a) - 1] != '/') j[strlen(j) - 1] = 0;
  char *r = path_normalize(j);
  free(j);
  return r;
}

void json_quote(buf_t *b, const char *s) {
  buf_puts(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
      case '"': buf_puts(b, "\\\""); break;
      case '\\': buf_puts(b, "\\\\"); break;
      case '\b': buf_puts(b, "\\b"); break;
      case '\f': buf_puts(b, "\\f"); break;
      case '\n': buf_puts(b, "\\n"); break;
      case '\r': buf_puts(b, "\\r"); break;
      case '\t': buf_puts(b, "\\t"); break;
      default:
        if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
        else buf_add(b, (const char *)p, 1);
    }
  }
  buf_puts(b, "\"");
}

/* ------------------------------------------------------------------ errors */

/* libuv's messages, which Node's errors (and so the Node run's) carry */
static const struct {
  int e;
  const char *msg;
} UV_MESSAGES[] = {
    {E2BIG, "argument list too long"},
    {EACCES, "permission denied"},
    {EBADF, "bad file descriptor"},
    {EBUSY, "resource busy or locked"},
    {EEXIST, "file already exists"},
    {EFAULT, "bad address in system call argument"},
    {EINVAL, "invalid argument"},
    {EIO, "i/o error"},
    {EISDIR, "illegal operation on a directory"},
    {ELOOP, "too many symbolic links encountered"},
    {EMFILE, "too many open files"},
    {ENAMETOOLONG, "name too long"},
    {ENODEV, "no such device"},
    {ENOENT, "no such file or directory"},
    {ENOMEM, "not enough memory"},
    {ENOSPC, "no space left on device"},
    {ENOSYS, "function not implemented"},
    {ENOTDIR, "not a directory"},
    {ENOTEMPTY, "directory not empty"},
    {ENXIO, "no such device or address"},
    {EPERM, "operation not permitted"},
    {EROFS, "read-only file system"},
    {ESRCH, "no such process"},
    {EXDEV, "cross-device link not permitted"},
};

const char *errno_name(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "EUNKNOWN";
}

const char *errno_message(int e) {
  for (size_t i = 0; i < sizeof UV_MESSAGES / sizeof UV_MESSAGES[0]; i++)
    if (UV_MESSAGES[i].e == e) return UV_MESSAGES[i].msg;
  /* not one the run path meets: glibc's text, lowercased like libuv's */
  char *m = xstrdup(strerror(e));
  for (char *p = m; *p; p++)
    if (*p >= 'A' && *p <= 'Z') *p += 'a' - 'A';
  return m;
}

const char *g_entrypoint;
int g_argc;
char **g_argv;
char **g_envp;
bool g_debug;
char *g_stage1;
bool g_acting;

void fallback(const char *fmt, ...) {
  char reason[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  const char *ep = g_entrypoint ? g_entrypoint : "stage1";
  if (g_acting) fail("internal error: %s fell back to node after it began to act (%s)", ep, reason);
  if (g_debug) fprintf(stderr, "stage1: %s: node fallback (%s)\n", ep, reason);
  char cwd[4096];
  const char *s1 = g_stage1;
  char *path;
  /* the CommonJS executable (a symlink to bin/stage1-coreos.cjs): Node starts it without its ES
   * module loader, unlike stage1-coreos.mjs (scripts/build-extra.mjs) */
  if (s1) path = xasprintf("%s/stage1-coreos", s1);
  else if (getcwd(cwd, sizeof cwd)) path = xasprintf("%s/stage1/rootfs/stage1-coreos", cwd);
  else fail("%s: getcwd: %s", ep, errno_message(errno));
  /* the bundle picks its entrypoint from its first argument (its own name is no entrypoint's) */
  char **argv = xmalloc((size_t)(g_argc + 3) * sizeof *argv);
  int n = 0;
  argv[n++] = "stage1-coreos";
  if (g_entrypoint) argv[n++] = (char *)g_entrypoint;
  for (int i = 1; i < g_argc; i++) argv[n++] = g_argv[i];
  argv[n] = NULL;
  execve(path, argv, g_envp);
  fail("execve %s: %s", path, errno_message(errno));
}

/* `<prefix><message>` and a newline on stderr. */
static void say(const char *prefix, const char *fmt, va_list ap) {
  fputs(prefix, stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("stage1: ", fmt, ap);
  va_end(ap);
  exit(254);
}

void warnf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  say("stage1: warning: ", fmt, ap);
  va_end(ap);
}

void debugf(const char *fmt, ...) {
  if (!g_debug) return;
  va_list ap;
  va_start(ap, fmt);
  say("stage1: ", fmt, ap);
  va_end(ap);
}

/* ------------------------------------------------------------------ files */

char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  buf_t b = {0};
  buf_add(&b, "", 0);
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      free(b.s);
      errno = e;
      return NULL;
    }
    if (r == 0) break;
    buf_add(&b, chunk, (size_t)r);
  }
  close(fd);
  if (len) *len = b.len;
  return b.s;
}

static int write_all(int fd, const void *data, size_t n) {
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

void write_file(const char *path, const void *data, size_t n, unsigned mode) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) fail("%s: %s, open '%s'", errno_name(errno), errno_message(errno), path);
  if (write_all(fd, data, n) < 0) fail("%s: %s, write", errno_name(errno), errno_message(errno));
  close(fd);
}

void write_file_atomic(const char *path, const char *data, unsigned mode) {
  /* the temp name only has to be unique among concurrent writers of `path` */
  char *tmp = xasprintf("%s.tmp-%d", path, (int)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  int e = 0;
  if (fd < 0) e = errno;
  else {
    if (write_all(fd, data, strlen(data)) < 0 || fchmod(fd, mode) < 0 || fsync(fd) < 0) e = errno;
    close(fd);
    if (!e && rename(tmp, path) < 0) e = errno;
  }
  if (e) {
    unlink(tmp);
    fail("cannot write %s: %s: %s", path, errno_name(e), errno_message(e));
  }
  char *dir = xstrdup(path);
  *strrchr(dir, '/') = 0;
  int dfd = open(dir[0] ? dir : "/", O_RDONLY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  free(dir);
  free(tmp);
}

int mkdir_p(const char *path, unsigned mode) {
  if (mkdir(path, mode) == 0) return 0;
  if (errno == EEXIST) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : EEXIST;
  }
  if (errno != ENOENT) return errno;
  char *parent = xstrdup(path);
  char *slash = strrchr(parent, '/');
  if (!slash || slash == parent) {
    free(parent);
    return ENOENT;
  }
  *slash = 0;
  int e = mkdir_p(parent, mode);
  free(parent);
  if (e) return e;
  if (mkdir(path, mode) == 0 || errno == EEXIST) return 0;
  return errno;
}
