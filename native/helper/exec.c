// podns-helper exec [--pidfd FD | --ns TYPE=PATH ...] [--tty] [--uid N] [--gid N] [--cwd DIR]
//                   [--clear-env] [--env K=V ...] [--errfd FD]
//                   [--caps HEX] [--user-caps HEX] [--groups G,...] [--no-new-privs] [--seccomp default|unconfined]
//                   [--resize-fd FD] -- CMD ARGS...
//
// Runs CMD inside the namespaces of another process (a pod's pause, a container).
// Why a separate C program: Node is multithreaded, and the kernel refuses setns() into a
// mount (or user) namespace for a multithreaded process (EINVAL); switching Node's threads
// into other namespaces also leaks into threads born meanwhile. This program is single-
// threaded, so it can join everything, then fork: setns(CLONE_NEWPID) only decides the pid
// namespace of children, so CMD must be a child of the joined helper, not the helper itself.
// The parent stays behind to relay signals (and the pty) and to exit with CMD's status.
//
// Errors before CMD runs: one line on stderr
//     podns-helper exec: <step>: <ERRNO> (<strerror>)
// and exit 125 (126: CMD not executable, 127: CMD not found), like docker/podman.
// With --errfd FD the line goes to FD instead, as "error <ERRNO> <step>: <message>\n", for a
// caller that wants to tell "could not start" from "CMD failed". FD is close-on-exec: the
// caller sees EOF on it once CMD has been exec'd (or has failed to be).
//
// --pidfd FD joins net, ipc, uts, pid, mnt and cgroup of that process in one setns() call.
// --ns TYPE=PATH joins namespace files (pins like /run/netns/NAME or /proc/PID/ns/TYPE):
// user first, mnt last. After joining a mount namespace the root and working directory are
// that namespace's root ("/") unless --cwd says otherwise, and CMD is looked up with PATH in
// the new root.
//
// --tty: CMD gets a new pty as its controlling terminal and stdio, the helper relays its own
// stdin → pty and pty → stdout, puts its own stdin in raw mode when that is a terminal
// (restored on exit) and passes window size changes on. When our stdin ends, the helper
// types the pty's VEOF character (^D) — twice if a partial line is pending — which is what a
// canonical-mode reader (a shell, cat) takes as end of input; a program that put the pty in
// raw mode just reads the byte, as if the user had pressed ^D. Without --tty, CMD inherits
// the helper's stdio directly and nothing is relayed.
// --resize-fd FD (with --tty): the window size comes from lines "COLUMNS ROWS\n" read on FD (a
// caller whose stdin is not a terminal: the CRI streaming server's resize stream); each one is
// set on the pty (the kernel sends CMD's foreground group SIGWINCH). EOF on FD: sizes stop.
#include "common.h"
#include "privileges.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define PIDFD_NS_FLAGS (CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWCGROUP)

struct exec_opts {
  int pidfd;
  struct ns_list ns;
  bool tty;
  long uid, gid;
  struct privs privs; /* the container's: --caps, --user-caps, --groups, --no-new-privs, --seccomp */
  const char *cwd;
  bool clear_env;
  char **envs;
  int nenv;
  char **cmd;
  int cgroup_fds[8]; // --cgroup DIR (repeatable): DIR/cgroup.procs, opened before any namespace is joined
  int n_cgroups;
  int resize_fd;     // --resize-fd FD: "COLUMNS ROWS\n" lines, -1 without
};

// ---- argument parsing ---------------------------------------------------------------

static const char *need_value(int argc, char **argv, int *i) {
  if (*i + 1 >= argc) die_usage("%s needs a value", argv[*i]);
  return argv[++*i];
}

static int parse_fd_arg(const char *opt, const char *val) {
  long fd;
  if (!parse_long(val, 0, 1 << 20, &fd)) die_usage("%s wants a file descriptor number, got \"%s\"", opt, val);
  if (fcntl((int)fd, F_GETFD) < 0) {
    char step[64];
    snprintf(step, sizeof step, "%s %ld", opt, fd);
    die_errno(step);
  }
  return (int)fd;
}

