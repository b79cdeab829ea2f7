// podns-helper shim: --stdin and --tty, and the attach socket (contract in docs/DESIGN.md "attach socket").
//
// --stdin: the workload's stdin is a pipe; the watcher holds both ends (the read end goes to every run,
// so input waiting between runs stays), and writes what attach clients send. --tty: the workload child
// opens a pty in the container's own devpts once its root is set up (so `tty` inside names a /dev/pts/N
// that exists there), sends the master to the watcher over a socketpair (SCM_RIGHTS), and makes the
// pty its controlling terminal and stdio; the watcher reads the master as the workload's stdout.
//
// The attach socket, ATTACH_SOCKET in the container's directory (unix SOCK_STREAM: Node's net cannot
// speak SEQPACKET; bound through /proc/self/fd/DIRFD/NAME, so sun_path's 108 bytes never limit the state
// root), exists only for a container with --stdin or --tty: the common container pays nothing. Frames
// both ways: u8 type, u32 length (big-endian), payload (shim.h ATTACH_*). Output is logged whether or not
// anyone is attached, and queued for each client as it is read.
//
// Nothing here may block the watcher: every fd is non-blocking; a client whose queue would pass
// ATTACH_CLIENT_QUEUE (slow, or gone without closing) is dropped, as is one that sends a frame over
// ATTACH_MAX_FRAME; stdin input waits in one bounded queue, and while a client's next frame does not fit,
// or a quarter of its queue waits for it (BACKED_UP), that client is not read (its own socket buffer fills
// and its writer waits, never the watcher).
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

#define HEADER 5

struct client {
  int fd;             /* -1: a free slot */
  int closing;        /* EXIT is queued: closed once the queue is written */
  int blocked;        /* its next STDIN frame does not fit the stdin queue: not read meanwhile */
  int greeted;        /* its first frame (HELLO or REPLAY) came: until then nothing is sent, output is queued */
  size_t held;        /* --tty: the replay taken when it connected, at the head of its queue (REPLAY keeps it) */
  unsigned char *in;  /* HEADER + ATTACH_MAX_FRAME: the frames being received */
  size_t inlen;
  char *out;          /* queued frames */
  size_t outlen, outoff, outcap;
};

static int active;    /* attach_open made the socket */
static int listen_fd = -1;
static struct client clients[ATTACH_MAX_CLIENTS];
static int n_clients;

static char stdin_q[ATTACH_MAX_FRAME]; /* input for the workload not yet taken by the pipe/pty */
static size_t stdin_len;
static int stdin_eof;                  /* STDIN_EOF asked: done once the queue is written */
static char last_in = '\n';            /* the last byte written (a pty's EOF needs two VEOFs after a partial line) */
static struct winsize winsz;
static int have_winsz;

static int i_listen = -1, i_stdin = -1, i_client[ATTACH_MAX_CLIENTS];

/* --tty: the current run's last output, for a client that attaches after it was printed (podns run -it: a
   shell's first prompt comes before the CLI has connected). A tty has one stream, so it replays in order. */
static char replay[ATTACH_REPLAY_MAX];
static size_t replay_len;

/* A client's input is not read while this much output waits for it: one that sends faster than it reads
   (its own input echoed back, a bulk copy through cat) is slowed down, not dropped. What is in flight
   beyond it (the stdin queue, two pipes, the workload's buffers) stays well under ATTACH_CLIENT_QUEUE. */
#define BACKED_UP (ATTACH_CLIENT_QUEUE / 4)

static int backed_up(const struct client *c) { return c->outlen - c->outoff > BACKED_UP; }

static int client_frames_once(struct client *c);
static void unblock_clients(void);

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24); p[1] = (unsigned char)(v >> 16); p[2] = (unsigned char)(v >> 8); p[3] = (unsigned char)v;
}

static uint32_t get_u32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int attach_open(void) {
  const struct opts *o = W.o;
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) clients[i].fd = -1;
  if (!o->stdin_open && !o->tty) return 0;
  if (o->stdin_open && !o->tty) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return -1;
    W.stdin_r = p[0];
    W.stdin_w = p[1];
    fcntl(W.stdin_w, F_SETFL, O_NONBLOCK);
  }
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (listen_fd < 0) return -1;
  active = 1; /* from here attach_shutdown undoes it all, also after a failure below */
  /* Whatever has the name (a socket of an earlier watcher, anything planted) goes; unlinkat removes a
     symlink itself, never its target, and bind never follows one (it fails with EADDRINUSE instead). */
  if (unlinkat(W.dirfd, ATTACH_SOCKET, 0) < 0 && errno != ENOENT) return -1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  snprintf(a.sun_path, sizeof a.sun_path, "/proc/self/fd/%d/%s", W.dirfd, ATTACH_SOCKET);
  mode_t old = umask(0177);
  int r = bind(listen_fd, (struct sockaddr *)&a, sizeof a);
  umask(old);
  if (r < 0 || listen(listen_fd, ATTACH_MAX_CLIENTS) < 0) return -1;
  return 0;
}

