// The CRI log writer with rotation (see crilog.h for the files and the cap).
//
// The hot path is one writev per line and an addition: the size is counted from what writev returned.
// Rotation costs one open, one rename and one exchange per rotated file, per max_size bytes. It is atomic
// in effect: at every moment between two of its steps (and so also after a kill -9 of the watcher in the
// middle of one) every name is there, each file once, in order. The new, empty current.log is made under a
// name no reader lists, renamed over the oldest file (or into the next free number), then exchanged with
// each newer name (renameat2 RENAME_EXCHANGE) down to current.log: the one empty file moves down the list
// while the others move up by one, so the text read oldest first is the same at every step. A reader that
// holds an fd keeps reading the same file under its new name. (A file system without RENAME_EXCHANGE goes by
// plain renames: a reader that lists the names may see a gap meanwhile.) A restart, crilog_new_run, is as
// safe: the new current.log is made under the hidden name, the ending run's files get their previous.log*
// names as hard links (newest first), lose their current.log.k names (oldest first), and the new file is
// renamed over current.log: at every step (and after a kill -9 in between) current.log is there and holds
// the run that ended until that last rename, and each run's names are numbered from 0 without a gap.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "crilog.h"
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

/* The next current.log until it takes its place: readers list only current.log* and previous.log*. A kill -9
   can leave it behind (empty or the oldest lines); the next rotation truncates it, removing the container
   directory removes it. */
#define NEW_LOG ".current.log.new"

static const char *name(char *buf, size_t n, const char *run, int k) {
  if (k == 0) snprintf(buf, n, "%s.log", run);
  else snprintf(buf, n, "%s.log.%d", run, k);
  return buf;
}

static void drop(struct crilog *l, const char *run, int k) {
  char n[40];
  unlinkat(l->dirfd, name(n, sizeof n, run, k), 0);
}

static void move(struct crilog *l, const char *from, int kf, const char *to, int kt) {
  char a[40], b[40];
  renameat(l->dirfd, name(a, sizeof a, from, kf), l->dirfd, name(b, sizeof b, to, kt));
}

/* O_APPEND: each writev lands whole at the end. The size comes from fstat once per open, so that a file
   left by an earlier watcher (or a rename that failed) still counts. */
static int reopen(struct crilog *l) {
  l->fd = l->path ? open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640)
                  : openat(l->dirfd, "current.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  l->bytes = 0;
  if (l->fd < 0) return -1;
  struct stat st;
  if (fstat(l->fd, &st) == 0) l->bytes = (uint64_t)st.st_size;
  return l->fd;
}

int crilog_open(struct crilog *l, int dirfd, uint64_t max_size, int max_files) {
  l->dirfd = dirfd;
  /* one file, rotated by its reader (kubelet): no size cap here */
  if (l->path) max_size = UINT64_MAX;
  l->max_size = max_size ? max_size : 1;
  l->max_files = max_files < 2 ? 2 : max_files;
  l->rotated = 0;
  l->prev_files = 0;
  return reopen(l);
}

/* NEW_LOG -> run.k, replacing what is there in one step. */
static int enter(struct crilog *l, const char *run, int k) {
  char n[40];
  return renameat(l->dirfd, NEW_LOG, l->dirfd, name(n, sizeof n, run, k));
}

/* current.log.k <-> current.log.(k-1) in one step (glibc and musl differ on a renameat2 wrapper). */
static int exchange_down(struct crilog *l, int k) {
  char a[40], b[40];
  return (int)syscall(SYS_renameat2, l->dirfd, name(a, sizeof a, "current", k), l->dirfd,
                      name(b, sizeof b, "current", k - 1), RENAME_EXCHANGE);
}

/* The new file could not take its place: plain renames instead. */
static int give_up(struct crilog *l, int fd) {
  if (fd >= 0) {
    close(fd);
    unlinkat(l->dirfd, NEW_LOG, 0);
  }
  return -1;
}

