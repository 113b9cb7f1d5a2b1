/*
 * init: PID 1 of a stage1-kvm guest.
 *
 * Loads the virtio and 9p modules from the initramfs, mounts the pod directory (9p tag "pod")
 * at /pod, reads the spec the host wrote to /pod/kvm/spec, starts every app in its root (on the
 * pod share, its masked and read-only paths applied, with its capabilities, ids, no_new_privs
 * and the seccomp program the host compiled into /pod/kvm/seccomp/<app>.bpf) and relays its
 * output to the host's stdout and stderr (virtio-serial ports rkt.stdout and rkt.stderr) and to
 * its log file, writes each app's exit status, serves `rkt enter` sessions (port rkt.enter: the
 * command runs as its app runs) and stop requests (port rkt.ctl), writes
 * the pod's exit status to /pod/kvm/exit and resets the machine (qemu runs with -no-reboot, so it exits).
 *
 * The spec and the enter requests are sequences of NUL-terminated strings; the format is
 * documented in src/spec.ts, which writes them. Everything is decided on the host: this program
 * only executes. Diagnostics go to the kernel console (the host file kvm/console) and, once it
 * is open, to rkt.stderr.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define POD_DIR "/pod"
#define SPEC_PATH POD_DIR "/kvm/spec"
#define EXIT_PATH POD_DIR "/kvm/exit"
#define CLOCK_PATH POD_DIR "/kvm/clock"
#define SPEC_MAGIC "rktnetes-kvm-spec"
#define SPEC_VERSION "4"
/* version 4 adds the app fields "mask" and "readonly" to 3, which adds "seccomp" to 2; both are still read */
#define SPEC_VERSION_3 "3"
#define SPEC_VERSION_2 "2"
#define DEFAULT_POD_OPTS "trans=virtio,version=9p2000.L,msize=512000,cache=mmap,access=client"
#define EXIT_FAILURE_STATUS 254
#define MAX_RECORD 16384

static int debug;
static int stderr_port = -1;
static int pod_mounted;
static struct timespec boot_ts;

/* ------------------------------------------------------------------------------ messages */

static void vmsg(const char *fmt, va_list ap) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "stage1-kvm init: ");
  n += vsnprintf(buf + n, sizeof buf - n, fmt, ap);
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  (void)!write(2, buf, n);
  if (stderr_port >= 0) (void)!write(stderr_port, buf, n);
}

static void msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
}

static void dbg(const char *fmt, ...) {
  if (!debug) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  char buf[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  long ms = (now.tv_sec - boot_ts.tv_sec) * 1000 + (now.tv_nsec - boot_ts.tv_nsec) / 1000000;
  char line[1024];
  int n = snprintf(line, sizeof line, "stage1-kvm init: [%ld ms since init] %s\n", ms, buf);
  (void)!write(2, line, n > (int)sizeof line ? (int)sizeof line : n);
}

static void finish(int status) __attribute__((noreturn));

static void fatal(const char *fmt, ...) __attribute__((noreturn));
static void fatal(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vmsg(fmt, ap);
  va_end(ap);
  finish(EXIT_FAILURE_STATUS);
}

/* ------------------------------------------------------------------------------ helpers */

static void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (!q) fatal("out of memory");
  return q;
}

#define PUSH(arr, count, value)                                      \
  do {                                                               \
    (arr) = xrealloc((arr), sizeof(*(arr)) * ((count) + 2));         \
    (arr)[(count)++] = (value);                                      \
  } while (0)

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = xrealloc(NULL, cap + 1);
  for (;;) {
    if (n == cap) buf = xrealloc(buf, (cap *= 2) + 1);
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = 0;
  if (len) *len = n;
  return buf;
}

/* Writes `text` to `path` through a temporary file, fsynced and renamed over the target. */
static int write_file_atomic(const char *path, const char *text) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", path, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  int ok = write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

static void mkdir_p(const char *path, mode_t mode) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    mkdir(buf, mode);
    *p = '/';
  }
  mkdir(buf, mode);
}

static int parse_int(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || end == s || *end) return -1;
  *out = v;
  return 0;
}

/* ------------------------------------------------------------------------------ tokens */

struct tokens {
  char *buf;
  size_t len, pos;
};

static const char *tok_next(struct tokens *t) {
  if (t->pos >= t->len) return NULL;
  char *s = t->buf + t->pos;
  size_t n = strnlen(s, t->len - t->pos);
  if (t->pos + n >= t->len) return NULL; /* not terminated */
  t->pos += n + 1;
  return s;
}

static const char *tok_need(struct tokens *t, const char *what) {
  const char *s = tok_next(t);
  if (!s) fatal("spec: missing %s", what);
  return s;
}

static long tok_int(struct tokens *t, const char *what) {
  long v;
  if (parse_int(tok_need(t, what), &v) != 0) fatal("spec: %s is not a number", what);
  return v;
}

/* ------------------------------------------------------------------------------ the spec */

enum step_kind { STEP_MOUNT, STEP_DEVNODES };

struct step {
  enum step_kind kind;
  const char *fstype, *source, *target, *flags, *data;
};

struct linebuf {
  char data[MAX_RECORD];
  size_t len;
};

struct app {
  const char *name, *root, *path, *cwd, *status_path, *log_path, *seccomp;
  const char **argv;
  int argc;
  const char **envp;
  int envc;
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  int ngroups;
  uint64_t caps;
  int caps_set, nnp, stdin_port;
  struct step *steps;
  int nsteps;
  /* paths inside the root to hide and to make read-only, after the steps */
  const char **masks, **ros;
  int nmasks, nros;
  /* the seccomp program (read from `seccomp` before any app starts), NULL for none */
  struct sock_filter *filter;
  unsigned short filter_len;
  /* at run time */
  pid_t pid;
  int out_fd, err_fd, log_fd;
  int running, reported;
  int status;
  struct linebuf lb[2];
};

struct share {
  const char *tag, *target, *opts;
};

struct addr {
  const char *cidr;
  int prefix_route;
};

struct route {
  const char *dst, *gateway; /* gateway "-": on the link */
};

struct net {
  const char *mac, *name; /* name "-": keep the kernel's */
  long mtu;               /* 0: keep the driver's */
  struct addr *addrs;
  int naddrs;
  struct route *routes;
  int nroutes;
  char ifname[IFNAMSIZ]; /* at run time: the current name */
};

struct spec {
  const char *hostname;
  long stop_timeout_ms;
  int interactive;
  struct share *shares;
  int nshares;
  struct net *nets;
  int nnets;
  struct app *apps;
  int napps;
};

static struct spec spec;

