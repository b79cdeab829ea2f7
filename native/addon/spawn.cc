// spawn(): start a program in new or joined namespaces, from inside Node.
//
// Why clone(CLONE_VM | CLONE_VFORK) and not fork():
//   - fork() copies the page tables of the whole Node process (hundreds of MiB of heap, JIT code) and then
//     pays copy-on-write faults in the parent until the child execs. With CLONE_VM nothing is copied: the
//     child borrows Node's memory for the few microseconds until execve gives it its own.
//   - CLONE_VFORK suspends the calling thread until the child has exec'd or exited. So the child runs
//     before the parent resumes: the plan it reads (argv/env arrays built by the parent, on the parent's heap)
//     stays valid and unchanged, and when clone() returns the child's verdict is already in the report pipe.
//     Node's other threads keep running; the child touches no memory they use.
//   - The child gets its own stack (mapped once per thread and reused, with a guard page): with CLONE_VM a
//     child running on the parent's stack would overwrite the frames of the suspended parent (vfork()'s old
//     trap).
//   - This is how glibc's posix_spawn works; we need our own because posix_spawn cannot setns, unshare
//     or sethostname between clone and exec.
//
// Rules for the child (it shares Node's memory):
//   - only async-signal-safe calls: no malloc, no locks (another Node thread may hold them), no C++,
//     no exceptions; everything it needs is prepared by the parent before clone.
//   - errno is thread-local storage shared with the suspended parent thread; the child copies it into
//     its report at once.
//   - signals: the parent blocks all signals before clone, so none of Node's handlers can run in the child
//     (a libuv handler would write into Node's signal pipe as if Node had got the signal). The child resets
//     every disposition to default (exec keeps SIG_IGN: Node ignores SIGPIPE, and a program started with
//     SIGPIPE ignored gets EPIPE instead of dying, so `prog | head` never ends), then unblocks everything
//     just before execve (exec keeps the mask too), but for blockSignals, which stay blocked.
//
// spawnAsync runs the same on a libuv pool thread: only that thread is suspended by CLONE_VFORK, the child
// borrows that thread's errno, and the plan lives in the job until the promise settles.
//
// Why reap with waitpid(pid) and never waitpid(-1): the child is unknown to libuv. waitpid(-1) would also
// collect children of libuv (child_process), whose exit events would then never fire.
//
// detach: the program must not be Node's child (a pause outlives the podns process, and as our child it
// would stay a zombie in a long-running library process until Node exits). The classic answer is a double
// fork in the program itself (`pause -d`), but then the caller learns the pid only when the exec'd program
// has started up, forked and written it back: on a VM that is milliseconds of exec and page faults spent
// waiting. Instead the clone'd child is the intermediate: it clones the real child (CLONE_VM|CLONE_VFORK
// again, on a second stack), which is born in the new namespaces and runs the plan; once that one has
// exec'd, the intermediate notes its pid in the (shared) plan and exits, and spawn reaps it. The program
// is reparented to the nearest subreaper or init, never a child of Node, and its pid is known the moment
// spawn returns — while the rest of its exec (loading, libc start-up) runs on, not on our clock.
// The intermediate only calls clone, waitpid and _exit, with every signal blocked.

#include "common.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <cerrno>
#include <climits>
#include <set>
#include <string>
#include <vector>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char** environ;

