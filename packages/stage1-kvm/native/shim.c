/*
 * pod-shim: the host process of a stage1-kvm pod, between the run entrypoint and qemu.
 *
 *   pod-shim --ctl-fd=N --ppid-file=PATH --exit-file=PATH [--own-pgrp] [--netns=PATH] -- QEMU [ARGS...]
 *
 * The run entrypoint (Node) execs this program, which stays as small as a process can be:
 * it forks qemu with one end of a socket pair on fd N (qemu's chardev for the guest's rkt.ctl
 * port) and the pod lock inherited, writes its own pid to PATH of --ppid-file (stage0 then
 * reports qemu, its only child), turns SIGTERM, SIGINT and SIGHUP into a stop request to the
 * guest ("S" on the socket pair), and when qemu has exited, exits with the status the guest
 * wrote to --exit-file. qemu itself cannot exit with an arbitrary status, which is why this
 * process exists. If the shim is killed, qemu gets SIGKILL (PR_SET_PDEATHSIG).
 *
 * With --own-pgrp qemu runs in a process group of its own, so that a terminal's ^C reaches only
 * the shim (and becomes a graceful stop) instead of ending qemu at once; not for interactive
 * pods, where qemu reads the terminal (a background process group would be stopped by SIGTTIN).
 *
 * With --netns, qemu runs in that network namespace (the pod's, where its tap devices are); the
 * shim itself stays in the caller's.
 *
 * Exit status: the pod's status from --exit-file; else 128 + n when qemu was killed by signal n
 * or the shim was asked to stop by signal n; else 254 (qemu failed, or the guest wrote nothing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_FAILURE_STATUS 254

static void fail(const char *what) {
  fprintf(stderr, "stage1-kvm pod-shim: %s: %s\n", what, strerror(errno));
  exit(EXIT_FAILURE_STATUS);
}

static int write_atomic(const char *path, const char *text) {
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp%d", path, getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return -1;
  size_t len = strlen(text);
  int ok = write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
  close(fd);
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* The decimal status in `path`, or -1 when it is missing or malformed. */
static int read_status(const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  int v = -1;
  if (fscanf(f, " %d", &v) != 1) v = -1;
  fclose(f);
  return v >= 0 && v <= 255 ? v : -1;
}

int main(int argc, char **argv) {
  int ctl_fd = -1;
  const char *ppid_file = NULL, *exit_file = NULL, *netns = NULL;
  int own_pgrp = 0;
  int i = 1;
  for (; i < argc; i++) {
    if (!strcmp(argv[i], "--")) {
      i++;
      break;
    }
    if (!strncmp(argv[i], "--ctl-fd=", 9)) ctl_fd = atoi(argv[i] + 9);
    else if (!strncmp(argv[i], "--ppid-file=", 12)) ppid_file = argv[i] + 12;
    else if (!strncmp(argv[i], "--exit-file=", 12)) exit_file = argv[i] + 12;
    else if (!strcmp(argv[i], "--own-pgrp")) own_pgrp = 1;
    else if (!strncmp(argv[i], "--netns=", 8)) netns = argv[i] + 8;
    else {
      fprintf(stderr, "stage1-kvm pod-shim: unknown argument %s\n", argv[i]);
      return EXIT_FAILURE_STATUS;
    }
  }
  if (ctl_fd < 3 || !ppid_file || !exit_file || i >= argc) {
    fprintf(stderr, "usage: pod-shim --ctl-fd=N --ppid-file=PATH --exit-file=PATH [--own-pgrp] [--netns=PATH] -- QEMU [ARGS...]\n");
    return EXIT_FAILURE_STATUS;
  }
  unlink(exit_file);

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fail("socketpair");
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigprocmask(SIG_BLOCK, &set, &old);

  pid_t parent = getpid();
  pid_t qemu = fork();
  if (qemu < 0) fail("fork");
  if (qemu == 0) {
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent) _exit(EXIT_FAILURE_STATUS);
    if (dup2(sv[1], ctl_fd) < 0) _exit(EXIT_FAILURE_STATUS);
    if (own_pgrp) setpgid(0, 0);
    if (netns) {
      int fd = open(netns, O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) {
        fprintf(stderr, "stage1-kvm pod-shim: join network namespace %s: %s\n", netns, strerror(errno));
        _exit(EXIT_FAILURE_STATUS);
      }
      close(fd);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    execv(argv[i], argv + i);
    fprintf(stderr, "stage1-kvm pod-shim: exec %s: %s\n", argv[i], strerror(errno));
    _exit(EXIT_FAILURE_STATUS);
  }
  close(sv[1]);
  char text[32];
  snprintf(text, sizeof text, "%d\n", (int)parent);
  if (write_atomic(ppid_file, text) != 0) {
    fprintf(stderr, "stage1-kvm pod-shim: write %s: %s\n", ppid_file, strerror(errno));
  }

  int st = 0, stop_signal = 0;
  for (;;) {
    siginfo_t si;
    int sig = sigwaitinfo(&set, &si);
    if (sig < 0) {
      if (errno == EINTR) continue;
      fail("sigwaitinfo");
    }
    if (sig == SIGCHLD) {
      pid_t r = waitpid(qemu, &st, WNOHANG);
      if (r == qemu) break;
      continue;
    }
    /* a stop request: the guest stops its apps and powers off */
    stop_signal = sig;
    (void)send(sv[0], "S", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  int status = read_status(exit_file);
  if (status >= 0) return status;
  if (WIFSIGNALED(st)) {
    fprintf(stderr, "stage1-kvm: qemu was killed by signal %d\n", WTERMSIG(st));
    return 128 + WTERMSIG(st);
  }
  if (stop_signal) return 128 + stop_signal;
  fprintf(stderr, "stage1-kvm: the virtual machine ended without an exit status (qemu exit status %d); its console is in kvm/console in the pod directory\n",
          WEXITSTATUS(st));
  return EXIT_FAILURE_STATUS;
}