static void parse_app(struct tokens *t, struct app *a) {
  memset(a, 0, sizeof *a);
  a->name = tok_need(t, "app name");
  a->cwd = "/";
  a->out_fd = a->err_fd = a->log_fd = -1;
  for (;;) {
    const char *k = tok_need(t, "app field");
    if (!strcmp(k, "end")) break;
    if (!strcmp(k, "root")) a->root = tok_need(t, "root");
    else if (!strcmp(k, "path")) a->path = tok_need(t, "path");
    else if (!strcmp(k, "arg")) PUSH(a->argv, a->argc, tok_need(t, "arg"));
    else if (!strcmp(k, "env")) PUSH(a->envp, a->envc, tok_need(t, "env"));
    else if (!strcmp(k, "cwd")) a->cwd = tok_need(t, "cwd");
    else if (!strcmp(k, "uid")) a->uid = (uid_t)tok_int(t, "uid");
    else if (!strcmp(k, "gid")) a->gid = (gid_t)tok_int(t, "gid");
    else if (!strcmp(k, "group")) PUSH(a->groups, a->ngroups, (gid_t)tok_int(t, "group"));
    else if (!strcmp(k, "caps")) {
      a->caps = strtoull(tok_need(t, "caps"), NULL, 16);
      a->caps_set = 1;
    } else if (!strcmp(k, "no-new-privs")) a->nnp = 1;
    else if (!strcmp(k, "seccomp")) a->seccomp = tok_need(t, "seccomp");
    else if (!strcmp(k, "stdin")) a->stdin_port = 1;
    else if (!strcmp(k, "status")) a->status_path = tok_need(t, "status");
    else if (!strcmp(k, "log")) a->log_path = tok_need(t, "log");
    else if (!strcmp(k, "mount")) {
      struct step s = {STEP_MOUNT, 0, 0, 0, 0, 0};
      s.fstype = tok_need(t, "mount fstype");
      s.source = tok_need(t, "mount source");
      s.target = tok_need(t, "mount target");
      s.flags = tok_need(t, "mount flags");
      s.data = tok_need(t, "mount data");
      PUSH(a->steps, a->nsteps, s);
    } else if (!strcmp(k, "devnodes")) {
      struct step s = {STEP_DEVNODES, 0, 0, 0, 0, 0};
      s.target = tok_need(t, "devnodes dir");
      PUSH(a->steps, a->nsteps, s);
    } else if (!strcmp(k, "mask")) PUSH(a->masks, a->nmasks, tok_need(t, "mask"));
    else if (!strcmp(k, "readonly")) PUSH(a->ros, a->nros, tok_need(t, "readonly"));
    else fatal("spec: unknown app field %s", k);
  }
  if (!a->root || !a->path || !a->status_path || a->argc == 0) fatal("spec: app %s is incomplete", a->name);
  PUSH(a->argv, a->argc, NULL);
  a->argc--;
  PUSH(a->envp, a->envc, NULL);
  a->envc--;
}

static void parse_spec(char *buf, size_t len) {
  struct tokens t = {buf, len, 0};
  const char *magic = tok_next(&t), *version = tok_next(&t);
  if (!magic || strcmp(magic, SPEC_MAGIC) || !version || (strcmp(version, SPEC_VERSION) && strcmp(version, SPEC_VERSION_3) && strcmp(version, SPEC_VERSION_2)))
    fatal("spec: not a version " SPEC_VERSION_2 ", " SPEC_VERSION_3 " or " SPEC_VERSION " spec");
  spec.stop_timeout_ms = 10000;
  const char *k;
  while ((k = tok_next(&t))) {
    if (!strcmp(k, "hostname")) spec.hostname = tok_need(&t, "hostname");
    else if (!strcmp(k, "stop-timeout")) spec.stop_timeout_ms = tok_int(&t, "stop-timeout");
    else if (!strcmp(k, "interactive")) spec.interactive = 1;
    else if (!strcmp(k, "share")) {
      struct share s;
      s.tag = tok_need(&t, "share tag");
      s.target = tok_need(&t, "share target");
      s.opts = tok_need(&t, "share options");
      PUSH(spec.shares, spec.nshares, s);
    } else if (!strcmp(k, "net")) {
      struct net n;
      memset(&n, 0, sizeof n);
      n.mac = tok_need(&t, "net mac");
      n.name = tok_need(&t, "net name");
      n.mtu = tok_int(&t, "net mtu");
      for (;;) {
        const char *f = tok_need(&t, "net field");
        if (!strcmp(f, "end")) break;
        if (!strcmp(f, "addr")) {
          struct addr a;
          a.cidr = tok_need(&t, "net address");
          const char *flag = tok_need(&t, "net address flag");
          if (strcmp(flag, "route") && strcmp(flag, "noroute")) fatal("spec: unknown address flag %s", flag);
          a.prefix_route = !strcmp(flag, "route");
          PUSH(n.addrs, n.naddrs, a);
        } else if (!strcmp(f, "route")) {
          struct route r;
          r.dst = tok_need(&t, "net route");
          r.gateway = tok_need(&t, "net route gateway");
          PUSH(n.routes, n.nroutes, r);
        } else fatal("spec: unknown net field %s", f);
      }
      PUSH(spec.nets, spec.nnets, n);
    } else if (!strcmp(k, "app")) {
      struct app a;
      parse_app(&t, &a);
      PUSH(spec.apps, spec.napps, a);
    } else fatal("spec: unknown field %s", k);
  }
  if (t.pos != t.len) fatal("spec: trailing bytes");
}

/* ------------------------------------------------------------------------------ boot */

static void load_modules(const char *list) {
  char path[256];
  snprintf(path, sizeof path, "/lib/modules/%s", list);
  char *text = read_file(path, NULL);
  if (!text) return;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (!*line) continue;
    char ko[512];
    snprintf(ko, sizeof ko, "/lib/modules/%s.ko", line);
    int fd = open(ko, O_RDONLY | O_CLOEXEC);
    if (fd < 0) fatal("module %s: %s", line, strerror(errno));
    if (syscall(SYS_finit_module, fd, "", 0) != 0 && errno != EEXIST) fatal("load module %s: %s", line, strerror(errno));
    close(fd);
    dbg("module %s loaded", line);
  }
  free(text);
  dbg("modules %s loaded", list);
}

/* Sets the clock from the host's: the mtime the host gives a file created on the pod share. */
static void sync_clock(void) {
  int fd = open(CLOCK_PATH, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  struct stat st;
  if (fstat(fd, &st) == 0 && st.st_mtim.tv_sec > 0) clock_settime(CLOCK_REALTIME, &st.st_mtim);
  close(fd);
  unlink(CLOCK_PATH);
}

/* The device of the virtio-serial port named `name` (/sys/class/virtio-ports/<dev>/name). */
static int find_port(const char *name, char *dev, size_t devlen) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[512];
    snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
    char *n = read_file(p, NULL);
    if (!n) continue;
    n[strcspn(n, "\n")] = 0;
    if (!strcmp(n, name)) {
      snprintf(dev, devlen, "/dev/%s", e->d_name);
      found = 0;
    }
    free(n);
    if (!found) break;
  }
  closedir(d);
  return found;
}

