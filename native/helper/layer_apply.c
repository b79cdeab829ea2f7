// podns-helper apply-layer [--max-bytes N] [--max-entries N] DIR: writes the layer on stdin (an
// uncompressed tar, read by layer.c) into DIR, an empty directory that becomes an overlay lower dir.
//
// Nothing is ever written outside DIR. DIR is an fd; every name is cleaned first (leading "/" dropped:
// names are relative to the layer's root, as tar without -P and containerd read them; "." and empty
// components dropped; a ".." component refused, as GNU tar and Docker refuse it, rather than clamped as
// containerd does: no tool writes one into a layer). The parent directory is then opened with
// openat2(rootfd, parent, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV):
// "/" and ".." stay at DIR, and no symbolic link is followed at all, so an entry below a symlink the
// layer made ("a -> /etc", then "a/passwd"; ". -> /" is refused at once: only a directory may name the
// root) is refused instead of written through it. Missing parents are made one at a time with mkdirat
// on the parent's fd. The last component is never followed either: O_CREAT|O_EXCL|O_NOFOLLOW, mkdirat,
// mknodat, symlinkat and linkat(flags 0) make new names; fchownat/utimensat use AT_SYMLINK_NOFOLLOW; an
// existing entry is replaced with unlinkat (a directory: removed through fds, never by path). Hard links
// resolve inside DIR the same way and must name an entry this layer already wrote (not a directory).
// Symbolic link targets are written as they are: they are resolved in the container's root at run time.
//
// Metadata, in the order that keeps it: data, owner (fchown clears setuid/setgid and security.capability),
// mode (setuid/setgid/sticky survive), xattrs, times; directories' times at the very end (their entries
// change them). Xattrs: user.*, trusted.*, security.* and system.posix_acl_* are set; others are skipped;
// trusted.overlay.* and user.overlay.* (overlayfs's own redirect/metacopy/origin/opaque metadata) are
// refused: only the whiteout conversion below writes them.
//
// Whiteouts (OCI image spec, layer.md), written in overlayfs's format: ".wh.NAME" becomes a character
// device 0:0 NAME; ".wh..wh..opq" becomes trusted.overlay.opaque="y" on its directory, wherever it comes in
// the archive. A whiteout hides lower layers only: when NAME is already in this layer, a file stays (it
// hides the lower one anyway) and a directory stays and becomes opaque (this layer's children shown, the
// lower ones hidden); when NAME comes after its whiteout, it replaces the device, and a directory there
// becomes opaque for the same reason. Refused: ".wh." naming nothing, ".", "..", or another whiteout name,
// and ".wh." names as directories of other entries. ".wh..wh.*" at the root (aufs metadata of old Docker
// layers) is skipped.
// Output: "ok ENTRIES BYTES[ opaque-root]" on stdout, or one "error ERRNO STEP: MESSAGE" line there (exit 1; the caller
// removes DIR).
#include "layer.h"

#include "mountapi.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

// A path under the layer's root, from the root's fd: never out of it, no link of any kind followed.
#define IN_ROOT (P_RESOLVE_IN_ROOT | P_RESOLVE_NO_MAGICLINKS | P_RESOLVE_NO_SYMLINKS | P_RESOLVE_NO_XDEV)
// One component in a directory fd.
#define BENEATH (P_RESOLVE_BENEATH | P_RESOLVE_NO_MAGICLINKS | P_RESOLVE_NO_SYMLINKS | P_RESOLVE_NO_XDEV)

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define WH_META ".wh..wh."
#define OPAQUE_XATTR "trusted.overlay.opaque"

static int rootfd = -1;
// A ".wh..wh..opq" at the root: overlayfs ignores trusted.overlay.opaque on a layer's root directory, so
// the caller is told ("opaque-root") and drops the layers below this one from the stack instead.
static bool root_opaque;

// The last parent directory opened (entries of one directory come together): its cleaned path and fd.
static char cache_path[PATH_MAX];
static int cache_fd = -1;

// Directories' times, set at the end.
struct dir_time {
  char *path;
  struct timespec ts[2];
};
static struct dir_time *dir_times;
static size_t n_dir_times, cap_dir_times;

