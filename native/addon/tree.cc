// removeTreeAsync(dir): rm -rf of a directory podns owns (a pod's or a container's state, renamed into trash
// first), on a libuv pool thread, unmounting on the way whatever is mounted inside it (the pod's namespace
// pins, a medium: Memory volume's tmpfs). A mount is told by its mount id (statx STATX_MNT_ID) differing
// from the directory's own: no read of /proc/self/mountinfo, and the walk never descends into a mount nor
// removes a file through one. The walk is by directory fd (openat/statx/unlinkat with O_NOFOLLOW, never a path
// from the host's root: a directory swapped for a symlink meanwhile is removed as a link, not followed), holds
// at most kMaxDepth fds, and moves deeper subtrees up to the top by rename, so no depth or path length of a
// container's files stops it. Each mount is detached (MNT_DETACH, stacked ones one by one) before the entry
// under it is removed; in a shared mount the unmount propagates to its slave copies, as nsUnpin's does.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "common.h"

namespace podns {
namespace {

struct Failure {
  int err = 0;
  const char* syscall = "";
  std::string path;
};

bool Fail(Failure* f, int err, const char* syscall, const std::string& path) {
  f->err = err;
  f->syscall = syscall;
  f->path = path;
  return false;
}

// The mount id and type of NAME in directory DIRFD (not following a symlink; crossing into what is mounted
// on it); false with the errno otherwise (ENOENT: gone).
bool StatAt(int dirfd, const char* name, int flags, uint64_t* mnt, mode_t* mode, int* err) {
  struct statx sx;
  if (statx(dirfd, name, flags | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID, &sx) != 0) {
    *err = errno;
    return false;
  }
  if (!(sx.stx_mask & STATX_MNT_ID)) {  // Linux < 5.8: mounts cannot be told apart this way
    *err = ENOSYS;
    return false;
  }
  *mnt = sx.stx_mnt_id;
  *mode = sx.stx_mode;
  return true;
}

// One directory being emptied: its fd (every call below is relative to it: no path is ever resolved from
// the host's root again, so a directory swapped for a symlink while we walk is removed as a symlink, never
// followed), the names read from it, and its name in its parent.
struct Frame {
  int fd = -1;
  std::vector<std::string> names;
  size_t next = 0;
  std::string name;
  int rereads = 0;
  unsigned movedSeen = 0;  // the top: subtrees moved up before its last read
};

// Deeper than this, a subtree is moved up to the top instead of being descended into: the walk holds at
// most this many fds and never builds a path, so a container's `mkdir -p a/a/a/...` (any depth, any path
// length) is removed like any other tree.
constexpr size_t kMaxDepth = 64;
// A directory that keeps gaining entries while it is emptied (a process still writing in it) is given up.
constexpr int kMaxRereads = 64;

bool ReadNames(Frame* fr, const std::string& where, Failure* f) {
  int dup = fcntl(fr->fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return Fail(f, errno, "fcntl", where);
  DIR* d = fdopendir(dup);
  if (d == nullptr) {
    int e = errno;
    close(dup);
    return Fail(f, e, "fdopendir", where);
  }
  rewinddir(d);
  fr->names.clear();
  fr->next = 0;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) fr->names.emplace_back(e->d_name);
    errno = 0;
  }
  int readErr = errno;
  closedir(d);
  if (readErr != 0) return Fail(f, readErr, "readdir", where);
  return true;
}

// Detaches whatever is mounted on NAME in DIRFD until NAME is on the tree's own mount `top` again (mounts
// may be stacked). The mount is reached through an O_PATH fd of it, not by a path: umount2 of
// /proc/thread-self/fd/N detaches the mount that fd is the root of (EINVAL: it is not one).
bool Unmount(int dirfd, const std::string& name, uint64_t top, mode_t* mode, bool* gone, const std::string& where, Failure* f) {
  *gone = false;
  for (int i = 0;; i++) {
    uint64_t mnt;
    int err;
    if (!StatAt(dirfd, name.c_str(), 0, &mnt, mode, &err)) {
      if (err == ENOENT) {
        *gone = true;
        return true;
      }
      return Fail(f, err, "statx", where + "/" + name);
    }
    if (mnt == top) return true;
    if (i >= 16) return Fail(f, EBUSY, "umount2", where + "/" + name);
    int fd = openat(dirfd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      return Fail(f, errno, "open", where + "/" + name);
    }
    std::string proc = "/proc/thread-self/fd/" + std::to_string(fd);
    int r = umount2(proc.c_str(), MNT_DETACH);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL && e != ENOENT) return Fail(f, e, "umount2", where + "/" + name);
  }
}