namespace podns {
namespace {

constexpr int kAllowedCloneFlags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID |
                                   CLONE_NEWCGROUP | CLONE_NEWUSER | CLONE_NEWTIME;
constexpr size_t kStackSize = 128 * 1024;

// What the child does, prepared completely by the parent.
struct Plan {
  const char* path;
  char* const* argv;
  char* const* envp;
  int cloneFlags;   // without CLONE_NEWTIME
  bool newTime;     // unshare(CLONE_NEWTIME) in the child, see below
  const int (*setns)[2];  // {fd, nstype}
  size_t nsetns;
  const char* hostname;  // nullptr: keep
  size_t hostnameLen;
  bool setsid;
  const int* cgroupProcs;  // cgroup.procs fds (O_WRONLY): "0" written to each, the child joins those cgroups
  size_t ncgroupProcs;
  const char* cwd;       // nullptr: keep
  const int (*fds)[2];   // {child fd, parent fd}
  size_t nfds;
  int* scratch;          // nfds ints the child may write (temporary fd numbers)
  int maxTarget;         // highest child fd that must survive exec (>= 2)
  int devnull;           // O_CLOEXEC
  int reportFd;          // write end of the O_CLOEXEC report pipe
  const sigset_t* execMask;  // the signal mask the program starts with
  // detach: the intermediate clones the program on this stack and reports its pid here; the program sets
  // childFailed before it exits (the intermediate reaps it then). Shared memory (CLONE_VM): written by a
  // child before the vfork release, read after it.
  char* grandchildStack;
  volatile pid_t detachedPid;
  volatile int childFailed;
};

// What a failing child writes to the report pipe. Smaller than PIPE_BUF, so one atomic write.
struct Report {
  int err;
  char step[20];
};

[[noreturn]] void Fail(const Plan* p, int reportFd, const char* step) {
  const_cast<Plan*>(p)->childFailed = 1;
  Report r;
  r.err = errno;
  size_t i = 0;
  for (; step[i] != '\0' && i + 1 < sizeof r.step; i++) r.step[i] = step[i];
  for (; i < sizeof r.step; i++) r.step[i] = '\0';
  ssize_t n;
  do n = write(reportFd, &r, sizeof r);
  while (n < 0 && errno == EINTR);
  _exit(127);
}

int ChildMain(void* arg) {
  const Plan* p = static_cast<const Plan*>(arg);
  int report = p->reportFd;

  // Dispositions first (all signals are still blocked, see the top of the file).
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = SIG_DFL;
    sigaction(sig, &sa, nullptr);  // glibc refuses its two internal signals (EINVAL): they are not ours to reset
  }

  // Keep the report pipe out of the way of the fd numbers the caller wants (dup2 would overwrite it).
  int moved = fcntl(report, F_DUPFD_CLOEXEC, p->maxTarget + 1);
  if (moved < 0) Fail(p, report, "fcntl");
  report = moved;

  // A time namespace cannot be asked for in clone(): CLONE_NEWTIME (0x80) overlaps the exit-signal byte of
  // clone(2)'s flags (only clone3 has room for it). unshare(CLONE_NEWTIME) puts our future children into it,
  // and since Linux 6.0 execve moves the caller into its time_for_children namespace, so the program we exec
  // starts in the new one.
  if (p->newTime && unshare(CLONE_NEWTIME) != 0) Fail(p, report, "unshare");

  // In the caller's order: joining a user namespace first changes what the later setns calls may do.
  // Note: joining a pid namespace only places this child's children in it (pid namespaces never change for
  // a running process). Joining a time namespace fails here with EUSERS: the kernel wants a task whose memory
  // nobody shares, and this child still shares Node's until execve — that needs podns-helper. (mnt and user
  // work: this child has its own fs_struct and is a thread group of one.)
  for (size_t i = 0; i < p->nsetns; i++) {
    if (setns(p->setns[i][0], p->setns[i][1]) != 0) Fail(p, report, "setns");
  }
  if (p->hostname != nullptr && sethostname(p->hostname, p->hostnameLen) != 0) Fail(p, report, "sethostname");
  if (p->setsid && setsid() < 0) Fail(p, report, "setsid");
  // Into the caller's cgroups before exec (cgroup v1 has no CLONE_INTO_CGROUP): on v1 the first write waits
  // for an RCU grace period, the others ride on it. This thread, not the JS one, waits (spawnAsync: a pool
  // thread).
  for (size_t i = 0; i < p->ncgroupProcs; i++) {
    ssize_t n;
    do n = write(p->cgroupProcs[i], "0", 1);
    while (n < 0 && errno == EINTR);
    if (n != 1) Fail(p, report, "cgroup");
  }
  if (p->cwd != nullptr && chdir(p->cwd) != 0) Fail(p, report, "chdir");

