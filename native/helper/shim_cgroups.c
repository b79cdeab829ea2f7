// podns-helper shim: the container's cgroups (--cgroup-dir DIR, repeatable: one per hierarchy).
//
// podns (src/container/limits.ts) records them in config.json, makes them and writes the limits before
// it starts the shim; the watcher opens each cgroup.procs once, in the host's mount namespace, and the
// workload writes "0" to each before execve, on every restart, while it still holds its privileges. On
// cgroup v1 the first of those writes waits for an RCU grace period (the kernel's cgroup_threadgroup_rwsem
// taken for writing); the ones right after it ride on the same grace period, so they are done back to back.
//
// OOMKilled: the memory cgroup counts the OOM killer's kills (v1 memory.oom_control "oom_kill N", v2
// memory.events "oom_kill N"); a count higher after the workload's exit than at its start means the
// kernel killed something in the container for its memory limit, which is what the kubelet reports as
// OOMKilled (not a guess from SIGKILL: `kill -9` is not an OOM).
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int limit_cgroups_open(void) {
  const struct opts *o = W.o;
  for (W.n_cgroup_fds = 0; W.n_cgroup_fds < o->n_cgroup_dirs; W.n_cgroup_fds++) {
    const char *dir = o->cgroup_dirs[W.n_cgroup_fds];
    char p[PATH_MAX];
    if (snprintf(p, sizeof p, "%s/cgroup.procs", dir) >= (int)sizeof p) { errno = ENAMETOOLONG; return -1; }
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    W.cgroup_fds[W.n_cgroup_fds] = fd;
    if (W.oom_fd < 0) {
      /* the memory one: v1 has memory.oom_control, v2 memory.events (absent where memory is not enabled) */
      if (snprintf(p, sizeof p, "%s/memory.oom_control", dir) < (int)sizeof p) W.oom_fd = open(p, O_RDONLY | O_CLOEXEC);
      if (W.oom_fd < 0 && snprintf(p, sizeof p, "%s/memory.events", dir) < (int)sizeof p) W.oom_fd = open(p, O_RDONLY | O_CLOEXEC);
    }
  }
  W.oom_kills = limit_cgroups_oom_kills();
  return 0;
}

int limit_cgroups_join(const char **which) {
  for (int c = 0; c < W.n_cgroup_fds; c++) {
    if (write(W.cgroup_fds[c], "0", 1) != 1) { *which = W.o->cgroup_dirs[c]; return -1; }
  }
  return 0;
}

long limit_cgroups_oom_kills(void) {
  if (W.oom_fd < 0) return -1;
  char buf[1024];
  ssize_t n = pread(W.oom_fd, buf, sizeof buf - 1, 0);
  if (n <= 0) return -1;
  buf[n] = 0;
  /* "oom_kill N" on a line of its own (v1 kernels before 4.13 lack it: then no OOMKilled) */
  for (char *l = buf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
    if (!strncmp(l, "oom_kill ", 9)) return strtol(l + 9, NULL, 10);
  }
  return -1;
}

void limit_cgroups_remove(void) {
  if (W.oom_fd >= 0) close(W.oom_fd);
  W.oom_fd = -1;
  for (int c = 0; c < W.n_cgroup_fds; c++) {
    close(W.cgroup_fds[c]);
    W.cgroup_fds[c] = -1;
  }
  W.n_cgroup_fds = 0;
  for (int c = 0; c < W.o->n_cgroup_dirs; c++) {
    const char *dir = W.o->cgroup_dirs[c];
    /* EBUSY: processes still inside (orphans in a shared pid namespace): podns delete/gc kill and remove */
    if (rmdir(dir) < 0) continue;
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent) {
      *slash = 0;
      rmdir(parent); /* the pod's, once its last container's is gone */
    }
  }
}
