// pause (podns): the process that holds a pod's namespaces by living in them.
//
//   pause              block until SIGINT/SIGTERM, then exit 0; reap zombies; subreaper when not PID 1
//   pause -v           print "pause (podns) VERSION"
//   pause -d FD [-p]   detach: (-p: unshare(CLONE_NEWPID) first) fork; the child is the pause,
//                      the parent writes "<child pid>\n" to FD and exits 0
//   pause -c PROCS ... join these cgroups (their cgroup.procs files) once running: the pod's pause leaf
//
// Same job as Kubernetes' pause.c and catatonit: do nothing, cheaply, forever, and be a correct init.
// Static, no stdio, no heap: a few pages of RSS. Comments say why; the code is the what.

#define _GNU_SOURCE
#include "../common/caps.h"
#include "../common/errname.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PODNS_VERSION
#define PODNS_VERSION "0.1.0"  // keep in step with package.json
#endif

static void say(int fd, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    s += n;
    len -= (size_t)n;
  }
}

static void fail(const char *what) {
  const char *name = podns_errname(errno);
  say(2, "pause: ");
  say(2, what);
  say(2, ": ");
  say(2, name != NULL ? name : "unknown error");
  say(2, "\n");
  _exit(1);
}

static void usage(void) {
  say(2, "usage: pause [-v] [-d FD [-p]]\n");
  _exit(2);
}

static int parse_fd(const char *s) {
  long v = 0;
  if (*s == '\0') usage();
  for (; *s != '\0'; s++) {
    if (*s < '0' || *s > '9' || v > INT_MAX / 10) usage();
    v = v * 10 + (*s - '0');
  }
  if (v > INT_MAX) usage();
  return (int)v;
}

// Collect every child that has ended. One SIGCHLD may stand for many exits (pending signals do not queue),
// so loop until there is none left to collect.
static void reap(void) {
  for (;;) {
    pid_t pid = waitpid(-1, NULL, WNOHANG);
    if (pid > 0) continue;
    if (pid < 0 && errno == EINTR) continue;
    return;  // 0: the rest still run; -1/ECHILD: no children at all
  }
}

static void detach(int fd, int new_pidns) {
  // unshare(CLONE_NEWPID) does not move us; it makes our next child PID 1 of the new namespace.
  if (new_pidns && unshare(CLONE_NEWPID) != 0) fail("unshare(CLONE_NEWPID)");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid > 0) {
    char line[16];
    int i = (int)sizeof line;
    line[--i] = '\0';
    line[--i] = '\n';
    pid_t v = pid;
    do line[--i] = (char)('0' + v % 10);
    while ((v /= 10) > 0 && i > 0);
    size_t len = strlen(&line[i]);
    ssize_t n;
    do n = write(fd, &line[i], len);
    while (n < 0 && errno == EINTR);
    // A pause nobody knows the pid of could never be found and stopped: take it down with us.
    if (n != (ssize_t)len) {
      int err = errno;
      kill(pid, SIGKILL);
      errno = err;
      fail("write pid");
    }
    _exit(0);
  }
  // Own session: the caller's terminal (SIGHUP on hangup, ^C to its foreground group) must not reach the pod.
  setsid();
}

