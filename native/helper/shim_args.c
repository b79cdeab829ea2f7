// podns-helper shim: the command line, parsed into struct opts, and --env-file.
#include "shim.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "error ENOENT step: message\n" on fd; message formatted like printf. */
void report(int fd, int err, const char *step, const char *fmt, ...) {
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
int parse(int argc, char **argv, struct opts *o) {
  memset(o, 0, sizeof *o);
  o->ready_fd = -1;
  o->start_fd = -1;
  o->pid_ns_fd = -1;
  o->uid = o->gid = -1;
  privs_init(&o->privs);
  o->backoff_ms = 1000;
  o->log_max_size = CRILOG_DEFAULT_MAX_SIZE;
  o->log_max_files = CRILOG_DEFAULT_MAX_FILES;
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
    if (!strcmp(a, "--readonly-rootfs")) { o->readonly_rootfs = 1; continue; }
    if (!strcmp(a, "--stdin")) { o->stdin_open = 1; continue; }
    if (!strcmp(a, "--tty")) { o->tty = 1; continue; }
    if (privs_flag_is_switch(a)) { privs_flag(&o->privs, a, NULL, why, sizeof why); continue; }
    if (a[0] != '-' || a[1] != '-') { bad = a; snprintf(why, sizeof why, "unexpected argument \"%s\" (the command goes after --)", a); break; }
    if (!v) { bad = a; snprintf(why, sizeof why, "%s needs a value", a); break; }
    i++;
    if (!strcmp(a, "--dir")) o->dir = v;
    else if (!strcmp(a, "--ready-fd")) {
      long fd;
      if (parse_num(v, 0, INT_MAX, &fd)) { bad = a; snprintf(why, sizeof why, "bad --ready-fd \"%s\"", v); break; }
      o->ready_fd = (int)fd;
    } else if (!strcmp(a, "--start-fd")) {
      long fd;
      if (parse_num(v, 0, INT_MAX, &fd)) { bad = a; snprintf(why, sizeof why, "bad --start-fd \"%s\"", v); break; }
      o->start_fd = (int)fd;
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
    else if (!strcmp(a, "--lower")) {
      /* ':' ',' and '\\' would need escaping in overlay's lowerdir string (the fallback for kernels without
         lowerdir+): podns's layer paths never have them, so they are refused rather than escaped */
      if (!safe_dst(v) || strpbrk(v, ":,\\") || o->n_lowers == MAX_LOWERS) { bad = a; snprintf(why, sizeof why, "bad --lower \"%s\": want an absolute path without .. : , or \\ (at most %d)", v, MAX_LOWERS); break; }
      o->lowers[o->n_lowers++] = v;
    }
    else if (!strcmp(a, "--bind")) {
      char *c = strchr(v, ':');
      if (!c || c == v || v[0] != '/' || !safe_dst(c + 1) || o->n_binds == MAX_BINDS) { bad = a; snprintf(why, sizeof why, "bad --bind \"%s\": want /SRC:/DST", v); break; }
      *c = 0;
      o->binds[o->n_binds].src = v;
      o->binds[o->n_binds].dst = c + 1;
      o->n_binds++;
    } else if (!strcmp(a, "--volume")) {
      if (v[0] != '/' || o->n_volumes == MAX_VOLUMES || (o->n_volumes > 0 && !o->volumes[o->n_volumes - 1].dst)) {
        bad = a; snprintf(why, sizeof why, "bad --volume \"%s\": want an absolute host path, each followed by --volume-dst (at most %d)", v, MAX_VOLUMES); break;
      }
      o->volumes[o->n_volumes++].src = v;
    } else if (!strcmp(a, "--volume-sub")) {
      struct volume_arg *vol = o->n_volumes > 0 ? &o->volumes[o->n_volumes - 1] : NULL;
      char abs[PATH_MAX];
      if (!vol || !vol->dst || vol->sub || snprintf(abs, sizeof abs, "/%s", v) >= (int)sizeof abs || v[0] == '/' || !safe_dst(abs)) {
        bad = a; snprintf(why, sizeof why, "bad --volume-sub \"%s\": want a relative path without .., after --volume-dst", v); break;
      }
      vol->sub = v;
    } else if (!strcmp(a, "--volume-dst") || !strcmp(a, "--volume-opts")) {
      struct volume_arg *vol = o->n_volumes > 0 ? &o->volumes[o->n_volumes - 1] : NULL;
      if (!vol || (a[9] == 'd' ? vol->dst != NULL : vol->dst == NULL)) { bad = a; snprintf(why, sizeof why, "%s must follow --volume SRC (then --volume-dst, then --volume-opts)", a); break; }
      if (a[9] == 'd') {
        if (!safe_dst(v) || !strcmp(v, "/")) { bad = a; snprintf(why, sizeof why, "bad --volume-dst \"%s\": want an absolute path without .., not /", v); break; }
        vol->dst = v;
        continue;
      }
      char buf[64];
      if (snprintf(buf, sizeof buf, "%s", v) >= (int)sizeof buf) { bad = a; snprintf(why, sizeof why, "bad --volume-opts \"%s\"", v); break; }
      for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (!strcmp(t, "ro")) vol->readonly = 1;
        else if (!strcmp(t, "rw")) vol->readonly = 0;
        else if (!strcmp(t, "private")) vol->propagation = VOLUME_PRIVATE;
        else if (!strcmp(t, "rslave")) vol->propagation = VOLUME_RSLAVE;
        else if (!strcmp(t, "rshared")) vol->propagation = VOLUME_RSHARED;
        else { bad = a; snprintf(why, sizeof why, "bad --volume-opts \"%s\": want ro|rw and private|rslave|rshared, comma-separated", v); break; }
      }
      if (bad) break;
    } else if (!strcmp(a, "--mask") || !strcmp(a, "--readonly-path")) {
      int ro = a[2] == 'r';
      int *n = ro ? &o->n_ro_paths : &o->n_masks;
      if (!safe_dst(v) || *n == MAX_MASKS) { bad = a; snprintf(why, sizeof why, "bad %s \"%s\": want an absolute path without .. (at most %d)", a, v, MAX_MASKS); break; }
      (ro ? o->ro_paths : o->masks)[(*n)++] = v;
    } else if (!strcmp(a, "--devices-cgroup")) {
      if (!safe_dst(v)) { bad = a; snprintf(why, sizeof why, "bad --devices-cgroup \"%s\": want an absolute path without ..", v); break; }
      o->devices_cgroup = v;
    } else if (!strcmp(a, "--cgroup-dir")) {
      if (!safe_dst(v) || o->n_cgroup_dirs == MAX_CGROUP_DIRS) { bad = a; snprintf(why, sizeof why, "bad --cgroup-dir \"%s\": want an absolute path without .. (at most %d)", v, MAX_CGROUP_DIRS); break; }
      o->cgroup_dirs[o->n_cgroup_dirs++] = v;
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
    } else if (!strcmp(a, "--log-max-size")) {
      long n;
      if (parse_num(v, 1, LONG_MAX, &n)) { bad = a; snprintf(why, sizeof why, "bad --log-max-size \"%s\": want bytes, 1 or more", v); break; }
      o->log_max_size = (uint64_t)n;
    } else if (!strcmp(a, "--log-file")) {
      if (!safe_dst(v)) { bad = a; snprintf(why, sizeof why, "bad --log-file \"%s\": want an absolute path without ..", v); break; }
      o->log_file = v;
    } else if (!strcmp(a, "--log-max-files")) {
      long n;
      /* 2 at least: the previous run keeps its newest file and the current run needs one (crilog.h) */
      if (parse_num(v, 2, INT_MAX, &n)) { bad = a; snprintf(why, sizeof why, "bad --log-max-files \"%s\": want 2 or more", v); break; }
      o->log_max_files = (int)n;
    } else {
      int r = privs_flag(&o->privs, a, v, why, sizeof why);
      if (r < 0) { bad = a; break; }
      if (r == 0) { bad = a; snprintf(why, sizeof why, "unknown option %s", a); break; }
    }
  }
  if (!bad) {
    o->argv = argv + i;
    if (!o->dir) { bad = "--dir"; snprintf(why, sizeof why, "--dir is required"); }
    else if (o->ready_fd < 0) { bad = "--ready-fd"; snprintf(why, sizeof why, "--ready-fd is required"); }
    else if (o->start_fd == o->ready_fd || (o->start_fd >= 0 && o->start_fd < 3)) { bad = "--start-fd"; snprintf(why, sizeof why, "--start-fd must be 3 or above and differ from --ready-fd"); }
    else if (i > argc || !o->argv[0]) { bad = "--"; snprintf(why, sizeof why, "no command: give it after --"); }
    else if (o->pid_ns && o->new_pid_ns) { bad = "--pid-ns"; snprintf(why, sizeof why, "--pid-ns and --new-pid-ns exclude each other"); }
    else if (o->rootfs && o->rootfs[0] != '/') { bad = "--rootfs"; snprintf(why, sizeof why, "--rootfs must be absolute"); }
    else if (o->n_lowers > 0 && (!o->rootfs || !o->overlay)) { bad = "--lower"; snprintf(why, sizeof why, "--lower needs --rootfs and --overlay (the layers go below the rootfs, in an overlay)"); }
    else if (o->n_volumes > 0 && !o->volumes[o->n_volumes - 1].dst) { bad = "--volume"; snprintf(why, sizeof why, "--volume %s has no --volume-dst", o->volumes[o->n_volumes - 1].src); }
    else if (o->cwd && o->cwd[0] != '/') { bad = "--cwd"; snprintf(why, sizeof why, "--cwd must be absolute"); }
  }
  if (bad) {
    usage("%s", why);
    if (o->ready_fd >= 0) report(o->ready_fd, EINVAL, "args", "%s", why);
    return 2;
  }
  return 0;
}

/* --env-file: K=V entries separated by NUL bytes (what podns writes, 0600: the values stay out of our
   argv, which /proc/PID/cmdline shows to every user). Read before detaching; entries go before --env's. */
int read_env_file(struct opts *o) {
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