// rm -rf of the directory open as TOPFD (whose mount id is `top`), then of TOPFD's entries only: the caller
// removes the top itself. `where` names it in errors.
bool EmptyTree(int topfd, uint64_t top, const std::string& where, Failure* f) {
  std::vector<Frame> stack;
  stack.emplace_back();
  stack.back().fd = topfd;
  if (!ReadNames(&stack.back(), where, f)) return false;
  unsigned moved = 0;
  bool ok = true;
  while (ok && !stack.empty()) {
    Frame& fr = stack.back();
    if (fr.next == fr.names.size()) {
      // read again: entries made meanwhile (a subtree moved up to the top, a process still writing)
      if (fr.names.empty() || fr.rereads >= kMaxRereads) {
        if (!fr.names.empty()) {
          ok = Fail(f, ENOTEMPTY, "rmdir", where);
          break;
        }
        std::string name = fr.name;
        if (stack.size() == 1) break;  // the top: the caller removes it
        close(fr.fd);
        stack.pop_back();
        if (unlinkat(stack.back().fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) ok = Fail(f, errno, "rmdir", where + "/.../" + name);
        continue;
      }
      // moved-up subtrees are progress, not a writer: they do not count against the limit
      if (stack.size() == 1 && fr.movedSeen != moved) fr.movedSeen = moved;
      else fr.rereads++;
      if (!ReadNames(&fr, where, f)) ok = false;
      continue;
    }
    std::string name = fr.names[fr.next++];
    mode_t mode = 0;
    bool gone = false;
    if (!Unmount(fr.fd, name, top, &mode, &gone, where, f)) {
      ok = false;
      break;
    }
    if (gone) continue;
    if (!S_ISDIR(mode)) {
      if (unlinkat(fr.fd, name.c_str(), 0) != 0 && errno != ENOENT) ok = Fail(f, errno, "unlink", where + "/.../" + name);
      continue;
    }
    if (stack.size() >= kMaxDepth) {
      // too deep to descend: moved up into the top (same mount: a rename), emptied from there later
      for (int tries = 0;; tries++) {
        std::string up = ".podns-deep-" + std::to_string(moved++);
        if (renameat2(fr.fd, name.c_str(), topfd, up.c_str(), RENAME_NOREPLACE) == 0 || errno == ENOENT) break;
        if (errno != EEXIST || tries > 1000) {
          ok = Fail(f, errno, "rename", where + "/.../" + name);
          break;
        }
      }
      continue;
    }
    int fd = openat(fr.fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) continue;
      if (errno == ENOTDIR || errno == ELOOP) {  // swapped for a file or a symlink since the statx: look again
        fr.next--;
        continue;
      }
      ok = Fail(f, errno, "open", where + "/.../" + name);
      break;
    }
    uint64_t mnt;
    int err;
    if (!StatAt(fd, "", AT_EMPTY_PATH, &mnt, &mode, &err)) {
      close(fd);
      ok = Fail(f, err, "statx", where + "/.../" + name);
      break;
    }
    if (mnt != top) {  // mounted on since the look above: detach it first
      close(fd);
      fr.next--;
      continue;
    }
    Frame child;
    child.fd = fd;
    child.name = name;
    stack.push_back(std::move(child));
    if (!ReadNames(&stack.back(), where, f)) ok = false;
  }
  for (size_t i = 1; i < stack.size(); i++) close(stack[i].fd);
  return ok;
}

// rm -rf DIR (absolute), unmounting what is mounted inside; gone already is done.
void RemoveTree(const std::string& dir, Failure* f) {
  uint64_t top;
  mode_t mode;
  int err;
  if (!StatAt(AT_FDCWD, dir.c_str(), 0, &top, &mode, &err)) {
    if (err != ENOENT) Fail(f, err, "statx", dir);
    return;
  }
  if (!S_ISDIR(mode)) {
    Fail(f, ENOTDIR, "rmdir", dir);
    return;
  }
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) Fail(f, errno, "open", dir);
    return;
  }
  bool ok = EmptyTree(fd, top, dir, f);
  close(fd);
  if (ok && rmdir(dir.c_str()) != 0 && errno != ENOENT) Fail(f, errno, "rmdir", dir);
}

// One job on a libuv pool thread behind a promise: it resolves to undefined, or rejects with the errno error
// of the step the job failed at (syscall and path). It deletes itself once settled.
class FailureWorker : public Napi::AsyncWorker {
 public:
  static Napi::Promise Queue(Napi::Env env, const char* resource, std::function<void(Failure*)> job) {
    auto* w = new FailureWorker(env, resource, std::move(job));
    Napi::Promise promise = w->deferred_.Promise();
    w->Napi::AsyncWorker::Queue();
    return promise;
  }

