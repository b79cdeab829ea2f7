// podns_native: the syscalls podns needs that Node does not offer.
// See native/podns-native.d.ts for the API and src/native/index.ts for the only place that loads it.
//
// Every call here is one synchronous syscall (or a short, fixed sequence of them) on the calling thread.
// Nothing keeps state between calls; nothing starts threads.

#include "common.h"
#include "../common/errname.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sched.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

namespace podns {

// ---------------------------------------------------------------------------------------------
// errors and arguments

std::string ErrnoName(int err) {
  // the helpers' table (native/common/errname.h), so that the addon and the helpers name errors alike
  // and the addon needs no glibc extension (strerrorname_np)
  const char* name = podns_errname(err);
  if (name != nullptr) return name;
  return "E" + std::to_string(err);
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string* path, const std::string* dest) {
  throw ErrnoError(env, err, syscall, path, dest);
}

Napi::Error ErrnoError(Napi::Env env, int err, const char* syscall, const std::string* path, const std::string* dest) {
  std::string code = ErrnoName(err);
  // strerror: C's, on this (the JS) thread; never NULL ("Unknown error N" for a number it does not know)
  std::string message = code + ": " + strerror(err) + ", " + syscall;
  if (path != nullptr) message += " '" + *path + "'";
  if (dest != nullptr) message += " -> '" + *dest + "'";
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("syscall", Napi::String::New(env, syscall));
  if (path != nullptr) error.Set("path", Napi::String::New(env, *path));
  if (dest != nullptr) error.Set("dest", Napi::String::New(env, *dest));
  return error;
}

void ThrowErrno(Napi::Env env, int err, const char* syscall, const std::string& path) {
  ThrowErrno(env, err, syscall, &path, nullptr);
}

void ThrowType(Napi::Env env, const std::string& message) { throw Napi::TypeError::New(env, message); }

bool IsAbsent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

std::string String(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) ThrowType(env, std::string(what) + " must be a string");
  std::string s = v.As<Napi::String>().Utf8Value();
  // A C string ends at the first NUL: "a\0b" would silently become "a".
  if (s.find('\0') != std::string::npos) ThrowType(env, std::string(what) + " must not contain NUL bytes");
  return s;
}

int Int(Napi::Env env, const Napi::Value& v, const char* what, long min, long max) {
  if (!v.IsNumber()) ThrowType(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    ThrowType(env, std::string(what) + " must be an integer from " + std::to_string(min) + " to " +
                       std::to_string(max));
  }
  return static_cast<int>(d);
}

int Fd(Napi::Env env, const Napi::Value& v, const char* what) { return Int(env, v, what, 0, INT_MAX); }

unsigned long Flags(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsNumber()) ThrowType(env, std::string(what) + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d != std::trunc(d) || d < 0 || d > 4294967295.0) {
    ThrowType(env, std::string(what) + " must be an integer from 0 to 0xffffffff");
  }
  return static_cast<unsigned long>(d);
}

bool Bool(Napi::Env env, const Napi::Value& v, const char* what) {
  if (IsAbsent(v)) return false;
  if (!v.IsBoolean()) ThrowType(env, std::string(what) + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

namespace {

// ---------------------------------------------------------------------------------------------
// namespaces

const char* const kNsTypes[] = {"net", "ipc", "uts", "pid", "mnt", "cgroup", "user", "time"};

Napi::Object NsIdObject(Napi::Env env, const struct stat& st) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("dev", Napi::Number::New(env, static_cast<double>(st.st_dev)));
  o.Set("ino", Napi::Number::New(env, static_cast<double>(st.st_ino)));
  return o;
}

Napi::Value Unshare(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned long flags = Flags(env, info[0], "unshare: flags");
  if (unshare(static_cast<int>(flags)) != 0) ThrowErrno(env, errno, "unshare");
  return env.Undefined();
}

Napi::Value Setns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int nstype = Int(env, info[1], "setns: nstype", 0, INT_MAX);
  if (info[0].IsString()) {
    std::string path = String(env, info[0], "setns: path");
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) ThrowErrno(env, errno, "open", path);
    int rc = setns(fd, nstype);
    int err = errno;
    close(fd);
    if (rc != 0) ThrowErrno(env, err, "setns", path);
    return env.Undefined();
  }
  int fd = Fd(env, info[0], "setns: fdOrPath");
  if (setns(fd, nstype) != 0) ThrowErrno(env, errno, "setns");
  return env.Undefined();
}

