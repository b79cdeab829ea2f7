// podns-helper shim: the watcher of one container (contract in docs/DESIGN.md).
//
// Process tree:
//   podns (Node) --native.spawn--> P (this program) --fork--> W (watcher) --fork--> workload
// P only detaches: with --new-pid-ns it unshares the pid namespace first, so that W, its first child,
// is PID 1 there; P exits at once and Node reaps it with waitpid(P). W is orphaned (its parent is
// whatever reaper the caller has), sits in its own session, joins the pod's namespaces and runs the
// workload, restarting it by policy. W is single-threaded C, so setns() of any namespace is safe here
// (Node's own threads must never be switched).
//
// W writes "<W pid> <workload pid> <startedAt>\n" (host pids; the time as in status.json) to the ready fd
// once the workload has exec'd — all the caller needs to know of a container that has just started, so it
// reads no file after the line — or
// "error <ERRNO> <step>: <message>\n". The workload reports pre-exec failures through a CLOEXEC
// status pipe: exec closes it (success), an error line before _exit is the failure.
//
// The parts: see shim.h.
#include "shim.h"
#include "../common/caps.h"

#include <sys/prctl.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct watcher_state W;

static void on_signal_noop(int sig) { (void)sig; }

/* ------------------------------------------------------------------ the watcher */