static int open_dir(int dirfd, const char *path, uint64_t resolve) {
  struct p_open_how how = {(uint64_t)(O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), 0, resolve};
  return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static const char *type_name(char t) {
  switch (t) {
  case '0': return "file";
  case '1': return "hard link";
  case '2': return "symbolic link";
  case '3': return "character device";
  case '4': return "block device";
  case '5': return "directory";
  default: return "fifo";
  }
}

// ---- names ---------------------------------------------------------------------------------------------

// `name` cleaned into out ("a/b/c"; "" for the root). `what` says which name of `entry` it is.
static void clean_name(const char *entry, const char *name, char *out, const char *what) {
  size_t o = 0;
  int depth = 0;
  bool wh_dir = false;
  for (const char *p = name; *p != '\0';) {
    while (*p == '/') p++;
    if (*p == '\0') break;
    const char *end = strchrnul(p, '/');
    size_t len = (size_t)(end - p);
    if (len == 1 && p[0] == '.') {
      p = end;
      continue;
    }
    if (len == 2 && p[0] == '.' && p[1] == '.')
      layer_refuse(entry, "%s has a \"..\" component, which would leave the layer's root; the layer is hostile", what);
    if (wh_dir) layer_refuse(entry, "%s goes below a whiteout name (\".wh.\"), which cannot be a directory; the layer is hostile or damaged", what);
    if (len > NAME_MAX) layer_refuse(entry, "%s has a component of %zu bytes, over the kernel's %d", what, len, NAME_MAX);
    if (++depth > LAYER_MAX_DEPTH) layer_refuse(entry, "%s is more than %d directories deep; the layer is hostile", what, LAYER_MAX_DEPTH);
    if (o + (o > 0) + len > LAYER_MAX_PATH) layer_refuse(entry, "%s is longer than %d bytes; the layer is hostile", what, LAYER_MAX_PATH);
    if (o > 0) out[o++] = '/';
    memcpy(out + o, p, len);
    o += len;
    wh_dir = len >= 4 && memcmp(p, WH_PREFIX, 4) == 0;
    p = end;
  }
  out[o] = '\0';
}

// Splits a cleaned path: parent into `parent` ("" for the root), returns the last component.
static const char *split(const char *path, char *parent) {
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    parent[0] = '\0';
    return path;
  }
  memcpy(parent, path, (size_t)(slash - path));
  parent[slash - path] = '\0';
  return slash + 1;
}

// ---- directories ---------------------------------------------------------------------------------------

static bool is_whiteout(int dirfd, const char *name) {
  struct stat st;
  return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == 0;
}

static void set_opaque(int dirfd, const char *path) {
  if (fsetxattr(dirfd, OPAQUE_XATTR, "y", 1, 0) < 0) layer_fail(errno, "setxattr " OPAQUE_XATTR, path[0] ? path : ".");
}

// A new fd of directory `dir` (cleaned; "" is the root: rootfd itself, not to be closed). Missing
// components are made (0755, the owner running podns) when `create`. Refuses a symlink or a non-directory
// on the way.
static int open_dir_at(const char *entry, const char *dir, bool create) {
  if (dir[0] == '\0') return rootfd;
  int fd = open_dir(rootfd, dir, IN_ROOT);
  if (fd >= 0) return fd;
  if (errno != ENOENT && errno != ENOTDIR && errno != ELOOP) layer_fail(errno, "openat2", dir);
  // One component at a time: which one is missing or wrong.
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", dir);
  int cur = rootfd;
  for (char *comp = buf;;) {
    char *slash = strchr(comp, '/');
    if (slash != NULL) *slash = '\0';
    fd = open_dir(cur, comp, BENEATH);
    if (fd < 0 && errno == ENOENT && create) {
      if (mkdirat(cur, comp, 0755) < 0) layer_fail(errno, "mkdirat", buf);
      fd = open_dir(cur, comp, BENEATH);
    } else if (fd < 0 && errno == ENOTDIR && create && is_whiteout(cur, comp)) {
      // A whiteout of this layer, then an entry below its name: the name is this layer's directory again,
      // opaque, so that what the whiteout hid stays hidden.
      if (unlinkat(cur, comp, 0) < 0) layer_fail(errno, "unlinkat", buf);
      if (mkdirat(cur, comp, 0755) < 0) layer_fail(errno, "mkdirat", buf);
      fd = open_dir(cur, comp, BENEATH);
      if (fd >= 0) set_opaque(fd, buf);
    }
    if (fd < 0) {
      int err = errno;
      struct stat st;
      // openat2 says ENOTDIR for a symlink opened with O_DIRECTORY: which one it is, from the entry itself
      if (err == ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) err = ELOOP;
      if (err == ELOOP) layer_refuse(entry, "\"%s\" is a symbolic link in this layer; a layer may not write through a link", buf);
      if (err == ENOTDIR) layer_refuse(entry, "\"%s\" is not a directory in this layer", buf);
      if (err == ENOENT) layer_refuse(entry, "\"%s\" is not in this layer", buf);
      layer_fail(err, "openat2", buf);
    }
    if (cur != rootfd) close(cur);
    cur = fd;
    if (slash == NULL) return cur;
    *slash = '/';
    comp = slash + 1;
  }
}