Napi::Value NsId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string pid;
  if (info[0].IsString()) {
    pid = info[0].As<Napi::String>().Utf8Value();
    if (pid != "self") ThrowType(env, "nsId: pid must be a positive integer or 'self'");
  } else {
    pid = std::to_string(Int(env, info[0], "nsId: pid", 1, INT_MAX));
  }
  std::string type = String(env, info[1], "nsId: type");
  bool known = false;
  for (const char* t : kNsTypes) known = known || type == t;
  if (!known) ThrowType(env, "nsId: unknown namespace type '" + type + "' (net, ipc, uts, pid, mnt, cgroup, user, time)");
  std::string path = "/proc/" + pid + "/ns/" + type;
  struct stat st;
  // stat, not lstat: /proc/PID/ns/TYPE is a magic link to the nsfs inode, which is the namespace's identity.
  if (stat(path.c_str(), &st) != 0) ThrowErrno(env, errno, "stat", path);
  return NsIdObject(env, st);
}

Napi::Value NsIdOfPath(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "nsIdOfPath: path");
  struct stat st;
  if (stat(path.c_str(), &st) != 0) ThrowErrno(env, errno, "stat", path);
  return NsIdObject(env, st);
}

Napi::Value NsPin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string source = String(env, info[0], "nsPin: source");
  std::string target = String(env, info[1], "nsPin: target");
  // O_EXCL: an existing file may be someone's live pin; mounting over it would hide it, not replace it.
  int fd = open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) ThrowErrno(env, errno, "open", target);
  close(fd);
  // A bind mount of the nsfs inode keeps the namespace alive after its last process is gone.
  if (mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) != 0) {
    int err = errno;
    unlink(target.c_str());  // nothing half-made: no empty file that looks like a pin
    ThrowErrno(env, err, "mount", &source, &target);
  }
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// mounts, hostname

Napi::Value Mount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool hasSource = !IsAbsent(info[0]);
  std::string source = hasSource ? String(env, info[0], "mount: source") : std::string();
  std::string target = String(env, info[1], "mount: target");
  bool hasType = !IsAbsent(info[2]);
  std::string fstype = hasType ? String(env, info[2], "mount: fstype") : std::string();
  unsigned long flags = Flags(env, info[3], "mount: flags");
  bool hasData = !IsAbsent(info[4]);
  std::string data = hasData ? String(env, info[4], "mount: data") : std::string();
  if (mount(hasSource ? source.c_str() : nullptr, target.c_str(), hasType ? fstype.c_str() : nullptr, flags,
            hasData ? data.c_str() : nullptr) != 0) {
    ThrowErrno(env, errno, "mount", target);
  }
  return env.Undefined();
}

// The id of the mount a path is on (statx STATX_MNT_ID, Linux 5.8), or undefined when the kernel does
// not say. A cheap way to see whether a mount point checked once is still the same mount.
Napi::Value MountId(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "mountId: path");
  struct statx stx;
  memset(&stx, 0, sizeof stx);
  if (statx(AT_FDCWD, path.c_str(), AT_STATX_DONT_SYNC, STATX_MNT_ID, &stx) != 0) ThrowErrno(env, errno, "statx", path);
  if ((stx.stx_mask & STATX_MNT_ID) == 0) return env.Undefined();
  return Napi::Number::New(env, static_cast<double>(stx.stx_mnt_id));
}

