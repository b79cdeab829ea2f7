// podns-helper shim: what the parts of the watcher share (contract in docs/DESIGN.md).
//
// The shim is split along its concerns, as conmon is:
//   shim.c         the watcher's event loop and shim_main (detaching, opening what it needs)
//   shim_args.c    the command line and --env-file, parsed into struct opts
//   shim_child.c   starting one run of the workload: the clone, and the child's side up to execve
//   shim_rootfs.c  the container's mounts (the child's side, before execve)
//   shim_log.c     the CRI log lines: timestamps, streams, log_line
//   crilog.c       the CRI log files: the size count, rotation, the previous run
//   shim_status.c  status.json, exit handling, restarts and back-off
//   shim_attach.c  --stdin / --tty: the workload's stdin pipe or pty, the attach socket and its clients
#ifndef PODNS_HELPER_SHIM_H
#define PODNS_HELPER_SHIM_H

#include "common.h"
#include "privileges.h"
#include "crilog.h"

#include <stdint.h>
#include <poll.h>
#include <sys/types.h>
#include <time.h>

#define MAX_NS 8
#define MAX_BINDS 32
#define MAX_VOLUMES 64 /* --volume: the container's mounts of host paths (CRI mounts, run -v, manifest volumes) */
#define MAX_LOWERS 128 /* --lower: an image's layers below --rootfs (overlay takes up to 500) */
#define MAX_MASKS 32 /* --mask and --readonly-path, each */
#define MAX_CGROUP_DIRS 8 /* --cgroup-dir */
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

/* --volume SRC --volume-dst DST [--volume-opts ro,rslave]: SRC (the host's, recursive) on DST (in the root) */
enum volume_propagation { VOLUME_PRIVATE, VOLUME_RSLAVE, VOLUME_RSHARED };
struct volume_arg {
  const char *src;
  const char *sub; /* --volume-sub: a path below SRC (a subPath), resolved with SRC as its root, made where missing */
  const char *dst;
  int readonly;
  enum volume_propagation propagation;
};

struct opts {
  const char *dir;
  int ready_fd;
  int start_fd; /* --start-fd: wait for one byte on it before anything else (EOF: exit, nothing made) */
  struct ns_arg ns[MAX_NS];
  int n_ns;
  const char *pid_ns;
  int pid_ns_fd;
  int new_pid_ns;
  int detached; /* --detached: the caller already detached us (see shim_main) */
  const char *rootfs;
  const char *overlay; /* with --rootfs: a dir for upper/ work/ merged/, so the image stays read-only */
  const char *lowers[MAX_LOWERS]; /* --lower (repeatable, with --overlay): more layers below --rootfs, top first */
  int n_lowers;
  struct bind_arg binds[MAX_BINDS];
  int n_binds;
  struct volume_arg volumes[MAX_VOLUMES];
  int n_volumes;
  const char *hostname;
  long uid, gid;
  struct privs privs; /* --caps, --user-caps, --groups, --no-new-privs, --seccomp (privileges.h) */
  const char *cwd;
  char **env;
  int n_env;
  const char *env_file;
  enum restart_policy restart;
  long backoff_ms;
  /* rootfs: masked and read-only paths (runc's defaults, from src/container/masks.ts), read-only root,
     the devices cgroup the workload joins */
  const char *masks[MAX_MASKS];
  int n_masks;
  const char *ro_paths[MAX_MASKS];
  int n_ro_paths;
  int readonly_rootfs;
  const char *devices_cgroup;
  /* --cgroup-dir DIR (repeatable): the container's limit cgroups, made by podns; the workload joins each */
  const char *cgroup_dirs[MAX_CGROUP_DIRS];
  int n_cgroup_dirs;
  uint64_t log_max_size; /* --log-max-size BYTES */
  int log_max_files;     /* --log-max-files N (>= 2) */
  const char *log_file;  /* --log-file PATH: the CRI's log_directory/log_path; SIGUSR1 reopens it */
  int stdin_open;        /* --stdin: the workload's stdin is a pipe the watcher writes (attach clients' input) */
  int tty;               /* --tty: the workload's stdio is a pty of the container's own devpts */
  char **argv;
};