static void parse_args(int argc, char **argv, struct exec_opts *o) {
  o->pidfd = -1;
  ns_list_init(&o->ns);
  o->tty = false;
  o->uid = o->gid = -1;
  privs_init(&o->privs);
  o->cwd = NULL;
  o->clear_env = false;
  o->envs = calloc((size_t)argc, sizeof(char *));
  o->nenv = 0;
  o->cmd = NULL;
  o->n_cgroups = 0;
  o->resize_fd = -1;
  if (o->envs == NULL) die_errno("calloc");

  // --errfd first, so that every later complaint already goes where the caller listens.
  for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
    if (strcmp(argv[i], "--errfd") == 0 && i + 1 < argc) {
      helper_set_error_fd(parse_fd_arg("--errfd", argv[i + 1]));
      break;
    }
  }

  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    } else if (strcmp(a, "--pidfd") == 0) {
      o->pidfd = parse_fd_arg(a, need_value(argc, argv, &i));
    } else if (strcmp(a, "--ns") == 0) {
      const char *why;
      if (ns_list_add(&o->ns, need_value(argc, argv, &i), &why) != 0) die_usage("%s", why);
    } else if (strcmp(a, "--tty") == 0 || strcmp(a, "-t") == 0) {
      o->tty = true;
    } else if (strcmp(a, "--uid") == 0) {
      const char *v = need_value(argc, argv, &i);
      if (!parse_long(v, 0, 4294967294L, &o->uid)) die_usage("--uid wants a number, got \"%s\"", v);
    } else if (strcmp(a, "--gid") == 0) {
      const char *v = need_value(argc, argv, &i);
      if (!parse_long(v, 0, 4294967294L, &o->gid)) die_usage("--gid wants a number, got \"%s\"", v);
    } else if (strcmp(a, "--cwd") == 0) {
      o->cwd = need_value(argc, argv, &i);
    } else if (strcmp(a, "--clear-env") == 0) {
      o->clear_env = true;
    } else if (strcmp(a, "--env") == 0) {
      char *v = (char *)need_value(argc, argv, &i);
      char *eq = strchr(v, '=');
      if (eq == NULL || eq == v) die_usage("--env wants K=V, got \"%s\"", v);
      o->envs[o->nenv++] = v;
    } else if (strcmp(a, "--cgroup") == 0) {
      // The container's cgroups (its devices cgroup, its limits' hierarchies): CMD joins each, so that an
      // exec session gets no more devices, memory, CPU or pids than the workload. Opened now: the joined
      // mount namespace has no /sys/fs/cgroup.
      const char *v = need_value(argc, argv, &i);
      char procs[4096];
      if (v[0] != '/' || snprintf(procs, sizeof procs, "%s/cgroup.procs", v) >= (int)sizeof procs) die_usage("--cgroup wants an absolute directory, got \"%s\"", v);
      if (o->n_cgroups == (int)(sizeof o->cgroup_fds / sizeof o->cgroup_fds[0])) die_usage("at most 8 --cgroup");
      int cfd = o->cgroup_fds[o->n_cgroups++] = open(procs, O_WRONLY | O_CLOEXEC);
      if (cfd < 0) {
        char step[4200];
        snprintf(step, sizeof step, "open %s", procs);
        die_errno(step);
      }
    } else if (strcmp(a, "--resize-fd") == 0) {
      o->resize_fd = parse_fd_arg(a, need_value(argc, argv, &i));
    } else if (strcmp(a, "--errfd") == 0) {
      (void)need_value(argc, argv, &i);  // handled above
    } else if (privs_flag_is_switch(a)) {
      char why[256];
      privs_flag(&o->privs, a, NULL, why, sizeof why);
    } else {
      char why[256];
      int r = strncmp(a, "--", 2) == 0 && i + 1 < argc ? privs_flag(&o->privs, a, argv[i + 1], why, sizeof why) : 0;
      if (r < 0) die_usage("%s", why);
      if (r == 0) die_usage("unknown option \"%s\" (put the command after --)", a);
      i++;
    }
  }
  if (i >= argc) die_usage("no command given (usage: podns-helper exec [OPTIONS] -- CMD ARGS...)");
  if (o->pidfd >= 0 && o->ns.n > 0) die_usage("use either --pidfd or --ns, not both");
  if (o->pidfd < 0 && o->ns.n == 0) die_usage("no target: give --pidfd FD or --ns TYPE=PATH");
  if (o->resize_fd >= 0 && !o->tty) die_usage("--resize-fd needs --tty");
  o->cmd = argv + i;
}