// The parent directory's fd for an entry (cached: not to be closed).
static int parent_dir(const char *entry, const char *dir) {
  if (dir[0] == '\0') return rootfd;
  if (cache_fd >= 0 && strcmp(cache_path, dir) == 0) return cache_fd;
  int fd = open_dir_at(entry, dir, true);
  if (cache_fd >= 0) close(cache_fd);
  snprintf(cache_path, sizeof cache_path, "%s", dir);
  cache_fd = fd;
  return fd;
}

// A directory at `path` went away: a cached fd at or below it would be stale.
static void cache_forget_below(const char *path) {
  size_t n = strlen(path);
  if (cache_fd >= 0 && strncmp(cache_path, path, n) == 0 && (cache_path[n] == '\0' || cache_path[n] == '/')) {
    close(cache_fd);
    cache_fd = -1;
  }
}

// rm -r of `name` in dirfd, through fds only. Depth is bounded: this layer made the tree, within
// LAYER_MAX_DEPTH.
static void remove_tree(int dirfd, const char *name, const char *path) {
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) layer_fail(errno, "open", path);
  DIR *d = fdopendir(fd);
  if (d == NULL) layer_fail(errno, "fdopendir", path);
  struct dirent *de;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) layer_fail(errno, "fstatat", path);
    if (S_ISDIR(st.st_mode)) remove_tree(fd, de->d_name, path);
    else if (unlinkat(fd, de->d_name, 0) < 0) layer_fail(errno, "unlinkat", path);
    errno = 0;
  }
  if (errno != 0) layer_fail(errno, "readdir", path);
  closedir(d);
  if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0) layer_fail(errno, "rmdir", path);
  cache_forget_below(path);
}

// Makes room for a new entry `base` in dirfd: what is there goes, except a directory when the new entry
// is one too (true: kept, its metadata is updated). *was_whiteout: a whiteout went.
static bool make_room(int dirfd, const char *base, const char *path, bool new_dir, bool *was_whiteout) {
  struct stat st;
  *was_whiteout = false;
  if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT) return false;
    layer_fail(errno, "fstatat", path);
  }
  if (S_ISDIR(st.st_mode)) {
    if (new_dir) return true;
    remove_tree(dirfd, base, path);
    return false;
  }
  *was_whiteout = S_ISCHR(st.st_mode) && st.st_rdev == 0;
  if (unlinkat(dirfd, base, 0) < 0) layer_fail(errno, "unlinkat", path);
  return false;
}

// ---- metadata ------------------------------------------------------------------------------------------

static bool xattr_wanted(const char *entry, const char *name) {
  if (strncmp(name, "trusted.overlay.", 16) == 0 || strncmp(name, "user.overlay.", 13) == 0)
    layer_refuse(entry, "carries the xattr %s: overlayfs's own metadata (redirects, metacopy, opaque) may not come from a layer", name);
  return strncmp(name, "user.", 5) == 0 || strncmp(name, "trusted.", 8) == 0 || strncmp(name, "security.", 9) == 0 ||
         strcmp(name, "system.posix_acl_access") == 0 || strcmp(name, "system.posix_acl_default") == 0;
}

