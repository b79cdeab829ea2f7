// podns-helper shim: status.json, the workload's exit, restarts and their back-off.
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

static long ms_between(const struct timespec *a, const struct timespec *b) {
  return (b->tv_sec - a->tv_sec) * 1000L + (b->tv_nsec - a->tv_nsec) / 1000000L;
}

void write_status(void) {
  char started[40], finished[48] = "null", buf[768], last[256] = "";
  fmt_time(started, sizeof started, &W.started, 3);
  if (W.have_finished) {
    finished[0] = '"';
    int k = fmt_time(finished + 1, sizeof finished - 2, &W.finished, 3);
    finished[k + 1] = '"';
    finished[k + 2] = 0;
  }
  char code[16] = "null", sig[16] = "null";
  if (W.exit_code >= 0) snprintf(code, sizeof code, "%d", W.exit_code);
  if (W.signal >= 0) snprintf(sig, sizeof sig, "%d", W.signal);
  if (W.have_last) {
    char lf[40], lsig[16] = "null";
    fmt_time(lf, sizeof lf, &W.last_finished, 3);
    if (W.last_signal >= 0) snprintf(lsig, sizeof lsig, "%d", W.last_signal);
    snprintf(last, sizeof last, ",\"lastState\":{\"exitCode\":%d,\"signal\":%s,\"finishedAt\":\"%s\"%s}",
             W.last_exit_code, lsig, lf, W.last_oom_killed ? ",\"reason\":\"OOMKilled\"" : "");
  }
  int n = snprintf(buf, sizeof buf,
                   "{\"state\":\"%s\",\"pid\":%d,\"watcherPid\":%d,\"startedAt\":\"%s\",\"finishedAt\":%s,"
                   "\"exitCode\":%s,\"signal\":%s,\"restartCount\":%d%s%s}\n",
                   W.state, (int)W.pid_host, (int)W.self_host, started, finished, code, sig, W.restart_count,
                   W.oom_killed ? ",\"reason\":\"OOMKilled\"" : "", last);
  /* tmp + rename: a reader never sees half a file. The directory may be gone (pod deleted): ignore. */
  int fd = openat(W.dirfd, "status.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t w = write(fd, buf, (size_t)n);
  close(fd);
  if (w == n) renameat(W.dirfd, "status.json.tmp", W.dirfd, "status.json");
}

static int should_restart(void) {
  if (W.terminating) return 0;
  switch (W.o->restart) {
  case RESTART_ALWAYS: return 1;
  case RESTART_ON_FAILURE: return !(W.signal < 0 && W.exit_code == 0);
  default: return 0;
  }
}

static void arm_timer(long ms) {
  struct itimerspec it = {{0, 0}, {ms / 1000, (ms % 1000) * 1000000L}};
  timerfd_settime(W.timerfd, 0, &it, NULL);
}

static void finish(void) {
  /* The container has ended for good: its devices cgroup goes (the workload is gone from it). */
  if (W.o->devices_cgroup) devices_cgroup_remove(W.o->devices_cgroup, W.devices_fd);
  W.devices_fd = -1;
  limit_cgroups_remove();
  W.state = "exited";
  write_status();
  W.done = 1;
}

/* The workload is gone (status as from waitpid, or a start failure). */
void on_exit_status(int ws) {
  now(&W.finished);
  W.have_finished = 1;
  if (WIFSIGNALED(ws)) { W.signal = WTERMSIG(ws); W.exit_code = 128 + W.signal; }
  else { W.signal = -1; W.exit_code = WEXITSTATUS(ws); }
  W.pid = 0;
  /* The kernel's OOM kills in the memory cgroup since this run started (the reason of this exit, as the
     kubelet reports it; the exit status stays what waitpid said, 137 when the workload itself was killed). */
  long kills = limit_cgroups_oom_kills();
  W.oom_killed = kills >= 0 && W.oom_kills >= 0 && kills > W.oom_kills;
  if (kills >= 0) W.oom_kills = kills;
  /* As the init of the container's own pid namespace, we end the workload's leftovers with it, the way a
     container's pid namespace dies with its first process. Only there: kill(-1) outside would hit the host. */
  if (W.o->new_pid_ns && getpid() == 1) {
    kill(-1, SIGKILL);
    int s;
    while (waitpid(-1, &s, 0) > 0 || errno == EINTR) {}
  }
  /* Everything the workload wrote is in the pipes by now. Leftover writers (orphans in a shared pid
     namespace) may keep them open: take what is there and close our ends. */
  if (W.out.fd >= 0) stream_read(&W.out);
  if (W.err.fd >= 0) stream_read(&W.err);
  stream_close(&W.out);
  stream_close(&W.err);
  attach_exited(W.exit_code); /* after the run's last output */
  if (!should_restart()) { finish(); return; }
  if (ms_between(&W.started, &W.finished) >= BACKOFF_RESET_MS) W.backoff_ms = W.o->backoff_ms;
  W.state = "restarting";
  write_status();
  arm_timer(W.backoff_ms);
  W.backoff_ms = W.backoff_ms * 2 > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : W.backoff_ms * 2;
}

void restart(void) {
  /* kubectl logs --previous: the last finished run's log becomes previous.log (crilog.h). */
  crilog_new_run(&W.log);
  W.restart_count++;
  /* the run that ended becomes lastState; the new one has no reason yet */
  W.have_last = 1;
  W.last_exit_code = W.exit_code;
  W.last_signal = W.signal;
  W.last_finished = W.finished;
  W.last_oom_killed = W.oom_killed;
  W.oom_killed = 0;
  char err[600];
  if (start_workload(err, sizeof err) < 0) {
    char line[700];
    int n = snprintf(line, sizeof line, "podns: cannot start the container: %s", err);
    log_line("stderr", 'F', line, (size_t)n);
    on_exit_status(127 << 8);
    return;
  }
  write_status();
}

void reap(void) {
  for (;;) {
    int ws;
    pid_t p = waitpid(-1, &ws, WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p <= 0) return;
    if (p == W.pid) on_exit_status(ws);
    /* anything else: an orphan of the workload reparented to us (we are its pid ns's init) */
  }
}

void terminate(void) {
  W.terminating = 1;
  if (W.pid > 0) kill(W.pid, SIGTERM);
  else if (!W.done) { arm_timer(0); finish(); }
}
