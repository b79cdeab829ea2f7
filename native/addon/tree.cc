// removeTreeAsync(dir): rm -rf of a directory podns owns (a pod's or a container's state, renamed into trash
// first), on a libuv pool thread, unmounting on the way whatever is mounted inside it (the pod's namespace
// pins, a medium: Memory volume's tmpfs). A mount is told by its mount id (statx STATX_MNT_ID) differing
// from the directory's own: no read of /proc/self/mountinfo, and the walk never descends into a mount nor
// removes a file through one. Each mount is detached (MNT_DETACH, stacked ones one by one) before the entry
// under it is removed; in a shared mount the unmount propagates to its slave copies, as nsUnpin's does.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

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

// The mount id and type of path (not following a last symlink); false with ENOENT when it is gone.
bool Stat(const std::string& path, uint64_t* mnt, mode_t* mode, int* err) {
  struct statx sx;
  if (statx(AT_FDCWD, path.c_str(), AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE | STATX_MNT_ID, &sx) != 0) {
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

// Removes path (below the tree's top, whose mount id is `top`). true when it is gone.
bool Remove(const std::string& path, uint64_t top, Failure* f, int depth) {
  if (depth > 256) return Fail(f, ELOOP, "rmdir", path);
  uint64_t mnt;
  mode_t mode;
  int err;
  for (int i = 0;; i++) {
    if (!Stat(path, &mnt, &mode, &err)) return err == ENOENT ? true : Fail(f, err, "statx", path);
    if (mnt == top) break;
    // something is mounted here (a pin, a tmpfs): detach it, then look again (mounts may be stacked)
    if (i >= 16) return Fail(f, EBUSY, "umount2", path);
    if (umount2(path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL && errno != ENOENT) {
      return Fail(f, errno, "umount2", path);
    }
  }
  if (!S_ISDIR(mode)) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return Fail(f, errno, "unlink", path);
    return true;
  }
  int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? true : Fail(f, errno, "open", path);
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    int e = errno;
    close(fd);
    return Fail(f, e, "fdopendir", path);
  }
  std::vector<std::string> names;
  errno = 0;
  while (struct dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  int readErr = errno;
  closedir(d);
  if (readErr != 0) return Fail(f, readErr, "readdir", path);
  for (const std::string& n : names) {
    if (!Remove(path + "/" + n, top, f, depth + 1)) return false;
  }
  if (rmdir(path.c_str()) != 0 && errno != ENOENT) return Fail(f, errno, "rmdir", path);
  return true;
}

class RemoveTreeWorker : public Napi::AsyncWorker {
 public:
  RemoveTreeWorker(Napi::Env env, std::string dir)
      : Napi::AsyncWorker(env, "podns:rmtree"), dir_(std::move(dir)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    uint64_t top;
    mode_t mode;
    int err;
    if (!Stat(dir_, &top, &mode, &err)) {
      if (err != ENOENT) Fail(&f_, err, "statx", dir_);
      return;
    }
    if (!S_ISDIR(mode)) {
      Fail(&f_, ENOTDIR, "rmdir", dir_);
      return;
    }
    Remove(dir_, top, &f_, 0);
  }
  void OnOK() override {
    if (f_.err != 0) deferred_.Reject(ErrnoError(Env(), f_.err, f_.syscall, &f_.path).Value());
    else deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::string dir_;
  Failure f_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value RemoveTreeAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string dir = String(env, info[0], "removeTreeAsync: dir");
  if (dir.empty() || dir[0] != '/' || dir == "/") ThrowType(env, "removeTreeAsync: dir must be an absolute path other than /");
  auto* worker = new RemoveTreeWorker(env, dir);  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// rmdir of each path in order on a pool thread: ENOENT is done; the first other failure stops there and
// rejects with its errno error (path: that directory). For cgroups whose removal nothing waits for.
class RmdirsWorker : public Napi::AsyncWorker {
 public:
  RmdirsWorker(Napi::Env env, std::vector<std::string> dirs)
      : Napi::AsyncWorker(env, "podns:rmdirs"), dirs_(std::move(dirs)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    for (const std::string& d : dirs_) {
      if (rmdir(d.c_str()) != 0 && errno != ENOENT) {
        Fail(&f_, errno, "rmdir", d);
        return;
      }
    }
  }
  void OnOK() override {
    if (f_.err != 0) deferred_.Reject(ErrnoError(Env(), f_.err, f_.syscall, &f_.path).Value());
    else deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<std::string> dirs_;
  Failure f_;
  Napi::Promise::Deferred deferred_;
};

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
  auto* worker = new RmdirsWorker(env, std::move(dirs));  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// nsUnpin (umount2 MNT_DETACH, then unlink) on a pool thread.
class UnpinWorker : public Napi::AsyncWorker {
 public:
  UnpinWorker(Napi::Env env, std::string path)
      : Napi::AsyncWorker(env, "podns:unpin"), path_(std::move(path)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    // EINVAL: not a mount point (a pin whose mount never happened): removing the file is all that is left
    if (umount2(path_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) {
      Fail(&f_, errno, "umount2", path_);
      return;
    }
    if (unlink(path_.c_str()) != 0) Fail(&f_, errno, "unlink", path_);
  }
  void OnOK() override {
    if (f_.err != 0) deferred_.Reject(ErrnoError(Env(), f_.err, f_.syscall, &f_.path).Value());
    else deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::string path_;
  Failure f_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value NsUnpinAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = String(env, info[0], "nsUnpinAsync: target");
  auto* worker = new UnpinWorker(env, path);  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitTree(Napi::Env env, Napi::Object exports) {
  exports.Set("removeTreeAsync", Napi::Function::New(env, RemoveTreeAsync, "removeTreeAsync"));
  exports.Set("rmdirsAsync", Napi::Function::New(env, RmdirsAsync, "rmdirsAsync"));
  exports.Set("nsUnpinAsync", Napi::Function::New(env, NsUnpinAsync, "nsUnpinAsync"));
}

}  // namespace podns