static void client_drop(struct client *c) {
  if (c->fd < 0) return;
  close(c->fd);
  free(c->in);
  free(c->out);
  *c = (struct client){.fd = -1};
  n_clients--;
}

/* Writes what is queued, as far as the socket takes it now. */
static void client_flush(struct client *c) {
  if (!c->greeted) return;
  while (c->outoff < c->outlen) {
    ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) { c->outoff += (size_t)n; continue; }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    client_drop(c);
    return;
  }
  c->outoff = c->outlen = 0;
  if (c->closing) client_drop(c);
}

static void client_queue(struct client *c, int type, const void *data, size_t len) {
  size_t pending = c->outlen - c->outoff;
  if (pending + HEADER + len > ATTACH_CLIENT_QUEUE) { client_drop(c); return; }
  if (c->outoff > 0) {
    memmove(c->out, c->out + c->outoff, pending);
    c->outlen = pending;
    c->outoff = 0;
  }
  if (c->outlen + HEADER + len > c->outcap) {
    size_t cap = c->outcap ? c->outcap : 16384;
    while (cap < c->outlen + HEADER + len) cap *= 2;
    char *n = realloc(c->out, cap);
    if (!n) { client_drop(c); return; }
    c->out = n;
    c->outcap = cap;
  }
  unsigned char *h = (unsigned char *)c->out + c->outlen;
  h[0] = (unsigned char)type;
  put_u32(h + 1, (uint32_t)len);
  if (len) memcpy(h + HEADER, data, len);
  c->outlen += HEADER + len;
  client_flush(c);
}

static void replay_add(const char *buf, size_t len) {
  if (len >= sizeof replay) {
    memcpy(replay, buf + len - sizeof replay, sizeof replay);
    replay_len = sizeof replay;
    return;
  }
  if (replay_len + len > sizeof replay) {
    size_t drop = replay_len + len - sizeof replay;
    memmove(replay, replay + drop, replay_len - drop);
    replay_len -= drop;
  }
  memcpy(replay + replay_len, buf, len);
  replay_len += len;
}

void attach_output(int id, const char *buf, size_t len) {
  if (active && W.o->tty) replay_add(buf, len);
  if (n_clients == 0) return;
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++)
    if (clients[i].fd >= 0 && !clients[i].closing) client_queue(&clients[i], id, buf, len);
}

void attach_exited(int code) {
  if (n_clients == 0) return;
  unsigned char p[4];
  put_u32(p, (uint32_t)code);
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    if (c->fd < 0 || c->closing) continue;
    c->closing = 1;
    client_queue(c, ATTACH_EXIT, p, sizeof p);
  }
}

/* Where stdin input goes now: the pipe, or the current run's pty; -1 when it must wait or has no place. */
static int stdin_target(void) {
  if (!W.o->stdin_open) return -1;
  if (W.o->tty) return W.out.fd >= 0 && W.out.pty && !W.out.hup ? W.out.fd : -1;
  return W.stdin_w;
}

