// podns-helper shim: the container's filesystem, set up by the workload child before execve.
//
// Every path inside a container's root is resolved with that root as "/": the image (and the container's
// own upper dir, which survives restarts) may hold any symlink, absolute or relative, with "..": resolved
// from the host's root, "etc -> /tmp/x" would make podns write /tmp/x/hosts on the host. So the root is
// an fd, each path is looked up with openat2(rootfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (the
// kernel clamps every "/" and ".." to that fd), each missing component is made with mkdirat() on the fd of
// its parent and reopened without following anything, and each mount goes ON the fd it was resolved to
// (the new mount API: fsopen/fsmount for a filesystem, open_tree(OPEN_TREE_CLONE) for a bind, then
// move_mount(MOVE_MOUNT_T_EMPTY_PATH)). No path string under the root is ever handed to mount(2).
// Sources of binds (/dev/null, the pod's /etc files) are the host's: those are looked up from the host's
// root, as they must be. Needs Linux >= 5.12 (openat2, the mount API, mount_setattr).
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mountapi.h"

/* The lookup every path under the root gets: "/" and ".." stop at rootfd, no /proc/PID/fd jumps. */
#define IN_ROOT (P_RESOLVE_IN_ROOT | P_RESOLVE_NO_MAGICLINKS)
/* What we just made ourselves, in a directory fd: a name, no symlink, no mount crossing. */
#define JUST_MADE (P_RESOLVE_BENEATH | P_RESOLVE_NO_SYMLINKS | P_RESOLVE_NO_XDEV)

/* EAGAIN: with RESOLVE_IN_ROOT or RESOLVE_BENEATH, a ".." was resolved while a mount or a rename happened
   anywhere on the machine (the kernel's global sequence counts changed), so it could not be sure the ".."
   stayed inside: it asks for a retry. On a busy host (other containers starting) that is common; only an
   unbroken run of them is an error. */
#define OPENAT2_TRIES 256

static int openat2_(int dirfd, const char *path, int flags, uint64_t resolve) {
  struct p_open_how how = {(uint64_t)(flags | O_CLOEXEC), 0, resolve};
  int fd = -1;
  for (int i = 0; i < OPENAT2_TRIES; i++) {
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    if (fd >= 0 || errno != EAGAIN) break;
  }
  return fd;
}

static const char *rel(const char *path) {
  while (*path == '/') path++;
  return *path ? path : ".";
}

/* ---- errors: the path named as the container sees it ---- */

static __attribute__((noreturn)) void bad_path(int err, const char *path, int want_dir) {
  switch (err) {
  case ENOTDIR: child_fail(err, "rootfs", "%s in the image is not a directory; fix the image", path);
  case EISDIR: child_fail(err, "rootfs", "%s in the image is a directory, a file is needed there; fix the image", path);
  case ELOOP:
    child_fail(err, "rootfs", "%s in the image is a symbolic link where a %s is needed (or its links loop); fix the image", path,
               want_dir ? "directory" : "file");
  case EEXIST:
  case ENOENT:
    child_fail(ENOENT, "rootfs", "%s in the image is a symbolic link to a missing %s; fix the image", path, want_dir ? "directory" : "file");
  default: child_fail(err, "rootfs", "%s: %s", path, strerror(err));
  }
}

/* ---- resolution inside the root ---- */

#define NOFOLLOW_LAST 1 /* the last component must itself be a directory, not a symlink to one */

/* Why component COMP (in directory fd PARENT; PREFIX is the path up to it, relative to the root) is no
   directory we can use: one error naming it. */
static __attribute__((noreturn)) void bad_dir(int rootfd, int parent, const char *comp, const char *prefix, int nofollow, int err) {
  char shown[PATH_MAX + 2];
  snprintf(shown, sizeof shown, "/%s", prefix);
  struct stat st;
  if (fstatat(parent, comp, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode)) {
      if (nofollow) child_fail(ELOOP, "rootfs", "%s in the image is a symbolic link; it must be a directory; fix the image", shown);
      int fd = openat2_(rootfd, prefix, O_PATH, IN_ROOT);
      if (fd < 0 && errno == ENOENT) child_fail(ENOENT, "rootfs", "%s in the image is a symbolic link to a missing directory; fix the image", shown);
      if (fd >= 0) child_fail(ENOTDIR, "rootfs", "%s in the image is a symbolic link to something that is not a directory; fix the image", shown);
      err = errno;
    } else if (!S_ISDIR(st.st_mode)) {
      err = ENOTDIR;
    }
  }
  bad_path(err, shown, 1);
}

