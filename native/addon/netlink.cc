// Netlink sockets for the rtnetlink code in src/network/netlink (which builds and parses the messages).
//
// A netlink socket belongs to the network namespace it was created in, for its whole life, whatever
// namespace the process is in later. So to talk to a pod's netns we only need to be inside it for the
// socket() call; the thread switches in and straight back within this one synchronous call.

#include <vector>
#include "common.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <poll.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <string>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_GET_STRICT_CHK
#define NETLINK_GET_STRICT_CHK 12
#endif

namespace podns {
namespace {

constexpr int kBufferSize = 1 << 20;

// A bound rtnetlink (or other protocol) socket in the calling thread's current netns, set up as nlOpen
// documents; -errno and the failing call on failure.
int OpenNetlinkHere(int protocol, const char** failed) {
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (sock < 0) {
    *failed = "socket";
    return -errno;
  }
  struct sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks a unique port id
  if (bind(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(sock);
    *failed = "bind";
    return -err;
  }
  // Dumps of many links/routes arrive faster than JS reads them; a small buffer drops messages (ENOBUFS).
  // SO_RCVBUFFORCE ignores net.core.rmem_max (needs CAP_NET_ADMIN); otherwise take what rmem_max allows.
  int size = kBufferSize;
  if (setsockopt(sock, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
    setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  // Best effort, both exist since Linux 4.12 / 4.20: the kernel's own error text in NLMSG_ERROR
  // (extended ack), and dump requests checked strictly instead of silently ignoring bad filters.
  int one = 1;
  setsockopt(sock, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
  setsockopt(sock, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one);
  return sock;
}

Napi::Value NlOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int protocol = Int(env, info[0], "nlOpen: protocol", 0, 31);
  bool inNetns = !IsAbsent(info[1]);
  int netnsFd = inNetns ? Fd(env, info[1], "nlOpen: netnsFd") : -1;

  int home = -1;
  if (inNetns) {
    // thread-self, not self: setns moves only the calling thread, and /proc/self/ns/net is the netns of the
    // main thread, which is not ours when this runs on a worker thread.
    home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) ThrowErrno(env, errno, "open", std::string("/proc/thread-self/ns/net"));
    if (setns(netnsFd, CLONE_NEWNET) != 0) {
      int err = errno;
      close(home);
      ThrowErrno(env, err, "setns");
    }
  }
  const char* failed = nullptr;
  int sock = OpenNetlinkHere(protocol, &failed);
  if (inNetns) {
    // Going home cannot be allowed to fail quietly. This is one of Node's threads (usually the JS thread);
    // left in the pod's netns, every socket Node opens from now on (servers, DNS, other netlink sockets)
    // would silently live in the pod's network, and any thread it starts would be born there too.
    // A thrown error can be caught and ignored, so stop the process instead. (With a valid fd to the
    // namespace we were just in, this fails only on resource exhaustion or an LSM veto.)
    if (setns(home, CLONE_NEWNET) != 0) {
      Napi::Error::Fatal("podns_native nlOpen", "cannot switch the thread back to its own network namespace");
    }
    close(home);
  }
  if (sock < 0) ThrowErrno(env, -sock, failed);
  return Napi::Number::New(env, sock);
}

Napi::Value NlSend(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "nlSend: fd");
  if (!info[1].IsBuffer()) ThrowType(env, "nlSend: msg must be a Buffer");
  Napi::Buffer<uint8_t> msg = info[1].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  // Unconnected netlink socket: without an address, send() goes to the kernel (port id 0).
  do n = send(fd, msg.Data(), msg.Length(), 0);
  while (n < 0 && errno == EINTR);
  if (n < 0) ThrowErrno(env, errno, "send");
  // A datagram goes whole or not at all; a short count would mean a broken kernel contract.
  if (static_cast<size_t>(n) != msg.Length()) ThrowErrno(env, EMSGSIZE, "send");
  return env.Undefined();
}

// nlSend on a libuv pool thread. The kernel runs a netlink request inside the sender's send(): deleting a
// link waits there for RCU grace periods (tens of milliseconds), which must not hold up the event loop of
// a long-running server. The message is copied; the promise settles once the kernel has run it (its answer
// is then in the socket, for nlRecv). Use a socket no one else reads meanwhile.
class NlSendWorker : public ErrnoPromiseWorker {
 public:
  NlSendWorker(Napi::Env env, int fd, const uint8_t* data, size_t len)
      : ErrnoPromiseWorker(env, "podns:nlsend", "send"), fd_(fd), msg_(data, data + len) {}

 protected:
  int Run() override {
    ssize_t n;
    do n = send(fd_, msg_.data(), msg_.size(), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0) return errno;
    return static_cast<size_t>(n) != msg_.size() ? EMSGSIZE : 0;
  }

 private:
  int fd_;
  std::vector<uint8_t> msg_;
};

Napi::Value NlSendAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "nlSendAsync: fd");
  if (!info[1].IsBuffer()) ThrowType(env, "nlSendAsync: msg must be a Buffer");
  Napi::Buffer<uint8_t> msg = info[1].As<Napi::Buffer<uint8_t>>();
  auto* worker = new NlSendWorker(env, fd, msg.Data(), msg.Length());  // deletes itself once settled
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

// One datagram FROM THE KERNEL into buf, waiting at most timeoutMs for it (ETIMEDOUT after that: a
// long-running process must not hang on a socket that never answers). Any process may send to our port id
// (unicast needs no privilege), so a datagram whose sender is not the kernel (nl_pid != 0) is dropped and
// the wait goes on: a forged ACK or error can never stand in for the kernel's answer.
Napi::Value NlRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "nlRecv: fd");
  if (!info[1].IsBuffer()) ThrowType(env, "nlRecv: buf must be a Buffer");
  Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
  int timeoutMs = Int(env, info[2], "nlRecv: timeoutMs", 0, INT_MAX);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
    long left = timeoutMs - elapsed;
    struct pollfd p = {fd, POLLIN, 0};
    int rc = poll(&p, 1, left > 0 ? static_cast<int>(left) : 0);
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) ThrowErrno(env, errno, "poll");
    if (rc == 0) ThrowErrno(env, ETIMEDOUT, "recv");
    struct sockaddr_nl from = {};
    socklen_t fromLen = sizeof from;
    // MSG_TRUNC: return the datagram's real length, so a too-small buffer is an error, not a silent cut.
    ssize_t n = recvfrom(fd, buf.Data(), buf.Length(), MSG_TRUNC | MSG_DONTWAIT, reinterpret_cast<struct sockaddr*>(&from), &fromLen);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    // ENOBUFS: the kernel dropped messages (receive buffer overrun); the caller must resync.
    if (n < 0) ThrowErrno(env, errno, "recv");
    if (fromLen < sizeof from || from.nl_family != AF_NETLINK || from.nl_pid != 0) continue;  // not the kernel
    if (static_cast<size_t>(n) > buf.Length()) ThrowErrno(env, EMSGSIZE, "recv");
    return Napi::Number::New(env, static_cast<double>(n));
  }
}