struct stream {
  const char *name; /* "stdout" | "stderr" */
  int id;           /* ATTACH_STDOUT | ATTACH_STDERR: the frame type its data is relayed to attach clients as */
  int fd;           /* read end of the workload's pipe (or the pty's master), -1 when closed */
  int pty;          /* fd is a pty master: at its hang-up (EIO) it stays open until the workload is reaped */
  int hup;          /* the pty hung up: no more reads, fd still open */
  size_t len;
  char buf[LINE_MAX_BYTES];
};

/* The watcher's state (one container, one watcher process). Defined in shim.c. */
struct watcher_state {
  struct opts *o;
  int dirfd;
  struct crilog log;
  int sigfd;
  int timerfd;
  pid_t self_host;   /* W's pid as the host (the caller's /proc) sees it */
  pid_t pid;         /* workload pid in W's pid namespace (for waitpid/kill), 0 when none */
  pid_t pid_host;    /* the same process as the host sees it (status.json, the ready line) */
  const char *state;
  struct timespec started, finished;
  int have_finished;
  /* the run before this one (after a restart): kubectl's lastState.terminated */
  int have_last;
  int last_exit_code, last_signal, last_oom_killed;
  struct timespec last_finished;
  int exit_code, signal; /* -1: none */
  int restart_count;
  int terminating;
  int done;
  long backoff_ms;
  struct stream out, err;
  int devices_fd; /* cgroup.procs of --devices-cgroup, -1 without */
  int cgroup_fds[MAX_CGROUP_DIRS]; /* cgroup.procs of each --cgroup-dir */
  int n_cgroup_fds;
  int oom_fd;       /* memory.oom_control (v1) or memory.events (v2) of the memory one, -1 without */
  long oom_kills;   /* its oom_kill count when the workload last started */
  int oom_killed;   /* the last exit followed an OOM kill in the container's memory cgroup */
  char oom_adj[16]; /* oom_score_adj the watcher started with: the pod's, the workload's */
  int oom_lowered;  /* the watcher lowered its own (it may: CAP_SYS_RESOURCE) */
  int stdin_r, stdin_w; /* --stdin: the workload's stdin pipe (the read end goes to each run; -1 when closed) */
  int pty_peer[2];      /* --tty, during a start: the child sends the pty's master over [1], the watcher gets it on [0] */
};
extern struct watcher_state W;

static inline const char *errname(int err) { return errno_name(err); }