// fd >= 0: fsetxattr on it; else lsetxattr on `base` in dirfd (a symlink, device or fifo: none can be
// opened for this without following or opening the device). lsetxattr has no *at form before Linux 6.13:
// the helper is single-threaded, so it moves its cwd to dirfd and names the entry relative to it.
static void set_xattrs(const struct tar_entry *e, int fd, int dirfd, const char *base, const char *path) {
  for (size_t i = 0; i < e->nxattrs; i++) {
    const struct layer_xattr *x = &e->xattrs[i];
    if (!xattr_wanted(e->name, x->name)) continue;
    int rc;
    if (fd >= 0) rc = fsetxattr(fd, x->name, x->value, x->len, 0);
    else {
      if (fchdir(dirfd) < 0) layer_fail(errno, "fchdir", path);
      rc = lsetxattr(base, x->name, x->value, x->len, 0);
    }
    // SELinux labels are the runtime's business: a filesystem (or kernel) without them is no error.
    if (rc < 0 && (errno == ENOTSUP || errno == EOPNOTSUPP) && strcmp(x->name, "security.selinux") == 0) continue;
    if (rc < 0) {
      char step[320];
      snprintf(step, sizeof step, "setxattr %s", x->name);
      layer_fail(errno, step, path);
    }
  }
}

static void times_of(const struct tar_entry *e, struct timespec ts[2]) {
  ts[0].tv_sec = ts[1].tv_sec = (time_t)e->mtime;
  ts[0].tv_nsec = ts[1].tv_nsec = e->mtime_nsec;
}

static void defer_dir_time(const char *path, const struct tar_entry *e) {
  if (n_dir_times == cap_dir_times) {
    cap_dir_times = cap_dir_times ? cap_dir_times * 2 : 256;
    struct dir_time *n = realloc(dir_times, cap_dir_times * sizeof *n);
    if (n == NULL) layer_fail(ENOMEM, "malloc", path);
    dir_times = n;
  }
  struct dir_time *t = &dir_times[n_dir_times++];
  t->path = strdup(path);
  if (t->path == NULL) layer_fail(ENOMEM, "malloc", path);
  times_of(e, t->ts);
}

// In archive order (the last entry of a directory wins); a directory replaced later is skipped.
static void apply_dir_times(void) {
  for (size_t i = 0; i < n_dir_times; i++) {
    struct dir_time *t = &dir_times[i];
    int fd = t->path[0] ? open_dir(rootfd, t->path, IN_ROOT) : rootfd;
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP) continue;
      layer_fail(errno, "openat2", t->path);
    }
    if (futimens(fd, t->ts) < 0) layer_fail(errno, "futimens", t->path[0] ? t->path : ".");
    if (fd != rootfd) close(fd);
  }
}

// Owner, then mode (after: chown clears setuid/setgid), then xattrs (after: chown clears
// security.capability), of an open file or directory.
static void meta_fd(const struct tar_entry *e, int fd, const char *path) {
  if (fchown(fd, e->uid, e->gid) < 0) layer_fail(errno, "fchown", path);
  if (fchmod(fd, e->mode) < 0) layer_fail(errno, "fchmod", path);
  set_xattrs(e, fd, -1, NULL, path);
}

// ---- entries -------------------------------------------------------------------------------------------

