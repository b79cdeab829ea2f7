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
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_NS 8
#define MAX_BINDS 32
#define LINE_MAX_BYTES 16384 /* kubelet's CRI line limit: a longer line is split with the P tag */
#define BACKOFF_CAP_MS 300000L /* kubelet's CrashLoopBackOff cap */
#define BACKOFF_RESET_MS 600000L /* a run this long resets the backoff, as kubelet forgets old crashes */

enum restart_policy { RESTART_NEVER, RESTART_ON_FAILURE, RESTART_ALWAYS };

struct ns_arg {
  int type;
  const char *path;
  int fd;
};

struct bind_arg {
  const char *src;
  const char *dst;
};

struct opts {
  const char *dir;
  int ready_fd;
  struct ns_arg ns[MAX_NS];
  int n_ns;
  const char *pid_ns;
  int pid_ns_fd;
  int new_pid_ns;
  int detached; /* --detached: the caller already detached us (see shim_main) */
  const char *rootfs;
  const char *overlay; /* with --rootfs: a dir for upper/ work/ merged/, so the image stays read-only */
  struct bind_arg binds[MAX_BINDS];
  int n_binds;
  const char *hostname;
  long uid, gid;
  const char *cwd;
  char **env;
  int n_env;
  const char *env_file;
  enum restart_policy restart;
  long backoff_ms;
  char **argv;
};

/* ------------------------------------------------------------------ errors */

static const char *errname(int err) { return errno_name(err); }

/* "error ENOENT step: message\n" on fd; message formatted like printf. */
static void report(int fd, int err, const char *step, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (fd >= 0) dprintf(fd, "error %s %s: %s\n", errname(err), step, msg);
}