  // fds: first copy every source above the highest target, so a mapping like {1: 3, 3: 1} cannot clobber a
  // source before it is used; then dup2 onto the targets (dup2 clears O_CLOEXEC on the new fd).
  int null = fcntl(p->devnull, F_DUPFD_CLOEXEC, p->maxTarget + 1);
  if (null < 0) Fail(p, report, "fcntl");
  for (size_t i = 0; i < p->nfds; i++) {
    p->scratch[i] = fcntl(p->fds[i][1], F_DUPFD_CLOEXEC, p->maxTarget + 1);
    if (p->scratch[i] < 0) Fail(p, report, "fcntl");
  }
  for (int std = 0; std <= 2; std++) {
    bool mapped = false;
    for (size_t i = 0; i < p->nfds; i++) mapped = mapped || p->fds[i][0] == std;
    if (!mapped && dup2(null, std) < 0) Fail(p, report, "dup2");
  }
  for (size_t i = 0; i < p->nfds; i++) {
    if (dup2(p->scratch[i], p->fds[i][0]) < 0) Fail(p, report, "dup2");
  }
  // Node's own fds are O_CLOEXEC, but fds Node inherited from its parent may not be. Mark every fd
  // close-on-exec, then clear the flag again on the ones we hand over: nothing else reaches the program.
  // Best effort: kernels before 5.11 do not know CLOSE_RANGE_CLOEXEC.
  if (syscall(SYS_close_range, 0u, ~0u, CLOSE_RANGE_CLOEXEC) == 0) {
    for (int std = 0; std <= 2; std++) {
      if (fcntl(std, F_SETFD, 0) != 0) Fail(p, report, "fcntl");
    }
    for (size_t i = 0; i < p->nfds; i++) {
      if (fcntl(p->fds[i][0], F_SETFD, 0) != 0) Fail(p, report, "fcntl");
    }
  }

  // Last: the program starts with nothing blocked (the mask survives execve), or with what the caller asked
  // to stay blocked (a pause that takes its signals synchronously: a SIGTERM sent before its main() runs
  // then waits for it instead of killing it).
  if (sigprocmask(SIG_SETMASK, p->execMask, nullptr) != 0) Fail(p, report, "sigprocmask");
  execve(p->path, p->argv, p->envp);
  Fail(p, report, "execve");
}

// The intermediate of a detached spawn (see the top of the file). Every signal is blocked (inherited),
// it shares Node's memory like the program does, and it only clones, waits and exits.
int IntermediateMain(void* arg) {
  Plan* p = static_cast<Plan*>(arg);
  pid_t pid = clone(ChildMain, p->grandchildStack, CLONE_VM | CLONE_VFORK | SIGCHLD | p->cloneFlags, p);
  if (pid < 0) Fail(p, p->reportFd, "clone");
  // Back here once the program has exec'd or exited. On failure it wrote the report and is exiting:
  // collect it (it is our child, not Node's), so no zombie waits for init.
  if (p->childFailed) {
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    _exit(127);
  }
  p->detachedPid = pid;
  _exit(0);
}

size_t StackSlot() { return kStackSize + static_cast<size_t>(sysconf(_SC_PAGESIZE)); }

// Two stack slots of this thread (see Spawn), or nullptr with errno set.
char* ChildStacks() {
  static thread_local char* stacks = nullptr;
  if (stacks != nullptr) return stacks;
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t slot = StackSlot();
  void* map = mmap(nullptr, 2 * slot, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return nullptr;
  mprotect(map, page, PROT_NONE);
  mprotect(static_cast<char*>(map) + slot, page, PROT_NONE);
  stacks = static_cast<char*>(map);
  return stacks;
}

// Owned, NUL-terminated string arrays in the execve shape.
struct CStrings {
  std::vector<std::string> strings;
  std::vector<char*> pointers;
  char* const* Finish() {
    pointers.clear();
    for (std::string& s : strings) pointers.push_back(&s[0]);
    pointers.push_back(nullptr);
    return pointers.data();
  }
};

void ReadStrings(Napi::Env env, const Napi::Value& v, const char* what, CStrings* out) {
  if (!v.IsArray()) ThrowType(env, std::string(what) + " must be an array of strings");
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); i++) {
    out->strings.push_back(String(env, a.Get(i), what));
  }
}

