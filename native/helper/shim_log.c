// podns-helper shim: the CRI log writer (timestamps, the workload's output streams, log_line).
#include "shim.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void now(struct timespec *ts) { clock_gettime(CLOCK_REALTIME, ts); }

/* Seconds since the epoch -> UTC calendar date and time (the proleptic Gregorian calendar; H. Hinnant's
   days-to-civil). Not gmtime_r: glibc's gmtime (like strftime) initialises the time zone on first use,
   reading /etc/localtime (open, fstat, read, parse) in every new watcher, on the path to the ready line of
   each container (the first status.json), for a timestamp that is UTC anyway. */
static void utc_fields(time_t t, int f[6]) {
  long long days = t / 86400, secs = t % 86400;
  if (secs < 0) { secs += 86400; days--; }
  days += 719468;
  long long era = (days >= 0 ? days : days - 146096) / 146097;
  long long doe = days - era * 146097;
  long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long long mp = (5 * doy + 2) / 153;
  long long d = doy - (153 * mp + 2) / 5 + 1;
  long long m = mp < 10 ? mp + 3 : mp - 9;
  long long y = yoe + era * 400 + (m <= 2);
  f[0] = (int)(y % 10000);
  f[1] = (int)m;
  f[2] = (int)d;
  f[3] = (int)(secs / 3600);
  f[4] = (int)(secs / 60 % 60);
  f[5] = (int)(secs % 60);
}

/* RFC 3339 UTC; digits 9 (log lines, like the CRI) or 3 (status.json, what JS Date keeps). */
int fmt_time(char *out, size_t n, const struct timespec *ts, int digits) {
  int f[6];
  utc_fields(ts->tv_sec, f);
  unsigned frac = digits == 9 ? (unsigned)(ts->tv_nsec % 1000000000L) : (unsigned)(ts->tv_nsec / 1000000L % 1000);
  return snprintf(out, n, digits == 9 ? "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ" : "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
                  f[0], f[1], f[2], f[3], f[4], f[5], frac);
}

int open_log(void) {
  W.log.path = W.o->log_file;
  return crilog_open(&W.log, W.dirfd, W.o->log_max_size, W.o->log_max_files);
}

/* One CRI log line: "<RFC3339Nano> stdout|stderr F|P text\n" in one write (O_APPEND keeps it whole),
   in current.log, rotated at the size cap (crilog.c). */
void log_line(const char *stream, char tag, const char *text, size_t len) {
  if (W.log.fd < 0) return;
  struct timespec ts;
  char head[64];
  now(&ts);
  int k = fmt_time(head, sizeof head, &ts, 9);
  k += snprintf(head + k, sizeof head - (size_t)k, " %s %c ", stream, tag);
  crilog_write(&W.log, head, (size_t)k, text, len);
}

void stream_open(struct stream *s, int fd) {
  s->fd = fd;
  s->len = 0;
  s->hup = 0;
  fcntl(fd, F_SETFL, O_NONBLOCK);
}

/* Whole lines get F; a line that fills the buffer is written so far with P and continues. */
static void stream_lines(struct stream *s) {
  size_t start = 0;
  for (size_t i = 0; i < s->len; i++) {
    if (s->buf[i] != '\n') continue;
    log_line(s->name, 'F', s->buf + start, i - start);
    start = i + 1;
  }
  if (start == 0 && s->len == sizeof s->buf) {
    log_line(s->name, 'P', s->buf, s->len);
    s->len = 0;
    return;
  }
  memmove(s->buf, s->buf + start, s->len - start);
  s->len -= start;
}

void stream_close(struct stream *s) {
  if (s->fd < 0) return;
  if (s->len) log_line(s->name, 'F', s->buf, s->len); /* last line without a newline: full, as containerd does */
  s->len = 0;
  close(s->fd);
  s->fd = -1;
  s->hup = 0;
}

/* Reads what is there now. Returns 0 at EOF (stream closed), 1 otherwise. */
int stream_read(struct stream *s) {
  for (;;) {
    ssize_t n = read(s->fd, s->buf + s->len, sizeof s->buf - s->len);
    if (n > 0) {
      attach_output(s->id, s->buf + s->len, (size_t)n); /* attach clients get it as read (shim_attach.c) */
      s->len += (size_t)n;
      stream_lines(s);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return 1;
    if (s->pty) {
      /* EIO: no slave fd is open. The workload may still be alive (a program that closes its stdio before
         it exits): closing the master now would hang its terminal up and SIGHUP it. Kept until it is reaped. */
      if (s->len) log_line(s->name, 'F', s->buf, s->len);
      s->len = 0;
      s->hup = 1;
      return 0;
    }
    stream_close(s);
    return 0;
  }
}