/* Opens a port, waiting up to 10 s for the host to announce it and devtmpfs to create it. */
static int open_port(const char *name, int flags) {
  char dev[300];
  for (int i = 0; i < 2000; i++) {
    if (find_port(name, dev, sizeof dev) == 0) {
      int fd = open(dev, flags | O_CLOEXEC);
      if (fd >= 0) return fd;
      if (errno != ENOENT) fatal("open port %s (%s): %s", name, dev, strerror(errno));
    }
    usleep(5000);
  }
  fatal("virtio-serial port %s did not appear", name);
}

static int mac_of(const char *ifname, char *out, size_t outlen) {
  char p[300];
  snprintf(p, sizeof p, "/sys/class/net/%s/address", ifname);
  char *a = read_file(p, NULL);
  if (!a) return -1;
  a[strcspn(a, "\n")] = 0;
  snprintf(out, outlen, "%s", a);
  free(a);
  return 0;
}

static void if_up(int sock, const char *ifname) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) fatal("interface %s: %s", ifname, strerror(errno));
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) fatal("bring up %s: %s", ifname, strerror(errno));
}

static void if_rename(int sock, char *ifname, const char *to) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  snprintf(ifr.ifr_newname, IFNAMSIZ, "%s", to);
  if (ioctl(sock, SIOCSIFNAME, &ifr) != 0) fatal("rename interface %s to %s: %s", ifname, to, strerror(errno));
  snprintf(ifname, IFNAMSIZ, "%s", to);
}

static void if_mtu(int sock, const char *ifname, long mtu) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  ifr.ifr_mtu = (int)mtu;
  if (ioctl(sock, SIOCSIFMTU, &ifr) != 0) fatal("set the MTU of %s to %ld: %s", ifname, mtu, strerror(errno));
}

/* Parses "a.b.c.d/n" (no prefix: /32) into an address and a prefix length. */
static void parse_cidr(const char *cidr, struct in_addr *addr, long *prefix) {
  char ip[64];
  snprintf(ip, sizeof ip, "%s", cidr);
  char *slash = strchr(ip, '/');
  *prefix = 32;
  if (slash) {
    *slash = 0;
    if (parse_int(slash + 1, prefix) != 0 || *prefix < 0 || *prefix > 32) fatal("bad address %s", cidr);
  }
  if (inet_pton(AF_INET, ip, addr) != 1) fatal("bad address %s", cidr);
}

static in_addr_t mask_of(long prefix) { return prefix ? htonl(~0u << (32 - prefix)) : 0; }

/* Sets an address on `ifname` (`label`: the interface, or an alias "<if>:<n>" for a second one). */
static void set_addr(int sock, const char *label, const char *cidr) {
  struct in_addr a;
  long prefix;
  parse_cidr(cidr, &a, &prefix);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", label);
  struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
  sin->sin_family = AF_INET;
  sin->sin_addr = a;
  if (ioctl(sock, SIOCSIFADDR, &ifr) != 0) fatal("set address %s on %s: %s", cidr, label, strerror(errno));
  sin->sin_addr.s_addr = mask_of(prefix);
  if (ioctl(sock, SIOCSIFNETMASK, &ifr) != 0) fatal("set netmask of %s: %s", label, strerror(errno));
}

/* Adds (or with `del`, deletes) the route to `dst` ("default" or a.b.c.d/n) on `ifname`. */
static void change_route(int sock, const char *ifname, const char *dst, const char *gateway, int del) {
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  struct sockaddr_in *gw = (struct sockaddr_in *)&rt.rt_gateway, *d = (struct sockaddr_in *)&rt.rt_dst, *mask = (struct sockaddr_in *)&rt.rt_genmask;
  gw->sin_family = d->sin_family = mask->sin_family = AF_INET;
  long prefix = 0;
  if (strcmp(dst, "default")) {
    parse_cidr(dst, &d->sin_addr, &prefix);
    mask->sin_addr.s_addr = mask_of(prefix);
    d->sin_addr.s_addr &= mask->sin_addr.s_addr;
  }
  rt.rt_flags = RTF_UP | (prefix == 32 ? RTF_HOST : 0);
  if (gateway && strcmp(gateway, "-")) {
    if (inet_pton(AF_INET, gateway, &gw->sin_addr) != 1) fatal("bad gateway %s", gateway);
    rt.rt_flags |= RTF_GATEWAY;
  }
  char dev[IFNAMSIZ];
  snprintf(dev, sizeof dev, "%s", ifname);
  rt.rt_dev = dev;
  if (ioctl(sock, del ? SIOCDELRT : SIOCADDRT, &rt) != 0 && !(del && errno == ESRCH))
    fatal("%s route %s via %s on %s: %s", del ? "delete" : "add", dst, gateway ? gateway : "-", ifname, strerror(errno));
}

/* Waits up to 5 s for the NIC with MAC address `mac` to appear; its name goes to `ifname`. */
static void find_nic(const char *mac, char *ifname) {
  *ifname = 0;
  for (int tries = 0; !*ifname && tries < 1000; tries++) {
    DIR *d = opendir("/sys/class/net");
    struct dirent *e;
    while (d && (e = readdir(d))) {
      char m[64];
      if (e->d_name[0] != '.' && mac_of(e->d_name, m, sizeof m) == 0 && !strcasecmp(m, mac) && strlen(e->d_name) < IFNAMSIZ) memcpy(ifname, e->d_name, strlen(e->d_name) + 1);
    }
    if (d) closedir(d);
    if (!*ifname) usleep(5000);
  }
  if (!*ifname) fatal("no network interface with address %s", mac);
}

/*
 * Configures the NICs as the spec says: each found by its MAC address and renamed (in two
 * rounds, since the kernel's names may be the wanted names of other NICs), its MTU, its
 * addresses (a second one as an alias), up, the subnet routes the pod's namespace does not
 * have deleted, then its routes in order.
 */