struct UniqueFd {
  int fd = -1;
  explicit UniqueFd(int f) : fd(f) {}
  ~UniqueFd() {
    if (fd >= 0) close(fd);
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
};

// Everything one spawn needs, read from the JS options (on the JS thread) into memory it owns: RunSpawn
// may then run on another thread (spawnAsync) without touching a JS value.
struct SpawnJob {
  std::string path;
  CStrings argv;
  CStrings envs;
  int cloneFlags = 0;
  std::vector<std::array<int, 2>> setnsList;
  bool hasHostname = false;
  std::string hostname;
  bool hasCwd = false;
  std::string cwd;
  std::vector<std::array<int, 2>> fds;
  int maxTarget = 2;
  bool doSetsid = false;
  std::vector<int> cgroupProcs;
  bool detach = false;
  sigset_t execMask;
};

// What RunSpawn did: the pid, or the errno and the step that failed (with the path it concerned).
struct SpawnResult {
  pid_t pid = -1;
  int err = 0;
  std::string syscall;
  const std::string* path = nullptr;
};

void ParseSpawn(Napi::Env env, const Napi::Value& value, SpawnJob* job) {
  if (!value.IsObject()) ThrowType(env, "spawn: options must be an object");
  Napi::Object opts = value.As<Napi::Object>();

  job->path = String(env, opts.Get("path"), "spawn: path");
  if (job->path.empty() || job->path[0] != '/') ThrowType(env, "spawn: path must be absolute (no PATH search is done)");

  ReadStrings(env, opts.Get("argv"), "spawn: argv", &job->argv);

  if (IsAbsent(opts.Get("env"))) {
    // Node's process.env writes go through setenv(), so this is the environment JS sees.
    for (char** e = environ; e != nullptr && *e != nullptr; e++) job->envs.strings.emplace_back(*e);
  } else {
    ReadStrings(env, opts.Get("env"), "spawn: env", &job->envs);
  }

  if (!IsAbsent(opts.Get("cloneFlags"))) {
    unsigned long f = Flags(env, opts.Get("cloneFlags"), "spawn: cloneFlags");
    if ((f & ~static_cast<unsigned long>(kAllowedCloneFlags)) != 0) {
      ThrowType(env, "spawn: cloneFlags may only hold CLONE_NEW* namespace flags");
    }
    job->cloneFlags = static_cast<int>(f);
  }

  if (!IsAbsent(opts.Get("setns"))) {
    Napi::Value v = opts.Get("setns");
    if (!v.IsArray()) ThrowType(env, "spawn: setns must be an array of {fd, nstype}");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsObject()) ThrowType(env, "spawn: setns entries must be {fd, nstype}");
      Napi::Object o = e.As<Napi::Object>();
      job->setnsList.push_back({Fd(env, o.Get("fd"), "spawn: setns[].fd"),
                                Int(env, o.Get("nstype"), "spawn: setns[].nstype", 0, INT_MAX)});
    }
  }

  job->hasHostname = !IsAbsent(opts.Get("hostname"));
  if (job->hasHostname) {
    job->hostname = String(env, opts.Get("hostname"), "spawn: hostname");
    // Without a UTS namespace of its own the child would rename the host.
    bool uts = (job->cloneFlags & CLONE_NEWUTS) != 0;
    for (auto& e : job->setnsList) uts = uts || e[1] == CLONE_NEWUTS;
    if (!uts) ThrowType(env, "spawn: hostname needs CLONE_NEWUTS in cloneFlags or a setns entry with nstype CLONE_NEWUTS");
  }

  job->hasCwd = !IsAbsent(opts.Get("cwd"));
  if (job->hasCwd) job->cwd = String(env, opts.Get("cwd"), "spawn: cwd");

  if (!IsAbsent(opts.Get("fds"))) {
    Napi::Value v = opts.Get("fds");
    if (!v.IsArray()) ThrowType(env, "spawn: fds must be an array of [childFd, parentFd]");
    Napi::Array a = v.As<Napi::Array>();
    std::set<int> targets;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value e = a.Get(i);
      if (!e.IsArray() || e.As<Napi::Array>().Length() != 2) ThrowType(env, "spawn: fds entries must be [childFd, parentFd]");
      Napi::Array pair = e.As<Napi::Array>();
      int child = Int(env, pair.Get(0u), "spawn: fds[][0]", 0, 1023);
      int parent = Fd(env, pair.Get(1u), "spawn: fds[][1]");
      if (!targets.insert(child).second) ThrowType(env, "spawn: fds maps child fd " + std::to_string(child) + " twice");
      job->fds.push_back({child, parent});
      if (child > job->maxTarget) job->maxTarget = child;
    }
  }
  job->doSetsid = Bool(env, opts.Get("setsid"), "spawn: setsid");
  if (!IsAbsent(opts.Get("cgroupProcs"))) {
    Napi::Value v = opts.Get("cgroupProcs");
    if (!v.IsArray()) ThrowType(env, "spawn: cgroupProcs must be an array of fds (cgroup.procs, opened for writing)");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) job->cgroupProcs.push_back(Fd(env, a.Get(i), "spawn: cgroupProcs[]"));
  }
  job->detach = Bool(env, opts.Get("detach"), "spawn: detach");

  sigemptyset(&job->execMask);
  if (!IsAbsent(opts.Get("blockSignals"))) {
    Napi::Value v = opts.Get("blockSignals");
    if (!v.IsArray()) ThrowType(env, "spawn: blockSignals must be an array of signal numbers");
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) {
      int sig = Int(env, a.Get(i), "spawn: blockSignals[]", 1, NSIG - 1);
      if (sig == SIGKILL || sig == SIGSTOP) ThrowType(env, "spawn: blockSignals cannot hold SIGKILL or SIGSTOP");
      sigaddset(&job->execMask, sig);
    }
  }
}