int main(int argc, char **argv) {
  int detach_fd = -1;
  int new_pidns = 0;
  const char *cgroups[8];
  int ncgroups = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      say(1, "pause (podns) " PODNS_VERSION "\n");
      return 0;
    } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
      detach_fd = parse_fd(argv[++i]);
    } else if (strcmp(argv[i], "-p") == 0) {
      new_pidns = 1;
    } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc && ncgroups < 8 && argv[i + 1][0] == '/') {
      cgroups[ncgroups++] = argv[++i];
    } else {
      usage();
    }
  }
  if (new_pidns && detach_fd < 0) usage();

  // Signals are taken synchronously with sigwaitinfo() on a blocked set, not with handlers:
  //  - no handler runs at a random point, so there is no race between "is there work?" and "sleep";
  //  - a blocked signal is always queued, even for PID 1 of a pid namespace, which the kernel otherwise
  //    shields from every signal it has no handler for (SIGTERM sent from inside the pod would be dropped);
  //  - blocked before anything else, so a SIGTERM that arrives while we start still means "exit 0",
  //    never death by signal. A detached child inherits the mask across fork.
  // Dispositions back to default: SIG_IGN survives execve, and an ignored SIGCHLD would change wait semantics.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) fail("sigprocmask");
  signal(SIGCHLD, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGTERM, SIG_DFL);

  if (detach_fd >= 0) detach(detach_fd, new_pidns);

  // Outside a pid namespace of our own, orphans of the processes that run in the pod would be reparented to
  // the host's init, and whoever started them could never collect them here. As subreaper they come to us.
  // First thing after the fork: nothing descends from us yet, so no orphan can slip past.
  if (getpid() != 1 && prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) fail("prctl(PR_SET_CHILD_SUBREAPER)");

  // Like the kubelet does for the sandbox: the OOM killer should take a workload before the process that
  // holds the pod's namespaces. Lowering needs CAP_SYS_RESOURCE; without it the kernel says EACCES, fine.
  int oom = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
  if (oom >= 0) {
    if (write(oom, "-998", 4) < 0 && errno != EACCES && errno != EPERM) {
      say(2, "pause: warning: cannot set oom_score_adj: ");
      say(2, podns_errname(errno) != NULL ? podns_errname(errno) : "unknown error");
      say(2, "\n");
    }
    close(oom);
  }

  // Into the pod's pause leaf, one cgroup.procs per hierarchy. Here, after exec, not before it: on cgroup v1
  // the first of these writes waits for an RCU grace period (5-16 ms), which the create that started us
  // does not wait for (it records and makes the cgroup; we are in it a grace period later). The writes after
  // the first ride on the same grace period. A failure leaves us where we are (the pod's delete kills us
  // anyway): warned about, not fatal.
  for (int c = 0; c < ncgroups; c++) {
    int fd = open(cgroups[c], O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "0", 1) != 1) {
      say(2, "pause: warning: cannot join ");
      say(2, cgroups[c]);
      say(2, ": ");
      say(2, podns_errname(errno) != NULL ? podns_errname(errno) : "unknown error");
      say(2, "\n");
    }
    if (fd >= 0) close(fd);
  }

  // A cwd keeps its mount busy (umount: EBUSY) for as long as the pod lives.
  if (chdir("/") != 0) fail("chdir /");

  // Inherited fds would be held for the pod's whole life: a pipe on stdout keeps the spawner waiting for EOF,
  // a lock fd keeps a lock, a terminal exposes us to its hangup. Keep nothing; 0-2 point at /dev/null.
  if (syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
    for (int fd = 3; fd < 1024; fd++) close(fd);
  }
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    for (int fd = 0; fd <= 2; fd++) {
      if (fd != null) dup2(null, fd);
    }
    if (null > 2) close(null);
  } else {
    for (int fd = 0; fd <= 2; fd++) close(fd);
  }

  // The pause is PID 1 of a pod's shared pid namespace, where every container sees it, and it lives in the
  // host's mount namespace. Non-dumpable: no container process can ptrace it or open its /proc files. It
  // needs no capability from here on: none effective (the permitted ones stay, so that no container process
  // holds a superset of them, which ptrace would also want). Failures change nothing it does: ignored.
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  podns_cap_lower(0);

  // Zombies that ended before SIGCHLD was blocked left no pending signal behind: collect them now.
  reap();
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig == SIGCHLD) {
      reap();
    } else if (sig == SIGINT || sig == SIGTERM) {
      // As PID 1 our exit makes the kernel kill the rest of the pid namespace: that is the pod's end.
      return 0;
    }
    // -1 with EINTR (e.g. after SIGSTOP/SIGCONT): wait again.
  }
}