static void setup_network(void) {
  int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (sock < 0) fatal("socket: %s", strerror(errno));
  if_up(sock, "lo");
  for (int i = 0; i < spec.nnets; i++) {
    struct net *n = &spec.nets[i];
    find_nic(n->mac, n->ifname);
    if (strcmp(n->name, "-") && strcmp(n->name, n->ifname)) {
      char tmp[IFNAMSIZ];
      snprintf(tmp, sizeof tmp, "rktnic%d", i % 1000);
      if_rename(sock, n->ifname, tmp);
    }
  }
  for (int i = 0; i < spec.nnets; i++) {
    struct net *n = &spec.nets[i];
    if (strcmp(n->name, "-") && strcmp(n->name, n->ifname)) if_rename(sock, n->ifname, n->name);
    if (n->mtu > 0) if_mtu(sock, n->ifname, n->mtu);
    for (int j = 0; j < n->naddrs; j++) {
      char label[IFNAMSIZ];
      if (j == 0) snprintf(label, sizeof label, "%s", n->ifname);
      else snprintf(label, sizeof label, "%.*s:%d", IFNAMSIZ - 5, n->ifname, j % 100);
      set_addr(sock, label, n->addrs[j].cidr);
    }
    if_up(sock, n->ifname);
    for (int j = 0; j < n->naddrs; j++) {
      if (n->addrs[j].prefix_route) continue;
      change_route(sock, n->ifname, n->addrs[j].cidr, NULL, 1);
    }
    for (int j = 0; j < n->nroutes; j++) change_route(sock, n->ifname, n->routes[j].dst, n->routes[j].gateway, 0);
    dbg("interface %s (%s) up", n->ifname, n->mac);
  }
  close(sock);
}

/* ------------------------------------------------------------------------------ apps */

static unsigned long mount_flags(const char *flags, int *ro) {
  unsigned long f = 0;
  *ro = 0;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", flags);
  for (char *w = strtok(buf, ","); w; w = strtok(NULL, ",")) {
    if (!strcmp(w, "bind")) f |= MS_BIND;
    else if (!strcmp(w, "rec")) f |= MS_REC;
    else if (!strcmp(w, "ro")) *ro = 1;
    else if (!strcmp(w, "nosuid")) f |= MS_NOSUID;
    else if (!strcmp(w, "nodev")) f |= MS_NODEV;
    else if (!strcmp(w, "noexec")) f |= MS_NOEXEC;
    else if (strcmp(w, "-")) fatal("spec: unknown mount flag %s", w);
  }
  return f;
}

static void do_mount(const struct app *a, const struct step *s) {
  int ro;
  unsigned long f = mount_flags(s->flags, &ro);
  const char *data = strcmp(s->data, "-") ? s->data : NULL;
  const char *fstype = strcmp(s->fstype, "-") ? s->fstype : NULL;
  if (mount(s->source, s->target, fstype, f | ((f & MS_BIND) ? 0 : (ro ? MS_RDONLY : 0)), data) != 0)
    fatal("app %s: mount %s on %s: %s", a->name, s->source, s->target, strerror(errno));
  if ((f & MS_BIND) && ro && mount(NULL, s->target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | (f & (MS_NOSUID | MS_NODEV | MS_NOEXEC)), NULL) != 0)
    fatal("app %s: remount %s read-only: %s", a->name, s->target, strerror(errno));
}

/* A minimal /dev in `dir` (a fresh tmpfs): the usual character devices and links. */
static void make_devnodes(const struct app *a, const char *dir) {
  static const struct { const char *name; int major, minor; } nodes[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
  };
  static const struct { const char *name, *target; } links[] = {
      {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"}, {"stdout", "/proc/self/fd/1"},
      {"stderr", "/proc/self/fd/2"}, {"ptmx", "pts/ptmx"}, {"core", "/proc/kcore"},
  };
  char p[4096];
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, nodes[i].name);
    if (mknod(p, S_IFCHR | 0666, makedev(nodes[i].major, nodes[i].minor)) != 0 && errno != EEXIST)
      fatal("app %s: mknod %s: %s", a->name, p, strerror(errno));
    chmod(p, 0666);
  }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, links[i].name);
    if (symlink(links[i].target, p) != 0 && errno != EEXIST) fatal("app %s: symlink %s: %s", a->name, p, strerror(errno));
  }
  const char *dirs[] = {"pts", "shm", "mqueue"};
  for (size_t i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, dirs[i]);
    mkdir(p, 0755);
  }
}

/*
 * Hides (`null`: an O_PATH descriptor of the app's /dev/null, bound over a file; a directory
 * gets an empty read-only tmpfs) or makes read-only (`null` < 0: the mounts at and below it)
 * the path `path` of the app whose root is `rfd`. The path is resolved inside that root
 * (openat2 RESOLVE_IN_ROOT: an image's symlink cannot aim it at the pod share or the guest's
 * own files) and the new mount is attached to the object found (move_mount on the descriptor),
 * not to a path looked up again. Returns 1 when the path does not exist (skipped), 0 when done,
 * -1 with errno set.
 */
static int cover_path(int rfd, const char *path, int null) {
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
  int target = (int)syscall(SYS_openat2, rfd, path, &how, sizeof how);
  if (target < 0) return errno == ENOENT || errno == ENOTDIR ? 1 : -1;
  struct stat st;
  int m = -1, r = -1;
  if (fstat(target, &st) != 0) goto out;
  if (null >= 0 && S_ISDIR(st.st_mode)) {
    int fs = (int)syscall(SYS_fsopen, "tmpfs", FSOPEN_CLOEXEC);
    if (fs < 0) goto out;
    if (syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
      m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    int e = errno;
    close(fs);
    errno = e;
  } else if (null >= 0) {
    m = (int)syscall(SYS_open_tree, null, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  } else {
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    m = (int)syscall(SYS_open_tree, target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    if (m >= 0 && syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) != 0) goto out;
  }
  if (m >= 0) r = syscall(SYS_move_mount, m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) == 0 ? 0 : -1;
out:;
  int e = errno;
  if (m >= 0) close(m);
  close(target);
  errno = e;
  return r;
}

/* The app's masked and read-only paths, once its /proc, /sys, /dev and volumes are mounted. */
static void cover_paths(const struct app *a) {
  if (a->nmasks == 0 && a->nros == 0) return;
  int rfd = open(a->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rfd < 0) fatal("app %s: open its root %s: %s", a->name, a->root, strerror(errno));
  int null = -1;
  if (a->nmasks > 0) {
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    null = (int)syscall(SYS_openat2, rfd, "/dev/null", &how, sizeof how);
    if (null < 0) fatal("app %s: open its /dev/null: %s", a->name, strerror(errno));
  }
  int skipped = 0;
  for (int i = 0; i < a->nmasks; i++) {
    int r = cover_path(rfd, a->masks[i], null);
    if (r < 0) fatal("app %s: mask %s: %s", a->name, a->masks[i], strerror(errno));
    skipped += r;
  }
  for (int i = 0; i < a->nros; i++) {
    int r = cover_path(rfd, a->ros[i], -1);
    if (r < 0) fatal("app %s: make %s read-only: %s", a->name, a->ros[i], strerror(errno));
    skipped += r;
  }
  if (null >= 0) close(null);
  close(rfd);
  dbg("app %s: %d masked and %d read-only paths (%d missing, skipped)", a->name, a->nmasks, a->nros, skipped);
}

/* Reads the app's seccomp program (struct sock_filter[], written by the host) from the pod share. */
static void load_filter(struct app *a) {
  if (!a->seccomp) return;
  size_t len;
  char *buf = read_file(a->seccomp, &len);
  if (!buf) fatal("app %s: read its seccomp program %s: %s", a->name, a->seccomp, strerror(errno));
  if (len == 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
    fatal("app %s: %s is not a seccomp program (%zu bytes)", a->name, a->seccomp, len);
  a->filter = (struct sock_filter *)buf;
  a->filter_len = (unsigned short)(len / sizeof(struct sock_filter));
}

static void setup_app(struct app *a) {
  for (int i = 0; i < a->nsteps; i++) {
    if (a->steps[i].kind == STEP_MOUNT) do_mount(a, &a->steps[i]);
    else make_devnodes(a, a->steps[i].target);
  }
  cover_paths(a);
  load_filter(a);
  dbg("app %s ready%s", a->name, a->filter ? ", with a seccomp filter" : "");
}

static int stdin_fd = -1;

/*
 * Signals a process started by init and its process group: the group may not exist yet
 * (the child has not reached setsid), and then the process itself still gets the signal.
 */
static void kill_tree(pid_t pid, int sig) {
  kill(-pid, sig);
  kill(pid, sig);
}

static void child_fail(const struct app *a, const char *what) __attribute__((noreturn));
static void child_fail(const struct app *a, const char *what) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf, "stage1-kvm init: app %s: %s: %s\n", a->name, what, strerror(errno));
  (void)!write(2, buf, n > (int)sizeof buf ? (int)sizeof buf : n);
  _exit(EXIT_FAILURE_STATUS);
}

static void drop_caps(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ull << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break; /* past the last capability */
  }
}