SpawnResult Failed(int err, const char* syscall, const std::string* path = nullptr) {
  SpawnResult r;
  r.err = err;
  r.syscall = syscall;
  r.path = path;
  return r;
}

// The spawn itself: syscalls only, no JS value touched (runs on the JS thread for spawn, on a libuv pool
// thread for spawnAsync; it blocks the calling thread, and only it, until the program has exec'd).
SpawnResult RunSpawn(SpawnJob& job) {
  static const std::string devnullPath = "/dev/null";
  UniqueFd devnull(open("/dev/null", O_RDWR | O_CLOEXEC));
  if (devnull.fd < 0) return Failed(errno, "open", &devnullPath);
  int reportFds[2];
  if (pipe2(reportFds, O_CLOEXEC) != 0) return Failed(errno, "pipe2");
  UniqueFd reportRead(reportFds[0]);
  UniqueFd reportWrite(reportFds[1]);

  // The children's stacks: two slots (the program's, and above it a detached spawn's intermediate's),
  // each with a guard page below it (stacks grow down). Mapped once per thread and kept: a fresh mapping
  // per spawn costs page faults for every stack page the child touches, and its munmap a TLB shootdown
  // on every CPU that runs one of Node's threads — together a good part of a spawn on a VM. Reuse is safe:
  // with CLONE_VFORK no child uses a stack after RunSpawn returns (it has exec'd or exited), and a thread
  // runs one RunSpawn at a time.
  char* stacks = ChildStacks();
  if (stacks == nullptr) return Failed(errno, "mmap");
  const size_t slot = StackSlot();
  std::vector<int> scratch(job.fds.size() + 1, -1);
  Plan plan;
  plan.path = job.path.c_str();
  plan.argv = job.argv.Finish();
  plan.envp = job.envs.Finish();
  plan.cloneFlags = job.cloneFlags & ~CLONE_NEWTIME;
  plan.newTime = (job.cloneFlags & CLONE_NEWTIME) != 0;
  plan.setns = reinterpret_cast<const int(*)[2]>(job.setnsList.data());
  plan.nsetns = job.setnsList.size();
  plan.hostname = job.hasHostname ? job.hostname.c_str() : nullptr;
  plan.hostnameLen = job.hostname.size();
  plan.setsid = job.doSetsid;
  plan.cgroupProcs = job.cgroupProcs.data();
  plan.ncgroupProcs = job.cgroupProcs.size();
  plan.cwd = job.hasCwd ? job.cwd.c_str() : nullptr;
  plan.fds = reinterpret_cast<const int(*)[2]>(job.fds.data());
  plan.nfds = job.fds.size();
  plan.scratch = scratch.data();
  plan.maxTarget = job.maxTarget;
  plan.devnull = devnull.fd;
  plan.reportFd = reportWrite.fd;
  plan.execMask = &job.execMask;
  plan.grandchildStack = stacks + slot;  // top of the lower stack
  plan.detachedPid = -1;
  plan.childFailed = 0;

  // Block everything (raw syscall: glibc's wrappers leave its two internal signals unblocked) so that no
  // signal handler of Node runs in the child before it has reset the dispositions.
  sigset_t all, old;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, &old, _NSIG / 8);
  char* stackTop = stacks + 2 * slot;
  // detach: the intermediate is born in no new namespace (it holds none); its child is.
  pid_t pid = job.detach ? clone(IntermediateMain, stackTop, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan)
                         : clone(ChildMain, stackTop, CLONE_VM | CLONE_VFORK | SIGCHLD | plan.cloneFlags, &plan);
  int cloneErr = errno;
  syscall(SYS_rt_sigprocmask, SIG_SETMASK, &old, nullptr, _NSIG / 8);
  // With CLONE_VFORK the child has exec'd or exited by now (a detached intermediate: exited, after its own
  // child exec'd or exited): the stacks are no longer in use.
  if (pid < 0) return Failed(cloneErr, "clone");
  if (job.detach) {
    // The intermediate has exited (or is exiting: the vfork release comes before the exit is complete).
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid = plan.detachedPid;
  }

  close(reportWrite.fd);
  reportWrite.fd = -1;
  Report report;
  ssize_t n;
  do n = read(reportRead.fd, &report, sizeof report);
  while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(sizeof report)) {
    // EOF: the report pipe closed at execve (O_CLOEXEC), so the program runs. (A detached intermediate
    // killed from outside before it could say which pid its child has: nothing to return.)
    if (pid <= 0) return Failed(ECHILD, "clone");
    SpawnResult ok;
    ok.pid = pid;
    return ok;
  }
  // The child failed before exec and has exited: reap it so no zombie is left behind (detached: the
  // intermediate reaped it, and we reaped the intermediate).
  if (!job.detach) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  report.step[sizeof report.step - 1] = '\0';
  std::string step = report.step;
  if (step == "execve") return Failed(report.err, "execve", &job.path);
  if (step == "chdir") return Failed(report.err, "chdir", &job.cwd);
  return Failed(report.err, report.step);
}

