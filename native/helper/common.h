// Shared pieces of podns-helper (sandbox, exec, shim).
//
// The helper is a small static, single-threaded C program. It exists because Node is
// multithreaded: setns(CLONE_NEWNS) and setns(CLONE_NEWUSER) fail with EINVAL in a
// multithreaded process, and a joined pid namespace only applies to children forked
// afterwards. So all namespace joining for whole programs happens here, between our own
// fork() and execve(), never in Node.
#ifndef PODNS_HELPER_COMMON_H
#define PODNS_HELPER_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

int sandbox_main(int argc, char **argv);
int exec_main(int argc, char **argv);
int shim_main(int argc, char **argv);
int apply_layer_main(int argc, char **argv); // layer_apply.c
int portforward_main(int argc, char **argv); // portforward.c

// ---- errors -------------------------------------------------------------------------

// Exit codes of the "could not start CMD" kind, as docker/podman use them.
#define EXIT_SETUP 125     // the helper failed before CMD ran
#define EXIT_CANNOT_EXEC 126 // CMD found but not executable (EACCES, ENOEXEC, ...)
#define EXIT_NOT_FOUND 127 // CMD not found

// Name of the running mode, used in error lines ("podns-helper exec: ...").
extern const char *helper_mode;

// Where error lines go: stderr by default. helper_set_error_fd() makes errors go, in the
// machine-readable form "error <ERRNO> <step>: <message>\n", to that fd instead.
void helper_set_error_fd(int fd);
// Close the machine-readable error fd (if any) and go back to human lines on stderr.
void helper_close_error_fd(void);
// A CLOEXEC copy of the current error destination for a child that is about to dup2()
// something else onto fd 2 (a pty): errors before execvp must still reach the caller.
void helper_keep_error_fd_across_dup2(void);

// "EPERM", "ENOENT"... (strerrorname_np, glibc >= 2.32), "E<number>" when unknown.
const char *errno_name(int err);

// Print one error line for `step` with errno `err` and exit with `code`.
// Human form on stderr:  podns-helper MODE: STEP: ERRNO (strerror)
__attribute__((noreturn)) void die_errno_code(int code, int err, const char *step);
// The same with errno and EXIT_SETUP.
__attribute__((noreturn)) void die_errno(const char *step);
// A usage/bad-input error (no errno): "podns-helper MODE: message", exit 125.
__attribute__((noreturn, format(printf, 1, 2))) void die_usage(const char *fmt, ...);
// Report an error without exiting (used where cleanup must still happen).
void report_errno(int err, const char *step);

// ---- small utilities ----------------------------------------------------------------

// Fault points for crash tests, as src/fault.ts: PODNS_FAULT=<step> in the helper's environment makes it die
// at that step as a kill -9 would (SIGKILL; the init of a pid namespace, which a signal of its own does not
// end, leaves with _exit at once: either way nothing after the step runs).
void fault_point(const char *step);

// write() until done; retries EINTR and short writes. 0 on success, -1 with errno.
int write_all(int fd, const void *buf, size_t len);
// End of input on a pty, typed as its user would: the VEOF character the program set (^D by default),
// twice when last_in (the last byte written to the master) leaves a partial line. Returns the VEOF written.
char pty_type_eof(int master, char last_in);
// open(dirfd, name, O_WRONLY), write_all the string, close: a kernel knob (a cgroup file, oom_score_adj).
// 0, or -1 with errno (open, write or short write).
int write_file_at(int dirfd, const char *name, const char *s);
// Decimal integer in [min, max]; false when malformed or out of range.
bool parse_long(const char *s, long min, long max, long *out);
// Mark every fd >= 3 close-on-exec (close_range(CLOSE_RANGE_CLOEXEC), /proc/self/fd fallback).
// Node's spawn dup2()s the fds it passes, which clears their O_CLOEXEC.
void cloexec_from(int lowfd);
// Every signal at its default disposition and none blocked, as a workload (or an exec session) must start:
// caught signals are reset by execve anyway, but ignored ones (the watcher ignores SIGPIPE and SIGHUP; so
// may whoever started podns) and the mask survive it. SIGKILL, SIGSTOP and the ones libc keeps for itself
// refuse (EINVAL): nothing to reset there. 0, or -1 with errno from sigprocmask.
int reset_signals(void);

// ---- namespaces ---------------------------------------------------------------------

// CLONE_NEW* flag for a namespace type name as in /proc/PID/ns ("net", "mnt", ...);
// 0 when unknown.
int ns_flag_from_name(const char *name);
// The /proc/PID/ns name for one CLONE_NEW* flag, NULL when unknown.
const char *ns_name_from_flag(int flag);

#define NS_MAX 8

struct ns_entry {
  int flag;          // CLONE_NEW*
  const char *name;  // "net"
  const char *path;  // as given
  int fd;            // -1 until ns_list_open()
};

struct ns_list {
  struct ns_entry e[NS_MAX];
  int n;
};

void ns_list_init(struct ns_list *l);
// Parse "TYPE=PATH" and add it. A type given twice replaces the earlier path.
// Returns 0, or -1 with *why set to a static message.
int ns_list_add(struct ns_list *l, const char *spec, const char **why);
// open() every path O_RDONLY|O_CLOEXEC (before any setns: a joined mount namespace
// would change what the later paths mean). On failure returns -1 with errno and
// *failed set to the entry.
int ns_list_open(struct ns_list *l, const struct ns_entry **failed);
// setns() every opened fd: user first (joining it grants the capabilities the others need),
// mnt last (it changes root and cwd). A user namespace we are already in is skipped:
// setns() refuses to "re-join" one's own user namespace with EINVAL.
// On failure returns -1 with errno and *failed set.
int ns_list_join(struct ns_list *l, const struct ns_entry **failed);
void ns_list_close(struct ns_list *l);
// true when the list contains this CLONE_NEW* flag.
bool ns_list_has(const struct ns_list *l, int flag);

// setns(pidfd, flags): join several namespaces of one process atomically (Linux >= 5.8).
int join_pidfd(int pidfd, int flags);

#endif