static int install_filter(const struct app *a) {
  struct sock_fprog prog = {a->filter_len, a->filter};
  return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/*
 * The no_new_privs and seccomp part of a process's credentials, called right before (`before`)
 * and right after the group and id changes, as stage1-coreos does: installing a filter without
 * no_new_privs takes CAP_SYS_ADMIN, which a process that is not root loses with its uid, so such
 * a filter goes first (and then applies to the id changes too, as with runc); otherwise
 * no_new_privs is set and the filter installed last, just before execve. Returns -1 with errno
 * set and `*what` naming the step that failed.
 */
static int app_security(const struct app *a, uid_t uid, int before, const char **what) {
  int early = a->filter && !a->nnp && uid != 0;
  *what = "install the seccomp filter";
  if (before) return early ? install_filter(a) : 0;
  if (a->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    *what = "no_new_privs";
    return -1;
  }
  return a->filter && !early ? install_filter(a) : 0;
}

static void start_app(struct app *a) {
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) fatal("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fatal("fork: %s", strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    int in = a->stdin_port && stdin_fd >= 0 ? stdin_fd : open("/dev/null", O_RDONLY);
    if (dup2(in, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) child_fail(a, "dup2");
    if (chroot(a->root) != 0) child_fail(a, "chroot");
    if (chdir(a->cwd) != 0) child_fail(a, "chdir to the working directory");
    if (a->caps_set) drop_caps(a->caps);
    const char *what;
    if (app_security(a, a->uid, 1, &what) != 0) child_fail(a, what);
    if (setgroups((size_t)a->ngroups, a->groups) != 0) child_fail(a, "setgroups");
    if (setresgid(a->gid, a->gid, a->gid) != 0) child_fail(a, "setresgid");
    if (setresuid(a->uid, a->uid, a->uid) != 0) child_fail(a, "setresuid");
    if (app_security(a, a->uid, 0, &what) != 0) child_fail(a, what);
    execve(a->path, (char *const *)a->argv, (char *const *)a->envp);
    child_fail(a, a->path);
  }
  close(out[1]);
  close(err[1]);
  a->pid = pid;
  a->out_fd = out[0];
  a->err_fd = err[0];
  a->running = 1;
  if (a->log_path) {
    a->log_fd = open(a->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (a->log_fd < 0) msg("app %s: cannot open its log %s: %s", a->name, a->log_path, strerror(errno));
  }
  dbg("app %s started as pid %d", a->name, pid);
}

/* ------------------------------------------------------------------------------ logs */

static int format_time(char *out, size_t len) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  return snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                  tm.tm_sec, ts.tv_nsec);
}

/* Appends one CRI record (`<time> <stream> <F|P> <text>\n`) to `out`. */
static size_t add_record(char *out, size_t at, const char *stamp, int stream, int full, const char *text, size_t len) {
  at += (size_t)sprintf(out + at, "%s %s %c ", stamp, stream ? "stderr" : "stdout", full ? 'F' : 'P');
  memcpy(out + at, text, len);
  at += len;
  out[at++] = '\n';
  return at;
}

/* Feeds output to an app's log: complete lines become F records, a line reaching MAX_RECORD a P record. */
static void log_output(struct app *a, int stream, const char *data, size_t len, int flush) {
  if (a->log_fd < 0) return;
  struct linebuf *lb = &a->lb[stream];
  static char out[2 * (MAX_RECORD + 64) + 65536 * 2];
  char stamp[64];
  format_time(stamp, sizeof stamp);
  size_t at = 0;
  for (size_t i = 0; i < len; i++) {
    char c = data[i];
    if (c == '\n') {
      at = add_record(out, at, stamp, stream, 1, lb->data, lb->len);
      lb->len = 0;
    } else {
      lb->data[lb->len++] = c;
      if (lb->len == MAX_RECORD) {
        at = add_record(out, at, stamp, stream, 0, lb->data, lb->len);
        lb->len = 0;
      }
    }
    if (at > sizeof out - (MAX_RECORD + 128)) {
      (void)!write_all(a->log_fd, out, at);
      at = 0;
    }
  }
  if (flush && lb->len > 0) {
    at = add_record(out, at, stamp, stream, 1, lb->data, lb->len);
    lb->len = 0;
  }
  if (at) (void)!write_all(a->log_fd, out, at);
}

/* ------------------------------------------------------------------------------ enter */

/*
 * Frames on rkt.enter: a type byte, a 4-byte big-endian length, the payload. Host to guest:
 * 'R' request (tokens), 'I' stdin data, 'C' stdin closed, 'K' signal (4-byte number). Guest to
 * host: 'O' stdout, 'E' stderr, 'X' exit status (4 bytes), 'F' failure message.
 */