/* shim_args.c */
/* "error ENOENT step: message\n" on fd; message formatted like printf. */
void report(int fd, int err, const char *step, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Returns 0, or 2 with a message already printed (and written to the ready fd when known). */
int parse(int argc, char **argv, struct opts *o);
int read_env_file(struct opts *o);

/* shim_log.c */
void now(struct timespec *ts);
int fmt_time(char *out, size_t n, const struct timespec *ts, int digits);
int open_log(void);
void log_line(const char *stream, char tag, const char *text, size_t len);
void stream_open(struct stream *s, int fd);
void stream_close(struct stream *s);
int stream_read(struct stream *s);

/* shim_child.c */
void workload_env(const struct opts *o);
/* The watcher's own oom_score_adj as low as it may (the workload's stays at the starting value). */
void oom_lower_watcher(void);
int start_workload(char *errbuf, size_t errlen);
/* In the workload child only: an error line on the status pipe, then _exit(127). */
__attribute__((noreturn, format(printf, 3, 4))) void child_fail(int err, const char *step, const char *fmt, ...);

/* shim_rootfs.c (the workload child, before execve) */
/* Clones of the --volume sources, taken in the host's mount namespace (before the child's own): a shared
   host mount stays in its peer group, so rslave and rshared propagation mean what they say. */
void open_volumes(const struct opts *o);
void setup_rootfs(const struct opts *o);
/* Without --rootfs: the host's tree, with a fresh /proc and /sys, the binds, masks, read-only paths. */
void setup_host_tree(const struct opts *o);
/* --tty, after the root is set up: the pty (its peer fd SLAVE) bound on the container's /dev/console. */
void bind_console(int slave);

/* shim_cgroups.c: the limit cgroups (--cgroup-dir) */
/* Opens each DIR/cgroup.procs (and the memory cgroup's OOM counter); -1 with errno, W.n_cgroup_fds the failing one. */
int limit_cgroups_open(void);
/* In the child: joins each ("0": the writer). -1 with errno and *which the failing dir. */
int limit_cgroups_join(const char **which);
/* The OOM kill count now (-1: no memory cgroup or unreadable). */
long limit_cgroups_oom_kills(void);
/* Closes the fds and removes the dirs (and the pod's dir above, once empty); EBUSY is left to delete/gc. */
void limit_cgroups_remove(void);

/* shim_devices.c */
/* Makes DIR (a v1 devices cgroup) with the minimal set allowed; returns an fd of its cgroup.procs, -1 with errno. */
int devices_cgroup_open(const char *dir);
/* Closes the fd and removes DIR (and its parent when empty) where it can. */
void devices_cgroup_remove(const char *dir, int procs_fd);

/* shim_attach.c: frames between the watcher and its attach clients (docs/DESIGN.md "attach socket") */
#define ATTACH_SOCKET "attach"    /* in the container's directory, only with --stdin or --tty */
#define ATTACH_HELLO 0            /* client -> watcher: the first frame (or REPLAY); nothing is sent to a client before it */
#define ATTACH_STDIN 1            /* client -> watcher: bytes for the workload's stdin */
#define ATTACH_STDIN_EOF 2        /* client -> watcher: end the workload's stdin (pipe: closed; pty: VEOF typed) */
#define ATTACH_RESIZE 3           /* client -> watcher: u16 columns, u16 rows (big-endian) */
#define ATTACH_REPLAY 4           /* client -> watcher, as its first frame: with --tty, the run's output before the client connected
                                     (its last ATTACH_REPLAY_MAX bytes) comes first, as one STDOUT */
#define ATTACH_REPLAY_MAX 4096
#define ATTACH_STDOUT 17          /* watcher -> client: the workload's stdout (everything, with a tty) */
#define ATTACH_STDERR 18          /* watcher -> client: the workload's stderr */
#define ATTACH_EXIT 19            /* watcher -> client: i32 exit code (128+signal) of the run; then the connection closes */
#define ATTACH_MAX_FRAME 65536    /* a client's frame payload; more: the client is dropped */
#define ATTACH_MAX_CLIENTS 16
#define ATTACH_CLIENT_QUEUE (1 << 20) /* bytes queued for one client; more: a slow client is dropped */
/* Before the first run: the stdin pipe and the listening socket (only with --stdin or --tty). -1 with errno;
   attach_shutdown then removes what it made. */
int attach_open(void);
/* The poll entries attach needs (at most 2 + ATTACH_MAX_CLIENTS), and their handling after poll. */
int attach_pollfds(struct pollfd *p, int max);
void attach_events(const struct pollfd *p, int n);
/* Output of the workload (s->id), as read: queued for every client. */
void attach_output(int id, const char *buf, size_t len);
/* A run started with its pty master in W.out (--tty): the last window size is set on it. */
void attach_new_pty(void);
/* A run ended: EXIT to every client, which is closed once that is written. */
void attach_exited(int code);
/* The watcher ends: what is queued gets up to a second, then every fd closes and the socket goes. */
void attach_shutdown(void);
/* The child's side of --tty: opens a pty in the container's devpts (after its root is set up), sends the
   master to the watcher, makes the pty its controlling terminal and stdio. --stdin without --tty: stdin is the pipe. */
void attach_child_stdio(const struct opts *o, int null_fd, int outw, int errw);
/* The pty master the child sent (once it has exec'd), -1 when none came. */
int attach_recv_pty(void);

/* shim_status.c */
void write_status(void);
void on_exit_status(int ws);
void restart(void);
void reap(void);
void terminate(void);

#endif