static void stdin_flush(void) {
  int fd = stdin_target();
  if (fd < 0) return;
  while (stdin_len > 0) {
    ssize_t n = write(fd, stdin_q, stdin_len);
    if (n > 0) {
      last_in = stdin_q[n - 1];
      memmove(stdin_q, stdin_q + n, stdin_len - (size_t)n);
      stdin_len -= (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    stdin_len = 0; /* the pty went away: what was typed for it goes too */
    return;
  }
  if (!stdin_eof) return;
  stdin_eof = 0;
  if (W.o->tty) {
    /* what a terminal's user does: VEOF, twice after a partial line (common.c, as podns-helper exec) */
    last_in = pty_type_eof(fd, last_in);
  } else {
    close(W.stdin_w);
    W.stdin_w = -1;
  }
}

static void set_winsize(void) {
  int fd = W.o->tty && W.out.fd >= 0 && W.out.pty ? W.out.fd : -1;
  if (fd >= 0 && have_winsz) (void)ioctl(fd, TIOCSWINSZ, &winsz);
}

void attach_new_pty(void) {
  replay_len = 0; /* a new run */
  set_winsize();
  stdin_flush();
  unblock_clients();
}

/* The complete frames a client sent. Returns -1 when it must be dropped. While its next STDIN frame does
   not fit and writing the queue out makes room, it goes on: a client left blocked with an empty queue
   would never be read again (nothing would poll the pipe to wake it). */
static int client_frames(struct client *c) {
  for (;;) {
    if (client_frames_once(c) < 0) return -1;
    size_t before = stdin_len;
    stdin_flush();
    if (!c->blocked || stdin_len == before) return 0; /* done, or the pipe is full: its POLLOUT wakes us */
  }
}

/* The blocked clients, once the stdin queue has moved. */
static void unblock_clients(void) {
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++)
    if (clients[i].fd >= 0 && clients[i].blocked && client_frames(&clients[i]) < 0) client_drop(&clients[i]);
}

static int client_frames_once(struct client *c) {
  size_t off = 0;
  c->blocked = 0;
  while (c->inlen - off >= HEADER) {
    const unsigned char *h = c->in + off;
    uint32_t len = get_u32(h + 1);
    if (len > ATTACH_MAX_FRAME) return -1;
    if (c->inlen - off < HEADER + len) break;
    const unsigned char *d = h + HEADER;
    if (!c->greeted) {
      /* the first frame: the replay taken at connect stays only when asked for (nothing was sent yet) */
      if (h[0] != ATTACH_REPLAY && c->held > 0) {
        memmove(c->out, c->out + c->held, c->outlen - c->held);
        c->outlen -= c->held;
      }
      c->held = 0;
      c->greeted = 1;
      client_flush(c);
      if (c->fd < 0) return -1;
    }
    if (c->closing) { off = c->inlen; break; } /* its run has ended: what it sends now goes nowhere */
    if (h[0] == ATTACH_STDIN) {
      int closed = !W.o->stdin_open || (!W.o->tty && W.stdin_w < 0);
      if (!closed) {
        if (stdin_len + len > sizeof stdin_q) { c->blocked = 1; break; }
        memcpy(stdin_q + stdin_len, d, len);
        stdin_len += len;
      }
    } else if (h[0] == ATTACH_STDIN_EOF) {
      if (W.o->stdin_open) stdin_eof = 1;
    } else if (h[0] == ATTACH_RESIZE && len == 4) {
      unsigned cols = (unsigned)d[0] << 8 | d[1], rows = (unsigned)d[2] << 8 | d[3];
      if (cols > 0 && rows > 0) {
        winsz = (struct winsize){.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
        have_winsz = 1;
        set_winsize();
      }
    } /* HELLO, REPLAY (taken above), any other type: ignored (a newer client) */
    off += HEADER + len;
  }
  memmove(c->in, c->in + off, c->inlen - off);
  c->inlen -= off;
  return 0;
}

static void client_read(struct client *c) {
  for (;;) {
    size_t room = HEADER + ATTACH_MAX_FRAME - c->inlen;
    if (room == 0) return;
    ssize_t n = recv(c->fd, c->in + c->inlen, room, MSG_DONTWAIT);
    if (n > 0) {
      c->inlen += (size_t)n;
      if (client_frames(c) < 0) { client_drop(c); return; }
      if (c->blocked || c->fd < 0 || backed_up(c) || c->closing) return;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    client_drop(c); /* gone: its queued output is dropped with it */
    return;
  }
}

static void accept_clients(void) {
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    /* only our own user (root: the state root is root's); the directory's mode already says so */
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 || cr.uid != geteuid() || n_clients == ATTACH_MAX_CLIENTS) {
      close(fd);
      continue;
    }
    for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) {
      struct client *c = &clients[i];
      if (c->fd >= 0) continue;
      *c = (struct client){.fd = fd, .in = malloc(HEADER + ATTACH_MAX_FRAME)};
      n_clients++;
      if (!c->in) { client_drop(c); break; }
      /* the run's output so far, in order before anything live: kept if its first frame is REPLAY */
      if (W.o->tty && replay_len > 0) {
        client_queue(c, ATTACH_STDOUT, replay, replay_len);
        if (c->fd >= 0) c->held = HEADER + replay_len;
      }
      break;
    }
  }
}

int attach_pollfds(struct pollfd *p, int max) {
  int n = 0;
  i_listen = i_stdin = -1;
  if (!active) return 0;
  if (listen_fd >= 0 && n < max) { i_listen = n; p[n++] = (struct pollfd){listen_fd, POLLIN, 0}; }
  int fd = stdin_target();
  if (fd >= 0 && (stdin_len > 0 || stdin_eof) && n < max) { i_stdin = n; p[n++] = (struct pollfd){fd, POLLOUT, 0}; }
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    i_client[i] = -1;
    if (c->fd < 0 || n >= max) continue;
    int reads = !c->greeted || !(c->closing || c->blocked || backed_up(c)); /* its greeting is always read */
    short ev = (reads ? POLLIN : 0) | (c->greeted && c->outlen > c->outoff ? POLLOUT : 0);
    i_client[i] = n;
    p[n++] = (struct pollfd){c->fd, ev, 0};
  }
  return n;
}