// ---- the child ----------------------------------------------------------------------

__attribute__((noreturn)) static void run_child(const struct exec_opts *o, int slave) {
  // Every signal at its default and none blocked, as the container's workload starts (an ignored signal
  // survives execve; whoever started podns may have ignored SIGPIPE or SIGHUP).
  if (reset_signals() != 0) die_errno("sigprocmask");
  // "0": this process. Before dropping privileges (writing cgroup.procs needs them).
  for (int c = 0; c < o->n_cgroups; c++)
    if (write(o->cgroup_fds[c], "0", 1) != 1) die_errno("join the container's cgroup");
  if (slave >= 0) {
    // Errors from here on must not land in the pty (the caller reads them from stderr).
    helper_keep_error_fd_across_dup2();
    if (setsid() < 0) die_errno("setsid");
    if (ioctl(slave, TIOCSCTTY, 0) != 0) die_errno("ioctl(TIOCSCTTY)");
    for (int fd = 0; fd <= 2; fd++)
      if (dup2(slave, fd) < 0) die_errno("dup2 pty");
    // slave itself is O_CLOEXEC: gone at exec.
  }
  if (o->clear_env && clearenv() != 0) die_errno("clearenv");
  for (int k = 0; k < o->nenv; k++)
    if (putenv(o->envs[k]) != 0) die_errno("putenv");
  // The container's user, groups (none but --groups: root's own would leak in), capabilities, no_new_privs
  // and seccomp filter, the same way as its main process (privileges.c); the filter allows what follows.
  struct privs pv = o->privs;
  pv.uid = o->uid;
  pv.gid = o->gid;
  const char *failed;
  if (apply_privileges(&pv, &failed) != 0) die_errno(failed);
  // After setuid, so the directory must be reachable by the user CMD runs as.
  if (o->cwd != NULL && chdir(o->cwd) != 0) {
    char step[300];
    snprintf(step, sizeof step, "chdir %s", o->cwd);
    die_errno(step);
  }
  execvp(o->cmd[0], o->cmd);
  int err = errno;
  char step[300];
  snprintf(step, sizeof step, "execvp %s", o->cmd[0]);
  die_errno_code(err == ENOENT || err == ENOTDIR ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC, err, step);
}

// ---- the parent: signals, pty relay -------------------------------------------------

static struct termios saved_termios;
static bool termios_saved = false;

static void restore_tty(void) {
  if (termios_saved) {
    tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
    termios_saved = false;
  }
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) (void)ioctl(master, TIOCSWINSZ, &ws);
}

// Window sizes from --resize-fd: whole lines "COLUMNS ROWS"; a malformed line is skipped. Returns false
// at EOF or error (stop polling the fd).
struct resizer {
  int fd;
  char buf[128];
  size_t len;
};

static bool read_resize(struct resizer *z, int master) {
  ssize_t n = read(z->fd, z->buf + z->len, sizeof z->buf - z->len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) return false;
  z->len += (size_t)n;
  char *nl;
  while ((nl = memchr(z->buf, '\n', z->len)) != NULL) {
    *nl = 0;
    unsigned cols, rows;
    char extra;
    if (sscanf(z->buf, "%u %u%c", &cols, &rows, &extra) == 2 && cols > 0 && rows > 0 && cols <= 0xffff && rows <= 0xffff && master >= 0) {
      struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
      (void)ioctl(master, TIOCSWINSZ, &ws);
    }
    size_t used = (size_t)(nl - z->buf) + 1;
    memmove(z->buf, nl + 1, z->len - used);
    z->len -= used;
  }
  if (z->len == sizeof z->buf) z->len = 0;  // a line longer than any size: dropped
  return true;
}

static int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return EXIT_SETUP;
}

// fds >= 3 so that dup2() onto 0-2 in the child can never clobber them.
static int move_high(int fd) {
  if (fd >= 3) return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
  if (nfd < 0) die_errno("fcntl(F_DUPFD_CLOEXEC)");
  close(fd);
  return nfd;
}