struct session {
  int active;
  pid_t pid;
  int in_fd, out_fd, err_fd;
  int exited, status;
  int close_stdin;
  char *pending;
  size_t pending_len;
};

static int enter_fd = -1;
static int enter_connected;
static struct session sess;
static char frame_buf[1 << 17];
static size_t frame_len;

/* Writes to the (non-blocking) enter port; -1 once the host has gone. */
static int port_write(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n >= 0) {
      p += n;
      len -= (size_t)n;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return -1;
    struct pollfd pfd = {fd, POLLOUT, 0};
    if (poll(&pfd, 1, 5000) <= 0 || (pfd.revents & (POLLHUP | POLLERR))) return -1;
  }
  return 0;
}

static void send_frame(char type, const void *data, uint32_t len) {
  if (enter_fd < 0) return;
  unsigned char hdr[5] = {(unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16), (unsigned char)(len >> 8), (unsigned char)len};
  if (port_write(enter_fd, hdr, 5) != 0 || port_write(enter_fd, data, len) != 0) enter_connected = 0;
}

static void session_close_fds(void) {
  if (sess.in_fd >= 0) close(sess.in_fd);
  if (sess.out_fd >= 0) close(sess.out_fd);
  if (sess.err_fd >= 0) close(sess.err_fd);
  sess.in_fd = sess.out_fd = sess.err_fd = -1;
  free(sess.pending);
  sess.pending = NULL;
  sess.pending_len = 0;
}

static void session_kill(void) {
  if (!sess.active) return;
  if (!sess.exited) kill_tree(sess.pid, SIGKILL);
  session_close_fds();
  sess.active = 0;
}

static void session_start(char *payload, size_t len) {
  session_kill();
  memset(&sess, 0, sizeof sess);
  sess.in_fd = sess.out_fd = sess.err_fd = -1;
  struct tokens t = {payload, len, 0};
  const char *root = "/", *cwd = "/", *path = NULL;
  const char **argv = NULL, **envp = NULL;
  int argc = 0, envc = 0;
  long uid = 0, gid = 0;
  /*
   * the app as which the command runs (ids, groups, capabilities, no_new_privs, filter); none:
   * root with every capability and neither no_new_privs nor a filter
   */
  const struct app *app = NULL;
  const char *app_name = NULL, *k;
  while ((k = tok_next(&t))) {
    const char *v = tok_next(&t);
    if (!v) break;
    if (!strcmp(k, "app")) {
      app_name = v;
      for (int i = 0; i < spec.napps; i++)
        if (!strcmp(spec.apps[i].name, v)) app = &spec.apps[i];
    } else if (!strcmp(k, "root")) root = v;
    else if (!strcmp(k, "cwd")) cwd = v;
    else if (!strcmp(k, "path")) path = v;
    else if (!strcmp(k, "arg")) PUSH(argv, argc, v);
    else if (!strcmp(k, "env")) PUSH(envp, envc, v);
    else if (!strcmp(k, "uid")) parse_int(v, &uid);
    else if (!strcmp(k, "gid")) parse_int(v, &gid);
  }
  if (!path || argc == 0 || (app_name && !app)) {
    char m[300];
    if (!path || argc == 0) snprintf(m, sizeof m, "enter request without a command");
    else snprintf(m, sizeof m, "the pod has no app %.200s", app_name);
    send_frame('F', m, strlen(m));
    free(argv);
    free(envp);
    return;
  }
  /* a request without an app: a stand-in with the request's ids and nothing else */
  static struct app root_app;
  gid_t only_group = (gid_t)gid;
  if (!app) {
    memset(&root_app, 0, sizeof root_app);
    root_app.uid = (uid_t)uid;
    root_app.gid = only_group;
    root_app.groups = &only_group;
    root_app.ngroups = 1;
    app = &root_app;
  }
  PUSH(argv, argc, NULL);
  PUSH(envp, envc, NULL);
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) fatal("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fatal("fork: %s", strerror(errno));
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    setsid();
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(err[1], 2);
    char buf[512];
    /* the steps and order of start_app: the command runs as the app runs */
    const char *what = "chroot";
    if (chroot(root) == 0) {
      what = "chdir";
      if (chdir(cwd) == 0) {
        if (app->caps_set) drop_caps(app->caps);
        if (app_security(app, app->uid, 1, &what) == 0) {
          what = "set credentials";
          if (setgroups((size_t)app->ngroups, app->groups) == 0 && setresgid(app->gid, app->gid, app->gid) == 0 &&
              setresuid(app->uid, app->uid, app->uid) == 0 && app_security(app, app->uid, 0, &what) == 0) {
            execve(path, (char *const *)argv, (char *const *)envp);
            what = path;
          }
        }
      }
    }
    int n = snprintf(buf, sizeof buf, "enter: %s: %s\n", what, strerror(errno));
    (void)!write(2, buf, n);
    _exit(errno == ENOENT ? 127 : 126);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  free(argv);
  free(envp);
  sess.active = 1;
  sess.pid = pid;
  sess.in_fd = in[1];
  fcntl(sess.in_fd, F_SETFL, O_NONBLOCK);
  sess.out_fd = out[0];
  sess.err_fd = err[0];
  dbg("enter session pid %d", pid);
}

static void session_flush_stdin(void) {
  while (sess.pending_len > 0 && sess.in_fd >= 0) {
    ssize_t n = write(sess.in_fd, sess.pending, sess.pending_len);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) return;
      sess.pending_len = 0; /* the command closed its stdin */
      break;
    }
    memmove(sess.pending, sess.pending + n, sess.pending_len - (size_t)n);
    sess.pending_len -= (size_t)n;
  }
  if (sess.pending_len == 0 && sess.close_stdin && sess.in_fd >= 0) {
    close(sess.in_fd);
    sess.in_fd = -1;
  }
}

static void handle_frame(char type, char *payload, size_t len) {
  switch (type) {
    case 'R':
      session_start(payload, len);
      break;
    case 'I':
      if (!sess.active || sess.in_fd < 0) break;
      sess.pending = xrealloc(sess.pending, sess.pending_len + len + 1);
      memcpy(sess.pending + sess.pending_len, payload, len);
      sess.pending_len += len;
      session_flush_stdin();
      break;
    case 'C':
      if (!sess.active) break;
      sess.close_stdin = 1;
      session_flush_stdin();
      break;
    case 'K':
      if (sess.active && !sess.exited && len == 4) {
        unsigned char *b = (unsigned char *)payload;
        kill_tree(sess.pid, (int)((b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3]));
      }
      break;
    default:
      msg("enter: unknown frame type %d", type);
  }
}

static void enter_disconnected(void) {
  enter_connected = 0;
  frame_len = 0;
  session_kill();
}