// New, empty namespaces (net, ipc, uts; any of them) as fds (O_CLOEXEC), with no process in them:
// unshare() moves the calling thread into them (a thread may, for these three: only mnt and user need a
// single-threaded process), sethostname() names the new uts namespace, their /proc/thread-self/ns/* are
// opened, and the thread goes back to its own namespaces at once, within this one call. A namespace lives
// as long as something holds it: the fd, a process that joins it (setns in spawn), a pin. Lets a pod's
// namespaces be pinned and its network set up while its pause is still being started (src/pod/create.ts).
Napi::Value NsCreate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  unsigned long flags = Flags(env, info[0], "nsCreate: flags");
  if (flags == 0 || (flags & ~static_cast<unsigned long>(CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)) != 0) {
    ThrowType(env, "nsCreate: flags must be CLONE_NEWNET, CLONE_NEWIPC and/or CLONE_NEWUTS");
  }
  bool hasHostname = !IsAbsent(info[1]);
  std::string hostname = hasHostname ? String(env, info[1], "nsCreate: hostname") : std::string();
  if (hasHostname && (flags & CLONE_NEWUTS) == 0) ThrowType(env, "nsCreate: hostname needs CLONE_NEWUTS");
  bool wantNl = !IsAbsent(info[2]);
  int protocol = wantNl ? Int(env, info[2], "nsCreate: netlinkProtocol", 0, 31) : 0;
  if (wantNl && (flags & CLONE_NEWNET) == 0) ThrowType(env, "nsCreate: netlinkProtocol needs CLONE_NEWNET");
  int nl = -1;
  // netSysctls: {"net.ipv4.ping_group_range": "0 2147483647"}: written into the new netns's own copies
  // (/proc/sys/net/* resolves to the netns of the thread that opens it), never the caller's.
  std::vector<std::pair<std::string, std::string>> sysctls;
  if (!IsAbsent(info[3])) {
    if (!info[3].IsObject() || (flags & CLONE_NEWNET) == 0) ThrowType(env, "nsCreate: netSysctls must be an object, with CLONE_NEWNET");
    Napi::Object o = info[3].As<Napi::Object>();
    Napi::Array keys = o.GetPropertyNames();
    for (uint32_t i = 0; i < keys.Length(); i++) {
      std::string key = String(env, keys.Get(i), "nsCreate: netSysctls key");
      bool ok = key.rfind("net.", 0) == 0 && key.size() < 128 && key.find("..") == std::string::npos && key.back() != '.';
      for (char c : key) ok = ok && (isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-');
      if (!ok) ThrowType(env, "nsCreate: netSysctls keys are net.* sysctl names");
      std::string path = "/proc/sys/" + key;
      for (size_t k = 10; k < path.size(); k++) if (path[k] == '.') path[k] = '/';
      sysctls.emplace_back(path, String(env, o.Get(keys.Get(i)), "nsCreate: netSysctls value"));
    }
  }
  std::string failedPath;

  struct Kind {
    int flag;
    const char* name;
    int home = -1;
    int fd = -1;
  };
  Kind kinds[3] = {{CLONE_NEWNET, "net"}, {CLONE_NEWIPC, "ipc"}, {CLONE_NEWUTS, "uts"}};
  auto closeAll = [&]() {
    for (Kind& k : kinds) {
      if (k.home >= 0) close(k.home);
      if (k.fd >= 0) close(k.fd);
    }
  };
  for (Kind& k : kinds) {
    if ((flags & static_cast<unsigned long>(k.flag)) == 0) continue;
    std::string path = std::string("/proc/thread-self/ns/") + k.name;
    k.home = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (k.home < 0) {
      int err = errno;
      closeAll();
      ThrowErrno(env, err, "open", path);
    }
  }
  if (unshare(static_cast<int>(flags)) != 0) {
    int err = errno;
    closeAll();
    ThrowErrno(env, err, "unshare");
  }
  int err = 0;
  const char* failed = nullptr;
  if (hasHostname && sethostname(hostname.c_str(), hostname.size()) != 0) {
    err = errno;
    failed = "sethostname";
  }
  for (Kind& k : kinds) {
    if (k.home < 0 || err != 0) continue;
    std::string path = std::string("/proc/thread-self/ns/") + k.name;
    k.fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (k.fd < 0) {
      err = errno;
      failed = "open";
    }
  }
  for (auto& sc : sysctls) {
    if (err != 0) break;
    int fd = open(sc.first.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, sc.second.data(), sc.second.size()) != static_cast<ssize_t>(sc.second.size())) {
      err = errno != 0 ? errno : EIO;
      failed = fd < 0 ? "open" : "write";
      failedPath = sc.first;
    }
    if (fd >= 0) close(fd);
  }
  // A netlink socket of the new netns, opened while the thread is in it anyway (nlOpen would switch
  // there and back again for it).
  if (wantNl && err == 0) {
    nl = OpenNetlinkHere(protocol, &failed);
    if (nl < 0) err = -nl;
  }
  // As in nlOpen: a thread left in a pod's namespace would put every socket Node opens from now on in the
  // pod's network (and a hostname change in the pod's uts namespace would rename ours): stop instead.
  for (Kind& k : kinds) {
    if (k.home < 0) continue;
    if (setns(k.home, k.flag) != 0) {
      Napi::Error::Fatal("podns_native nsCreate", "cannot switch the thread back to its own namespaces");
    }
    close(k.home);
    k.home = -1;
  }
  if (err != 0) {
    closeAll();
    if (nl >= 0) close(nl);
    if (!failedPath.empty()) ThrowErrno(env, err, failed, failedPath);
    ThrowErrno(env, err, failed);
  }
  Napi::Object out = Napi::Object::New(env);
  for (Kind& k : kinds) {
    if (k.fd >= 0) out.Set(k.name, Napi::Number::New(env, k.fd));
  }
  if (nl >= 0) out.Set("nl", Napi::Number::New(env, nl));
  return out;
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("nsCreate", Napi::Function::New(env, NsCreate, "nsCreate"));
  exports.Set("nlOpen", Napi::Function::New(env, NlOpen, "nlOpen"));
  exports.Set("nlSend", Napi::Function::New(env, NlSend, "nlSend"));
  exports.Set("nlSendAsync", Napi::Function::New(env, NlSendAsync, "nlSendAsync"));
  exports.Set("nlRecv", Napi::Function::New(env, NlRecv, "nlRecv"));
}

}  // namespace podns