// Returns -1 (errno set) instead of dying when soft: the pty inside a joined mount namespace is
// the one we want, and the caller falls back to one opened before joining.
static int try_open_pty(int *master_out, int *slave_out, bool soft) {
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) {
    if (soft) return -1;
    die_errno("posix_openpt");
  }
  master = move_high(master);
  if (grantpt(master) != 0 || unlockpt(master) != 0) {
    if (soft) { close(master); return -1; }
    die_errno("unlockpt");
  }
  // TIOCGPTPEER opens the slave through the master instead of by path: after joining
  // another mount namespace /dev/pts/N would name a different devpts (or nothing).
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) {
    const char *name = ptsname(master);
    if (name != NULL) slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
      if (soft) { close(master); return -1; }
      die_errno("open pty slave");
    }
  }
  *master_out = master;
  *slave_out = move_high(slave);
  return 0;
}

struct relay {
  int master;           // -1 when not --tty or once the pty has hung up
  int hung_up;          // the master after it hung up: closed only once CMD is reaped (see relay_output)
  bool in_open;         // still reading our stdin
  bool eof_sent;
  char inbuf[4096];     // stdin bytes not yet accepted by the pty
  size_t inlen, inoff;
  char last_in;         // last byte written to the pty ('\n' at start)
  bool out_broken;      // our stdout is gone: keep reading the pty, drop the bytes
};

static void relay_output(struct relay *r, bool drain) {
  char buf[8192];
  for (;;) {
    ssize_t n = read(r->master, buf, sizeof buf);
    if (n > 0) {
      if (!r->out_broken && write_all(STDOUT_FILENO, buf, (size_t)n) != 0) r->out_broken = true;
      if (!drain) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    // 0 or EIO: every slave fd is closed. CMD may still be alive: a program that closes its stdio
    // before exiting (cat, coreutils generally) gets here between its last close and its exit. Closing
    // the master now would hang the terminal up and the kernel would SIGHUP CMD, the session leader,
    // turning its exit 0 into a death by SIGHUP (129). Stop reading; close after CMD is reaped.
    r->hung_up = r->master;
    r->master = -1;
    return;
  }
}

static void relay_input(struct relay *r) {
  if (r->inlen == 0) {
    ssize_t n = read(STDIN_FILENO, r->inbuf, sizeof r->inbuf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      r->in_open = false;
      return;
    }
    r->inlen = (size_t)n;
    r->inoff = 0;
  }
}

static void flush_input(struct relay *r) {
  while (r->inoff < r->inlen) {
    ssize_t w = write(r->master, r->inbuf + r->inoff, r->inlen - r->inoff);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      r->inlen = r->inoff = 0;  // pty gone; the output side notices
      return;
    }
    r->inoff += (size_t)w;
    r->last_in = r->inbuf[r->inoff - 1];
  }
  r->inlen = r->inoff = 0;
}

static void send_eof(struct relay *r) {
  (void)pty_type_eof(r->master, r->last_in);
  r->eof_sent = true;
}

