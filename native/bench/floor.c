// podns-floor: the kernel floor for `npm run bench`.
//
// It makes the same pod podns makes, with nothing in between: raw syscalls and raw rtnetlink, single
// threaded, no state files, no locks. Whatever podns spends above these numbers is podns's own cost.
//
//   podns-floor pod N   [opts]  create + tear down one pod, N times in a row (one bridge for the run)
//   podns-floor scale N [opts]  create N pods and keep them all, then tear them all down
//   podns-floor exec N  [opts]  fork + setns(net, ipc, uts of a holder) + execve, N times
//   podns-floor shell N [opts]  the same pod as `pod`, made by the commands a shell script would run
//                               (unshare, ip, nsenter), N times; spawned from this small process so
//                               Node's own fork cost is not charged to them
//   podns-floor stacks PID ...  a kernel wait-stack sampler for the bench's profiles (see below)
//
//   --ipv6 on|off     off: disable_ipv6 (sysctl default) for the bridge and the host veths, no address
//                     generation on the pods' eth0 (default on, what a fresh network namespace gives)
//   --queues one|default  one (default): the veth gets one rx/tx queue pair; default: the kernel's
//                     choice (one per possible CPU, then cut back to one with a synchronize_rcu each)
//   --bulk-delete on|off  scale: delete all host veths with one RTM_DELLINK of their device group
//                     (no per-pod delete times; for runs that only need the creates)
//   --pause PATH      the pod's holder execs PATH (the podns pause) instead of sleeping in pause(2)
//   --prog PATH       exec mode: the program to exec (default /bin/true)
//   --bridge NAME     default flbr0 (shell mode: shbr0)
//   --subnet A.B      the /16 the pods live in, A.B.0.0/16, gateway A.B.0.1 (default 10.200; shell 10.201)
//
// Output: one JSON object on stdout, times in nanoseconds, one entry per pod or per exec.
// Must run in a network namespace of its own (npm run bench puts it in the podns-helper sandbox):
// it makes a bridge, veths and sysctl writes in the current netns and removes them at the end.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static const char *opt_pause = NULL;
static const char *opt_prog = "/bin/true";
static const char *opt_bridge = NULL;
static const char *opt_subnet = NULL;
static int opt_ipv6 = 1;
static int opt_one_queue = 1;
static int opt_bulk_delete = 0;

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("podns-floor: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

// ---------------------------------------------------------------------------------------------
// rtnetlink: one request buffer, attributes appended in place, one ack read per request.

struct req {
  struct nlmsghdr *n;
  char buf[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static uint32_t seq;

static void *req_init(struct req *r, uint16_t type, uint16_t flags, size_t hdrlen) {
  memset(r->buf, 0, sizeof r->buf);
  r->n = (struct nlmsghdr *)r->buf;
  r->n->nlmsg_len = NLMSG_LENGTH(hdrlen);
  r->n->nlmsg_type = type;
  r->n->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
  r->n->nlmsg_seq = ++seq;
  return NLMSG_DATA(r->n);
}

static struct rtattr *attr(struct req *r, uint16_t type, const void *data, size_t len) {
  size_t off = NLMSG_ALIGN(r->n->nlmsg_len);
  if (off + RTA_SPACE(len) > sizeof r->buf) die("netlink request too large");
  struct rtattr *a = (struct rtattr *)(r->buf + off);
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->n->nlmsg_len = off + RTA_SPACE(len);
  return a;
}

static void attr_u32(struct req *r, uint16_t type, uint32_t v) { attr(r, type, &v, sizeof v); }
static void attr_str(struct req *r, uint16_t type, const char *s) { attr(r, type, s, strlen(s) + 1); }
static struct rtattr *nest(struct req *r, uint16_t type) { return attr(r, type, NULL, 0); }
static void nest_end(struct req *r, struct rtattr *a) { a->rta_len = (unsigned short)(r->buf + r->n->nlmsg_len - (char *)a); }

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die("socket(AF_NETLINK): %s", strerror(errno));
  int one = 1;
  // Errors come back without the request echoed: smaller acks.
  setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
  return fd;
}

// Sends the request and reads its ack; returns 0 or -errno. With reply, the first non-ack message
// (for RTM_GETLINK) is copied there.
static int nl_talk(int fd, struct req *r, char *reply, size_t replylen) {
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  if (sendto(fd, r->buf, r->n->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) return -errno;
  char buf[8192] __attribute__((aligned(NLMSG_ALIGNTO)));
  for (;;) {
    ssize_t len = recv(fd, buf, sizeof buf, 0);
    if (len < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != r->n->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
      if (reply && h->nlmsg_len <= replylen) memcpy(reply, h, h->nlmsg_len);
    }
  }
}

static void must(int rc, const char *what) {
  if (rc < 0) die("%s: %s", what, strerror(-rc));
}

static int link_index(int fd, const char *name) {
  struct req r;
  req_init(&r, RTM_GETLINK, 0, sizeof(struct ifinfomsg));
  attr_str(&r, IFLA_IFNAME, name);
  char reply[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
  memset(reply, 0, sizeof reply);
  int rc = nl_talk(fd, &r, reply, sizeof reply);
  if (rc < 0) return rc;
  struct nlmsghdr *h = (struct nlmsghdr *)reply;
  if (h->nlmsg_type != RTM_NEWLINK) return -ENODEV;
  return ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
}

static int link_up(int fd, int ifindex) {
  struct req r;
  struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof *ifi);
  ifi->ifi_index = ifindex;
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  return nl_talk(fd, &r, NULL, 0);
}

static int addr_gen_none(int fd, int ifindex) {
  struct req r;
  struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, 0, sizeof *ifi);
  ifi->ifi_index = ifindex;
  struct rtattr *af = nest(&r, IFLA_AF_SPEC);
  struct rtattr *in6 = nest(&r, AF_INET6);
  uint8_t mode = IN6_ADDR_GEN_MODE_NONE;
  attr(&r, IFLA_INET6_ADDR_GEN_MODE, &mode, 1);
  nest_end(&r, in6);
  nest_end(&r, af);
  return nl_talk(fd, &r, NULL, 0);
}

static int link_del(int fd, const char *name) {
  struct req r;
  req_init(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
  attr_str(&r, IFLA_IFNAME, name);
  return nl_talk(fd, &r, NULL, 0);
}

// All host veths of a run are in one device group: --bulk-delete removes them with one RTM_DELLINK,
// one unregister batch, one RCU barrier (instead of one per veth, ~30 ms each).
enum { FLOOR_GROUP = 7321 };

static int group_del(int fd, uint32_t group) {
  struct req r;
  req_init(&r, RTM_DELLINK, 0, sizeof(struct ifinfomsg));
  attr_u32(&r, IFLA_GROUP, group);
  return nl_talk(fd, &r, NULL, 0);
}

static int addr_add(int fd, int ifindex, uint32_t ip, int prefix) {
  struct req r;
  struct ifaddrmsg *ifa = req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
  ifa->ifa_family = AF_INET;
  ifa->ifa_prefixlen = (unsigned char)prefix;
  ifa->ifa_index = (unsigned)ifindex;
  uint32_t be = htonl(ip);
  attr(&r, IFA_LOCAL, &be, 4);
  attr(&r, IFA_ADDRESS, &be, 4);
  return nl_talk(fd, &r, NULL, 0);
}

static int route_default(int fd, int ifindex, uint32_t gw) {
  struct req r;
  struct rtmsg *rt = req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
  rt->rtm_family = AF_INET;
  rt->rtm_table = RT_TABLE_MAIN;
  rt->rtm_protocol = RTPROT_BOOT;
  rt->rtm_scope = RT_SCOPE_UNIVERSE;
  rt->rtm_type = RTN_UNICAST;
  uint32_t be = htonl(gw);
  attr(&r, RTA_GATEWAY, &be, 4);
  attr_u32(&r, RTA_OIF, (uint32_t)ifindex);
  return nl_talk(fd, &r, NULL, 0);
}

static int bridge_add(int fd, const char *name) {
  struct req r;
  struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  attr_str(&r, IFLA_IFNAME, name);
  struct rtattr *li = nest(&r, IFLA_LINKINFO);
  attr_str(&r, IFLA_INFO_KIND, "bridge");
  nest_end(&r, li);
  return nl_talk(fd, &r, NULL, 0);
}

// The whole veth in one message: host end named `host`, up, enslaved to the bridge; the peer is born
// as eth0 inside the pod's netns (IFLA_NET_NS_FD, so it never exists in ours). The peer cannot be
// brought up in the same message: veth_open of a half-made pair fails with ENOTCONN.
static int veth_add(int fd, const char *host, int master, int netnsfd) {
  struct req r;
  struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifi);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  attr_str(&r, IFLA_IFNAME, host);
  attr_u32(&r, IFLA_MASTER, (uint32_t)master);
  attr_u32(&r, IFLA_GROUP, FLOOR_GROUP);
  if (opt_one_queue) {
    attr_u32(&r, IFLA_NUM_TX_QUEUES, 1);
    attr_u32(&r, IFLA_NUM_RX_QUEUES, 1);
  }
  struct rtattr *li = nest(&r, IFLA_LINKINFO);
  attr_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = nest(&r, IFLA_INFO_DATA);
  struct rtattr *peer = nest(&r, VETH_INFO_PEER);
  struct ifinfomsg pifi = {.ifi_family = AF_UNSPEC};
  size_t off = NLMSG_ALIGN(r.n->nlmsg_len);
  memcpy(r.buf + off, &pifi, sizeof pifi);
  r.n->nlmsg_len = off + NLMSG_ALIGN(sizeof pifi);
  attr_str(&r, IFLA_IFNAME, "eth0");
  attr_u32(&r, IFLA_NET_NS_FD, (uint32_t)netnsfd);
  if (opt_one_queue) {
    attr_u32(&r, IFLA_NUM_TX_QUEUES, 1);
    attr_u32(&r, IFLA_NUM_RX_QUEUES, 1);
  }
  nest_end(&r, peer);
  nest_end(&r, data);
  nest_end(&r, li);
  return nl_talk(fd, &r, NULL, 0);
}

// ---------------------------------------------------------------------------------------------
// sysctls (per netns: /proc/sys/net resolves against the opener's current netns)

static int write_file(const char *path, const char *val) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t w = write(fd, val, strlen(val));
  int e = w < 0 ? -errno : 0;
  close(fd);
  return e;
}

static int read_file(const char *path, char *buf, size_t len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t n = read(fd, buf, len - 1);
  close(fd);
  if (n < 0) return -errno;
  buf[n] = 0;
  return 0;
}

// ---------------------------------------------------------------------------------------------
// the pod

struct pod {
  pid_t pid;
  void *stack;
  char veth[IFNAMSIZ];
};

static int host_ns = -1;   // our own netns, to come back to after a setns
static int nl = -1;        // rtnetlink socket in our netns
static int br_index;
static uint32_t net_base;  // A.B.0.0 in host order
static char saved_default_v6[16], saved_all_v6[16];

// The holder borrows our memory (CLONE_VM, as posix_spawn does): a fork-like clone would copy our page
// tables, and every page we then write would cost a copy-on-write fault and a TLB-shootdown IPI. Each
// holder runs on a stack of its own (several may be starting at once), makes only raw syscalls (it
// shares our errno), and never returns.
enum { HOLDER_STACK = 16 * 1024 };

static int holder_main(void *arg) {
  (void)arg;
  syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  if (opt_pause) {
    char *argv[] = {(char *)opt_pause, NULL};
    syscall(SYS_execve, opt_pause, argv, environ);
    syscall(SYS_exit, 127);
  }
  for (;;) syscall(SYS_pause);
  return 0;
}

static pid_t spawn_holder(void **stack) {
  *stack = mmap(NULL, HOLDER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (*stack == MAP_FAILED) die("mmap: %s", strerror(errno));
  // With --pause, CLONE_VFORK: we resume once the holder has exec'd (and no longer shares our memory).
  int flags = CLONE_VM | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD | (opt_pause ? CLONE_VFORK : 0);
  pid_t pid = clone(holder_main, (char *)*stack + HOLDER_STACK, flags, NULL);
  if (pid < 0) die("clone: %s", strerror(errno));
  return pid;
}

static void reap_holder(pid_t pid, void *stack) {
  kill(pid, SIGKILL);
  while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
  munmap(stack, HOLDER_STACK);
}

// Where the time of the last pod_create went: clone, the pod-side socket (open ns, setns, socket,
// setns back), the veth, and the in-pod configuration (lo/eth0 up, address, route).
static uint64_t step_clone, step_socket, step_veth, step_inpod;

static void pod_create(struct pod *p, int i) {
  uint64_t t0 = now_ns();
  p->pid = spawn_holder(&p->stack);
  uint64_t t1 = now_ns();
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/net", p->pid);
  int nsfd = open(path, O_RDONLY | O_CLOEXEC);
  if (nsfd < 0) die("open %s: %s", path, strerror(errno));

  // A netlink socket stays bound to the netns it was opened in: open the pod's socket from inside.
  // This program is single threaded, so switching our only thread there and back is safe.
  if (setns(nsfd, CLONE_NEWNET) < 0) die("setns pod: %s", strerror(errno));
  int pnl = nl_open();
  if (setns(host_ns, CLONE_NEWNET) < 0) die("setns back: %s", strerror(errno));
  uint64_t t2 = now_ns();

  snprintf(p->veth, sizeof p->veth, "flv%d", i);
  must(veth_add(nl, p->veth, br_index, nsfd), "veth add");
  close(nsfd);
  uint64_t t3 = now_ns();

  int eth0 = link_index(pnl, "eth0");
  must(eth0, "eth0 index");
  must(link_up(pnl, 1), "lo up");
  // IPv6 off in the pod the way podns does it: no address generation on eth0, set before it comes up
  // (the kernel applies IFLA_AF_SPEC after the flags of the same message). Not the disable_ipv6 sysctl:
  // /proc/sys/net/... dentries of all netns share one hash chain, so opening one there costs O(pods).
  if (!opt_ipv6) must(addr_gen_none(pnl, eth0), "eth0 addrgenmode none");
  must(link_up(pnl, eth0), "eth0 up");
  must(addr_add(pnl, eth0, net_base + 2 + (uint32_t)(i % 60000), 16), "addr add");
  must(route_default(pnl, eth0, net_base + 1), "route add");
  close(pnl);
  uint64_t t4 = now_ns();
  step_clone = t1 - t0;
  step_socket = t2 - t1;
  step_veth = t3 - t2;
  step_inpod = t4 - t3;
}

static void pod_delete(struct pod *p) {
  // The host veth outlives the pod's last process for tens of ms (netns teardown is async): delete it.
  must(link_del(nl, p->veth), "veth del");
  reap_holder(p->pid, p->stack);
}

static void net_setup(void) {
  host_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) die("open own netns: %s", strerror(errno));
  nl = nl_open();
  // Restore whatever the sandbox had, whatever mode we run in.
  read_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", saved_default_v6, sizeof saved_default_v6);
  read_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", saved_all_v6, sizeof saved_all_v6);
  if (!opt_ipv6) {
    int rc = write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    if (rc < 0) die("disable_ipv6: %s", strerror(-rc));
  }
  int rc = bridge_add(nl, opt_bridge);
  if (rc == -EEXIST) die("bridge %s already exists: a previous run left it; delete it (ip link del %s)", opt_bridge, opt_bridge);
  must(rc, "bridge add");
  br_index = link_index(nl, opt_bridge);
  must(br_index, "bridge index");
  must(addr_add(nl, br_index, net_base + 1, 16), "bridge addr");
}

static void net_teardown(void) {
  link_del(nl, opt_bridge);
  if (saved_default_v6[0]) write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", saved_default_v6);
  if (saved_all_v6[0]) write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", saved_all_v6);
}

// ---------------------------------------------------------------------------------------------
// output

static void print_array(const char *key, const uint64_t *v, int n, int last) {
  printf("\"%s\":[", key);
  for (int i = 0; i < n; i++) printf(i ? ",%llu" : "%llu", (unsigned long long)v[i]);
  printf(last ? "]" : "],");
}

static uint64_t *alloc_times(int n) {
  uint64_t *v = calloc((size_t)n, sizeof *v);
  if (!v) die("out of memory");
  return v;
}

static void header(const char *mode, int n) {
  printf("{\"mode\":\"%s\",\"n\":%d,\"ipv6\":%s,\"pause\":%s,", mode, n, opt_ipv6 ? "true" : "false",
         opt_pause ? "true" : "false");
}

// ---------------------------------------------------------------------------------------------
// modes

static int mode_pod(int n) {
  net_setup();
  uint64_t *c = alloc_times(n), *d = alloc_times(n);
  uint64_t *sc = alloc_times(n), *ss = alloc_times(n), *sv = alloc_times(n), *si = alloc_times(n);
  for (int i = 0; i < n; i++) {
    struct pod p;
    uint64_t t0 = now_ns();
    pod_create(&p, i);
    uint64_t t1 = now_ns();
    pod_delete(&p);
    uint64_t t2 = now_ns();
    c[i] = t1 - t0;
    d[i] = t2 - t1;
    sc[i] = step_clone;
    ss[i] = step_socket;
    sv[i] = step_veth;
    si[i] = step_inpod;
  }
  net_teardown();
  header("pod", n);
  print_array("create_ns", c, n, 0);
  print_array("step_clone_ns", sc, n, 0);
  print_array("step_socket_ns", ss, n, 0);
  print_array("step_veth_ns", sv, n, 0);
  print_array("step_inpod_ns", si, n, 0);
  print_array("delete_ns", d, n, 1);
  printf("}\n");
  return 0;
}

static int mode_scale(int n) {
  if (n > 1000) die("scale: at most 1000 pods (a Linux bridge takes at most 1023 ports)");
  net_setup();
  struct pod *pods = calloc((size_t)n, sizeof *pods);
  uint64_t *c = alloc_times(n), *d = alloc_times(n);
  uint64_t *sc = alloc_times(n), *ss = alloc_times(n), *sv = alloc_times(n), *si = alloc_times(n);
  uint64_t t0 = now_ns();
  for (int i = 0; i < n; i++) {
    uint64_t a = now_ns();
    pod_create(&pods[i], i);
    c[i] = now_ns() - a;
    sc[i] = step_clone;
    ss[i] = step_socket;
    sv[i] = step_veth;
    si[i] = step_inpod;
  }
  uint64_t t1 = now_ns();
  int nd = n;
  if (opt_bulk_delete) {
    must(group_del(nl, FLOOR_GROUP), "group del");
    for (int i = 0; i < n; i++) reap_holder(pods[i].pid, pods[i].stack);
    nd = 0;
  } else {
    for (int i = 0; i < n; i++) {
      uint64_t a = now_ns();
      pod_delete(&pods[i]);
      d[i] = now_ns() - a;
    }
  }
  uint64_t t2 = now_ns();
  net_teardown();
  header("scale", n);
  printf("\"total_create_ns\":%llu,\"total_delete_ns\":%llu,", (unsigned long long)(t1 - t0),
         (unsigned long long)(t2 - t1));
  print_array("create_ns", c, n, 0);
  print_array("step_clone_ns", sc, n, 0);
  print_array("step_socket_ns", ss, n, 0);
  print_array("step_veth_ns", sv, n, 0);
  print_array("step_inpod_ns", si, n, 0);
  print_array("delete_ns", d, nd, 1);
  printf("}\n");
  return 0;
}

static int mode_exec(int n) {
  void *holder_stack;
  pid_t holder = spawn_holder(&holder_stack);
  uint64_t *e = alloc_times(n), *f = alloc_times(n);
  static const int types[3] = {CLONE_NEWNET, CLONE_NEWIPC, CLONE_NEWUTS};
  static const char *names[3] = {"net", "ipc", "uts"};
  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    int fds[3];
    for (int k = 0; k < 3; k++) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/ns/%s", holder, names[k]);
      fds[k] = open(path, O_RDONLY | O_CLOEXEC);
      if (fds[k] < 0) die("open %s: %s", path, strerror(errno));
    }
    int pfd[2];
    // The write end is O_CLOEXEC: the parent's read returns EOF the moment the child's execve succeeds.
    if (pipe2(pfd, O_CLOEXEC) < 0) die("pipe2: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
      close(pfd[0]);
      int err = 0;
      for (int k = 0; k < 3 && !err; k++)
        if (setns(fds[k], types[k]) < 0) err = errno;
      if (!err) {
        char *argv[] = {(char *)opt_prog, NULL};
        execve(opt_prog, argv, environ);
        err = errno;
      }
      ssize_t w = write(pfd[1], &err, sizeof err);
      (void)w;
      _exit(127);
    }
    close(pfd[1]);
    for (int k = 0; k < 3; k++) close(fds[k]);
    int err = 0;
    ssize_t r;
    while ((r = read(pfd[0], &err, sizeof err)) < 0 && errno == EINTR) {}
    uint64_t t1 = now_ns();
    close(pfd[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    uint64_t t2 = now_ns();
    if (r > 0) die("exec %s in the holder's namespaces: %s", opt_prog, strerror(err));
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) die("%s did not exit 0 (status %d)", opt_prog, st);
    e[i] = t1 - t0;
    f[i] = t2 - t0;
  }
  reap_holder(holder, holder_stack);
  header("exec", n);
  printf("\"prog\":\"%s\",", opt_prog);
  print_array("exec_ns", e, n, 0);
  print_array("full_ns", f, n, 1);
  printf("}\n");
  return 0;
}

