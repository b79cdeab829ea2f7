// The CRI log writer of one container: lines appended to current.log in a container directory, rotated
// at a size cap with a number of files kept (kubelet's containerLogMaxSize / containerLogMaxFiles).
//
// Files in the directory, newest first (the contract for readers, in docs/DESIGN.md):
//   current.log, current.log.1 ... current.log.A   the running workload's log
//   previous.log, previous.log.1 ... previous.log.B  the run before the last restart (logs --previous)
// Together at most max_files files, each at most max_size bytes: a rotation happens before the line that
// would pass max_size, so a line is never split across files. The previous run keeps at least its newest
// file (its last words, what --previous is for), which is why max_files >= 2. The oldest file goes first:
// previous.log.B, and when the previous run is down to one file, the current run's oldest.
#ifndef PODNS_HELPER_CRILOG_H
#define PODNS_HELPER_CRILOG_H

#include <stddef.h>
#include <stdint.h>

/* Without --log-max-size/--log-max-files: kubelet's defaults. podns always passes both (its one copy of
   the defaults and the user-facing bounds is src/container/log-limits.ts). */
#define CRILOG_DEFAULT_MAX_SIZE (10u << 20)
#define CRILOG_DEFAULT_MAX_FILES 5

struct crilog {
  int dirfd;          // the container directory (not owned)
  const char *path;   // --log-file: one file at this absolute path, never rotated here (kubelet rotates it and
                      // asks for a new one: crilog_reopen); NULL: current.log in dirfd, rotated as above
  int fd;             // current.log, O_APPEND; -1 when it could not be opened
  uint64_t bytes;     // current.log's size: counted here, never stat'ed per line
  uint64_t max_size;  // >= 1
  int max_files;      // >= 2
  int rotated;        // current.log.1 .. current.log.<rotated> exist
  int prev_files;     // previous.log and previous.log.1 .. previous.log.<prev_files-1> exist; 0: none
};

// Opens (creates) current.log in dirfd. Returns the fd, or -1 with errno.
int crilog_open(struct crilog *l, int dirfd, uint64_t max_size, int max_files);
// --log-file mode: the file was renamed away (kubelet's rotation): close it and open (create) a new one at
// the same path; in the rotating mode, nothing. Returns the fd, or -1 with errno.
int crilog_reopen(struct crilog *l);
// Appends one line: head (time, stream, tag and the spaces), text, "\n", in one writev, rotating first
// when the line would pass max_size (and the file is not empty).
void crilog_write(struct crilog *l, const char *head, size_t head_len, const char *text, size_t len);
// A new run of the workload: the current run's files become previous.log..., the older previous run's
// go, and a new current.log is opened; every name there at every step (crilog.c).
void crilog_new_run(struct crilog *l);

#endif