static int usage(const char *fmt, const char *arg) {
  fprintf(stderr, "podns-helper shim: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  return 2;
}

/* ------------------------------------------------------------------ args */

static int ns_type(const char *name, size_t len) {
  if (len == 3 && !strncmp(name, "net", 3)) return CLONE_NEWNET;
  if (len == 3 && !strncmp(name, "ipc", 3)) return CLONE_NEWIPC;
  if (len == 3 && !strncmp(name, "uts", 3)) return CLONE_NEWUTS;
  if (len == 6 && !strncmp(name, "cgroup", 6)) return CLONE_NEWCGROUP;
  return 0;
}

static int parse_num(const char *s, long min, long max, long *out) { return parse_long(s, min, max, out) ? 0 : -1; }

static int safe_dst(const char *d) {
  if (d[0] != '/') return 0;
  for (const char *p = d; *p; p++)
    if (p[0] == '.' && p[1] == '.' && (p == d || p[-1] == '/') && (p[2] == '/' || p[2] == 0)) return 0;
  return 1;
}

/* Returns 0, or 2 with a message already printed (and written to the ready fd when known). */
static int parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->ready_fd = -1;
  o->pid_ns_fd = -1;
  o->uid = o->gid = -1;
  o->backoff_ms = 1000;
  o->restart = RESTART_NEVER;
  o->env = calloc((size_t)argc + 1, sizeof(char *));
  if (!o->env) return usage("%s", "out of memory");
  int i = 1;
  const char *bad = NULL;
  char why[256] = "";
  for (; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--")) { i++; break; }
    if (!strcmp(a, "--new-pid-ns")) { o->new_pid_ns = 1; continue; }
    if (!strcmp(a, "--detached")) { o->detached = 1; continue; }
    if (a[0] != '-' || a[1] != '-') { bad = a; snprintf(why, sizeof why, "unexpected argument \"%s\" (the command goes after --)", a); break; }
    if (!v) { bad = a; snprintf(why, sizeof why, "%s needs a value", a); break; }
    i++;
    if (!strcmp(a, "--dir")) o->dir = v;
    else if (!strcmp(a, "--ready-fd")) {
      long fd;
      if (parse_num(v, 0, INT_MAX, &fd)) { bad = a; snprintf(why, sizeof why, "bad --ready-fd \"%s\"", v); break; }
      o->ready_fd = (int)fd;
    } else if (!strcmp(a, "--ns")) {
      const char *eq = strchr(v, '=');
      int t = eq ? ns_type(v, (size_t)(eq - v)) : 0;
      if (!t || eq[1] != '/' || o->n_ns == MAX_NS) { bad = a; snprintf(why, sizeof why, "bad --ns \"%s\": want net|ipc|uts|cgroup=/ABSOLUTE/PATH", v); break; }
      o->ns[o->n_ns].type = t;
      o->ns[o->n_ns].path = eq + 1;
      o->ns[o->n_ns].fd = -1;
      o->n_ns++;
    } else if (!strcmp(a, "--pid-ns")) o->pid_ns = v;
    else if (!strcmp(a, "--rootfs")) o->rootfs = v;
    else if (!strcmp(a, "--overlay")) o->overlay = v;
    else if (!strcmp(a, "--bind")) {
      char *c = strchr(v, ':');
      if (!c || c == v || v[0] != '/' || !safe_dst(c + 1) || o->n_binds == MAX_BINDS) { bad = a; snprintf(why, sizeof why, "bad --bind \"%s\": want /SRC:/DST", v); break; }
      *c = 0;
      o->binds[o->n_binds].src = v;
      o->binds[o->n_binds].dst = c + 1;
      o->n_binds++;
    } else if (!strcmp(a, "--hostname")) o->hostname = v;
    else if (!strcmp(a, "--uid") || !strcmp(a, "--gid")) {
      long n;
      if (parse_num(v, 0, 4294967294L, &n)) { bad = a; snprintf(why, sizeof why, "bad %s \"%s\"", a, v); break; }
      if (a[2] == 'u') o->uid = n; else o->gid = n;
    } else if (!strcmp(a, "--cwd")) o->cwd = v;
    else if (!strcmp(a, "--env")) {
      if (!strchr(v, '=') || v[0] == '=') { bad = a; snprintf(why, sizeof why, "bad --env \"%s\": want K=V", v); break; }
      o->env[o->n_env++] = (char *)v;
    } else if (!strcmp(a, "--env-file")) {
      o->env_file = v;
    } else if (!strcmp(a, "--restart")) {
      if (!strcmp(v, "Never")) o->restart = RESTART_NEVER;
      else if (!strcmp(v, "OnFailure")) o->restart = RESTART_ON_FAILURE;
      else if (!strcmp(v, "Always")) o->restart = RESTART_ALWAYS;
      else { bad = a; snprintf(why, sizeof why, "bad --restart \"%s\": want Never, OnFailure or Always", v); break; }
    } else if (!strcmp(a, "--backoff-ms")) {
      if (parse_num(v, 1, BACKOFF_CAP_MS, &o->backoff_ms)) { bad = a; snprintf(why, sizeof why, "bad --backoff-ms \"%s\"", v); break; }
    } else { bad = a; snprintf(why, sizeof why, "unknown option %s", a); break; }
  }
  if (!bad) {
    o->argv = argv + i;
    if (!o->dir) { bad = "--dir"; snprintf(why, sizeof why, "--dir is required"); }
    else if (o->ready_fd < 0) { bad = "--ready-fd"; snprintf(why, sizeof why, "--ready-fd is required"); }
    else if (i > argc || !o->argv[0]) { bad = "--"; snprintf(why, sizeof why, "no command: give it after --"); }
    else if (o->pid_ns && o->new_pid_ns) { bad = "--pid-ns"; snprintf(why, sizeof why, "--pid-ns and --new-pid-ns exclude each other"); }
    else if (o->rootfs && o->rootfs[0] != '/') { bad = "--rootfs"; snprintf(why, sizeof why, "--rootfs must be absolute"); }
    else if (o->cwd && o->cwd[0] != '/') { bad = "--cwd"; snprintf(why, sizeof why, "--cwd must be absolute"); }
  }
  if (bad) {
    usage("%s", why);
    if (o->ready_fd >= 0) report(o->ready_fd, EINVAL, "args", "%s", why);
    return 2;
  }
  return 0;
}

/* ------------------------------------------------------------------ time */

