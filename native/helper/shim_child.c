// podns-helper shim: one run of the workload. The watcher's side (clone, the status pipe) and the child's
// side up to execve (namespaces, mounts via shim_rootfs.c, stdio, credentials).
#include "shim.h"
#include "../common/caps.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int status_fd = -1; /* child: write end of the status pipe */
extern char **environ;
static char **workload_envp; /* see workload_env */

void child_fail(int err, const char *step, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  dprintf(status_fd, "error %s %s: %s\n", errname(err), step, msg);
  _exit(127);
}

#define WATCHER_OOM_ADJ "-999" /* the OOM killer takes the workload first, the watcher stays to report */

static int oom_write(const char *v) { return write_file_at(AT_FDCWD, "/proc/self/oom_score_adj", v); }

void oom_lower_watcher(void) {
  int fd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ssize_t n = read(fd, W.oom_adj, sizeof W.oom_adj - 1);
  close(fd);
  if (n <= 0) return;
  W.oom_adj[n] = 0;
  W.oom_adj[strcspn(W.oom_adj, "\n")] = 0;
  /* Lowering needs CAP_SYS_RESOURCE: refused (EACCES) without it, and then the watcher simply stays at
     the pod's value, as its workload does. */
  W.oom_lowered = strcmp(W.oom_adj, WATCHER_OOM_ADJ) != 0 && oom_write(WATCHER_OOM_ADJ) == 0;
}

/* After the workload's child wrote the pod's value (which reached us too, see run_child): ours back down,
   with our permitted capabilities raised for the moment when the watcher holds them so. */
static void oom_relower_watcher(void) {
  if (!W.oom_lowered) return;
  int raised = W.o->privs.have_caps && podns_cap_raise() == 0;
  (void)oom_write(WATCHER_OOM_ADJ);
  if (raised) (void)podns_cap_lower(1ull << PODNS_CAP_KILL);
}

static __attribute__((noreturn)) void run_child(const struct opts *o, int outw, int errw) {
  /* The watcher as we see it: 0 when it is outside our pid namespace (the pod's shared one). */
  pid_t watcher = getppid();
  /* Every signal at its default and none blocked (common.h): otherwise the watcher's ignored SIGPIPE and
     SIGHUP would reach the workload, a server that never dies of either. */
  if (reset_signals() != 0) child_fail(errno, "sigprocmask", "%s", strerror(errno));

  /* Our pid as the caller sees it: the host's /proc is still mounted here, and "self" resolves in the
     pid namespace of that proc, so this is right also when we are pid 2 of the container's own pid ns. */
  char self[32];
  ssize_t n = readlink("/proc/self", self, sizeof self - 1);
  if (n <= 0) child_fail(errno ? errno : EIO, "readlink", "/proc/self: %s", strerror(errno));
  self[n] = 0;
  dprintf(status_fd, "%s\n", self);

  /* The watcher holds its capabilities permitted but not effective (shim.c): take them back for the mounts. */
  if (o->privs.have_caps && podns_cap_raise() < 0) child_fail(errno, "capset", "%s", strerror(errno));

  /* The pod's oom_score_adj, which the watcher lowered for itself: written with our capabilities, so the
     kernel's floor for this process (oom_score_adj_min) is that value too, not the watcher's. The kernel
     applies it to every process sharing our memory, the watcher included (CLONE_VM): it lowers itself
     again once we have exec'd (start_workload). */
  if (W.oom_lowered && oom_write(W.oom_adj) < 0) child_fail(errno, "oom_score_adj", "%s: %s", W.oom_adj, strerror(errno));

  /* Into the devices cgroup first ("0": the writer), while we are root and the fd still reaches it. */
  if (W.devices_fd >= 0 && write(W.devices_fd, "0", 1) != 1)
    child_fail(errno, "devices-cgroup", "%s/cgroup.procs: %s", o->devices_cgroup, strerror(errno));
  /* And the limit cgroups (memory, cpu, pids: only those the limits need), before the workload allocates
     or forks anything of its own. */
  const char *which = NULL;
  if (limit_cgroups_join(&which) < 0) child_fail(errno, "cgroup", "%s/cgroup.procs: %s", which, strerror(errno));

  open_volumes(o);
  if (unshare(CLONE_NEWNS) < 0) child_fail(errno, "unshare", "mount namespace: %s", strerror(errno));
  /* rslave, not rprivate: the copy of the host's mounts we start with includes the pins of every pod
     (ROOT/pods and /run/netns are shared mounts). As slaves, an unpin on the host (`podns rm`,
     `ip netns del`) propagates in here and the namespace can be freed; private copies would hold each
     pinned namespace alive for as long as this container runs. Our own mounts still don't leak out. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) child_fail(errno, "mount", "/ rslave: %s", strerror(errno));

  if (o->rootfs) setup_rootfs(o);
  else setup_host_tree(o);

  if (o->hostname) {
    /* A container-specific hostname: its own uts ns, so the pod's stays as it is. */
    if (unshare(CLONE_NEWUTS) < 0) child_fail(errno, "unshare", "uts namespace: %s", strerror(errno));
    if (sethostname(o->hostname, strlen(o->hostname)) < 0) child_fail(errno, "sethostname", "%s", strerror(errno));
  }

  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) child_fail(errno, "open", "/dev/null: %s", strerror(errno));
  /* stdin /dev/null (or the --stdin pipe), the log pipes; with --tty a pty of the container's devpts */
  attach_child_stdio(o, null, outw, errw);

  /* User, groups, capabilities, no_new_privs and the seccomp filter (last): privileges.c. What follows is
     what the filter allows (chdir, prctl, getppid, umask, execve). */
  struct privs pv = o->privs;
  pv.uid = o->uid;
  pv.gid = o->gid;
  const char *step;
  if (apply_privileges(&pv, &step) < 0) child_fail(errno, "privileges", "%s: %s", step, strerror(errno));
  const char *cwd = o->cwd ? o->cwd : "/";
  if (chdir(cwd) < 0) child_fail(errno, "chdir", "%s: %s", cwd, strerror(errno));

  /* Set after the credential change, which clears it. If the watcher is killed, the workload goes too
     (in its own pid ns it would anyway: the watcher is that namespace's init). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != watcher) _exit(127);

  umask(022);
  /* The workload's environment, made by the watcher (workload_env): execvp looks the command up in its
     PATH. Pointing environ at it is all this child changes in the watcher's memory (see start_workload);
     the watcher points it back when we have exec'd. */
  environ = workload_envp;
  execvp(o->argv[0], o->argv);
  child_fail(errno, "exec", "%s: %s", o->argv[0], strerror(errno));
}