static void rotate(struct crilog *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  /* The files before the rotation are within the cap (rotated + 1 + prev_files <= max_files: crilog_open
     starts with one, a restart keeps max_files - 1, each rotation keeps the cap), so after it at most one is
     over; these two loops only matter if that ever stopped being so. */
  while (l->prev_files > 1 && l->rotated + 2 + l->prev_files > l->max_files + 1) drop(l, "previous", --l->prev_files);
  while (l->rotated > 0 && l->rotated + 2 + l->prev_files > l->max_files + 1) drop(l, "current", l->rotated--);
  int over = l->rotated + 2 + l->prev_files > l->max_files;
  int fd = openat(l->dirfd, NEW_LOG, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  /* top: the number where the new, empty file enters the current run's list, which then moves up by one
     from there down (without the new file: the files 0 .. top-1 are renamed one number up) */
  int top;
  if (over && l->prev_files > 1) {
    /* the previous run's oldest goes: the new file takes its name, then the current run's next number */
    int p = --l->prev_files;
    top = ++l->rotated;
    if (fd >= 0 && enter(l, "previous", p) == 0) move(l, "previous", p, "current", top);
    else fd = give_up(l, fd), drop(l, "previous", p);
  } else if (over && l->rotated > 0) {
    /* the current run's oldest goes: the new file takes its name */
    top = l->rotated;
    if (fd < 0 || enter(l, "current", top) != 0) fd = give_up(l, fd), drop(l, "current", top);
  } else if (over) {
    /* max_files == 2 and a previous run: no room for a rotated file, this one's lines go */
    top = 0;
    if (fd < 0 || enter(l, "current", 0) != 0) fd = give_up(l, fd), drop(l, "current", 0);
  } else {
    top = ++l->rotated;
    if (fd >= 0 && enter(l, "current", top) != 0) fd = give_up(l, fd);
  }
  int k = top;
  if (fd >= 0)
    while (k >= 1 && exchange_down(l, k) == 0) k--;
  if (fd >= 0 && k == 0) {
    l->fd = fd;
    l->bytes = 0;
    return;
  }
  /* no new file, or no RENAME_EXCHANGE on this file system (EINVAL): the new file, at number k, goes */
  if (fd >= 0) close(fd);
  for (; k >= 1; k--) move(l, "current", k - 1, "current", k);
  reopen(l);
}

void crilog_write(struct crilog *l, const char *head, size_t head_len, const char *text, size_t len) {
  if (l->fd < 0) return;
  uint64_t n = (uint64_t)head_len + len + 1;
  if (l->bytes > 0 && l->bytes + n > l->max_size) {
    rotate(l);
    if (l->fd < 0) return;
  }
  struct iovec iov[3] = {{(void *)head, head_len}, {(void *)text, len}, {(void *)"\n", 1}};
  ssize_t w;
  do w = writev(l->fd, iov, 3);
  while (w < 0 && errno == EINTR);
  if (w > 0) l->bytes += (uint64_t)w;
}

int crilog_reopen(struct crilog *l) {
  if (!l->path) return l->fd;
  if (l->fd >= 0) close(l->fd);
  return reopen(l);
}

void crilog_new_run(struct crilog *l) {
  /* --log-file: a restart (never asked for by the CRI) goes on in the same file */
  if (l->path) return;
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  int fd = openat(l->dirfd, NEW_LOG, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  /* the new run starts with one file; the current run, about to become the previous, keeps the rest:
     oldest first, so what stays is each run's newest files, numbered from 0 */
  while (l->rotated + 2 > l->max_files && l->rotated > 0) drop(l, "current", l->rotated--);
  while (l->prev_files > 0) drop(l, "previous", --l->prev_files);
  fault_point("watcher-new-run-dropped");
  /* each file of the current run gets its previous name as well (a hard link), newest first: previous.log*
     grows from its newest file down while current.log* stays whole */
  int linked = 0;
  char a[40], b[40];
  while (linked <= l->rotated &&
         linkat(l->dirfd, name(a, sizeof a, "current", linked), l->dirfd, name(b, sizeof b, "previous", linked), 0) == 0) {
    linked++;
    if (linked == 1) fault_point("watcher-new-run-linked-1");
  }
  fault_point("watcher-new-run-linked");
  if (fd >= 0 && linked == l->rotated + 1) {
    /* the current run's older names go, oldest first; then the new file takes current.log's name in one
       step: until then current.log is the run that ended, from then on the new one's */
    for (int k = l->rotated; k >= 1; k--) drop(l, "current", k);
    fault_point("watcher-new-run-trimmed");
    if (enter(l, "current", 0) == 0) {
      l->fd = fd;
      l->bytes = 0;
      l->prev_files = linked;
      l->rotated = 0;
      return;
    }
  }
  /* no new file, or no hard links on this file system: plain renames (a reader that lists the names may see
     a gap meanwhile). A file linked already has its previous name: its current one only goes (a rename of
     one name onto another of the same file would do nothing). */
  if (fd >= 0) give_up(l, fd);
  for (int k = l->rotated; k >= 0; k--) {
    if (k < linked) drop(l, "current", k);
    else move(l, "current", k, "previous", k);
  }
  l->prev_files = l->rotated + 1;
  l->rotated = 0;
  reopen(l);
}