// Extended attributes of a path itself (the l* calls: a symlink's own, never its target's). Unpacked layers
// keep overlay's opaque mark (trusted.overlay.opaque) in one: the copy fallback for a rootfs without
// overlay reads it (src/image/flatten.ts). lgetxattr: a Buffer, or undefined when the attribute is absent.
Napi::Value Lgetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "lgetxattr: path");
  std::string name = String(env, info[1], "lgetxattr: name");
  char buf[4096];
  ssize_t n = lgetxattr(path.c_str(), name.c_str(), buf, sizeof buf);
  if (n < 0) {
    if (errno == ENODATA) return env.Undefined();
    ThrowErrno(env, errno, "lgetxattr", path);
  }
  return Napi::Buffer<char>::Copy(env, buf, static_cast<size_t>(n));
}

Napi::Value Lsetxattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "lsetxattr: path");
  std::string name = String(env, info[1], "lsetxattr: name");
  if (!info[2].IsBuffer()) {
    Napi::TypeError::New(env, "lsetxattr: value must be a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto v = info[2].As<Napi::Buffer<char>>();
  if (lsetxattr(path.c_str(), name.c_str(), v.Data(), v.Length(), 0) != 0) ThrowErrno(env, errno, "lsetxattr", path);
  return env.Undefined();
}

Napi::Value Lremovexattr(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "lremovexattr: path");
  std::string name = String(env, info[1], "lremovexattr: name");
  if (lremovexattr(path.c_str(), name.c_str()) != 0 && errno != ENODATA) ThrowErrno(env, errno, "lremovexattr", path);
  return env.Undefined();
}

Napi::Value Umount(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string target = String(env, info[0], "umount: target");
  int flags = IsAbsent(info[1]) ? 0 : Int(env, info[1], "umount: flags", 0, INT_MAX);
  if (umount2(target.c_str(), flags) != 0) ThrowErrno(env, errno, "umount2", target);
  return env.Undefined();
}

Napi::Value Sethostname(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = String(env, info[0], "sethostname: name");
  if (sethostname(name.c_str(), name.size()) != 0) ThrowErrno(env, errno, "sethostname");
  return env.Undefined();
}

// ---------------------------------------------------------------------------------------------
// processes, fds

Napi::Value PidfdOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int pid = Int(env, info[0], "pidfdOpen: pid", 1, INT_MAX);
  // A pidfd names one process for good: unlike a pid it cannot be recycled under us. Always O_CLOEXEC.
  long fd = syscall(SYS_pidfd_open, pid, 0);
  if (fd < 0) ThrowErrno(env, errno, "pidfd_open");
  return Napi::Number::New(env, static_cast<double>(fd));
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "pidfdSendSignal: pidfd");
  int sig = Int(env, info[1], "pidfdSendSignal: signal", 0, 64);
  if (syscall(SYS_pidfd_send_signal, fd, sig, nullptr, 0) != 0) ThrowErrno(env, errno, "pidfd_send_signal");
  return env.Undefined();
}

Napi::Value Flock(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "flock: fd");
  std::string op = String(env, info[1], "flock: op");
  int how;
  if (op == "sh") how = LOCK_SH;
  else if (op == "ex") how = LOCK_EX;
  else if (op == "un") how = LOCK_UN;
  else ThrowType(env, "flock: op must be 'sh', 'ex' or 'un'");
  if (Bool(env, info[2], "flock: nonblock")) how |= LOCK_NB;
  int rc;
  do rc = flock(fd, how);
  while (rc != 0 && errno == EINTR);
  // EWOULDBLOCK == EAGAIN on Linux, so a held lock reports code 'EAGAIN'.
  if (rc != 0) ThrowErrno(env, errno, "flock");
  return env.Undefined();
}

Napi::Value Pipe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) ThrowErrno(env, errno, "pipe2");
  Napi::Array a = Napi::Array::New(env, 2);
  a.Set(0u, Napi::Number::New(env, fds[0]));
  a.Set(1u, Napi::Number::New(env, fds[1]));
  return a;
}

// Waits on this thread, at most timeoutMs, until fd has data or its writers are gone. For an answer
// that comes within milliseconds: handing the wait to libuv's pool costs two thread wake-ups on the
// way back (the pool thread, then the event loop through its eventfd), each ~0.25 ms on a VM.
Napi::Value PollIn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "pollIn: fd");
  int timeoutMs = Int(env, info[1], "pollIn: timeoutMs", 0, 60000);
  struct pollfd p = {fd, POLLIN, 0};
  int rc;
  do rc = poll(&p, 1, timeoutMs);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowErrno(env, errno, "poll");
  return Napi::Boolean::New(env, rc > 0);
}