/* An O_PATH fd of directory PATH under rootfd, made (mode for the last, 0755 for the others) where
   missing. Existing symlinks are followed, inside the root; with NOFOLLOW_LAST not on the last one. */
static int dir_in_root(int rootfd, const char *path, mode_t mode, int flags) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", rel(path)) >= (int)sizeof buf) child_fail(ENAMETOOLONG, "rootfs", "%s", path);
  int last_nofollow = flags & NOFOLLOW_LAST ? O_NOFOLLOW : 0;
  int fd = openat2_(rootfd, buf, O_PATH | O_DIRECTORY | last_nofollow, IN_ROOT);
  if (fd >= 0) return fd;
  if (errno != ENOENT && errno != ENOTDIR) bad_path(errno, path, 1);
  /* Something is missing: one component at a time, each resolved from the root again (so a symlink in
     it stays inside the root), each missing one made in the fd of its parent. */
  int parent = rootfd;
  char *comp = buf;
  for (;;) {
    char *end = strchr(comp, '/');
    int last = end == NULL;
    if (end) *end = 0;
    fd = openat2_(rootfd, buf, O_PATH | O_DIRECTORY | (last ? last_nofollow : 0), IN_ROOT);
    if (fd < 0 && errno == ENOENT) {
      /* EEXIST here with ENOENT above: a symlink to nowhere, which mkdirat does not follow. */
      if (mkdirat(parent, comp, last ? mode : 0755) < 0 && errno != EEXIST) child_fail(errno, "mkdir", "%s in the container: %s", path, strerror(errno));
      fd = openat2_(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW, JUST_MADE);
    }
    if (fd < 0) bad_dir(rootfd, parent, comp, buf, last && last_nofollow, errno);
    if (parent != rootfd) close(parent);
    parent = fd;
    if (last) return fd;
    *end = '/';
    comp = end + 1;
  }
}

/* An fd of file PATH under rootfd (any kind but a directory), created empty (0644) where missing. */
static int file_in_root(int rootfd, const char *path) {
  int fd = openat2_(rootfd, rel(path), O_PATH, IN_ROOT);
  if (fd < 0 && errno != ENOENT && errno != ENOTDIR) bad_path(errno, path, 0);
  if (fd >= 0) {
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) bad_path(EISDIR, path, 0);
    return fd;
  }
  char dir[PATH_MAX];
  if (snprintf(dir, sizeof dir, "%s", path) >= (int)sizeof dir) child_fail(ENAMETOOLONG, "rootfs", "%s", path);
  char *slash = strrchr(dir, '/');
  const char *name = path + (slash - dir) + 1;
  if (slash == dir) dir[1] = 0; else *slash = 0;
  int parent = dir_in_root(rootfd, dir, 0755, 0);
  /* O_EXCL never follows a symlink: a dangling one at the name is EEXIST, not a file made elsewhere. */
  fd = openat(parent, name, O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) bad_path(errno, path, 0);
  close(parent);
  return fd;
}

/* ---- mounting on fds ---- */

struct fs_opt {
  const char *key, *val; /* val NULL: a flag */
};