void attach_events(const struct pollfd *p, int n) {
  if (!active) return;
  if (i_stdin >= 0 && i_stdin < n && p[i_stdin].revents) {
    stdin_flush();
    unblock_clients(); /* room again: the clients that waited for it go on */
  }
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) {
    int k = i_client[i];
    struct client *c = &clients[i];
    if (k < 0 || k >= n || c->fd < 0 || !p[k].revents) continue;
    if (p[k].revents & POLLOUT) client_flush(c);
    if (c->fd >= 0 && (p[k].revents & (POLLIN | POLLHUP | POLLERR))) {
      if (c->greeted && (c->closing || c->blocked || backed_up(c))) {
        if (p[k].revents & (POLLHUP | POLLERR)) client_drop(c);
      } else {
        client_read(c);
      }
    }
  }
  if (i_listen >= 0 && i_listen < n && p[i_listen].revents) accept_clients();
}

void attach_shutdown(void) {
  if (!active) return;
  active = 0;
  close(listen_fd);
  listen_fd = -1;
  unlinkat(W.dirfd, ATTACH_SOCKET, 0);
  if (W.stdin_w >= 0) { close(W.stdin_w); W.stdin_w = -1; }
  /* the last output and EXIT: up to a second for clients that are reading, then everything closes */
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) if (clients[i].fd >= 0) clients[i].greeted = 1;
  struct timespec start, t;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    struct pollfd p[ATTACH_MAX_CLIENTS];
    struct client *who[ATTACH_MAX_CLIENTS];
    int n = 0;
    for (int i = 0; i < ATTACH_MAX_CLIENTS; i++)
      if (clients[i].fd >= 0 && clients[i].outlen > clients[i].outoff) { who[n] = &clients[i]; p[n++] = (struct pollfd){clients[i].fd, POLLOUT, 0}; }
    clock_gettime(CLOCK_MONOTONIC, &t);
    long left = 1000 - ((t.tv_sec - start.tv_sec) * 1000 + (t.tv_nsec - start.tv_nsec) / 1000000);
    if (n == 0 || left <= 0 || poll(p, (nfds_t)n, (int)left) <= 0) break;
    for (int i = 0; i < n; i++) if (p[i].revents) client_flush(who[i]);
  }
  for (int i = 0; i < ATTACH_MAX_CLIENTS; i++) client_drop(&clients[i]);
}

/* ------------------------------------------------------------------ the workload child's side */

static void send_fd(int sock, int fd) {
  char data = 'm';
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  memset(&u, 0, sizeof u);
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof fd);
  if (sendmsg(sock, &m, MSG_NOSIGNAL) < 0) child_fail(errno, "tty", "sending the pty to the watcher: %s", strerror(errno));
}

void attach_child_stdio(const struct opts *o, int null_fd, int outw, int errw) {
  if (!o->tty) {
    int in = o->stdin_open ? W.stdin_r : null_fd;
    if (dup2(in, 0) < 0 || dup2(outw, 1) < 0 || dup2(errw, 2) < 0) child_fail(errno, "dup2", "stdio: %s", strerror(errno));
    return;
  }
  /* the container's /dev/ptmx (pts/ptmx of its own devpts instance): the pty belongs to the container */
  int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0) child_fail(errno, "tty", "/dev/ptmx: %s", strerror(errno));
  int unlock = 0;
  if (ioctl(m, TIOCSPTLCK, &unlock) < 0) child_fail(errno, "tty", "unlockpt: %s", strerror(errno));
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0) child_fail(errno, "tty", "opening the pty's peer: %s", strerror(errno));
  send_fd(W.pty_peer[1], m);
  close(m);
  if (setsid() < 0) child_fail(errno, "tty", "setsid: %s", strerror(errno));
  if (ioctl(s, TIOCSCTTY, 0) < 0) child_fail(errno, "tty", "TIOCSCTTY: %s", strerror(errno));
  /* the workload's user owns its terminal (as runc does), so it can reopen it by name */
  if (o->uid >= 0 && fchown(s, (uid_t)o->uid, o->gid >= 0 ? (gid_t)o->gid : (gid_t)-1) < 0) child_fail(errno, "tty", "fchown: %s", strerror(errno));
  /* /dev/console is the pty too (runc's rule): what the workload writes there goes to its terminal. Only in a
     root filesystem of its own: without --rootfs, /dev is the host's, where nothing is made or bound */
  if (o->rootfs != NULL) bind_console(s);
  if (dup2(s, 0) < 0 || dup2(s, 1) < 0 || dup2(s, 2) < 0) child_fail(errno, "dup2", "pty: %s", strerror(errno));
  close(s);
}

/* The master the child sent (after it has exec'd), -1 when none came. */
int attach_recv_pty(void) {
  char data;
  struct iovec iov = {.iov_base = &data, .iov_len = 1};
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  if (recvmsg(W.pty_peer[0], &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC) <= 0) return -1;
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  if (!c || c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int))) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof fd);
  return fd;
}
