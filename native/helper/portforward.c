// podns-helper portforward --netns PATH --port N
//
// One forwarded connection of the CRI's PortForward: joins the network namespace at PATH (a pod's pinned
// netns), connects to 127.0.0.1:N there (then [::1]:N, for a server listening on IPv6 loopback only),
// and relays stdin → socket and socket → stdout until the socket's side ends. The helper, not Node, joins
// the namespace: setns() of a Node thread would move that thread (and threads born meanwhile) into the
// pod's network. Only the network namespace is joined; nothing of the pod runs here.
//
// Errors before the relay starts: the usual line on stderr ("podns-helper portforward: connect
// 127.0.0.1:N: ECONNREFUSED (Connection refused)") and exit 125; the caller passes it on to its client.
// stdin's EOF half-closes the connection (shutdown SHUT_WR), so a server that answers after reading
// everything still gets to answer; the socket's EOF ends the relay (exit 0).
#include "common.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

static int connect_loopback(long port, int *err) {
  struct sockaddr_in v4 = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port), .sin_addr = {htonl(INADDR_LOOPBACK)}};
  struct sockaddr_in6 v6 = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port), .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  const struct sockaddr *addrs[2] = {(const struct sockaddr *)&v4, (const struct sockaddr *)&v6};
  socklen_t lens[2] = {sizeof v4, sizeof v6};
  *err = 0;
  for (int k = 0; k < 2; k++) {
    int s = socket(addrs[k]->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) {
      if (*err == 0) *err = errno;
      continue;
    }
    if (connect(s, addrs[k], lens[k]) == 0) return s;
    if (*err == 0 || *err == EAFNOSUPPORT || *err == EADDRNOTAVAIL) *err = errno;
    close(s);
  }
  return -1;
}

int portforward_main(int argc, char **argv) {
  const char *netns = NULL;
  long port = -1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--netns") == 0 && i + 1 < argc) {
      netns = argv[++i];
    } else if (strcmp(argv[i], "--port") == 0 && i + 1 < argc) {
      if (!parse_long(argv[++i], 1, 65535, &port)) die_usage("--port wants a port number 1-65535, got \"%s\"", argv[i]);
    } else {
      die_usage("unknown argument \"%s\" (usage: podns-helper portforward --netns PATH --port N)", argv[i]);
    }
  }
  if (netns == NULL || port < 0) die_usage("usage: podns-helper portforward --netns PATH --port N");
  cloexec_from(3);

  int nsfd = open(netns, O_RDONLY | O_CLOEXEC);
  char step[300];
  if (nsfd < 0) {
    snprintf(step, sizeof step, "open %s", netns);
    die_errno(step);
  }
  if (setns(nsfd, CLONE_NEWNET) != 0) {
    snprintf(step, sizeof step, "setns net %s", netns);
    die_errno(step);
  }
  close(nsfd);
  int err;
  int s = connect_loopback(port, &err);
  if (s < 0) {
    snprintf(step, sizeof step, "connect 127.0.0.1:%ld", port);
    die_errno_code(EXIT_SETUP, err, step);
  }
  int one = 1;
  (void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  signal(SIGPIPE, SIG_IGN);

  bool in_open = true;
  char buf[65536];
  for (;;) {
    struct pollfd p[2] = {{.fd = s, .events = POLLIN}, {.fd = in_open ? STDIN_FILENO : -1, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      die_errno("poll");
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) {
        in_open = false;
        (void)shutdown(s, SHUT_WR);
      } else if (write_all(s, buf, (size_t)n) != 0) {
        in_open = false;  // the server closed its reading side: drop the rest, keep reading its answer
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(s, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n < 0 && errno != ECONNRESET) die_errno("read");
      if (n <= 0) break;
      if (write_all(STDOUT_FILENO, buf, (size_t)n) != 0) break;  // the client is gone
    }
  }
  close(s);
  return 0;
}