static void apply_whiteout(const struct tar_entry *e, const char *path, const char *parent, const char *base) {
  if (strcmp(base, WH_OPAQUE) == 0) {
    if (parent[0] == '\0') root_opaque = true;
    set_opaque(parent_dir(e->name, parent), parent);
    return;
  }
  if (strncmp(base, WH_META, sizeof WH_META - 1) == 0) {
    if (parent[0] == '\0') return; // aufs metadata (.wh..wh.plnk, .wh..wh.aufs): skipped, as Docker does
    layer_refuse(e->name, "is a whiteout of a whiteout name; the layer is hostile or damaged");
  }
  const char *name = base + sizeof WH_PREFIX - 1;
  if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    layer_refuse(e->name, "is a whiteout of \"%s\", which names no entry; the layer is hostile or damaged", name);
  int dirfd = parent_dir(e->name, parent);
  struct stat st;
  if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
    // NAME is in this layer: a whiteout hides lower layers only. A file already hides the lower one; a
    // directory stays, opaque.
    if (S_ISDIR(st.st_mode)) {
      int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) layer_fail(errno, "open", path);
      set_opaque(fd, path);
      close(fd);
    }
    return;
  }
  if (errno != ENOENT) layer_fail(errno, "fstatat", path);
  if (mknodat(dirfd, name, S_IFCHR | 0, makedev(0, 0)) < 0) layer_fail(errno, "mknodat", path);
}

static void apply_hardlink(const struct tar_entry *e, const char *path, const char *parent, const char *base) {
  char target[PATH_MAX], tparent[PATH_MAX];
  if (e->link[0] == '\0') layer_refuse(e->name, "is a hard link without a target; the layer is damaged");
  clean_name(e->name, e->link, target, "its hard link target");
  if (target[0] == '\0') layer_refuse(e->name, "is a hard link to the layer's root; the layer is hostile");
  const char *tbase = split(target, tparent);
  int tdir = open_dir_at(e->name, tparent, false);
  struct stat st;
  if (fstatat(tdir, tbase, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT)
      layer_refuse(e->name, "is a hard link to \"%s\", which is not in this layer (a hard link names an earlier entry of its own layer)", target);
    layer_fail(errno, "fstatat", target);
  }
  if (S_ISDIR(st.st_mode)) layer_refuse(e->name, "is a hard link to the directory \"%s\"; the layer is hostile or damaged", target);
  int dirfd = parent_dir(e->name, parent);
  struct stat cur;
  if (fstatat(dirfd, base, &cur, AT_SYMLINK_NOFOLLOW) == 0 && cur.st_dev == st.st_dev && cur.st_ino == st.st_ino) {
    if (tdir != rootfd) close(tdir);
    return; // already that inode
  }
  bool wh;
  make_room(dirfd, base, path, false, &wh);
  // flags 0: a link to a symlink links the symlink itself, as tar means it
  if (linkat(tdir, tbase, dirfd, base, 0) < 0) layer_fail(errno, "linkat", path);
  if (tdir != rootfd) close(tdir);
}