 protected:
  void Execute() override { job_(&f_); }
  void OnOK() override {
    if (f_.err != 0) deferred_.Reject(ErrnoError(Env(), f_.err, f_.syscall, &f_.path).Value());
    else deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  FailureWorker(Napi::Env env, const char* resource, std::function<void(Failure*)> job)
      : Napi::AsyncWorker(env, resource), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}
  std::function<void(Failure*)> job_;
  Failure f_;
  Napi::Promise::Deferred deferred_;
};

void ThrowFailure(Napi::Env env, const Failure& f) {
  if (f.err != 0) throw ErrnoError(env, f.err, f.syscall, &f.path);
}

std::string TreeDir(Napi::Env env, const Napi::Value& v, const char* fn) {
  std::string dir = String(env, v, fn);
  if (dir.empty() || dir[0] != '/' || dir == "/") ThrowType(env, std::string(fn) + ": dir must be an absolute path other than /");
  return dir;
}

// rm -rf on the calling thread (gc: a command that waits for it anyway).
Napi::Value RemoveTreeSync(const Napi::CallbackInfo& info) {
  Failure f;
  RemoveTree(TreeDir(info.Env(), info[0], "removeTree"), &f);
  ThrowFailure(info.Env(), f);
  return info.Env().Undefined();
}

Napi::Value RemoveTreeAsync(const Napi::CallbackInfo& info) {
  std::string dir = TreeDir(info.Env(), info[0], "removeTreeAsync");
  return FailureWorker::Queue(info.Env(), "podns:rmtree", [dir](Failure* f) { RemoveTree(dir, f); });
}

// rmdir of each path in order on a pool thread: ENOENT is done; the first other failure stops there and
// rejects with its errno error (path: that directory). For cgroups whose removal nothing waits for.
Napi::Value RmdirsAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowType(env, "rmdirsAsync: dirs must be an array of absolute paths");
  Napi::Array a = info[0].As<Napi::Array>();
  std::vector<std::string> dirs;
  for (uint32_t i = 0; i < a.Length(); i++) {
    std::string d = String(env, a.Get(i), "rmdirsAsync: dirs[i]");
    if (d.empty() || d[0] != '/') ThrowType(env, "rmdirsAsync: dirs must be absolute paths");
    dirs.push_back(d);
  }
  return FailureWorker::Queue(env, "podns:rmdirs", [dirs](Failure* f) {
    for (const std::string& d : dirs) {
      if (rmdir(d.c_str()) != 0 && errno != ENOENT) {
        Fail(f, errno, "rmdir", d);
        return;
      }
    }
  });
}

// A namespace pin removed: its mount detached (MNT_DETACH: a process that still has the pin open, e.g. an
// `ip netns exec`, must not make a delete fail; the namespace lives on until its last user goes), then the
// file. EINVAL from umount2: the file is not a mount point, a pin whose mount never happened (a crash
// between open and mount): removing the file is all that is left to do.
void Unpin(const std::string& path, Failure* f) {
  if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) {
    Fail(f, errno, "umount2", path);
    return;
  }
  if (unlink(path.c_str()) != 0) Fail(f, errno, "unlink", path);
}

Napi::Value NsUnpin(const Napi::CallbackInfo& info) {
  Failure f;
  Unpin(String(info.Env(), info[0], "nsUnpin: target"), &f);
  ThrowFailure(info.Env(), f);
  return info.Env().Undefined();
}

Napi::Value NsUnpinAsync(const Napi::CallbackInfo& info) {
  std::string path = String(info.Env(), info[0], "nsUnpinAsync: target");
  return FailureWorker::Queue(info.Env(), "podns:unpin", [path](Failure* f) { Unpin(path, f); });
}

}  // namespace

void InitTree(Napi::Env env, Napi::Object exports) {
  exports.Set("nsUnpin", Napi::Function::New(env, NsUnpin, "nsUnpin"));
  exports.Set("removeTree", Napi::Function::New(env, RemoveTreeSync, "removeTree"));
  exports.Set("removeTreeAsync", Napi::Function::New(env, RemoveTreeAsync, "removeTreeAsync"));
  exports.Set("rmdirsAsync", Napi::Function::New(env, RmdirsAsync, "rmdirsAsync"));
  exports.Set("nsUnpinAsync", Napi::Function::New(env, NsUnpinAsync, "nsUnpinAsync"));
}

}  // namespace podns