/* The workload's environment: --env-file's entries then --env's, a later K replacing an earlier one in
   its place (what clearenv + putenv of each did), PATH added when missing. Built once by the watcher. */
void workload_env(const struct opts *o) {
  char **env = calloc((size_t)o->n_env + 2, sizeof(char *));
  if (!env) return; /* workload_envp stays NULL: start_workload reports ENOMEM */
  int n = 0, have_path = 0;
  for (int i = 0; i < o->n_env; i++) {
    const char *e = o->env[i];
    size_t k = (size_t)(strchr(e, '=') - e);
    int j = 0;
    while (j < n && !(strncmp(env[j], e, k + 1) == 0)) j++;
    env[j] = (char *)e;
    if (j == n) n++;
    if (k == 4 && !strncmp(e, "PATH", 4)) have_path = 1;
  }
  if (!have_path) env[n++] = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  env[n] = NULL;
  workload_envp = env;
}


/* The workload child is started with clone(CLONE_VM | CLONE_VFORK), like posix_spawn, not fork: fork
   copies the watcher's page tables and then every page either process writes costs a copy-on-write fault
   (expensive under virtualisation, and all of it on the path from `podns run` to a running container).
   The child borrows our memory until it execs, on a stack of its own, while we are suspended (VFORK):
   so it only runs its own code path, touches nothing we are using, and takes no lock we could hold
   (this program is single-threaded). Its signal dispositions, fd table, credentials and namespaces are
   its own as with fork. What it writes to our memory: errno (we are suspended; we read it right after),
   status_fd, environ (restored below). */
struct child_args {
  const struct opts *o;
  int *st, *outp, *errp;
};

static int child_main(void *arg) {
  struct child_args *a = arg;
  close(a->st[0]);
  if (a->outp[0] >= 0) close(a->outp[0]);
  if (a->errp[0] >= 0) close(a->errp[0]);
  if (W.pty_peer[0] >= 0) close(W.pty_peer[0]);
  status_fd = a->st[1];
  run_child(a->o, a->outp[1], a->errp[1]);
}