static void read_enter(void) {
  ssize_t n = read(enter_fd, frame_buf + frame_len, sizeof frame_buf - frame_len);
  if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) enter_disconnected();
    return;
  }
  if (n == 0) {
    enter_disconnected();
    return;
  }
  frame_len += (size_t)n;
  size_t at = 0;
  while (frame_len - at >= 5) {
    unsigned char *h = (unsigned char *)frame_buf + at;
    uint32_t len = ((uint32_t)h[1] << 24) | ((uint32_t)h[2] << 16) | ((uint32_t)h[3] << 8) | h[4];
    if (len > sizeof frame_buf - 5) {
      msg("enter: frame too large");
      enter_disconnected();
      return;
    }
    if (frame_len - at - 5 < len) break;
    handle_frame((char)h[0], frame_buf + at + 5, len);
    at += 5 + len;
  }
  memmove(frame_buf, frame_buf + at, frame_len - at);
  frame_len -= at;
}

/*
 * Whether the host side of a port is open: poll reports POLLHUP while it is not (and POLLIN,
 * with reads returning 0), so a port is watched only while connected. Connection changes
 * arrive as SIGIO; the host's side of a port may also become open only after the guest
 * opened it (the host answers the guest's "port ready"), so a port is checked again then.
 */
static int port_connected(int fd) {
  struct pollfd pfd = {fd, POLLIN, 0};
  if (poll(&pfd, 1, 0) < 0) return 0;
  return !(pfd.revents & POLLHUP);
}

/* Whether bytes are waiting on a port (FIONREAD), connected or not. */
static int port_has_data(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 && n > 0;
}

static void check_enter_connection(void) {
  if (enter_fd < 0) return;
  int now = port_connected(enter_fd);
  if (now && !enter_connected) dbg("enter: host connected");
  if (!now && enter_connected) enter_disconnected();
  enter_connected = now;
}

/* ------------------------------------------------------------------------------ main loop */

static int out_port = -1, ctl_port = -1, ctl_connected;

static void check_connections(void) {
  check_enter_connection();
  if (ctl_port >= 0) ctl_connected = port_connected(ctl_port) || port_has_data(ctl_port);
}
static int stopping;
static struct timespec stop_deadline;
static int pod_status = -1;

static struct app *app_by_pid(pid_t pid) {
  for (int i = 0; i < spec.napps; i++)
    if (spec.apps[i].pid == pid) return &spec.apps[i];
  return NULL;
}

static void request_stop(const char *why) {
  if (stopping) return;
  stopping = 1;
  dbg("stopping: %s", why);
  clock_gettime(CLOCK_MONOTONIC, &stop_deadline);
  stop_deadline.tv_sec += spec.stop_timeout_ms / 1000;
  stop_deadline.tv_nsec += (spec.stop_timeout_ms % 1000) * 1000000;
  if (stop_deadline.tv_nsec >= 1000000000) {
    stop_deadline.tv_sec++;
    stop_deadline.tv_nsec -= 1000000000;
  }
  for (int i = 0; i < spec.napps; i++)
    if (spec.apps[i].running) kill_tree(spec.apps[i].pid, SIGTERM);
}

/* Relays what is readable on one of an app's pipes; returns 0 at end of file. */
static int relay(struct app *a, int stream) {
  static char buf[65536];
  int *fd = stream ? &a->err_fd : &a->out_fd;
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) {
    log_output(a, stream, "", 0, 1);
    close(*fd);
    *fd = -1;
    return 0;
  }
  int port = stream ? (stderr_port >= 0 ? stderr_port : out_port) : out_port;
  if (port >= 0) (void)!write_all(port, buf, (size_t)n);
  log_output(a, stream, buf, (size_t)n, 0);
  return 1;
}

/* Once an app has exited and its pipes are drained: its status file, and the pod's policy. */
static void report_app(struct app *a) {
  if (a->reported || a->running || a->out_fd >= 0 || a->err_fd >= 0) return;
  a->reported = 1;
  if (a->log_fd >= 0) close(a->log_fd);
  a->log_fd = -1;
  char text[32];
  snprintf(text, sizeof text, "%d\n", a->status);
  if (write_file_atomic(a->status_path, text) != 0) msg("app %s: cannot write its status %s: %s", a->name, a->status_path, strerror(errno));
  dbg("app %s exited with %d", a->name, a->status);
  if (a->status != 0 && pod_status < 0) {
    pod_status = a->status;
    request_stop("an app failed");
  }
}

static void drain_nonblocking(struct app *a) {
  for (int s = 0; s < 2; s++) {
    int fd = s ? a->err_fd : a->out_fd;
    if (fd < 0) continue;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (;;) {
      struct pollfd p = {fd, POLLIN, 0};
      if (poll(&p, 1, 0) <= 0) {
        /* nothing more now: a child of the app may still hold the pipe; stop listening */
        log_output(a, s, "", 0, 1);
        close(fd);
        if (s) a->err_fd = -1;
        else a->out_fd = -1;
        break;
      }
      if (!relay(a, s)) break;
    }
  }
}

static void reap(void) {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    if (sess.active && pid == sess.pid) {
      sess.exited = 1;
      sess.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      continue;
    }
    struct app *a = app_by_pid(pid);
    if (!a) continue;
    a->running = 0;
    a->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    drain_nonblocking(a);
    report_app(a);
  }
}

static void finish_session_if_done(void) {
  if (!sess.active || !sess.exited || sess.out_fd >= 0 || sess.err_fd >= 0) return;
  unsigned char b[4] = {(unsigned char)(sess.status >> 24), (unsigned char)(sess.status >> 16), (unsigned char)(sess.status >> 8), (unsigned char)sess.status};
  send_frame('X', b, 4);
  session_close_fds();
  sess.active = 0;
}

static void session_relay(int stream) {
  char buf[32768];
  int *fd = stream ? &sess.err_fd : &sess.out_fd;
  ssize_t n = read(*fd, buf, sizeof buf);
  if (n < 0 && errno == EINTR) return;
  if (n <= 0) {
    close(*fd);
    *fd = -1;
    return;
  }
  send_frame(stream ? 'E' : 'O', buf, (uint32_t)n);
}

static int all_reported(void) {
  for (int i = 0; i < spec.napps; i++)
    if (!spec.apps[i].reported) return 0;
  return 1;
}

