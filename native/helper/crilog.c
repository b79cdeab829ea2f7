// The CRI log writer with rotation (see crilog.h for the files and the cap).
//
// The hot path is one writev per line and an addition: the size is counted from what writev returned.
// Rotation costs a few renames and one open per max_size bytes. Renames go from the oldest name to the
// newest, so a reader that holds an fd keeps reading the same file under its new name; a reader that lists
// the names sees each file once or, in the middle of a rotation, a gap (which it retries).
#include "crilog.h"

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

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

static void rotate(struct crilog *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  /* After the shift the current run has rotated + 2 files. Over the cap, the oldest go: the previous
     run's down to its newest file, then the current run's. */
  int want = l->rotated + 2;
  while (l->prev_files > 1 && want + l->prev_files > l->max_files) drop(l, "previous", --l->prev_files);
  while (l->rotated > 0 && want + l->prev_files > l->max_files) { drop(l, "current", l->rotated--); want--; }
  if (want + l->prev_files > l->max_files) {
    /* max_files == 2 and a previous run: no room for a rotated file, this one's lines go */
    drop(l, "current", 0);
  } else {
    for (int k = l->rotated; k >= 1; k--) move(l, "current", k, "current", k + 1);
    move(l, "current", 0, "current", 1);
    l->rotated++;
  }
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
  /* the new run starts with one file; the current run, about to become the previous, keeps the rest */
  while (l->rotated + 2 > l->max_files && l->rotated > 0) drop(l, "current", l->rotated--);
  while (l->prev_files > 0) drop(l, "previous", --l->prev_files);
  for (int k = l->rotated; k >= 1; k--) move(l, "current", k, "previous", k);
  move(l, "current", 0, "previous", 0);
  l->prev_files = l->rotated + 1;
  l->rotated = 0;
  reopen(l);
}
