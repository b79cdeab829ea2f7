// podns-ping: ICMP echo over a datagram ICMP socket, for the test and tour images.
//
// Why it exists: a container gets podman's default capabilities, which leave out NET_RAW. busybox's
// ping (1.35, the busybox-static the images are made from) only opens a raw socket, so it fails there.
// The kernel has a second way: socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP), allowed to any process whose
// group is inside net.ipv4.ping_group_range of its network namespace. podns sets that range in every
// pod's netns (as podman does), and iputils' ping uses this socket when it has no NET_RAW; this small
// static program does the same, so the images show the real behaviour without granting NET_RAW.
//
// With a datagram ICMP socket the kernel writes the identifier (it is the socket's "port") and checks
// replies against it; we fill in type, code, sequence and payload, and the kernel computes the checksum.
//
//   podns-ping [-c COUNT] [-W SECONDS] [-i SECONDS] [-q] IPV4
// Output as iputils/busybox print it; exit 0 when at least one reply came, 1 when none, 2 on bad usage.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../common/errname.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int usage(const char *why) {
  fprintf(stderr, "ping: %s\nusage: ping [-c COUNT] [-W SECONDS] [-i SECONDS] [-q] IPV4-ADDRESS\n", why);
  return 2;
}

static int parse_pos(const char *s, double max, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !(v > 0) || v > max) return -1;
  *out = v;
  return 0;
}

int main(int argc, char **argv) {
  double count = 0, wait_s = 10, interval_s = 1;
  int quiet = 0, opt;
  while ((opt = getopt(argc, argv, "c:W:i:q")) != -1) {
    switch (opt) {
    case 'c': if (parse_pos(optarg, 1e9, &count) < 0) return usage("bad -c: give a number of packets"); break;
    case 'W': if (parse_pos(optarg, 3600, &wait_s) < 0) return usage("bad -W: give seconds"); break;
    case 'i': if (parse_pos(optarg, 3600, &interval_s) < 0) return usage("bad -i: give seconds"); break;
    case 'q': quiet = 1; break;
    default: return usage("unknown option");
    }
  }
  if (optind != argc - 1) return usage("give one address");
  const char *host = argv[optind];
  struct sockaddr_in dst = {.sin_family = AF_INET};
  if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) return usage("not an IPv4 address (this ping resolves no names)");

  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (s < 0) {
    // EACCES: our group is outside net.ipv4.ping_group_range in this network namespace
    fprintf(stderr, "ping: socket(SOCK_DGRAM, IPPROTO_ICMP): %s (%s)%s\n", podns_errname(errno), strerror(errno),
            errno == EACCES ? ": the group is outside net.ipv4.ping_group_range" : "");
    return 2;
  }
  printf("PING %s (%s): 56 data bytes\n", host, host);
  fflush(stdout);

  long sent = 0, received = 0;
  double tmin = 0, tmax = 0, tsum = 0;
  double start = now_ms(), next = start;
  for (;;) {
    double t = now_ms();
    if (count > 0 && sent >= (long)count) {
      // the last echo gets up to -W seconds for its reply, then we stop
      if (received >= sent || t - next + interval_s * 1e3 >= wait_s * 1e3) break;
    } else if (t >= next) {
      unsigned char pkt[64];
      memset(pkt, 0, sizeof pkt);
      struct icmphdr *h = (struct icmphdr *)pkt;
      h->type = ICMP_ECHO;
      h->un.echo.sequence = htons((unsigned short)sent);
      memcpy(pkt + sizeof *h, &t, sizeof t); // send time, echoed back
      if (sendto(s, pkt, sizeof *h + 56, 0, (struct sockaddr *)&dst, sizeof dst) < 0) {
        fprintf(stderr, "ping: sendto: %s (%s)\n", podns_errname(errno), strerror(errno));
      }
      sent++;
      next += interval_s * 1e3;
      continue;
    }
    double until = (count > 0 && sent >= (long)count) ? next - interval_s * 1e3 + wait_s * 1e3 : next;
    int timeout = (int)(until - now_ms());
    struct pollfd p = {s, POLLIN, 0};
    if (poll(&p, 1, timeout < 0 ? 0 : timeout) <= 0) continue;
    unsigned char buf[256];
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
    if (n < (ssize_t)(sizeof(struct icmphdr) + sizeof(double))) continue;
    struct icmphdr *r = (struct icmphdr *)buf;
    if (r->type != ICMP_ECHOREPLY) continue;
    double sent_at;
    memcpy(&sent_at, buf + sizeof *r, sizeof sent_at);
    double rtt = now_ms() - sent_at;
    if (received == 0 || rtt < tmin) tmin = rtt;
    if (rtt > tmax) tmax = rtt;
    tsum += rtt;
    received++;
    if (!quiet) {
      char a[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &from.sin_addr, a, sizeof a);
      printf("%zd bytes from %s: seq=%u time=%.3f ms\n", n, a, ntohs(r->un.echo.sequence), rtt);
      fflush(stdout);
    }
  }
  printf("\n--- %s ping statistics ---\n%ld packets transmitted, %ld packets received, %ld%% packet loss\n", host, sent,
         received, sent ? (sent - received) * 100 / sent : 0);
  if (received) printf("round-trip min/avg/max = %.3f/%.3f/%.3f ms\n", tmin, tsum / (double)received, tmax);
  return received ? 0 : 1;
}