// --- shell path: the commands a script runs, spawned and waited for one after another -------------

static void run(char *const argv[]) {
  pid_t pid;
  int rc = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
  if (rc) die("spawn %s: %s", argv[0], strerror(rc));
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "podns-floor: command failed (status %d):", st);
    for (int i = 0; argv[i]; i++) fprintf(stderr, " %s", argv[i]);
    fputc('\n', stderr);
    exit(1);
  }
}

static int mode_shell(int n) {
  char br[IFNAMSIZ + 1], gw[20], cidr[32], veth[IFNAMSIZ], pidstr[16];
  snprintf(br, sizeof br, "%s", opt_bridge);
  uint32_t g = net_base + 1;
  snprintf(gw, sizeof gw, "%u.%u.%u.%u", g >> 24, (g >> 16) & 255, (g >> 8) & 255, g & 255);
  snprintf(cidr, sizeof cidr, "%s/16", gw);
  struct stat own;
  if (stat("/proc/self/ns/net", &own) < 0) die("stat own netns: %s", strerror(errno));
  if (!opt_ipv6) {
    read_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", saved_default_v6, sizeof saved_default_v6);
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
  }
  run((char *const[]){"ip", "link", "add", br, "type", "bridge", NULL});
  run((char *const[]){"ip", "addr", "add", cidr, "dev", br, NULL});
  run((char *const[]){"ip", "link", "set", br, "up", NULL});

  uint64_t *c = alloc_times(n), *d = alloc_times(n);
  for (int i = 0; i < n; i++) {
    uint64_t t0 = now_ns();
    // unshare --net --ipc --uts sleep infinity &   (the holder)
    pid_t holder;
    char *uargv[] = {"unshare", "--net", "--ipc", "--uts", "--", "sleep", "infinity", NULL};
    int rc = posix_spawnp(&holder, uargv[0], NULL, NULL, uargv, environ);
    if (rc) die("spawn unshare: %s", strerror(rc));
    // A script has to wait for unshare(2) to have happened before it uses the pid; this waits by
    // watching the holder's netns change, the cheapest way there is.
    char nspath[64];
    snprintf(nspath, sizeof nspath, "/proc/%d/ns/net", holder);
    for (;;) {
      struct stat s;
      if (stat(nspath, &s) == 0 && s.st_ino != own.st_ino) break;
      sched_yield();
    }
    snprintf(pidstr, sizeof pidstr, "%d", holder);
    snprintf(veth, sizeof veth, "shv%d", i);
    uint32_t ip = net_base + 2 + (uint32_t)(i % 60000);
    char pcidr[32];
    snprintf(pcidr, sizeof pcidr, "%u.%u.%u.%u/16", ip >> 24, (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
    if (!opt_ipv6)
      run((char *const[]){"nsenter", "-t", pidstr, "-n", "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1", NULL});
    run((char *const[]){"ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", pidstr, NULL});
    run((char *const[]){"ip", "link", "set", veth, "master", br, "up", NULL});
    run((char *const[]){"nsenter", "-t", pidstr, "-n", "ip", "link", "set", "lo", "up", NULL});
    run((char *const[]){"nsenter", "-t", pidstr, "-n", "ip", "addr", "add", pcidr, "dev", "eth0", NULL});
    run((char *const[]){"nsenter", "-t", pidstr, "-n", "ip", "link", "set", "eth0", "up", NULL});
    run((char *const[]){"nsenter", "-t", pidstr, "-n", "ip", "route", "add", "default", "via", gw, NULL});
    uint64_t t1 = now_ns();
    run((char *const[]){"ip", "link", "del", veth, NULL});
    kill(holder, SIGKILL);  // the shell's builtin kill
    while (waitpid(holder, NULL, 0) < 0 && errno == EINTR) {}
    uint64_t t2 = now_ns();
    c[i] = t1 - t0;
    d[i] = t2 - t1;
  }
  run((char *const[]){"ip", "link", "del", br, NULL});
  if (saved_default_v6[0]) write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", saved_default_v6);
  header("shell", n);
  print_array("create_ns", c, n, 0);
  print_array("delete_ns", d, n, 1);
  printf("}\n");
  return 0;
}


static void usage_stacks(void) {
  fprintf(stderr, "usage: podns-floor stacks PID [--interval US] [--frames N] [--comm NAME]... [--paused]\n");
  exit(2);
}

// --- stacks: where processes wait in the kernel, sampled from /proc/PID/task/TID/{stat,stack} ---------
//
//   podns-floor stacks PID [--interval US] [--frames N] [--comm NAME]... [--paused]
//
// A wall-clock profile of the kernel side. Every interval, each thread of PID (and of every process
// whose comm is one of the --comm names: podns-helper, pause... which detach from PID's tree) is
// counted under "COMM: top < frames < of its kernel stack", or "COMM: [on cpu]" when it is running
// (a running task's kernel stack cannot be read). Idle helper threads parked in futex/epoll are left
// out; PID's main thread parked in epoll is Node's event loop waiting ("[event loop wait]").
// Only --comm processes born while the window is open and living in PID's mount namespace count: the
// pauses of earlier pods, and other sandboxes' processes of the same name, are not this operation's.
// --paused: count only between SIGUSR1 and SIGUSR2; each SIGUSR2 prints the window as one JSON line
// and starts a new one. SIGTERM prints what is left and exits.

#include <dirent.h>

struct bucket {
  char key[232];
  unsigned count;
};
static struct bucket buckets[1024];
static int nbuckets;
static unsigned nsamples;
static volatile sig_atomic_t stop_sampling, counting = 1, flush_window;
static void on_term(int sig) { (void)sig; stop_sampling = 1; }
static void on_usr1(int sig) { (void)sig; counting = 1; }
static void on_usr2(int sig) { (void)sig; counting = 0; flush_window = 1; }

static void count_key(const char *key) {
  for (int i = 0; i < nbuckets; i++)
    if (!strcmp(buckets[i].key, key)) {
      buckets[i].count++;
      return;
    }
  if (nbuckets < (int)(sizeof buckets / sizeof buckets[0])) {
    snprintf(buckets[nbuckets].key, sizeof buckets[nbuckets].key, "%s", key);
    buckets[nbuckets++].count = 1;
  }
}

// "[<0>] rcu_barrier+0x1f4/0x2d0\n[<0>] netdev_run_todo+0x6e/0x530\n" -> "rcu_barrier < netdev_run_todo"
static void stack_key(const char *text, char *key, size_t keylen, int frames) {
  key[0] = 0;
  size_t used = 0;
  const char *p = text;
  for (int f = 0; f < frames && *p; f++) {
    const char *sym = strstr(p, "] ");
    if (!sym) break;
    sym += 2;
    size_t n = strcspn(sym, "+\n");
    used += (size_t)snprintf(key + used, keylen > used ? keylen - used : 0, "%s%.*s", f ? " < " : "", (int)n, sym);
    if (used >= keylen) break;
    const char *nl = strchr(sym, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  if (!key[0]) snprintf(key, keylen, "[no kernel stack]");
}

static void sample_process(int pid, int is_main_target, int frames) {
  char dirpath[64], comm[32] = "?", path[384], buf[4096], key[200], full[232];
  snprintf(path, sizeof path, "/proc/%d/comm", pid);
  if (read_file(path, comm, sizeof comm) == 0) comm[strcspn(comm, "\n")] = 0;
  snprintf(dirpath, sizeof dirpath, "/proc/%d/task", pid);
  DIR *d = opendir(dirpath);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    int tid = atoi(e->d_name);
    snprintf(path, sizeof path, "%s/%s/stat", dirpath, e->d_name);
    if (read_file(path, buf, sizeof buf) < 0) continue;
    const char *rp = strrchr(buf, ')');
    char state = rp && rp[1] ? rp[2] : '?';
    if (state == 'R') {
      snprintf(full, sizeof full, "%s: [on cpu]", comm);
      count_key(full);
      continue;
    }
    if (state == 'Z') continue;
    snprintf(path, sizeof path, "%s/%s/stack", dirpath, e->d_name);
    if (read_file(path, buf, sizeof buf) < 0) continue;
    stack_key(buf, key, sizeof key, frames);
    int parked = !strncmp(key, "futex_", 6) || !strncmp(key, "do_epoll_wait", 13) || !strncmp(key, "ep_poll", 7);
    if (parked && !(is_main_target && tid == pid)) continue;
    if (parked) snprintf(key, sizeof key, "[event loop wait]");
    // a pause that is up and waiting for its signal is done: it no longer holds anybody up
    if (!is_main_target && !strncmp(key, "do_sigtimedwait", 15)) continue;
    snprintf(full, sizeof full, "%s: %s", comm, key);
    count_key(full);
  }
  closedir(d);
}

static void print_window(int pid) {
  for (int i = 0; i < nbuckets; i++)  // most frequent first
    for (int j = i + 1; j < nbuckets; j++)
      if (buckets[j].count > buckets[i].count) {
        struct bucket t = buckets[i];
        buckets[i] = buckets[j];
        buckets[j] = t;
      }
  printf("{\"mode\":\"stacks\",\"pid\":%d,\"samples\":%u,\"stacks\":[", pid, nsamples);
  for (int i = 0; i < nbuckets; i++) {
    printf("%s{\"count\":%u,\"stack\":\"", i ? "," : "", buckets[i].count);
    for (const char *c = buckets[i].key; *c; c++) {
      if (*c == '"' || *c == '\\') putchar('\\');
      if ((unsigned char)*c >= 0x20) putchar(*c);
    }
    printf("\"}");
  }
  printf("]}\n");
  fflush(stdout);
  nbuckets = 0;
  nsamples = 0;
}

static int mode_stacks(int argc, char **argv) {
  if (argc < 3) usage_stacks();
  int pid = atoi(argv[2]);
  if (pid <= 0) usage_stacks();
  int interval_us = 1000, frames = 3;
  const char *comms[8];
  int ncomms = 0;
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--paused")) counting = 0;
    else if (i + 1 < argc && !strcmp(argv[i], "--interval")) interval_us = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--frames")) frames = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(argv[i], "--comm") && ncomms < 8) comms[ncomms++] = argv[++i];
    else usage_stacks();
  }
  if (interval_us <= 0 || frames <= 0) usage_stacks();
  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = on_usr1;
  sigaction(SIGUSR1, &sa, NULL);
  sa.sa_handler = on_usr2;
  sigaction(SIGUSR2, &sa, NULL);
  // The flags are only looked at with these signals blocked; they arrive inside sigsuspend or nanosleep,
  // so a SIGUSR1 sent just before we go to sleep is not lost.
  sigset_t block, open_set;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGUSR1);
  sigaddset(&block, SIGUSR2);
  sigprocmask(SIG_BLOCK, &block, &open_set);
  // the caller waits for this line before it starts what is to be measured
  printf("{\"mode\":\"stacks\",\"ready\":true}\n");
  fflush(stdout);

  int others[256];
  int nothers = 0;
  // per pid: 0 not seen, 1 one of --comm, 2 not, 3 not yet (still "node"), 4 older than the window
  enum { PID_TABLE = 1 << 22 };
  unsigned char *pid_state = calloc(PID_TABLE, 1);
  if (!pid_state) die("out of memory");
  uint64_t next_scan = 0;
  char self_comm[32];
  struct stat target_mnt;
  char mntpath[64];
  snprintf(mntpath, sizeof mntpath, "/proc/%d/ns/mnt", pid);
  if (stat(mntpath, &target_mnt) < 0) die("stat %s: %s", mntpath, strerror(errno));
  int was_counting = 0, fresh_window = 1;
  while (!stop_sampling) {
    if (flush_window) {
      flush_window = 0;
      print_window(pid);
    }
    if (!counting) {
      was_counting = 0;
      sigsuspend(&open_set);
      continue;
    }
    if (kill(pid, 0) < 0 && errno == ESRCH) break;
    if (!was_counting) fresh_window = 1;
    was_counting = 1;
    if (ncomms && (fresh_window || now_ns() >= next_scan)) {
      // Processes that left PID's tree (the shim detaches) are found by name. A pid's comm is read once,
      // or again while it is still "node" (a child between clone and exec has its parent's name).
      nothers = 0;
      DIR *d = opendir("/proc");
      struct dirent *e;
      while (d && (e = readdir(d)) && nothers < 256) {
        int p = atoi(e->d_name);
        if (p <= 0 || p == pid || p >= PID_TABLE) continue;
        if (pid_state[p] == 2 || pid_state[p] == 4) continue;
        if (pid_state[p] != 1) {
          char path[64];
          snprintf(path, sizeof path, "/proc/%d/comm", p);
          if (read_file(path, self_comm, sizeof self_comm) < 0) continue;
          self_comm[strcspn(self_comm, "\n")] = 0;
          pid_state[p] = !strcmp(self_comm, "node") ? 3 : 2;
          for (int k = 0; k < ncomms; k++)
            if (!strcmp(self_comm, comms[k])) pid_state[p] = 1;
          struct stat mnt;
          snprintf(path, sizeof path, "/proc/%d/ns/mnt", p);
          if (pid_state[p] == 1 && (stat(path, &mnt) < 0 || mnt.st_ino != target_mnt.st_ino || mnt.st_dev != target_mnt.st_dev))
            pid_state[p] = 2;
        }
        if (pid_state[p] == 1 && fresh_window) pid_state[p] = 4;  // there before the window opened
        if (pid_state[p] == 1) others[nothers++] = p;
      }
      if (d) closedir(d);
      next_scan = now_ns() + 2000000ull;
      fresh_window = 0;
    }
    sample_process(pid, 1, frames);
    for (int k = 0; k < nothers; k++) sample_process(others[k], 0, frames);
    nsamples++;
    struct timespec ts = {.tv_sec = interval_us / 1000000, .tv_nsec = (long)(interval_us % 1000000) * 1000};
    sigprocmask(SIG_SETMASK, &open_set, NULL);
    nanosleep(&ts, NULL);
    sigprocmask(SIG_BLOCK, &block, NULL);
  }
  print_window(pid);
  return 0;
}

static void usage(void) {
  fprintf(stderr,
          "usage: podns-floor pod|scale|exec|shell N [--ipv6 on|off] [--queues one|default] [--bulk-delete on|off]\n"
          "                   [--pause PATH] [--prog PATH] [--bridge NAME] [--subnet A.B]\n"
          "       podns-floor stacks PID [--interval US] [--frames N] [--comm NAME]... [--paused]\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 3) usage();
  const char *mode = argv[1];
  if (!strcmp(mode, "stacks")) return mode_stacks(argc, argv);
  char *end;
  long n = strtol(argv[2], &end, 10);
  if (*end || n < 1 || n > 1000000) die("N must be a positive integer, got \"%s\"", argv[2]);
  for (int i = 3; i < argc; i++) {
    const char *o = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!v) usage();
    if (!strcmp(o, "--ipv6")) {
      if (strcmp(v, "on") && strcmp(v, "off")) die("--ipv6 takes on or off");
      opt_ipv6 = !strcmp(v, "on");
    } else if (!strcmp(o, "--queues")) {
      if (strcmp(v, "one") && strcmp(v, "default")) die("--queues takes one or default");
      opt_one_queue = !strcmp(v, "one");
    } else if (!strcmp(o, "--bulk-delete")) {
      if (strcmp(v, "on") && strcmp(v, "off")) die("--bulk-delete takes on or off");
      opt_bulk_delete = !strcmp(v, "on");
    } else if (!strcmp(o, "--pause")) opt_pause = v;
    else if (!strcmp(o, "--prog")) opt_prog = v;
    else if (!strcmp(o, "--bridge")) {
      if (strlen(v) >= IFNAMSIZ) die("--bridge: at most %d characters", IFNAMSIZ - 1);
      opt_bridge = v;
    } else if (!strcmp(o, "--subnet")) opt_subnet = v;
    else usage();
    i++;
  }
  int shell = !strcmp(mode, "shell");
  if (!opt_bridge) opt_bridge = shell ? "shbr0" : "flbr0";
  if (!opt_subnet) opt_subnet = shell ? "10.201" : "10.200";
  unsigned a, b;
  char extra;
  if (sscanf(opt_subnet, "%u.%u%c", &a, &b, &extra) != 2 || a > 255 || b > 255)
    die("--subnet takes A.B (the first two octets of a /16), got \"%s\"", opt_subnet);
  net_base = (a << 24) | (b << 16);
  setvbuf(stdout, NULL, _IOFBF, 1 << 16);

  if (!strcmp(mode, "pod")) return mode_pod((int)n);
  if (!strcmp(mode, "scale")) return mode_scale((int)n);
  if (!strcmp(mode, "exec")) return mode_exec((int)n);
  if (shell) return mode_shell((int)n);
  usage();
}
