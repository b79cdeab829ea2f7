// Waits that must not block Node's event loop (a long-running podns, e.g. the CRI server, serves other
// requests meanwhile):
//
//   flockAsync(fd, op)           flock(2) on a libuv pool thread; a promise that settles once the lock is
//                                taken. The caller tries LOCK_NB first (src/state/lock.ts), so only a lock
//                                another process holds costs a pool thread, for as long as it is held.
//   pidfdWait(pidfd, timeoutMs)  a promise: true once the process has exited (the pidfd polls readable,
//                                also for a process that is not our child and is never reaped by us),
//                                false when timeoutMs ran out first (-1: no limit). Watched by the event
//                                loop itself (uv_poll on a dup of the pidfd, uv_timer): no thread, no polling
//                                of /proc. The caller may close its pidfd at any time.

#include "common.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <climits>

namespace podns {
namespace {

class FlockWorker : public ErrnoPromiseWorker {
 public:
  FlockWorker(Napi::Env env, int fd, int how) : ErrnoPromiseWorker(env, "podns:flock", "flock"), fd_(fd), how_(how) {}

 protected:
  int Run() override {
    int rc;
    do rc = flock(fd_, how_);
    while (rc != 0 && errno == EINTR);
    return rc != 0 ? errno : 0;
  }

 private:
  int fd_;
  int how_;
};

Napi::Value FlockAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "flockAsync: fd");
  std::string op = String(env, info[1], "flockAsync: op");
  int how;
  if (op == "sh") how = LOCK_SH;
  else if (op == "ex") how = LOCK_EX;
  else ThrowType(env, "flockAsync: op must be 'sh' or 'ex'");
  auto* worker = new FlockWorker(env, fd, how);  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// One pidfdWait: a poll handle and a timer on the loop, both closed (and this freed) once settled.
struct PidfdWaiter {
  uv_poll_t poll;
  uv_timer_t timer;
  int fd;
  int open_handles = 0;
  bool settled = false;
  bool timed;
  napi_env env;
  Napi::AsyncContext context;
  Napi::Promise::Deferred deferred;

  PidfdWaiter(Napi::Env e, int dupfd, bool hasTimer)
      : fd(dupfd), timed(hasTimer), env(e), context(e, "podns:pidfdWait"), deferred(Napi::Promise::Deferred::New(e)) {}
};

void OnHandleClosed(uv_handle_t* h) {
  auto* w = static_cast<PidfdWaiter*>(h->data);
  if (--w->open_handles == 0) {
    close(w->fd);
    delete w;
  }
}

void Settle(PidfdWaiter* w, bool exited) {
  if (w->settled) return;
  w->settled = true;
  uv_poll_stop(&w->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnHandleClosed);
  if (w->timed) {
    uv_timer_stop(&w->timer);
    uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), OnHandleClosed);
  }
  // A callback scope: the promise's reactions (microtasks) run when it closes, as after any JS callback.
  Napi::Env env(w->env);
  Napi::HandleScope scope(env);
  Napi::CallbackScope cb(env, w->context);
  w->deferred.Resolve(Napi::Boolean::New(env, exited));
}

void OnPoll(uv_poll_t* h, int status, int /*events*/) {
  // status < 0 (an error on the fd): a pidfd reports no errors but readiness; treat it as exited, which
  // the caller checks again by signalling (ESRCH) or reading status.json.
  (void)status;
  Settle(static_cast<PidfdWaiter*>(h->data), true);
}

void OnTimer(uv_timer_t* h) { Settle(static_cast<PidfdWaiter*>(h->data), false); }

Napi::Value PidfdWait(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pidfd = Fd(env, info[0], "pidfdWait: pidfd");
  int timeoutMs = Int(env, info[1], "pidfdWait: timeoutMs", -1, INT_MAX);
  // Exited already: answer at once, without touching the loop.
  struct pollfd p = {pidfd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, 0);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowErrno(env, errno, "poll");
  Napi::Promise::Deferred now = Napi::Promise::Deferred::New(env);
  if (rc > 0 || timeoutMs == 0) {
    now.Resolve(Napi::Boolean::New(env, rc > 0));
    return now.Promise();
  }
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) ThrowType(env, "pidfdWait: no event loop");
  int fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 3);
  if (fd < 0) ThrowErrno(env, errno, "fcntl");
  auto* w = new PidfdWaiter(env, fd, timeoutMs > 0);
  int err = uv_poll_init(loop, &w->poll, fd);
  if (err != 0) {
    close(fd);
    delete w;
    ThrowErrno(env, -err, "uv_poll_init");
  }
  w->poll.data = w;
  w->open_handles++;
  if (w->timed) {
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    w->open_handles++;
    uv_timer_start(&w->timer, OnTimer, static_cast<uint64_t>(timeoutMs), 0);
  }
  err = uv_poll_start(&w->poll, UV_READABLE, OnPoll);
  Napi::Promise promise = w->deferred.Promise();
  if (err != 0) {
    w->settled = true;
    Napi::Error e = ErrnoError(env, -err, "uv_poll_start");
    uv_close(reinterpret_cast<uv_handle_t*>(&w->poll), OnHandleClosed);
    if (w->timed) {
      uv_timer_stop(&w->timer);
      uv_close(reinterpret_cast<uv_handle_t*>(&w->timer), OnHandleClosed);
    }
    w->deferred.Reject(e.Value());
  }
  return promise;
}

}  // namespace

void InitWait(Napi::Env env, Napi::Object exports) {
  exports.Set("flockAsync", Napi::Function::New(env, FlockAsync, "flockAsync"));
  exports.Set("pidfdWait", Napi::Function::New(env, PidfdWait, "pidfdWait"));
}

}  // namespace podns