#define CHILD_STACK (256 * 1024)

/* The top of the children's stack (mapped once, with a guard page below it), or NULL with errno set. */
static char *child_stack(void) {
  static char *top;
  if (top) return top;
  long page = sysconf(_SC_PAGESIZE);
  char *map = mmap(NULL, CHILD_STACK + (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (map == MAP_FAILED) return NULL;
  mprotect(map, (size_t)page, PROT_NONE);
  top = map + (size_t)page + CHILD_STACK;
  return top;
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void close_pair(int p[2]) {
  close_fd(&p[0]);
  close_fd(&p[1]);
}

/* Starts one run. Returns 0, or -1 with errbuf holding "ERRNO step: message". */
int start_workload(char *errbuf, size_t errlen) {
  struct opts *o = W.o;
  int outp[2] = {-1, -1}, errp[2] = {-1, -1}, st[2];
  /* --tty: no output pipes; the child sends the pty's master over a socketpair instead */
  if (o->tty ? socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, W.pty_peer) < 0 : pipe2(outp, O_CLOEXEC) < 0) {
    snprintf(errbuf, errlen, "%s %s: %s", errname(errno), o->tty ? "socketpair" : "pipe", strerror(errno));
    return -1;
  }
  if (!o->tty && pipe2(errp, O_CLOEXEC) < 0) {
    snprintf(errbuf, errlen, "%s pipe: %s", errname(errno), strerror(errno));
    close(outp[0]); close(outp[1]);
    return -1;
  }
  if (pipe2(st, O_CLOEXEC) < 0) {
    snprintf(errbuf, errlen, "%s pipe: %s", errname(errno), strerror(errno));
    close_pair(outp); close_pair(errp); close_pair(W.pty_peer);
    return -1;
  }
  now(&W.started);
  W.have_finished = 0;
  W.exit_code = W.signal = -1;
  struct child_args ca = {o, st, outp, errp};
  char **own_env = environ;
  pid_t pid = -1;
  char *stack = child_stack();
  if (!workload_envp) errno = ENOMEM;
  else if (stack) pid = clone(child_main, stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &ca);
  int saved = errno;
  environ = own_env;
  close(st[1]);
  close_fd(&outp[1]);
  close_fd(&errp[1]);
  close_fd(&W.pty_peer[1]);
  if (pid < 0) {
    snprintf(errbuf, errlen, "%s fork: %s", errname(saved), strerror(saved));
    close(st[0]); close_pair(outp); close_pair(errp); close_pair(W.pty_peer);
    return -1;
  }
  /* Until EOF: the exec closes the CLOEXEC write end; a failing child writes its error first. */
  char msg[768];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(st[0], msg + len, sizeof msg - 1 - len);
    if (n > 0) { len += (size_t)n; if (len == sizeof msg - 1) break; continue; }
    if (n < 0 && errno == EINTR) continue;
    break;
  }
  close(st[0]);
  msg[len] = 0;
  oom_relower_watcher(); /* the child has exec'd or failed: either way, past its oom_score_adj write */
  char *err = strstr(msg, "error ");
  int master = -1;
  static char no_pty[] = "error EIO tty: the workload sent no pty";
  if (!err && len > 0 && o->tty && (master = attach_recv_pty()) < 0) err = no_pty;
  close_pair(W.pty_peer);
  if (err || len == 0) {
    int ws;
    if (err == no_pty) kill(pid, SIGKILL); /* it has exec'd: waiting for it alone could take forever */
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {}
    close_pair(outp);
    close_pair(errp);
    if (err) {
      char *nl = strchr(err, '\n');
      if (nl) *nl = 0;
      snprintf(errbuf, errlen, "%s", err + 6);
    } else {
      snprintf(errbuf, errlen, "EIO start: the workload died before exec");
    }
    return -1;
  }
  W.pid = pid;
  W.pid_host = (pid_t)atoi(msg);
  W.state = "running";
  if (o->tty) {
    stream_open(&W.out, master);
    attach_new_pty();
  } else {
    stream_open(&W.out, outp[0]);
    stream_open(&W.err, errp[0]);
  }
  return 0;
}