int exec_main(int argc, char **argv) {
  struct exec_opts o;
  parse_args(argc, argv, &o);

  // Whoever started us may have handed down fds without O_CLOEXEC (Node's spawn dup2()s
  // the pidfd and errfd into place, which clears the flag). CMD inherits only 0-2.
  cloexec_from(3);

  // A pty from our own devpts is the fallback; the one opened after joining (below) comes from
  // the container's devpts, so that `tty` and ttyname() inside name a /dev/pts/N that exists there.
  int master = -1, slave = -1;
  if (o.tty) try_open_pty(&master, &slave, false);

  if (o.pidfd >= 0) {
    if (join_pidfd(o.pidfd, PIDFD_NS_FLAGS) != 0) die_errno("setns(pidfd)");
    close(o.pidfd);
  } else {
    const struct ns_entry *bad;
    char step[300];
    if (ns_list_open(&o.ns, &bad) != 0) {
      snprintf(step, sizeof step, "open %s namespace %s", bad->name, bad->path);
      die_errno(step);
    }
    if (ns_list_join(&o.ns, &bad) != 0) {
      snprintf(step, sizeof step, "setns %s %s", bad->name, bad->path);
      die_errno(step);
    }
    ns_list_close(&o.ns);
  }

  // Signals are blocked before fork and read through a signalfd afterwards: nothing can
  // arrive in the window before the child exists and get lost; the child unblocks them.
  sigset_t set;
  sigemptyset(&set);
  int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t k = 0; k < sizeof fwd / sizeof fwd[0]; k++) sigaddset(&set, fwd[k]);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGWINCH);
  if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) die_errno("sigprocmask");
  int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die_errno("signalfd");

  if (o.tty) {
    int m2, s2;
    if (try_open_pty(&m2, &s2, true) == 0) {
      close(master);
      close(slave);
      master = m2;
      slave = s2;
    }
  }
  if (master >= 0) copy_winsize(master);  // CMD starts with the right size

  pid_t child = fork();
  if (child < 0) {
    // In a joined pid namespace whose init has died the kernel answers ENOMEM.
    die_errno(errno == ENOMEM && (o.pidfd >= 0 || ns_list_has(&o.ns, CLONE_NEWPID)) ? "fork (is the pid namespace's init gone?)" : "fork");
  }
  if (child == 0) {
    close(sfd);
    if (master >= 0) close(master);
    run_child(&o, slave);
  }

  // Parent. From here CMD owns the outcome: our own late troubles go to stderr, and closing
  // our copy of the error fd lets the caller see EOF on it as soon as CMD has exec'd.
  helper_close_error_fd();
  if (slave >= 0) close(slave);
  signal(SIGPIPE, SIG_IGN);  // a closed stdout shows up as EPIPE, not as our death

  struct relay r = {.master = master, .hung_up = -1, .in_open = master >= 0, .last_in = '\n'};
  if (master >= 0) {
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_termios) == 0) {
      struct termios raw = saved_termios;
      cfmakeraw(&raw);
      termios_saved = true;
      if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) != 0) termios_saved = false;
    }
    int fl = fcntl(master, F_GETFL);
    if (fl >= 0) fcntl(master, F_SETFL, fl | O_NONBLOCK);
  }

  struct resizer rz = {.fd = o.resize_fd, .len = 0};
  int status = 0;
  bool reaped = false;
  while (!reaped) {
    struct pollfd p[4];
    int np = 0;
    p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    int mi = -1, ii = -1, zi = -1;
    if (rz.fd >= 0) {
      zi = np;
      p[np++] = (struct pollfd){.fd = rz.fd, .events = POLLIN};
    }
    if (r.master >= 0) {
      mi = np;
      short ev = POLLIN;
      if (r.inlen > 0) ev |= POLLOUT;
      p[np++] = (struct pollfd){.fd = r.master, .events = ev};
      if (r.in_open && r.inlen == 0) {
        ii = np;
        p[np++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
      }
    }
    if (poll(p, (nfds_t)np, -1) < 0) {
      if (errno == EINTR) continue;
      report_errno(errno, "poll");
      break;
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        int sig = (int)si.ssi_signo;
        if (sig == SIGCHLD) {
          pid_t w;
          while ((w = waitpid(child, &status, WNOHANG)) < 0 && errno == EINTR) {
          }
          if (w == child) reaped = true;
        } else if (sig == SIGWINCH) {
          // Without --tty CMD shares our terminal and gets SIGWINCH from the kernel itself.
          if (r.master >= 0) copy_winsize(r.master);
        } else {
          // Without --tty CMD is in our process group: a signal the terminal raised (^C,
          // SI_KERNEL) already reached it; forwarding would deliver it twice.
          if (master < 0 && si.ssi_code == SI_KERNEL) continue;
          kill(child, sig);
        }
      }
    }
    if (mi >= 0) {
      if (p[mi].revents & POLLOUT) flush_input(&r);
      if (p[mi].revents & (POLLIN | POLLHUP | POLLERR)) relay_output(&r, false);
    }
    if (zi >= 0 && (p[zi].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) && !read_resize(&rz, r.master)) {
      close(rz.fd);
      rz.fd = -1;
    }
    if (ii >= 0 && (p[ii].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL))) {
      if (p[ii].revents & POLLNVAL)
        r.in_open = false;
      else
        relay_input(&r);
      if (r.inlen > 0 && r.master >= 0) flush_input(&r);
    }
    if (r.master >= 0 && !r.in_open && r.inlen == 0 && !r.eof_sent) send_eof(&r);
  }

  // CMD has exited; what it wrote is in the pty already. Read until EIO (no slave left)
  // or until nothing more is there (a background process still holds the slave).
  if (r.master >= 0) relay_output(&r, true);
  if (r.master >= 0) close(r.master);
  if (r.hung_up >= 0) close(r.hung_up);
  restore_tty();
  return reaped ? exit_code_of(status) : EXIT_SETUP;
}