Napi::Value Isatty(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Napi::Boolean::New(env, isatty(Fd(env, info[0], "isatty: fd")) == 1);
}

Napi::Value Waitpid(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Only a real pid: waitpid(-1) or (0) in Node would steal the exit status of libuv's children, whose
  // `exit` events would then never fire.
  int pid = Int(env, info[0], "waitpid: pid", 1, INT_MAX);
  bool nohang = Bool(env, info[1], "waitpid: nohang");
  int status = 0;
  pid_t rc;
  do rc = waitpid(pid, &status, nohang ? WNOHANG : 0);
  while (rc < 0 && errno == EINTR);
  if (rc < 0) ThrowErrno(env, errno, "waitpid");
  Napi::Object o = Napi::Object::New(env);
  if (rc == 0) {
    o.Set("exited", Napi::Boolean::New(env, false));
    o.Set("code", env.Null());
    o.Set("signal", env.Null());
    return o;
  }
  o.Set("exited", Napi::Boolean::New(env, true));
  o.Set("code", WIFEXITED(status) ? Napi::Number::New(env, WEXITSTATUS(status)) : env.Null());
  o.Set("signal", WIFSIGNALED(status) ? Napi::Number::New(env, WTERMSIG(status)) : env.Null());
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto constant = [&](const char* name, double value) { exports.Set(name, Napi::Number::New(env, value)); };
  constant("CLONE_NEWNS", CLONE_NEWNS);
  constant("CLONE_NEWUTS", CLONE_NEWUTS);
  constant("CLONE_NEWIPC", CLONE_NEWIPC);
  constant("CLONE_NEWNET", CLONE_NEWNET);
  constant("CLONE_NEWPID", CLONE_NEWPID);
  constant("CLONE_NEWCGROUP", CLONE_NEWCGROUP);
  constant("CLONE_NEWUSER", CLONE_NEWUSER);
  constant("CLONE_NEWTIME", CLONE_NEWTIME);
  constant("MS_RDONLY", MS_RDONLY);
  constant("MS_NOSUID", MS_NOSUID);
  constant("MS_NODEV", MS_NODEV);
  constant("MS_NOEXEC", MS_NOEXEC);
  constant("MS_BIND", MS_BIND);
  constant("MS_REC", MS_REC);
  constant("MS_PRIVATE", MS_PRIVATE);
  constant("MS_SLAVE", MS_SLAVE);
  constant("MS_SHARED", MS_SHARED);
  constant("MNT_DETACH", MNT_DETACH);
  constant("NETLINK_ROUTE", NETLINK_ROUTE);

  auto fn = [&](const char* name, Napi::Function::Callback cb) { exports.Set(name, Napi::Function::New(env, cb, name)); };
  fn("unshare", Unshare);
  fn("setns", Setns);
  fn("nsId", NsId);
  fn("nsIdOfPath", NsIdOfPath);
  fn("nsPin", NsPin);
  fn("mount", Mount);
  fn("umount", Umount);
  fn("mountId", MountId);
  fn("lgetxattr", Lgetxattr);
  fn("lsetxattr", Lsetxattr);
  fn("lremovexattr", Lremovexattr);
  fn("sethostname", Sethostname);
  fn("pidfdOpen", PidfdOpen);
  fn("pidfdSendSignal", PidfdSendSignal);
  fn("flock", Flock);
  fn("pipe", Pipe);
  fn("waitpid", Waitpid);
  fn("pollIn", PollIn);
  fn("isatty", Isatty);
  InitSpawn(env, exports);
  InitNetlink(env, exports);
  InitWait(env, exports);
  InitTree(env, exports);
  return exports;
}

}  // namespace
}  // namespace podns

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return podns::Init(env, exports); }

NODE_API_MODULE(podns_native, InitModule)