static __attribute__((noreturn)) void watcher(struct opts *o) {
  int ready = o->ready_fd;
  /* The pid namespace of a setns applies to the children we fork from now on, not to us. */
  if (o->pid_ns_fd >= 0 && setns(o->pid_ns_fd, CLONE_NEWPID) < 0) {
    report(ready, errno, "setns", "pid %s: %s", o->pid_ns, strerror(errno));
    _exit(1);
  }
  for (int i = 0; i < o->n_ns; i++) {
    if (setns(o->ns[i].fd, o->ns[i].type) < 0) {
      report(ready, errno, "setns", "%s: %s", o->ns[i].path, strerror(errno));
      _exit(1);
    }
    close(o->ns[i].fd);
  }
  if (o->pid_ns_fd >= 0) close(o->pid_ns_fd);

  char self[32];
  ssize_t n = readlink("/proc/self", self, sizeof self - 1);
  if (n <= 0) { report(ready, errno ? errno : EIO, "readlink", "/proc/self: %s", strerror(errno)); _exit(1); }
  self[n] = 0;
  W.self_host = (pid_t)atoi(self);

  /* Signals come through a signalfd. As the init of a pid namespace we only receive signals we
     handle (SIGTERM from `podns stop` included), so install a handler as well as blocking them. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal_noop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGCHLD, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1); /* ReopenContainerLog: a new --log-file */
  sigprocmask(SIG_BLOCK, &set, NULL);
  W.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  W.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (W.sigfd < 0 || W.timerfd < 0) { report(ready, errno, "signalfd", "%s", strerror(errno)); _exit(1); }
  if (open_log() < 0) { report(ready, errno, "open", "%s: %s", o->log_file ? o->log_file : "current.log", strerror(errno)); _exit(1); }

  if (o->devices_cgroup && (W.devices_fd = devices_cgroup_open(o->devices_cgroup)) < 0) {
    int e = errno;
    report(ready, e, "devices-cgroup", "%s: %s", o->devices_cgroup, strerror(e));
    devices_cgroup_remove(o->devices_cgroup, -1);
    _exit(1);
  }
  if (limit_cgroups_open() < 0) {
    report(ready, errno, "cgroup", "%s/cgroup.procs: %s", o->cgroup_dirs[W.n_cgroup_fds], strerror(errno));
    _exit(1);
  }
  if (attach_open() < 0) {
    report(ready, errno, "attach", "the attach socket: %s", strerror(errno));
    attach_shutdown();
    if (o->devices_cgroup) devices_cgroup_remove(o->devices_cgroup, W.devices_fd);
    limit_cgroups_remove();
    _exit(1);
  }
  workload_env(o);
  oom_lower_watcher(); /* while it may still have CAP_SYS_RESOURCE */
  /* The watcher may be PID 1 of the container's pid namespace, where the workload sees it. From here it
     needs no capability but CAP_KILL (to signal a workload of another uid); it keeps the rest permitted,
     for the workload child to take back (run_child) before it mounts. Non-dumpable: no process of the
     container can ptrace it or open its /proc files, whatever its capabilities (the watcher lives in the
     host's mount namespace). Only for containers with a capability set (not records older than that). */
  if (o->privs.have_caps) {
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (podns_cap_lower(1ull << PODNS_CAP_KILL) < 0) { report(ready, errno, "capset", "lowering the watcher's capabilities: %s", strerror(errno)); _exit(1); }
  }
  char err[600];
  if (start_workload(err, sizeof err) < 0) {
    dprintf(ready, "error %s\n", err);
    if (o->devices_cgroup) devices_cgroup_remove(o->devices_cgroup, W.devices_fd);
    limit_cgroups_remove();
    attach_shutdown();
    _exit(1);
  }
  write_status();
  char started[40];
  fmt_time(started, sizeof started, &W.started, 3);
  dprintf(ready, "%d %d %s\n", (int)W.self_host, (int)W.pid_host, started);
  close(ready);

  while (!W.done) {
    struct pollfd p[6 + ATTACH_MAX_CLIENTS];
    int np = 0, i_sig, i_tim, i_out = -1, i_err = -1;
    p[i_sig = np++] = (struct pollfd){W.sigfd, POLLIN, 0};
    p[i_tim = np++] = (struct pollfd){W.timerfd, POLLIN, 0};
    if (W.out.fd >= 0 && !W.out.hup) p[i_out = np++] = (struct pollfd){W.out.fd, POLLIN, 0};
    if (W.err.fd >= 0) p[i_err = np++] = (struct pollfd){W.err.fd, POLLIN, 0};
    int i_att = np; /* the attach socket and its clients (none without --stdin/--tty) */
    np += attach_pollfds(p + np, (int)(sizeof p / sizeof p[0]) - np);
    if (poll(p, (nfds_t)np, -1) < 0) continue;
    if (i_out >= 0 && p[i_out].revents) stream_read(&W.out);
    if (i_err >= 0 && p[i_err].revents) stream_read(&W.err);
    attach_events(p + i_att, np - i_att);
    if (p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(W.sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap();
        else if (si.ssi_signo == SIGUSR1) crilog_reopen(&W.log);
        else terminate();
      }
    }
    if (p[i_tim].revents) {
      uint64_t ticks;
      if (read(W.timerfd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks && !W.done && W.pid == 0) restart();
    }
  }
  attach_shutdown();
  _exit(0);
}

int shim_main(int argc, char **argv) {
  struct opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  int ready = o.ready_fd;

  /* Whatever Node passed besides the ready fd (and the start fd) must not reach the workload. */
  int keep_lo = o.start_fd >= 0 && o.start_fd < ready ? o.start_fd : ready;
  int keep_hi = o.start_fd > ready ? o.start_fd : ready;
  if (keep_lo > 3) syscall(SYS_close_range, 3, keep_lo - 1, 0);
  if (keep_hi > keep_lo + 1) syscall(SYS_close_range, keep_lo + 1, keep_hi - 1, 0);
  syscall(SYS_close_range, keep_hi + 1, ~0U, 0);
  fcntl(ready, F_SETFD, FD_CLOEXEC);

  /* --start-fd: podns spawns us while it is still writing the container's directory, env file and cgroups
     (the exec and start-up of this program overlap that work) and writes one byte here once they exist.
     EOF instead: podns gave up (a step failed) or died; nothing of the container was touched: exit. */
  if (o.start_fd >= 0) {
    char go;
    ssize_t n;
    do n = read(o.start_fd, &go, 1);
    while (n < 0 && errno == EINTR);
    close(o.start_fd);
    if (n != 1) return 0;
  }
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) { dup2(null, fd); close(null); }
    }
  }

  W.o = &o;
  W.log.fd = -1;
  W.devices_fd = -1;
  for (int c = 0; c < MAX_CGROUP_DIRS; c++) W.cgroup_fds[c] = -1;
  W.oom_fd = -1;
  W.out = (struct stream){.name = "stdout", .id = ATTACH_STDOUT, .fd = -1, .pty = o.tty};
  W.err = (struct stream){.name = "stderr", .id = ATTACH_STDERR, .fd = -1};
  W.stdin_r = W.stdin_w = -1;
  W.pty_peer[0] = W.pty_peer[1] = -1;
  W.backoff_ms = o.backoff_ms;
  W.exit_code = W.signal = -1;
  if (o.env_file && read_env_file(&o) < 0) {
    report(ready, errno, "env-file", "%s: %s", o.env_file, errno == EINVAL ? "want K=V entries separated by NUL bytes" : strerror(errno));
    return 1;
  }
  W.dirfd = open(o.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (W.dirfd < 0) { report(ready, errno, "open", "%s: %s", o.dir, strerror(errno)); return 1; }
  if (o.rootfs) {
    struct stat st;
    if (stat(o.rootfs, &st) < 0) { report(ready, errno, "rootfs", "%s: %s", o.rootfs, strerror(errno)); return 1; }
    if (!S_ISDIR(st.st_mode)) { report(ready, ENOTDIR, "rootfs", "%s is not a directory", o.rootfs); return 1; }
  }
  for (int i = 0; i < o.n_ns; i++) {
    o.ns[i].fd = open(o.ns[i].path, O_RDONLY | O_CLOEXEC);
    if (o.ns[i].fd < 0) { report(ready, errno, "open", "%s: %s", o.ns[i].path, strerror(errno)); return 1; }
  }
  if (o.pid_ns) {
    o.pid_ns_fd = open(o.pid_ns, O_RDONLY | O_CLOEXEC);
    if (o.pid_ns_fd < 0) { report(ready, errno, "open", "%s: %s", o.pid_ns, strerror(errno)); return 1; }
  }
  if (chdir("/") < 0) { report(ready, errno, "chdir", "/: %s", strerror(errno)); return 1; }

  /* --detached: the caller started us as it would have the watcher below: not its child (native.spawn's
     detach, a double fork done before exec), in a session of our own, and with --new-pid-ns as PID 1 of
     a new pid namespace (CLONE_NEWPID). Then we are the watcher: no fork, no copy-on-write of this
     process, no intermediate to exit and be reaped on the way to the ready line. */
  if (o.detached) {
    if (o.new_pid_ns && getpid() != 1) {
      report(ready, EINVAL, "args", "--detached --new-pid-ns: not PID 1 of a new pid namespace (spawn with CLONE_NEWPID)");
      return 1;
    }
    if (setsid() < 0 && errno != EPERM) {
      report(ready, errno, "setsid", "%s", strerror(errno));
      return 1;
    }
    watcher(&o);
  }
  /* Our first child becomes PID 1 of the new pid namespace: the init that reaps every orphan there. */
  if (o.new_pid_ns && unshare(CLONE_NEWPID) < 0) {
    report(ready, errno, "unshare", "pid namespace: %s", strerror(errno));
    return 1;
  }
  /* A session of our own: no controlling terminal, no signals from the caller's terminal. EPERM means
     we already lead one (spawned with setsid). The watcher below is not a leader, so it cannot get a tty. */
  if (setsid() < 0 && errno != EPERM) {
    report(ready, errno, "setsid", "%s", strerror(errno));
    return 1;
  }
  pid_t w = fork();
  if (w < 0) {
    report(ready, errno, "fork", "%s", strerror(errno));
    return 1;
  }
  if (w == 0) watcher(&o);
  return 0; /* the caller reaps us (waitpid) and waits for the ready line from the watcher */
}