/* A new, detached mount of filesystem TYPE: its fd (the mount's root). */
static int fs_new(const char *type, const struct fs_opt *opts, size_t n, unsigned attrs, const char *path) {
  int fs = (int)syscall(SYS_fsopen, type, P_FSOPEN_CLOEXEC);
  if (fs < 0) child_fail(errno, "mount", "%s on %s: fsopen: %s", type, path, strerror(errno));
  for (size_t i = 0; i < n; i++) {
    if (syscall(SYS_fsconfig, fs, opts[i].val ? P_FSCONFIG_SET_STRING : P_FSCONFIG_SET_FLAG, opts[i].key, opts[i].val, 0) < 0)
      child_fail(errno, "mount", "%s on %s: option %s: %s", type, path, opts[i].key, strerror(errno));
  }
  if (syscall(SYS_fsconfig, fs, P_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) child_fail(errno, "mount", "%s on %s: %s", type, path, strerror(errno));
  int m = (int)syscall(SYS_fsmount, fs, P_FSMOUNT_CLOEXEC, attrs);
  if (m < 0) child_fail(errno, "mount", "%s on %s: fsmount: %s", type, path, strerror(errno));
  close(fs);
  return m;
}

/* A detached copy of the mount at the host's path SRC (a bind source), or of what fd SRCFD is. */
static int clone_tree(int srcfd, const char *src, int recursive) {
  int t = (int)syscall(SYS_open_tree, srcfd >= 0 ? srcfd : AT_FDCWD, srcfd >= 0 ? "" : src,
                       P_OPEN_TREE_CLONE | O_CLOEXEC | (srcfd >= 0 ? AT_EMPTY_PATH : 0) | (recursive ? AT_RECURSIVE : 0));
  if (t < 0) child_fail(errno, "bind", "%s: %s", src, strerror(errno));
  return t;
}

/* Attach detached mount M on the object fd TARGET is (PATH only names it in errors). */
static void attach(int m, int target, const char *path) {
  if (syscall(SYS_move_mount, m, "", target, "", P_MOVE_MOUNT_F_EMPTY_PATH | P_MOVE_MOUNT_T_EMPTY_PATH) < 0)
    child_fail(errno, "mount", "on %s: %s", path, strerror(errno));
}

static void set_attrs(int m, uint64_t attrs, int recursive, const char *path) {
  struct p_mount_attr a = {attrs, 0, 0, 0};
  if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof a) < 0)
    child_fail(errno, "mount", "read-only %s: %s", path, strerror(errno));
}

/* The overlay with every layer given by fd, one "lowerdir+" each (Linux >= 6.8): no path strings, so no
   limit from fsconfig's 256-byte strings or the mount data's page. -1 when the kernel does not know
   lowerdir+ (EINVAL), or PODNS_OVERLAY_PATHS=1 (the tests' way to run the fallback on a new kernel). */
