// podns-helper shim: the container's filesystem, set up by the workload child before execve.
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

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

void do_binds(const struct opts *o, const char *root) {
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
void setup_rootfs(const struct opts *o) {
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