static void main_loop(int sfd) {
  for (;;) {
    if (all_reported()) return;
    struct pollfd pfds[8 + 2 * 64];
    struct {
      int kind; /* 0 signal, 1 ctl, 2 enter, 3 app out, 4 app err, 5 session out, 6 session err, 7 session in */
      struct app *a;
    } what[8 + 2 * 64];
    int n = 0;
#define WATCH(fd_, ev_, kind_, app_)  \
  do {                                \
    pfds[n].fd = (fd_);               \
    pfds[n].events = (ev_);           \
    pfds[n].revents = 0;              \
    what[n].kind = (kind_);           \
    what[n].a = (app_);               \
    n++;                              \
  } while (0)
    WATCH(sfd, POLLIN, 0, NULL);
    if (ctl_port >= 0 && ctl_connected) WATCH(ctl_port, POLLIN, 1, NULL);
    if (enter_connected && !(sess.active && sess.pending_len > 0)) WATCH(enter_fd, POLLIN, 2, NULL);
    for (int i = 0; i < spec.napps && n < (int)(sizeof pfds / sizeof pfds[0]) - 8; i++) {
      struct app *a = &spec.apps[i];
      if (a->out_fd >= 0) WATCH(a->out_fd, POLLIN, 3, a);
      if (a->err_fd >= 0) WATCH(a->err_fd, POLLIN, 4, a);
    }
    if (sess.active) {
      if (sess.out_fd >= 0) WATCH(sess.out_fd, POLLIN, 5, NULL);
      if (sess.err_fd >= 0) WATCH(sess.err_fd, POLLIN, 6, NULL);
      if (sess.in_fd >= 0 && sess.pending_len > 0) WATCH(sess.in_fd, POLLOUT, 7, NULL);
    }
    /* a missed SIGIO costs at most this much: ports not connected are checked again */
    int timeout = (enter_fd >= 0 && !enter_connected) || (ctl_port >= 0 && !ctl_connected) ? 1000 : -1;
    if (stopping) {
      struct timespec now;
      clock_gettime(CLOCK_MONOTONIC, &now);
      long left = (stop_deadline.tv_sec - now.tv_sec) * 1000 + (stop_deadline.tv_nsec - now.tv_nsec) / 1000000;
      if (left <= 0) {
        for (int i = 0; i < spec.napps; i++)
          if (spec.apps[i].running) kill_tree(spec.apps[i].pid, SIGKILL);
        left = 1000;
        stop_deadline.tv_sec = now.tv_sec + 1;
      }
      if (timeout < 0 || left < timeout) timeout = (int)left;
    }
    int r = poll(pfds, (nfds_t)n, timeout);
    if (r < 0 && errno != EINTR) fatal("poll: %s", strerror(errno));
    if (r <= 0) {
      check_connections();
      continue;
    }
    for (int i = 0; i < n; i++) {
      if (!pfds[i].revents) continue;
      struct app *a = what[i].a;
      switch (what[i].kind) {
        case 0: {
          struct signalfd_siginfo si;
          while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
            if (si.ssi_signo == SIGCHLD) reap();
            else if (si.ssi_signo == SIGIO) check_connections();
            else request_stop("signal");
          }
          break;
        }
        case 1: {
          char c[64];
          ssize_t k = read(ctl_port, c, sizeof c);
          if (k > 0 && memchr(c, 'S', (size_t)k)) request_stop("stop requested");
          if (k == 0) ctl_connected = 0; /* the host side closed (for now) */
          break;
        }
        case 2:
          read_enter();
          break;
        case 3:
        case 4:
          if (!relay(a, what[i].kind == 4)) report_app(a);
          break;
        case 5:
        case 6:
          session_relay(what[i].kind == 6);
          break;
        case 7:
          session_flush_stdin();
          break;
      }
    }
    for (int i = 0; i < spec.napps; i++) report_app(&spec.apps[i]);
    finish_session_if_done();
  }
}

/* Writes the pod's exit status for the host, stops everything and resets the machine. */
static void finish(int status) {
  kill(-1, SIGKILL);
  if (pod_mounted) {
    char text[32];
    snprintf(text, sizeof text, "%d\n", status);
    if (write_file_atomic(EXIT_PATH, text) != 0) {
      char m[256];
      int n = snprintf(m, sizeof m, "stage1-kvm init: cannot write %s: %s\n", EXIT_PATH, strerror(errno));
      (void)!write(2, m, n);
    }
  }
  sync();
  dbg("exit %d", status);
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}

int main(void) {
  clock_gettime(CLOCK_MONOTONIC, &boot_ts);
  debug = getenv("RKTKVM_DEBUG") != NULL;
  mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  dbg("init started");

  /* signals are read from a signalfd; everything else keeps its default */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGIO);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) fatal("signalfd: %s", strerror(errno));

  load_modules("base.order");
  const char *opts = getenv("RKTKVM_POD_OPTS");
  mkdir(POD_DIR, 0755);
  if (mount("pod", POD_DIR, "9p", 0, opts ? opts : DEFAULT_POD_OPTS) != 0) fatal("mount the pod share: %s", strerror(errno));
  pod_mounted = 1;
  dbg("pod share mounted");
  size_t len;
  char *text = read_file(SPEC_PATH, &len);
  if (!text) fatal("read %s: %s", SPEC_PATH, strerror(errno));
  parse_spec(text, len);
  sync_clock();

  /* ports: output first, so that later failures reach the host's stderr */
  out_port = open_port("rkt.stdout", O_WRONLY);
  stderr_port = open_port("rkt.stderr", O_WRONLY);
  ctl_port = open_port("rkt.ctl", O_RDONLY | O_NONBLOCK);
  fcntl(ctl_port, F_SETOWN, getpid());
  fcntl(ctl_port, F_SETFL, O_NONBLOCK | O_ASYNC);
  enter_fd = open_port("rkt.enter", O_RDWR | O_NONBLOCK);
  fcntl(enter_fd, F_SETOWN, getpid());
  fcntl(enter_fd, F_SETFL, O_NONBLOCK | O_ASYNC);
  if (spec.interactive) stdin_fd = open_port("rkt.stdin", O_RDONLY);
  dbg("ports open");

  for (int i = 0; i < spec.nshares; i++) {
    mkdir_p(spec.shares[i].target, 0755);
    if (mount(spec.shares[i].tag, spec.shares[i].target, "9p", 0, spec.shares[i].opts) != 0)
      fatal("mount share %s on %s: %s", spec.shares[i].tag, spec.shares[i].target, strerror(errno));
  }
  if (spec.nnets > 0) load_modules("net.order");
  setup_network();
  if (spec.hostname && sethostname(spec.hostname, strlen(spec.hostname)) != 0) fatal("sethostname: %s", strerror(errno));

  for (int i = 0; i < spec.napps; i++) setup_app(&spec.apps[i]);
  for (int i = 0; i < spec.napps; i++) start_app(&spec.apps[i]);
  check_connections();
  main_loop(sfd);
  finish(pod_status < 0 ? 0 : pod_status);
}
