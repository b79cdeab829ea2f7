// podns-helper shim: the container's devices cgroup (cgroup v1 `devices` controller).
//
// A process inside a container may hold CAP_MKNOD (or be privileged within its namespaces) and make a
// node with the host disk's numbers: its mode bits are no barrier, the devices cgroup is. The watcher
// makes --devices-cgroup DIR once per container, denies everything ("a") and allows back only the
// minimal /dev (shim_rootfs.c binds those nodes) and the container's own ptys; the workload joins it
// before execve, on every restart, through the cgroup.procs fd opened here. The watcher removes the
// cgroup when the container ends for good; podns delete/gc remove it otherwise (config.json records it).
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "type major:minor access", one rule per write (the v1 interface). */
static const char *const allowed[] = {
    "c 1:3 rwm",   /* /dev/null */
    "c 1:5 rwm",   /* /dev/zero */
    "c 1:7 rwm",   /* /dev/full */
    "c 1:8 rwm",   /* /dev/random */
    "c 1:9 rwm",   /* /dev/urandom */
    "c 5:0 rwm",   /* /dev/tty */
    "c 5:2 rwm",   /* /dev/ptmx (the host's; the container's is pts/ptmx) */
    "c 136:* rwm", /* /dev/pts/N */
};


int devices_cgroup_open(const char *dir) {
  char p[PATH_MAX];
  if (snprintf(p, sizeof p, "%s", dir) >= (int)sizeof p) { errno = ENAMETOOLONG; return -1; }
  /* mkdir -p: the hierarchy's own dirs exist (EEXIST); podns/ and POD-UID/ are made by the first. */
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0755) < 0 && errno != EEXIST) return -1;
    *s = '/';
  }
  if (mkdir(p, 0755) < 0 && errno != EEXIST) return -1;
  int d = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return -1;
  /* Empty, so no process sees the moment between the deny and the allows. */
  int rc = write_file_at(d, "devices.deny", "a");
  for (size_t i = 0; rc == 0 && i < sizeof allowed / sizeof allowed[0]; i++) rc = write_file_at(d, "devices.allow", allowed[i]);
  int procs = rc == 0 ? openat(d, "cgroup.procs", O_WRONLY | O_CLOEXEC) : -1;
  int err = errno;
  close(d);
  errno = err;
  return procs;
}

void devices_cgroup_remove(const char *dir, int procs_fd) {
  if (procs_fd >= 0) close(procs_fd);
  /* EBUSY: processes still in it (orphans of the workload in a pod's shared pid namespace); the pod's
     delete removes it once they are gone. The pod's dir goes with its last container. */
  if (rmdir(dir) < 0) return;
  char parent[PATH_MAX];
  snprintf(parent, sizeof parent, "%s", dir);
  char *slash = strrchr(parent, '/');
  if (slash && slash != parent) {
    *slash = 0;
    rmdir(parent);
  }
}
