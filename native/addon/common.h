// Shared pieces of the podns addon: argument checks and errno errors.
//
// The addon is syscalls only. Policy (names, paths, what to join) lives in TypeScript.
// Two kinds of failure, never an abort:
//   - a bad argument from JS       -> TypeError (a bug in the caller)
//   - the kernel said no (errno)   -> Error shaped like Node's fs errors: code/errno/syscall/path
#pragma once

#include <napi.h>

#include <string>

namespace podns {

// Throws an Error for `err` (an errno value) the way Node's fs does:
//   message "ENOENT: no such file or directory, stat '/x'", code 'ENOENT', errno 2, syscall 'stat', path '/x'.
// `dest` is the second path of a two-path call (like fs.copyFile's dest).
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string* path = nullptr,
                             const std::string* dest = nullptr);
[[noreturn]] void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path);
// The same Error, not thrown (to reject a promise with).
Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string* path = nullptr,
                       const std::string* dest = nullptr);

// The errno name ('EPERM'), or "E<number>" for a value glibc does not know.
std::string ErrnoName(int err);

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message);

// Argument readers: each throws a TypeError naming the function and the argument.
bool IsAbsent(const Napi::Value& v);  // undefined or null
std::string String(Napi::Env env, const Napi::Value& v, const char* what);           // no NUL bytes
int Int(Napi::Env env, const Napi::Value& v, const char* what, long min, long max);  // integral number in range
int Fd(Napi::Env env, const Napi::Value& v, const char* what);                      // 0..INT_MAX
unsigned long Flags(Napi::Env env, const Napi::Value& v, const char* what);         // 0..UINT32_MAX
bool Bool(Napi::Env env, const Napi::Value& v, const char* what);                   // absent -> false

// One blocking call on a libuv pool thread behind a promise (the event loop goes on meanwhile). Run(), on the
// pool thread, returns 0 or an errno; the promise then resolves to undefined or rejects with
// ErrnoError(syscall). new it, take Promise(), Queue() it: it deletes itself once settled.
class ErrnoPromiseWorker : public Napi::AsyncWorker {
 public:
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  ErrnoPromiseWorker(Napi::Env env, const char* resource, const char* syscall)
      : Napi::AsyncWorker(env, resource), syscall_(syscall), deferred_(Napi::Promise::Deferred::New(env)) {}
  virtual int Run() = 0;
  void Execute() override { err_ = Run(); }
  void OnOK() override {
    if (err_ != 0) deferred_.Reject(ErrnoError(Env(), err_, syscall_).Value());
    else deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  const char* syscall_;
  int err_ = 0;
  Napi::Promise::Deferred deferred_;
};

// Parts of the module, each adds its functions to `exports`.
void InitSpawn(Napi::Env env, Napi::Object exports);
void InitNetlink(Napi::Env env, Napi::Object exports);
void InitWait(Napi::Env env, Napi::Object exports);
void InitTree(Napi::Env env, Napi::Object exports);

}  // namespace podns