static void apply_entry(struct tar_reader *r, const struct tar_entry *e) {
  char path[PATH_MAX], parent[PATH_MAX];
  clean_name(e->name, e->name, path, "its name");
  struct timespec ts[2];
  times_of(e, ts);
  if (path[0] == '\0') {
    if (e->type != '5')
      layer_refuse(e->name, "is a %s named as the layer's root; only a directory may be (the layer is hostile)", type_name(e->type));
    meta_fd(e, rootfd, ".");
    defer_dir_time("", e);
    return;
  }
  const char *base = split(path, parent);
  if (strncmp(base, WH_PREFIX, sizeof WH_PREFIX - 1) == 0) {
    apply_whiteout(e, path, parent, base);
    return;
  }
  if (e->type == '1') {
    apply_hardlink(e, path, parent, base);
    return;
  }
  int dirfd = parent_dir(e->name, parent);
  bool wh;
  bool kept = make_room(dirfd, base, path, e->type == '5', &wh);
  switch (e->type) {
  case '0': {
    int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) layer_fail(errno, "open", path);
    const char *p;
    size_t n;
    while ((n = tar_data(r, &p)) > 0)
      if (write_all(fd, p, n) < 0) layer_fail(errno, "write", path);
    meta_fd(e, fd, path);
    if (futimens(fd, ts) < 0) layer_fail(errno, "futimens", path);
    if (close(fd) < 0) layer_fail(errno, "close", path);
    break;
  }
  case '5': {
    if (!kept && mkdirat(dirfd, base, 0700) < 0) layer_fail(errno, "mkdirat", path);
    int fd = openat(dirfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) layer_fail(errno, "open", path);
    meta_fd(e, fd, path);
    if (wh) set_opaque(fd, path); // it replaced this layer's whiteout: the lower directory stays hidden
    close(fd);
    defer_dir_time(path, e);
    break;
  }
  case '2':
    if (e->link[0] == '\0') layer_refuse(e->name, "is a symbolic link without a target; the layer is damaged");
    if (strlen(e->link) > LAYER_MAX_PATH) layer_refuse(e->name, "is a symbolic link whose target is longer than %d bytes", LAYER_MAX_PATH);
    if (symlinkat(e->link, dirfd, base) < 0) layer_fail(errno, "symlinkat", path);
    if (fchownat(dirfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) layer_fail(errno, "fchownat", path);
    set_xattrs(e, -1, dirfd, base, path);
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) layer_fail(errno, "utimensat", path);
    break;
  default: { // '3', '4', '6'
    mode_t kind = e->type == '3' ? S_IFCHR : e->type == '4' ? S_IFBLK : S_IFIFO;
    dev_t dev = e->type == '6' ? 0 : makedev(e->devmajor, e->devminor);
    if (mknodat(dirfd, base, kind | (e->mode & 0777), dev) < 0) layer_fail(errno, "mknodat", path);
    if (fchownat(dirfd, base, e->uid, e->gid, AT_SYMLINK_NOFOLLOW) < 0) layer_fail(errno, "fchownat", path);
    // base is the node mknodat just made in a directory only this process writes: no symlink to follow
    if (fchmodat(dirfd, base, e->mode, 0) < 0) layer_fail(errno, "fchmodat", path);
    set_xattrs(e, -1, dirfd, base, path);
    if (utimensat(dirfd, base, ts, AT_SYMLINK_NOFOLLOW) < 0) layer_fail(errno, "utimensat", path);
    break;
  }
  }
}

// ---- main ----------------------------------------------------------------------------------------------

static void usage_error(const char *why) {
  die_usage("%s (usage: podns-helper apply-layer [--max-bytes N] [--max-entries N] DIR < layer.tar)", why);
}

int apply_layer_main(int argc, char **argv) {
  // One line on stdout, "ok ..." or "error ...": stdin is the archive, stderr is not read.
  helper_set_error_fd(STDOUT_FILENO);
  long max_bytes = (long)LAYER_MAX_BYTES, max_entries = (long)LAYER_MAX_ENTRIES;
  int i = 1;
  for (; i < argc && argv[i][0] == '-'; i++) {
    if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    }
    long *slot = strcmp(argv[i], "--max-bytes") == 0 ? &max_bytes : strcmp(argv[i], "--max-entries") == 0 ? &max_entries : NULL;
    if (slot == NULL) usage_error("unknown option");
    // a limit can be lowered (tests, callers with less room), never raised
    if (i + 1 >= argc || !parse_long(argv[i + 1], 1, *slot, slot)) usage_error("a limit must be a number from 1 to the built-in one");
    i++;
  }
  if (i != argc - 1) usage_error("one directory expected");
  const char *dir = argv[i];

  umask(0);
  rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rootfd < 0) die_errno("open layer directory");
  int probe = dup(rootfd);
  if (probe < 0) die_errno("dup");
  DIR *d = fdopendir(probe);
  if (d == NULL) die_errno("fdopendir");
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) usage_error("the layer directory must be empty");
  closedir(d);

  struct tar_reader *r = tar_open(STDIN_FILENO, (uint64_t)max_bytes);
  struct tar_entry e;
  unsigned long entries = 0;
  while (tar_next(r, &e)) {
    if (++entries > (unsigned long)max_entries)
      layer_refuse(NULL, "the layer has more than %ld entries; it is not an image layer podns unpacks", max_entries);
    apply_entry(r, &e);
  }
  apply_dir_times();
  tar_drain(r);
  char line[64];
  int n = snprintf(line, sizeof line, "ok %lu %llu%s\n", entries, (unsigned long long)tar_consumed(r), root_opaque ? " opaque-root" : "");
  if (write_all(STDOUT_FILENO, line, (size_t)n) < 0) die_errno("write result");
  return 0;
}
