// Netlink sockets for the rtnetlink code in src/network/netlink (which builds and parses the messages).
//
// A netlink socket belongs to the network namespace it was created in, for its whole life, whatever
// namespace the process is in later. So to talk to a pod's netns we only need to be inside it for the
// socket() call; the thread switches in and straight back within this one synchronous call.

#include "common.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
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
  int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  int socketErr = errno;
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
  if (sock < 0) ThrowErrno(env, socketErr, "socket");

  struct sockaddr_nl addr = {};
  addr.nl_family = AF_NETLINK;  // nl_pid 0: the kernel picks a unique port id
  if (bind(sock, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) != 0) {
    int err = errno;
    close(sock);
    ThrowErrno(env, err, "bind");
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

Napi::Value NlRecv(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = Fd(env, info[0], "nlRecv: fd");
  if (!info[1].IsBuffer()) ThrowType(env, "nlRecv: buf must be a Buffer");
  Napi::Buffer<uint8_t> buf = info[1].As<Napi::Buffer<uint8_t>>();
  ssize_t n;
  // MSG_TRUNC: return the datagram's real length, so a too-small buffer is an error, not a silent cut.
  do n = recv(fd, buf.Data(), buf.Length(), MSG_TRUNC);
  while (n < 0 && errno == EINTR);
  // ENOBUFS: the kernel dropped messages (receive buffer overrun); the caller must resync.
  if (n < 0) ThrowErrno(env, errno, "recv");
  if (static_cast<size_t>(n) > buf.Length()) ThrowErrno(env, EMSGSIZE, "recv");
  return Napi::Number::New(env, static_cast<double>(n));
}

}  // namespace

void InitNetlink(Napi::Env env, Napi::Object exports) {
  exports.Set("nlOpen", Napi::Function::New(env, NlOpen, "nlOpen"));
  exports.Set("nlSend", Napi::Function::New(env, NlSend, "nlSend"));
  exports.Set("nlRecv", Napi::Function::New(env, NlRecv, "nlRecv"));
}

}  // namespace podns