static void now(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

static long ms_between(const struct timespec *a, const struct timespec *b) {
  return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

/* Seconds since the epoch -> UTC calendar date and time (the proleptic Gregorian calendar; H. Hinnant's
   days-to-civil). Not gmtime_r: glibc's gmtime (like strftime) initialises the time zone on first use,
   reading /etc/localtime (open, fstat, read, parse) in every new watcher, on the path to the ready line of
   each container (the first status.json), for a timestamp that is UTC anyway. */
static void utc_fields(time_t t, int f[6]) {
  long long days = t / 86400, secs = t % 86400;
  if (secs < 0) { secs += 86400; days--; }
  days += 719468;
  long long era = (days >= 0 ? days : days - 146096) / 146097;
  long long doe = days - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  long long d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9;
  long long y = yoe + era * 400 + (m <= 2);
  f[0] = (int)(y % 10000);
  f[1] = (int)m;
  f[2] = (int)d;
  f[3] = (int)(secs / 3600);
  f[4] = (int)(secs / 60 % 60);
  f[5] = (int)(secs % 60);
}

/* RFC 3339 UTC; digits 9 (log lines, like the CRI) or 3 (status.json, what JS Date keeps). */
static int fmt_time(char *out, size_t n, const struct timespec *ts, int digits) {
  int f[6];
  utc_fields(ts->tv_sec, f);
  unsigned frac = digits == 9 ? (unsigned)(ts->tv_nsec % 1000000000L) : (unsigned)(ts->tv_nsec / 1000000L % 1000);
  return snprintf(out, n, digits == 9 ? "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ" : "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                  f[0], f[1], f[2], f[3], f[4], f[5], frac);
}

/* ------------------------------------------------------------------ watcher state */

struct stream {
  const char *name; /* "stdout" | "stderr" */
  int fd;           /* read end of the workload's pipe, -1 when closed */
  size_t len;
  char buf[LINE_MAX_BYTES];
};

static struct {
  struct opts *o;
  int dirfd;
  int logfd;
  int sigfd;
  int timerfd;
  pid_t self_host;   /* W's pid as the host (the caller's /proc) sees it */
  pid_t pid;         /* workload pid in W's pid namespace (for waitpid/kill), 0 when none */
  pid_t pid_host;    /* the same process as the host sees it (status.json, the ready line) */
  const char *state;
  struct timespec started, finished;
  int have_finished;
  int exit_code, signal; /* -1: none */
  int restart_count;
  int terminating;
  int done;
  long backoff_ms;
  struct stream out, err;
} W;

/* ------------------------------------------------------------------ files */

static void write_status(void) {
  char started[40], finished[48] = "null", buf[512];
  fmt_time(started, sizeof started, &W.started, 3);
  if (W.have_finished) {
    finished[0] = '"';
    int k = fmt_time(finished + 1, sizeof finished - 2, &W.finished, 3);
    finished[k + 1] = '"';
    finished[k + 2] = 0;
  }
  char code[16] = "null", sig[16] = "null";
  if (W.exit_code >= 0) snprintf(code, sizeof code, "%d", W.exit_code);
  if (W.signal >= 0) snprintf(sig, sizeof sig, "%d", W.signal);
  int n = snprintf(buf, sizeof buf,
                   "{\"state\":\"%s\",\"pid\":%d,\"watcherPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":%s,"
                   "\"exitCode\":%s,\"signal\":%s,\"restartCount\":%d}\n",
                   W.state, (int)W.pid_host, (int)W.self_host, started, finished, code, sig, W.restart_count);
  /* tmp + rename: a reader never sees half a file. The directory may be gone (pod deleted): ignore. */
  int fd = openat(W.dirfd, "status.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, buf, (size_t)n);
  close(fd);
  if (w == n) renameat(W.dirfd, "status.json.tmp", W.dirfd, "status.json");
}

static int open_log(void) {
  W.logfd = openat(W.dirfd, "current.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  return W.logfd;
}

/* One CRI log line: "<RFC3339Nano> stdout|stderr F|P text\n" in one write (O_APPEND keeps it whole). */
static void log_line(const char *stream, char tag, const char *text, size_t len) {
  if (W.logfd < 0) return;
  struct timespec ts;
  char head[64];
  now(&ts);
  int k = fmt_time(head, sizeof head, &ts, 9);
  k += snprintf(head + k, sizeof head - (size_t)k, " %s %c ", stream, tag);
  struct iovec iov[3] = {{head, (size_t)k}, {(void *)text, len}, {(void *)"\n", 1}};
  (void)!writev(W.logfd, iov, 3);
}

/* ------------------------------------------------------------------ the workload (child side) */

static int status_fd = -1; /* child: write end of the status pipe */
extern char **environ;
static char **workload_envp; /* see workload_env */

static __attribute__((noreturn)) void child_fail(int err, const char *step, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(status_fd, "error %s %s: %s\n", errname(err), step, msg);
  _exit(127);
}

static void must_mount(const char *src, const char *dst, const char *fs, unsigned long flags, const char *data) {
  if (mount(src, dst, fs, flags, data) < 0) child_fail(errno, "mount", "%s on %s: %s", fs ? fs : src, dst, strerror(errno));
}

static void mkdir_p(const char *path, mode_t mode) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) child_fail(ENAMETOOLONG, "mkdir", "%s", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) < 0 && errno != EEXIST) child_fail(errno, "mkdir", "%s: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, mode) < 0 && errno != EEXIST) child_fail(errno, "mkdir", "%s: %s", tmp, strerror(errno));
}

/* A bind-mount target of the right kind (file or directory) inside the rootfs. */
static void make_target(const char *target, int dir) {
  struct stat st;
  if (lstat(target, &st) == 0) return;
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", target);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) { *slash = 0; mkdir_p(parent, 0755); }
  if (dir) { mkdir_p(target, 0755); return; }
  int fd = open(target, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) child_fail(errno, "create", "%s: %s", target, strerror(errno));
  close(fd);
}

static void join_path(char *out, const char *root, const char *rel) {
  if (snprintf(out, PATH_MAX, "%s%s", root, rel) >= PATH_MAX) child_fail(ENAMETOOLONG, "path", "%s%s", root, rel);
}

static void do_binds(const struct opts *o, const char *root) {
  for (int i = 0; i < o->n_binds; i++) {
    char target[PATH_MAX];
    struct stat st;
    join_path(target, root, o->binds[i].dst);
    if (stat(o->binds[i].src, &st) < 0) child_fail(errno, "bind", "%s: %s", o->binds[i].src, strerror(errno));
    if (root[0]) make_target(target, S_ISDIR(st.st_mode));
    /* Without a rootfs the target is the host's own path: never create files there; skip a missing one. */
    else if (access(target, F_OK) < 0) continue;
    must_mount(o->binds[i].src, target, NULL, MS_BIND, NULL);
  }
}

/* The container's filesystem: the rootfs with /proc, a minimal /dev, /dev/pts, /dev/shm, read-only /sys. */
static void setup_rootfs(const struct opts *o) {
  const char *r = o->rootfs;
  char p[PATH_MAX];
  static char merged[PATH_MAX];
  if (o->overlay) {
    /* An image is shared by every container made from it: each one writes into its own upper
     * dir, as Docker and podman do, and the image's files never change. The overlay mount lives
     * only in this mount namespace, so nothing is left mounted when the container ends; the
     * upper dir stays with the container's state (and survives restarts), removed with the pod. */
    char upper[PATH_MAX], work[PATH_MAX], data[3 * PATH_MAX + 64];
    join_path(upper, o->overlay, "/upper");
    join_path(work, o->overlay, "/work");
    join_path(merged, o->overlay, "/merged");
    mkdir_p(upper, 0755);
    mkdir_p(work, 0700);
    mkdir_p(merged, 0755);
    snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", r, upper, work);
    must_mount("overlay", merged, "overlay", 0, data);
    r = merged;
  } else {
    /* pivot_root needs the new root to be a mount point. */
    must_mount(r, r, NULL, MS_BIND | MS_REC, NULL);
  }

  join_path(p, r, "/proc");
  mkdir_p(p, 0555);
  /* A fresh proc: it shows the pid namespace the workload is in (its own, or the pod's). */
  must_mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

  join_path(p, r, "/dev");
  mkdir_p(p, 0755);
  must_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k");
  static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; i++) {
    char host[64];
    snprintf(host, sizeof host, "/dev/%s", nodes[i]);
    join_path(p, r, host);
    make_target(p, 0);
    /* Bind the host's nodes rather than mknod: works the same where mknod is refused (user ns). */
    must_mount(host, p, NULL, MS_BIND, NULL);
  }
  join_path(p, r, "/dev/pts");
  mkdir_p(p, 0755);
  /* newinstance: the container's ptys are its own, not the host's /dev/pts. */
  must_mount("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  join_path(p, r, "/dev/ptmx");
  if (symlink("pts/ptmx", p) < 0 && errno != EEXIST) child_fail(errno, "symlink", "%s: %s", p, strerror(errno));
  join_path(p, r, "/dev/shm");
  mkdir_p(p, 01777);
  must_mount("shm", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k");
  static const char *const links[][2] = {
      {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    char rel[32];
    snprintf(rel, sizeof rel, "/dev/%s", links[i][1]);
    join_path(p, r, rel);
    if (symlink(links[i][0], p) < 0 && errno != EEXIST) child_fail(errno, "symlink", "%s: %s", p, strerror(errno));
  }

  join_path(p, r, "/sys");
  mkdir_p(p, 0555);
  /* sysfs shows the network devices of the mounter's netns: mounted here it shows the pod's. */
  must_mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);

  do_binds(o, r);

  /* pivot_root(".", "."): the old root ends up stacked on the new one and is lazily detached, so the
     container keeps no path to the host's tree (and no copies of the host's mounts, e.g. other pods' pins). */
  if (chdir(r) < 0) child_fail(errno, "chdir", "%s: %s", r, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(errno, "pivot_root", "%s: %s", r, strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) child_fail(errno, "umount", "old root: %s", strerror(errno));
  if (chdir("/") < 0) child_fail(errno, "chdir", "/: %s", strerror(errno));
}

static __attribute__((noreturn)) void run_child(const struct opts *o, int outw, int errw) {
  /* The watcher as we see it: 0 when it is outside our pid namespace (the pod's shared one). */
  pid_t watcher = getppid();
  sigset_t none;
  sigemptyset(&none);
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGPIPE, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);

  /* Our pid as the caller sees it: the host's /proc is still mounted here, and "self" resolves in the
     pid namespace of that proc, so this is right also when we are pid 2 of the container's own pid ns. */
  char self[32];
  ssize_t n = readlink("/proc/self", self, sizeof self - 1);
  if (n <= 0) child_fail(errno ? errno : EIO, "readlink", "/proc/self: %s", strerror(errno));
  self[n] = 0;
  dprintf(status_fd, "%s\n", self);

  if (unshare(CLONE_NEWNS) < 0) child_fail(errno, "unshare", "mount namespace: %s", strerror(errno));
  /* rslave, not rprivate: the copy of the host's mounts we start with includes the pins of every pod
     (ROOT/pods and /run/netns are shared mounts). As slaves, an unpin on the host (`podns rm`,
     `ip netns del`) propagates in here and the namespace can be freed; private copies would hold each
     pinned namespace alive for as long as this container runs. Our own mounts still don't leak out. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) child_fail(errno, "mount", "/ rslave: %s", strerror(errno));

  if (o->rootfs) {
    setup_rootfs(o);
  } else {
    /* Same host tree, but /proc must show our pid namespace and /sys our netns. EBUSY: the one mounted
       there already is that very superblock (host network: the same netns), which is what we want. */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
      child_fail(errno, "mount", "proc on /proc: %s", strerror(errno));
    if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
      child_fail(errno, "mount", "sysfs on /sys: %s", strerror(errno));
    do_binds(o, "");
  }

  if (o->hostname) {
    /* A container-specific hostname: its own uts ns, so the pod's stays as it is. */
    if (unshare(CLONE_NEWUTS) < 0) child_fail(errno, "unshare", "uts namespace: %s", strerror(errno));
    if (sethostname(o->hostname, strlen(o->hostname)) < 0) child_fail(errno, "sethostname", "%s", strerror(errno));
  }

  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) child_fail(errno, "open", "/dev/null: %s", strerror(errno));
  if (dup2(null, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0) child_fail(errno, "dup2", "stdio: %s", strerror(errno));

  if (o->gid >= 0 || o->uid >= 0) {
    if (setgroups(0, NULL) < 0) child_fail(errno, "setgroups", "%s", strerror(errno));
    if (o->gid >= 0 && setgid((gid_t)o->gid) < 0) child_fail(errno, "setgid", "%ld: %s", o->gid, strerror(errno));
    if (o->uid >= 0 && setuid((uid_t)o->uid) < 0) child_fail(errno, "setuid", "%ld: %s", o->uid, strerror(errno));
  }
  const char *cwd = o->cwd ? o->cwd : "/";
  if (chdir(cwd) < 0) child_fail(errno, "chdir", "%s: %s", cwd, strerror(errno));

  /* Set after the credential change, which clears it. If the watcher is killed, the workload goes too
     (in its own pid ns it would anyway: the watcher is that namespace's init). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != watcher) _exit(127);

  umask(022);
  /* The workload's environment, made by the watcher (workload_env): execvp looks the command up in its
     PATH. Pointing environ at it is all this child changes in the watcher's memory (see start_workload);
     the watcher points it back when we have exec'd. */
  environ = workload_envp;
  execvp(o->argv[0], o->argv);
  child_fail(errno, "exec", "%s: %s", o->argv[0], strerror(errno));
}

/* The workload's environment: --env-file's entries then --env's, a later K replacing an earlier one in
   its place (what clearenv + putenv of each did), PATH added when missing. Built once by the watcher. */
static void workload_env(const struct opts *o) {
  char **env = calloc((size_t)o->n_env + 2, sizeof(char *));
  if (!env) return; /* workload_envp stays NULL: start_workload reports ENOMEM */
  int n = 0, have_path = 0;
  for (int i = 0; i < o->n_env; i++) {
    const char *e = o->env[i];
    size_t k = (size_t)(strchr(e, '=') - e);
    int j = 0;
    while (j < n && !(strncmp(env[j], e, k + 1) == 0)) j++;
    env[j] = (char *)e;
    if (j == n) n++;
    if (k == 4 && !strncmp(e, "PATH", 4)) have_path = 1;
  }
  if (!have_path) env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  env[n] = NULL;
  workload_envp = env;
}

/* ------------------------------------------------------------------ the workload (watcher side) */

static void stream_open(struct stream *s, int fd) {
  s->fd = fd;
  s->len = 0;
  fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* Whole lines get F; a line that fills the buffer is written so far with P and continues. */
static void stream_lines(struct stream *s) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    log_line(s->name, 'F', s->buf + start, i - start);
    start = i + 1;
  }
  if (start == 0 && s->len == sizeof s->buf) {
    log_line(s->name, 'P', s->buf, s->len);
    s->len = 0;
    return;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

static void stream_close(struct stream *s) {
  if (s->fd < 0) return;
  if (s->len) log_line(s->name, 'F', s->buf, s->len); /* last line without a newline: full, as containerd does */
  s->len = 0;
  close(s->fd);
  s->fd = -1;
}

/* Reads what is there now. Returns 0 at EOF (stream closed), 1 otherwise. */
static int stream_read(struct stream *s) {
  for (;;) {
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n > 0) {
      s->len += (size_t)n;
      stream_lines(s);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 1;
    stream_close(s);
    return 0;
  }
}

/* The workload child is started with clone(CLONE_VM | CLONE_VFORK), like posix_spawn, not fork: fork
   copies the watcher's page tables and then every page either process writes costs a copy-on-write fault
   (expensive under virtualisation, and all of it on the path from `podns run` to a running container).
   The child borrows our memory until it execs, on a stack of its own, while we are suspended (VFORK):
   so it only runs its own code path, touches nothing we are using, and takes no lock we could hold
   (this program is single-threaded). Its signal dispositions, fd table, credentials and namespaces are
   its own as with fork. What it writes to our memory: errno (we are suspended; we read it right after),
   status_fd, environ (restored below), static path buffers of setup_rootfs. */
struct child_args {
  const struct opts *o;
  int *st, *outp, *errp;
};

static int child_main(void *arg) {
  struct child_args *a = arg;
  close(a->st[0]);
  close(a->outp[0]);
  close(a->errp[0]);
  status_fd = a->st[1];
  run_child(a->o, a->outp[1], a->errp[1]);
}

#define CHILD_STACK (256 * 1024)

/* The top of the children's stack (mapped once, with a guard page below it), or NULL with errno set. */
static char *child_stack(void) {
  static char *top;
  if (top) return top;
  long page = sysconf(_SC_PAGESIZE);
  char *map = mmap(NULL, CHILD_STACK + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return NULL;
  mprotect(map, (size_t)page, PROT_NONE);
  top = map + (size_t)page + CHILD_STACK;
  return top;
}

/* Starts one run. Returns 0, or -1 with errbuf holding "ERRNO step: message". */
static int start_workload(char *errbuf, size_t errlen) {
  struct opts *o = W.o;
  int outp[2], errp[2], st[2];
  if (pipe2(outp, O_CLOEXEC) < 0) { snprintf(errbuf, errlen, "%s pipe: %s", errname(errno), strerror(errno)); return -1; }
  if (pipe2(errp, O_CLOEXEC) < 0) {
    snprintf(errbuf, errlen, "%s pipe: %s", errname(errno), strerror(errno));
    close(outp[0]); close(outp[1]);
    return -1;
  }
  if (pipe2(st, O_CLOEXEC) < 0) {
    snprintf(errbuf, errlen, "%s pipe: %s", errname(errno), strerror(errno));
    close(outp[0]); close(outp[1]); close(errp[0]); close(errp[1]);
    return -1;
  }
  now(&W.started);
  W.have_finished = 0;
  W.exit_code = W.signal = -1;
  struct child_args ca = {o, st, outp, errp};
  char **own_env = environ;
  pid_t pid = -1;
  char *stack = child_stack();
  if (!workload_envp) errno = ENOMEM;
  else if (stack) pid = clone(child_main, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
  int saved = errno;
  environ = own_env;
  close(st[1]);
  close(outp[1]);
  close(errp[1]);
  if (pid < 0) {
    snprintf(errbuf, errlen, "%s fork: %s", errname(saved), strerror(saved));
    close(st[0]); close(outp[0]); close(errp[0]);
    return -1;
  }
  /* Until EOF: the exec closes the CLOEXEC write end; a failing child writes its error first. */
  char msg[768];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(st[0], msg + len, sizeof msg - 1 - len);
    if (n > 0) { len += (size_t)n; if (len == sizeof msg - 1) break; continue; }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(st[0]);
  msg[len] = 0;
  char *err = strstr(msg, "error ");
  if (err || len == 0) {
    int ws;
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    close(outp[0]);
    close(errp[0]);
    if (err) {
      char *nl = strchr(err, '\n');
      if (nl) *nl = 0;
      snprintf(errbuf, errlen, "%s", err + 6);
    } else {
      snprintf(errbuf, errlen, "EIO start: the workload died before exec");
    }
    return -1;
  }
  W.pid = pid;
  W.pid_host = (pid_t)atoi(msg);
  W.state = "running";
  stream_open(&W.out, outp[0]);
  stream_open(&W.err, errp[0]);
  return 0;
}

static int should_restart(void) {
  if (W.terminating) return 0;
  switch (W.o->restart) {
  case RESTART_ALWAYS: return 1;
  case RESTART_ON_FAILURE: return !(W.signal < 0 && W.exit_code == 0);
  default: return 0;
  }
}

static void arm_timer(long ms) {
  struct itimerspec it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000L}};
  timerfd_settime(W.timerfd, 0, &it, NULL);
}

static void finish(void) {
  W.state = "exited";
  write_status();
  W.done = 1;
}

/* The workload is gone (status as from waitpid, or a start failure). */
static void on_exit_status(int ws) {
  now(&W.finished);
  W.have_finished = 1;
  if (WIFSIGNALED(ws)) { W.signal = WTERMSIG(ws); W.exit_code = 128 + W.signal; }
  else { W.signal = -1; W.exit_code = WEXITSTATUS(ws); }
  W.pid = 0;
  /* As the init of the container's own pid namespace, we end the workload's leftovers with it, the way a
     container's pid namespace dies with its first process. Only there: kill(-1) outside would hit the host. */
  if (W.o->new_pid_ns && getpid() == 1) {
    kill(-1, SIGKILL);
    int s;
    while (waitpid(-1, &s, 0) > 0 || errno == EINTR) {}
  }
  /* Everything the workload wrote is in the pipes by now. Leftover writers (orphans in a shared pid
     namespace) may keep them open: take what is there and close our ends. */
  if (W.out.fd >= 0) stream_read(&W.out);
  if (W.err.fd >= 0) stream_read(&W.err);
  stream_close(&W.out);
  stream_close(&W.err);
  if (!should_restart()) { finish(); return; }
  if (ms_between(&W.started, &W.finished) >= BACKOFF_RESET_MS) W.backoff_ms = W.o->backoff_ms;
  W.state = "restarting";
  write_status();
  arm_timer(W.backoff_ms);
  W.backoff_ms = W.backoff_ms * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : W.backoff_ms * 2;
}

static void restart(void) {
  /* kubectl logs --previous: the last finished run's log. */
  if (W.logfd >= 0) close(W.logfd);
  renameat(W.dirfd, "current.log", W.dirfd, "previous.log");
  open_log();
  W.restart_count++;
  char err[600];
  if (start_workload(err, sizeof err) < 0) {
    char line[700];
    int n = snprintf(line, sizeof line, "podns: cannot start the container: %s", err);
    log_line("stderr", 'F', line, (size_t)n);
    on_exit_status(127 << 8);
    return;
  }
  write_status();
}

static void reap(void) {
  for (;;) {
    int ws;
    pid_t p = waitpid(-1, &ws, WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p <= 0) return;
    if (p == W.pid) on_exit_status(ws);
    /* anything else: an orphan of the workload reparented to us (we are its pid ns's init) */
  }
}

static void terminate(void) {
  W.terminating = 1;
  if (W.pid > 0) kill(W.pid, SIGTERM);
  else if (!W.done) { arm_timer(0); finish(); }
}

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
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  W.sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  W.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
  if (W.sigfd < 0 || W.timerfd < 0) { report(ready, errno, "signalfd", "%s", strerror(errno)); _exit(1); }
  if (open_log() < 0) { report(ready, errno, "open", "%s/current.log: %s", o->dir, strerror(errno)); _exit(1); }

  workload_env(o);
  char err[600];
  if (start_workload(err, sizeof err) < 0) {
    dprintf(ready, "error %s\n", err);
    _exit(1);
  }
  write_status();
  char started[40];
  fmt_time(started, sizeof started, &W.started, 3);
  dprintf(ready, "%d %d %s\n", (int)W.self_host, (int)W.pid_host, started);
  close(ready);

  while (!W.done) {
    struct pollfd p[4];
    int np = 0, i_sig, i_tim, i_out = -1, i_err = -1;
    p[i_sig = np++] = (struct pollfd){W.sigfd, POLLIN, 0};
    p[i_tim = np++] = (struct pollfd){W.timerfd, POLLIN, 0};
    if (W.out.fd >= 0) p[i_out = np++] = (struct pollfd){W.out.fd, POLLIN, 0};
    if (W.err.fd >= 0) p[i_err = np++] = (struct pollfd){W.err.fd, POLLIN, 0};
    if (poll(p, (nfds_t)np, -1) < 0) continue;
    if (i_out >= 0 && p[i_out].revents) stream_read(&W.out);
    if (i_err >= 0 && p[i_err].revents) stream_read(&W.err);
    if (p[i_sig].revents) {
      struct signalfd_siginfo si;
      while (read(W.sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) reap();
        else terminate();
      }
    }
    if (p[i_tim].revents) {
      uint64_t ticks;
      if (read(W.timerfd, &ticks, sizeof ticks) == (ssize_t)sizeof ticks && !W.done && W.pid == 0) restart();
    }
  }
  _exit(0);
}

/* --env-file: K=V entries separated by NUL bytes (what podns writes, 0600: the values stay out of our
   argv, which /proc/PID/cmdline shows to every user). Read before detaching; entries go before --env's. */
static int read_env_file(struct opts *o) {
  int fd = open(o->env_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  size_t cap = 4096, len = 0;
  char *buf = malloc(cap + 1);
  for (;;) {
    if (!buf) { close(fd); errno = ENOMEM; return -1; }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) { int e = errno; close(fd); free(buf); errno = e; return -1; }
    if (n == 0) break;
    len += (size_t)n;
    if (len == cap) {
      if (cap >= (16u << 20)) { close(fd); free(buf); errno = EFBIG; return -1; }
      cap *= 2;
      buf = realloc(buf, cap + 1);
    }
  }
  close(fd);
  buf[len] = 0;
  int count = 0;
  for (size_t i = 0; i < len; i++) if (buf[i] == 0) count++;
  char **env = calloc((size_t)(count + 1 + o->n_env + 1), sizeof(char *));
  if (!env) { free(buf); errno = ENOMEM; return -1; }
  int n = 0;
  for (size_t i = 0; i < len;) {
    char *e = buf + i;
    size_t l = strlen(e);
    if (l > 0) {
      if (!strchr(e, '=') || e[0] == '=') { free(env); free(buf); errno = EINVAL; return -1; }
      env[n++] = e;
    }
    i += l + 1;
  }
  for (int i = 0; i < o->n_env; i++) env[n++] = o->env[i];
  free(o->env);
  o->env = env;
  o->n_env = n;
  return 0;
}

int shim_main(int argc, char **argv) {
  struct opts o;
  int rc = parse(argc, argv, &o);
  if (rc) return rc;
  int ready = o.ready_fd;

  /* Whatever Node passed besides the ready fd must not reach the workload. */
  if (ready > 3) syscall(SYS_close_range, 3, ready - 1, 0);
  syscall(SYS_close_range, ready + 1, ~0U, 0);
  fcntl(ready, F_SETFD, FD_CLOEXEC);
  for (int fd = 0; fd < 3; fd++) {
    if (fcntl(fd, F_GETFD) < 0) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0 && null != fd) { dup2(null, fd); close(null); }
    }
  }

  W.o = &o;
  W.logfd = -1;
  W.out = (struct stream){.name = "stdout", .fd = -1};
  W.err = (struct stream){.name = "stderr", .fd = -1};
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