Napi::Error ResultError(Napi::Env env, const SpawnResult& r) {
  return ErrnoError(env, r.err, r.syscall.c_str(), r.path);
}

Napi::Value Spawn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SpawnJob job;
  ParseSpawn(env, info[0], &job);
  SpawnResult r = RunSpawn(job);
  if (r.err != 0) throw ResultError(env, r);
  return Napi::Number::New(env, r.pid);
}

// spawnAsync: the same spawn on a libuv pool thread; the JS thread goes on meanwhile (a pod's network is
// set up while its pause is being started). The fds named in the options must stay open until the promise
// settles.
class SpawnWorker : public Napi::AsyncWorker {
 public:
  SpawnWorker(Napi::Env env, std::unique_ptr<SpawnJob> job)
      : Napi::AsyncWorker(env, "podns:spawn"), job_(std::move(job)), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override { result_ = RunSpawn(*job_); }
  void OnOK() override {
    Napi::Env env = Env();
    if (result_.err != 0) deferred_.Reject(ResultError(env, result_).Value());
    else deferred_.Resolve(Napi::Number::New(env, result_.pid));
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  std::unique_ptr<SpawnJob> job_;
  SpawnResult result_;
  Napi::Promise::Deferred deferred_;
};

Napi::Value SpawnAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto job = std::make_unique<SpawnJob>();
  ParseSpawn(env, info[0], job.get());
  auto* worker = new SpawnWorker(env, std::move(job));  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitSpawn(Napi::Env env, Napi::Object exports) {
  exports.Set("spawn", Napi::Function::New(env, Spawn, "spawn"));
  exports.Set("spawnAsync", Napi::Function::New(env, SpawnAsync, "spawnAsync"));
}

}  // namespace podns
