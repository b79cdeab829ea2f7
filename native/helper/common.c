#include "common.h"

#include "../common/errname.h"

#include <dirent.h>
#include <signal.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <termios.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

const char *helper_mode = "?";

static int error_fd = -1;     // machine-readable error destination, -1: human line on stderr
static int human_fd = STDERR_FILENO;

void helper_set_error_fd(int fd) { error_fd = fd; }

void helper_close_error_fd(void) {
  if (error_fd >= 0) close(error_fd);
  error_fd = -1;
}

void helper_keep_error_fd_across_dup2(void) {
  if (error_fd < 0) {
    int fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd >= 0) human_fd = fd;
  }
}

const char *errno_name(int err) {
  const char *name = podns_errname(err);
  if (name != NULL) return name;
  static char buf[24];
  snprintf(buf, sizeof buf, "E%d", err);
  return buf;
}

void report_errno(int err, const char *step) {
  char line[1024];
  int n;
  if (error_fd >= 0) {
    n = snprintf(line, sizeof line, "error %s %s: %s\n", errno_name(err), step, strerror(err));
    if (n > 0) (void)write_all(error_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  } else {
    n = snprintf(line, sizeof line, "podns-helper %s: %s: %s (%s)\n", helper_mode, step, errno_name(err),
                 strerror(err));
    if (n > 0) (void)write_all(human_fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  }
}

void die_errno_code(int code, int err, const char *step) {
  report_errno(err, step);
  _exit(code);
}

void die_errno(const char *step) { die_errno_code(EXIT_SETUP, errno, step); }

void die_usage(const char *fmt, ...) {
  char msg[768], line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  int n;
  if (error_fd >= 0)
    n = snprintf(line, sizeof line, "error EINVAL usage: %s\n", msg);
  else
    n = snprintf(line, sizeof line, "podns-helper %s: %s\n", helper_mode, msg);
  if (n > 0) (void)write_all(error_fd >= 0 ? error_fd : human_fd, line,
                             (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
  _exit(EXIT_SETUP);
}

char pty_type_eof(int master, char last_in) {
  // tcgetattr on a pty master reports the slave's settings (the ones the program set).
  struct termios t;
  char veof = 4;  // ^D
  if (tcgetattr(master, &t) == 0 && t.c_cc[VEOF] != _POSIX_VDISABLE) veof = (char)t.c_cc[VEOF];
  bool partial_line = last_in != '\n' && last_in != '\r' && last_in != veof;
  char eof[2] = {veof, veof};
  (void)!write(master, eof, partial_line ? 2 : 1);
  return veof;
}

void fault_point(const char *step) {
  const char *want = getenv("PODNS_FAULT");
  if (want == NULL || strcmp(want, step) != 0) return;
  kill(getpid(), SIGKILL);
  _exit(128 + SIGKILL);
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    len -= (size_t)w;
  }
  return 0;
}

bool parse_long(const char *s, long min, long max, long *out) {
  if (s == NULL || *s == '\0') return false;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = v;
  return true;
}

int write_file_at(int dirfd, const char *name, const char *s) {
  int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = write_all(fd, s, strlen(s));
  int err = errno;
  close(fd);
  errno = err;
  return rc;
}

int reset_signals(void) {
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < 65; sig++) sigaction(sig, &dfl, NULL);
  sigset_t none;
  sigemptyset(&none);
  return sigprocmask(SIG_SETMASK, &none, NULL);
}

void cloexec_from(int lowfd) {
  if (syscall(SYS_close_range, (unsigned)lowfd, ~0U, CLOSE_RANGE_CLOEXEC) == 0) return;
  // Kernels before 5.11: walk /proc/self/fd.
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    long fd;
    if (!parse_long(de->d_name, 0, INT_MAX, &fd) || fd < lowfd || fd == dirfd(d)) continue;
    int fl = fcntl((int)fd, F_GETFD);
    if (fl >= 0) fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
  }
  closedir(d);
}

static const struct {
  const char *name;
  int flag;
} ns_types[] = {
    {"user", CLONE_NEWUSER}, {"net", CLONE_NEWNET},       {"ipc", CLONE_NEWIPC},
    {"uts", CLONE_NEWUTS},   {"pid", CLONE_NEWPID},       {"cgroup", CLONE_NEWCGROUP},
    {"time", CLONE_NEWTIME}, {"mnt", CLONE_NEWNS},
};
// ns_types is in join order: user first, mnt last.
#define NS_TYPES_N (sizeof ns_types / sizeof ns_types[0])

int ns_flag_from_name(const char *name) {
  for (size_t i = 0; i < NS_TYPES_N; i++)
    if (strcmp(ns_types[i].name, name) == 0) return ns_types[i].flag;
  return 0;
}

const char *ns_name_from_flag(int flag) {
  for (size_t i = 0; i < NS_TYPES_N; i++)
    if (ns_types[i].flag == flag) return ns_types[i].name;
  return NULL;
}

void ns_list_init(struct ns_list *l) {
  l->n = 0;
  for (int i = 0; i < NS_MAX; i++) l->e[i].fd = -1;
}

int ns_list_add(struct ns_list *l, const char *spec, const char **why) {
  const char *eq = strchr(spec, '=');
  if (eq == NULL || eq == spec || eq[1] == '\0') {
    *why = "--ns wants TYPE=PATH, e.g. --ns net=/run/netns/web";
    return -1;
  }
  char type[16];
  size_t tl = (size_t)(eq - spec);
  if (tl >= sizeof type) {
    *why = "unknown namespace type (use user, net, ipc, uts, pid, cgroup, time or mnt)";
    return -1;
  }
  memcpy(type, spec, tl);
  type[tl] = '\0';
  int flag = ns_flag_from_name(type);
  if (flag == 0) {
    *why = "unknown namespace type (use user, net, ipc, uts, pid, cgroup, time or mnt)";
    return -1;
  }
  for (int i = 0; i < l->n; i++) {
    if (l->e[i].flag == flag) {
      l->e[i].path = eq + 1;
      return 0;
    }
  }
  if (l->n >= NS_MAX) {
    *why = "too many --ns options";
    return -1;
  }
  l->e[l->n].flag = flag;
  l->e[l->n].name = ns_name_from_flag(flag);
  l->e[l->n].path = eq + 1;
  l->e[l->n].fd = -1;
  l->n++;
  return 0;
}

bool ns_list_has(const struct ns_list *l, int flag) {
  for (int i = 0; i < l->n; i++)
    if (l->e[i].flag == flag) return true;
  return false;
}

int ns_list_open(struct ns_list *l, const struct ns_entry **failed) {
  for (int i = 0; i < l->n; i++) {
    if (l->e[i].fd >= 0) continue;
    l->e[i].fd = open(l->e[i].path, O_RDONLY | O_CLOEXEC);
    if (l->e[i].fd < 0) {
      *failed = &l->e[i];
      return -1;
    }
  }
  return 0;
}

static bool same_user_ns(int fd) {
  struct stat a, b;
  if (fstat(fd, &a) != 0 || stat("/proc/self/ns/user", &b) != 0) return false;
  return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ns_list_join(struct ns_list *l, const struct ns_entry **failed) {
  for (size_t t = 0; t < NS_TYPES_N; t++) {
    for (int i = 0; i < l->n; i++) {
      struct ns_entry *e = &l->e[i];
      if (e->flag != ns_types[t].flag) continue;
      if (e->flag == CLONE_NEWUSER && same_user_ns(e->fd)) continue;
      // nstype is checked by the kernel against the fd: a pin of the wrong type fails
      // with EINVAL instead of silently joining something else.
      if (setns(e->fd, e->flag) != 0) {
        *failed = e;
        return -1;
      }
    }
  }
  return 0;
}

void ns_list_close(struct ns_list *l) {
  for (int i = 0; i < l->n; i++) {
    if (l->e[i].fd >= 0) close(l->e[i].fd);
    l->e[i].fd = -1;
  }
}

int join_pidfd(int pidfd, int flags) {
  // One call, all or nothing: the kernel switches every requested namespace together,
  // so a target that dies half-way cannot leave us in a mix (and a dead target is ESRCH).
  return setns(pidfd, flags);
}