static int overlay_by_fd(const struct opts *o, const int *lowers, int n, const int fds[3]) {
  const char *force = getenv("PODNS_OVERLAY_PATHS");
  if (force && !strcmp(force, "1")) return -1;
  int fs = (int)syscall(SYS_fsopen, "overlay", P_FSOPEN_CLOEXEC);
  if (fs < 0) child_fail(errno, "mount", "overlay: fsopen: %s", strerror(errno));
  for (int i = 0; i < n; i++) {
    if (syscall(SYS_fsconfig, fs, P_FSCONFIG_SET_FD, "lowerdir+", NULL, lowers[i]) < 0) {
      if (errno == EINVAL && i == 0) { close(fs); return -1; }
      child_fail(errno, "mount", "overlay on %s/merged: layer %d: %s", o->overlay, i + 1, strerror(errno));
    }
  }
  if (syscall(SYS_fsconfig, fs, P_FSCONFIG_SET_FD, "upperdir", NULL, fds[0]) < 0 ||
      syscall(SYS_fsconfig, fs, P_FSCONFIG_SET_FD, "workdir", NULL, fds[1]) < 0)
    child_fail(errno, "mount", "overlay on %s/merged: upper/work: %s", o->overlay, strerror(errno));
  if (syscall(SYS_fsconfig, fs, P_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) child_fail(errno, "mount", "overlay on %s/merged: %s", o->overlay, strerror(errno));
  int m = (int)syscall(SYS_fsmount, fs, P_FSMOUNT_CLOEXEC, 0);
  if (m < 0) child_fail(errno, "mount", "overlay on %s/merged: fsmount: %s", o->overlay, strerror(errno));
  close(fs);
  return m;
}

/* Older kernels: the same dirs by their paths, in one "lowerdir=TOP:...:BOTTOM" (the paths are podns's
   own, short: STORE/layers/ID/fs). fsconfig takes strings of up to 256 bytes; a longer list goes through
   mount(2), whose data may fill a page, onto the merged dir (podns's, outside any container root). */
static int overlay_by_path(const struct opts *o) {
  char lowerdir[PATH_MAX * 4], upper[PATH_MAX], work[PATH_MAX], merged[PATH_MAX];
  size_t len = (size_t)snprintf(lowerdir, sizeof lowerdir, "%s", o->rootfs);
  for (int i = 0; i < o->n_lowers && len < sizeof lowerdir; i++) len += (size_t)snprintf(lowerdir + len, sizeof lowerdir - len, ":%s", o->lowers[i]);
  if (len >= sizeof lowerdir) child_fail(E2BIG, "mount", "overlay on %s/merged: %d layers are too many for this kernel (Linux >= 6.8 takes them by fd)", o->overlay, 1 + o->n_lowers);
  snprintf(upper, sizeof upper, "%s/upper", o->overlay);
  snprintf(work, sizeof work, "%s/work", o->overlay);
  snprintf(merged, sizeof merged, "%s/merged", o->overlay);
  if (len < 256 && strlen(upper) < 256 && strlen(work) < 256) {
    const struct fs_opt opts[] = {{"lowerdir", lowerdir}, {"upperdir", upper}, {"workdir", work}};
    return fs_new("overlay", opts, 3, 0, o->overlay);
  }
  char data[4096];
  if ((size_t)snprintf(data, sizeof data, "lowerdir=%s,upperdir=%s,workdir=%s", lowerdir, upper, work) >= sizeof data)
    child_fail(E2BIG, "mount", "overlay on %s: %d layers do not fit in the mount options (a page); Linux >= 6.8 takes them by fd", merged, 1 + o->n_lowers);
  if (mount("overlay", merged, "overlay", 0, data) < 0) child_fail(errno, "mount", "overlay on %s: %s", merged, strerror(errno));
  /* a detached copy of it, so that the caller attaches it like the others (the original stays under it) */
  int m = clone_tree(-1, merged, 0);
  if (umount2(merged, MNT_DETACH) < 0) child_fail(errno, "umount", "%s: %s", merged, strerror(errno));
  return m;
}

/* ---- the mount plan ---- */

/* The root: the image under the container's own overlay, or --rootfs itself (bound onto itself:
   pivot_root needs a mount point). Returns the fd of the mount's root, attached where pivot_root goes. */
static int mount_root(const struct opts *o) {
  int lower = open(o->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (lower < 0) child_fail(errno, "rootfs", "%s: %s", o->rootfs, strerror(errno));
  if (!o->overlay) {
    int t = clone_tree(lower, o->rootfs, 1);
    attach(t, lower, o->rootfs);
    close(lower);
    return t;
  }
  /* An image is shared by every container made from it: each one writes into its own upper dir, as
     Docker and podman do, and the image's files never change. The overlay mount lives only in this mount
     namespace, so nothing is left mounted when the container ends; the upper dir stays with the
     container's state (and survives restarts), removed with the pod. The dirs are podns's, opened by fd
     anyway: upper/ holds what the container wrote. */
  if (mkdir(o->overlay, 0755) < 0 && errno != EEXIST) child_fail(errno, "mkdir", "%s: %s", o->overlay, strerror(errno));
  int base = open(o->overlay, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (base < 0) child_fail(errno, "rootfs", "%s: %s", o->overlay, strerror(errno));
  static const struct { const char *name; mode_t mode; } dirs[] = {{"upper", 0755}, {"work", 0700}, {"merged", 0755}};
  int fds[3];
  for (int i = 0; i < 3; i++) {
    if (mkdirat(base, dirs[i].name, dirs[i].mode) < 0 && errno != EEXIST)
      child_fail(errno, "mkdir", "%s/%s: %s", o->overlay, dirs[i].name, strerror(errno));
    fds[i] = openat2_(base, dirs[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW, JUST_MADE);
    if (fds[i] < 0) child_fail(errno, "rootfs", "%s/%s: %s", o->overlay, dirs[i].name, strerror(errno));
  }
  /* The lower layers, top first: --rootfs, then each --lower. */
  int lowers[1 + MAX_LOWERS];
  lowers[0] = lower;
  for (int i = 0; i < o->n_lowers; i++) {
    lowers[1 + i] = open(o->lowers[i], O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (lowers[1 + i] < 0) child_fail(errno, "rootfs", "layer %s: %s", o->lowers[i], strerror(errno));
  }
  int n = 1 + o->n_lowers;
  int m = overlay_by_fd(o, lowers, n, fds);
  if (m < 0) m = overlay_by_path(o);
  attach(m, fds[2], o->overlay);
  for (int i = 0; i < 3; i++) close(fds[i]);
  for (int i = 0; i < n; i++) close(lowers[i]);
  close(base);
  return m;
}

/* A fresh filesystem on directory PATH of the root (which must be a directory, not a link to one). */
static int mount_fs(int rootfd, const char *path, mode_t mode, const char *type, const struct fs_opt *opts, size_t n, unsigned attrs) {
  int t = dir_in_root(rootfd, path, mode, NOFOLLOW_LAST);
  int m = fs_new(type, opts, n, attrs, path);
  attach(m, t, path);
  close(t);
  return m;
}

/* The host's nodes of the minimal /dev, bound rather than made with mknod (works the same where mknod
   is refused, in a user ns). Cloned before anything covers or restricts the host's /dev. */
static const char *const dev_nodes[][2] = {{"/dev/null", "null"}, {"/dev/zero", "zero"}, {"/dev/full", "full"},
                                           {"/dev/random", "random"}, {"/dev/urandom", "urandom"}, {"/dev/tty", "tty"}};
#define N_DEV_NODES (sizeof dev_nodes / sizeof dev_nodes[0])

static void clone_dev_nodes(int fds[N_DEV_NODES]) {
  for (size_t i = 0; i < N_DEV_NODES; i++) fds[i] = clone_tree(-1, dev_nodes[i][0], 0);
}

/* Every mount of the tree at fd M (recursive) nodev: a device node in an image, a --rootfs dir or
   anywhere on the host's tree opens as EACCES. Only our /dev (mounted afterwards) holds usable nodes. */
static void no_devices(int m, const char *path) {
  struct p_mount_attr a = {P_MOUNT_ATTR_NODEV, 0, 0, 0};
  if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
    child_fail(errno, "mount", "nodev %s: %s", path, strerror(errno));
}

/* The minimal /dev: a tmpfs of our own, so nothing of the image's (or the host's) /dev is seen or followed. */
static void mount_dev(int rootfd, const int nodes[N_DEV_NODES]) {
  static const struct fs_opt dev_opts[] = {{"mode", "755"}, {"size", "65536k"}};
  int dev = mount_fs(rootfd, "/dev", 0755, "tmpfs", dev_opts, 2, P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_STRICTATIME);
  for (size_t i = 0; i < N_DEV_NODES; i++) {
    int t = openat(dev, dev_nodes[i][1], O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (t < 0) child_fail(errno, "create", "/dev/%s: %s", dev_nodes[i][1], strerror(errno));
    attach(nodes[i], t, dev_nodes[i][0]);
    close(nodes[i]);
    close(t);
  }
  static const struct fs_opt pts_opts[] = {{"newinstance", NULL}, {"ptmxmode", "0666"}, {"mode", "0620"}};
  static const struct fs_opt shm_opts[] = {{"mode", "1777"}, {"size", "65536k"}};
  static const struct {
    const char *name, *type;
    const struct fs_opt *opts;
    size_t n;
    unsigned attrs;
  } subs[] = {
      /* newinstance: the container's ptys are its own, not the host's /dev/pts. */
      {"pts", "devpts", pts_opts, 3, P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NOEXEC},
      {"shm", "tmpfs", shm_opts, 2, P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | P_MOUNT_ATTR_NOEXEC},
  };
  for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++) {
    if (mkdirat(dev, subs[i].name, 0755) < 0) child_fail(errno, "mkdir", "/dev/%s: %s", subs[i].name, strerror(errno));
    int t = openat2_(dev, subs[i].name, O_PATH | O_DIRECTORY | O_NOFOLLOW, JUST_MADE);
    if (t < 0) child_fail(errno, "open", "/dev/%s: %s", subs[i].name, strerror(errno));
    int m = fs_new(subs[i].type, subs[i].opts, subs[i].n, subs[i].attrs, subs[i].name);
    attach(m, t, subs[i].name);
    close(m);
    close(t);
  }
  static const char *const links[][2] = {{"pts/ptmx", "ptmx"},       {"/proc/self/fd", "fd"},        {"/proc/self/fd/0", "stdin"},
                                         {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    if (symlinkat(links[i][0], dev, links[i][1]) < 0) child_fail(errno, "symlink", "/dev/%s: %s", links[i][1], strerror(errno));
  }
  close(dev);
}

/* --bind SRC:DST. SRC is the host's; DST is resolved in the container's root (rootfd), or, without a
   rootfs (rootfd < 0), is the host's own path: never created there, skipped when missing. */
static void do_binds(const struct opts *o, int rootfd) {
  for (int i = 0; i < o->n_binds; i++) {
    const char *dst = o->binds[i].dst;
    if (rootfd < 0) {
      if (access(dst, F_OK) < 0) continue;
      if (mount(o->binds[i].src, dst, NULL, MS_BIND, NULL) < 0)
        child_fail(errno, "mount", "%s on %s: %s", o->binds[i].src, dst, strerror(errno));
      continue;
    }
    int src = clone_tree(-1, o->binds[i].src, 0);
    struct stat st;
    if (fstat(src, &st) < 0) child_fail(errno, "bind", "%s: %s", o->binds[i].src, strerror(errno));
    int t = S_ISDIR(st.st_mode) ? dir_in_root(rootfd, dst, 0755, 0) : file_in_root(rootfd, dst);
    attach(src, t, dst);
    close(src);
    close(t);
  }
}

/* ---- volumes (--volume): host paths on paths of the container ---- */

/* The detached clones of the sources, by index (the child's own; O_CLOEXEC: gone at execve). */
static int volume_fds[MAX_VOLUMES];

/* Each source recursively (rbind), opened on the host's side: this is the mount namespace podns runs in,
   so SRC means what the caller meant (it was checked there), and the clone of a shared mount is a peer of
   it until its propagation is set below. Nothing is attached yet: no path in any root is looked at here. */
void open_volumes(const struct opts *o) {
  for (int i = 0; i < o->n_volumes; i++) {
    const struct volume_arg *v = &o->volumes[i];
    if (!v->sub) {
      volume_fds[i] = (int)syscall(SYS_open_tree, AT_FDCWD, v->src, P_OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
      if (volume_fds[i] < 0) child_fail(errno, "volume", "source %s on the host: %s", v->src, strerror(errno));
      continue;
    }
    /* A subPath: what lies in the volume is the workload's to write (an emptyDir), so its symlinks are
       resolved with the volume's directory as "/" (a link to /etc is the volume's etc), and a missing
       directory is made by fd, never through a path on the host. */
    int base = open(v->src, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (base < 0) child_fail(errno, "volume", "source %s on the host: %s", v->src, strerror(errno));
    int fd = openat2_(base, v->sub, O_PATH, IN_ROOT);
    if (fd < 0 && errno == ENOENT) fd = dir_in_root(base, v->sub, 0755, 0);
    if (fd < 0) child_fail(errno, "volume", "subPath %s of %s: %s", v->sub, v->src, strerror(errno));
    volume_fds[i] = (int)syscall(SYS_open_tree, fd, "", P_OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
    if (volume_fds[i] < 0) child_fail(errno, "volume", "subPath %s of %s: %s", v->sub, v->src, strerror(errno));
    close(fd);
    close(base);
  }
}

/* Each volume on its target, resolved in ROOTFD (RESOLVE_IN_ROOT: a symlink in the image, to / or to
   /etc, stays inside the container's root; it can never send the mount onto the host's tree). CREATE:
   a missing target (or its parents) is made by fd, a directory or a file as the source is; without (no
   root filesystem: ROOTFD is the host's /) the target must exist. Every volume is nosuid and nodev (only
   the container's own /dev has device nodes), read-only recursively when asked; its propagation is set
   right after it is attached, before anything is mounted below it. */
static void do_volumes(const struct opts *o, int rootfd, int create) {
  struct stat rst;
  if (fstat(rootfd, &rst) < 0) child_fail(errno, "volume", "root: %s", strerror(errno));
  static const unsigned long props[] = {MS_PRIVATE, MS_SLAVE, MS_SHARED};
  for (int i = 0; i < o->n_volumes; i++) {
    const struct volume_arg *v = &o->volumes[i];
    int m = volume_fds[i];
    struct stat st, tst;
    if (fstat(m, &st) < 0) child_fail(errno, "volume", "%s: %s", v->src, strerror(errno));
    int t;
    if (create) {
      t = S_ISDIR(st.st_mode) ? dir_in_root(rootfd, v->dst, 0755, 0) : file_in_root(rootfd, v->dst);
    } else {
      t = openat2_(rootfd, rel(v->dst), O_PATH, IN_ROOT);
      if (t < 0) child_fail(errno, "volume", "%s: %s (without a root filesystem the target must exist on the host)", v->dst, strerror(errno));
    }
    if (fstat(t, &tst) < 0) child_fail(errno, "volume", "%s: %s", v->dst, strerror(errno));
    if (S_ISDIR(st.st_mode) != S_ISDIR(tst.st_mode))
      child_fail(S_ISDIR(st.st_mode) ? ENOTDIR : EISDIR, "volume", "%s is a %s in the container but %s is a %s; mount a %s there", v->dst,
                 S_ISDIR(tst.st_mode) ? "directory" : "file", v->src, S_ISDIR(st.st_mode) ? "directory" : "file",
                 S_ISDIR(tst.st_mode) ? "directory" : "file");
    if (tst.st_dev == rst.st_dev && tst.st_ino == rst.st_ino)
      child_fail(EINVAL, "volume", "%s resolves to the container's root directory (a symbolic link to /?); mount the volume elsewhere", v->dst);
    struct p_mount_attr a = {P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | (v->readonly ? P_MOUNT_ATTR_RDONLY : 0), 0, 0, 0};
    if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof a) < 0)
      child_fail(errno, "volume", "%s%s on %s: %s", v->readonly ? "read-only " : "", v->src, v->dst, strerror(errno));
    attach(m, t, v->dst);
    struct p_mount_attr p = {0, 0, props[v->propagation], 0};
    if (syscall(SYS_mount_setattr, m, "", AT_EMPTY_PATH | AT_RECURSIVE, &p, sizeof p) < 0)
      child_fail(errno, "volume", "propagation of %s: %s", v->dst, strerror(errno));
    close(m);
    close(t);
  }
}

/* --mask: what a container must not read of the kernel's (runc's list: /proc/kcore, /sys/firmware...).
   A file gets the host's /dev/null bound over it, a directory an empty read-only tmpfs (one superblock,
   cloned for each). --readonly-path: bound onto itself, then read-only, nosuid, nodev, noexec (/proc/sys:
   sysctls of the host's kernel that no namespace covers). Missing paths are skipped. ROOTFD: the
   container's root; the paths are resolved in it, not following a final symlink. */
static void protect_paths(const struct opts *o, int rootfd) {
  int empty = -1;
  for (int i = 0; i < o->n_masks; i++) {
    const char *p = o->masks[i];
    int t = openat2_(rootfd, rel(p), O_PATH | O_NOFOLLOW, IN_ROOT);
    if (t < 0) {
      if (errno == ENOENT) continue;
      child_fail(errno, "mask", "%s: %s", p, strerror(errno));
    }
    struct stat st;
    if (fstat(t, &st) < 0) child_fail(errno, "mask", "%s: %s", p, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
      static const struct fs_opt opts[] = {{"mode", "0555"}};
      int m;
      if (empty < 0) m = empty = fs_new("tmpfs", opts, 1, P_MOUNT_ATTR_RDONLY | P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | P_MOUNT_ATTR_NOEXEC, p);
      else m = clone_tree(empty, p, 0);
      attach(m, t, p);
      if (m != empty) close(m);
    } else {
      int m = clone_tree(-1, "/dev/null", 0);
      attach(m, t, p);
      close(m);
    }
    close(t);
  }
  if (empty >= 0) close(empty);
  for (int i = 0; i < o->n_ro_paths; i++) {
    const char *p = o->ro_paths[i];
    int t = openat2_(rootfd, rel(p), O_PATH | O_NOFOLLOW, IN_ROOT);
    if (t < 0) {
      if (errno == ENOENT) continue;
      child_fail(errno, "readonly-path", "%s: %s", p, strerror(errno));
    }
    int m = clone_tree(t, p, 1);
    set_attrs(m, P_MOUNT_ATTR_RDONLY | P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | P_MOUNT_ATTR_NOEXEC, 1, p);
    attach(m, t, p);
    close(m);
    close(t);
  }
}

void setup_host_tree(const struct opts *o) {
  /* Same host tree, but /proc must show our pid namespace and /sys our netns. EBUSY: the one mounted
     there already is that very superblock (host network: the same netns), which is what we want. */
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
    child_fail(errno, "mount", "proc on /proc: %s", strerror(errno));
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0 && errno != EBUSY)
    child_fail(errno, "mount", "sysfs on /sys: %s", strerror(errno));
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) child_fail(errno, "open", "/: %s", strerror(errno));
  /* The host's files, but not its devices: every host mount nodev in this mount namespace (copies), and
     the same minimal /dev as a container with a root filesystem gets, over the host's. */
  int nodes[N_DEV_NODES];
  clone_dev_nodes(nodes);
  no_devices(root, "/");
  mount_dev(root, nodes);
  do_binds(o, -1);
  do_volumes(o, root, 0);
  protect_paths(o, root);
  /* Only the mount at / (this mount namespace's copy): the other mounts of the host's tree keep theirs. */
  if (o->readonly_rootfs) set_attrs(root, P_MOUNT_ATTR_RDONLY, 0, "/");
  close(root);
}

/* The container's filesystem: the rootfs with /proc, a minimal /dev, /dev/pts, /dev/shm, read-only /sys,
   the binds, masked and read-only paths; then pivot_root into it. */
void setup_rootfs(const struct opts *o) {
  int nodes[N_DEV_NODES];
  clone_dev_nodes(nodes);
  int root = mount_root(o);
  no_devices(root, o->rootfs);

  /* A fresh proc: it shows the pid namespace the workload is in (its own, or the pod's). fsopen takes the
     pid namespace of the caller, as mount(2) does. */
  close(mount_fs(root, "/proc", 0555, "proc", NULL, 0, P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | P_MOUNT_ATTR_NOEXEC));
  mount_dev(root, nodes);
  /* sysfs shows the network devices of the mounter's netns: mounted here it shows the pod's. */
  close(mount_fs(root, "/sys", 0555, "sysfs", NULL, 0, P_MOUNT_ATTR_RDONLY | P_MOUNT_ATTR_NOSUID | P_MOUNT_ATTR_NODEV | P_MOUNT_ATTR_NOEXEC));
  do_binds(o, root);
  do_volumes(o, root, 1);
  protect_paths(o, root);
  /* --readonly-rootfs: the root mount only; /dev, /dev/shm, /proc, the binds are mounts of their own and
     keep their flags (as runc does it). */
  if (o->readonly_rootfs) set_attrs(root, P_MOUNT_ATTR_RDONLY, 0, "/");

  /* pivot_root(".", "."): the old root ends up stacked on the new one and is lazily detached, so the
     container keeps no path to the host's tree (and no copies of the host's mounts, e.g. other pods' pins). */
  if (fchdir(root) < 0) child_fail(errno, "chdir", "%s: %s", o->rootfs, strerror(errno));
  close(root);
  if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(errno, "pivot_root", "%s: %s", o->rootfs, strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) child_fail(errno, "umount", "old root: %s", strerror(errno));
  if (chdir("/") < 0) child_fail(errno, "chdir", "/: %s", strerror(errno));
}

/* --tty: the workload's pty bound on /dev/console, as runc does (after pivot_root, the slave of the
   container's own devpts; /dev/console made as a file where missing). By fd all the way: /dev is resolved
   in the root, the name "console" in it is never followed (a symlink there, as a volume over /dev could
   plant, is refused), and the pty is cloned from its fd (open_tree) and moved onto the file's fd. */
void bind_console(int slave) {
  int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) child_fail(errno, "tty", "/: %s", strerror(errno));
  int dev = openat2_(root, "dev", O_PATH | O_DIRECTORY, IN_ROOT);
  if (dev < 0) child_fail(errno, "tty", "/dev in the container: %s", strerror(errno));
  close(root);
  /* O_EXCL never follows a symlink: a dangling one at the name is EEXIST, not a file made elsewhere */
  int t = openat(dev, "console", O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  if (t < 0 && errno == EEXIST) t = openat2_(dev, "console", O_PATH, P_RESOLVE_BENEATH | P_RESOLVE_NO_SYMLINKS);
  if (t < 0 && errno == ELOOP)
    child_fail(ELOOP, "tty", "/dev/console in the container is a symbolic link, where the tty is bound; remove what puts it there (a volume over /dev)");
  if (t < 0) child_fail(errno, "tty", "/dev/console in the container: %s", strerror(errno));
  struct stat st;
  if (fstat(t, &st) < 0) child_fail(errno, "tty", "/dev/console in the container: %s", strerror(errno));
  if (S_ISDIR(st.st_mode))
    child_fail(EISDIR, "tty", "/dev/console in the container is a directory, where the tty is bound; remove what puts it there (a volume over /dev)");
  close(dev);
  int m = clone_tree(slave, "the pty", 0);
  attach(m, t, "/dev/console");
  close(m);
  close(t);
}
