// podns-helper sandbox [--] CMD ARGS...
//
// A throw-away network + mount namespace for tests and experiments, the way
// `ip netns exec` prepares one: whatever CMD does to links, routes, nft rules, /run/netns
// or mounts stays inside and disappears when its last process exits. The root network and
// mount namespaces of the machine are never touched.
#include "common.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <fcntl.h>

#include "mountapi.h"

static void loopback_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die_errno("socket");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) die_errno("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) != 0) die_errno("SIOCSIFFLAGS lo");
  close(s);
}

int sandbox_main(int argc, char **argv) {
  int i = 1;
  if (i < argc && strcmp(argv[i], "--") == 0) i++;
  if (i >= argc) die_usage("no command given (usage: podns-helper sandbox [--] CMD ARGS...)");

  if (unshare(CLONE_NEWNET | CLONE_NEWNS) != 0) die_errno("unshare(CLONE_NEWNET|CLONE_NEWNS)");
  // A new mount namespace starts as a copy whose mounts may still be shared with the root
  // one (systemd makes / shared): without rprivate our mounts below would propagate out.
  if (mount("", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die_errno("mount / rprivate");
  // An empty /run: /run/netns, /run/podns and friends of the real machine are out of sight,
  // and what CMD creates there vanishes with the namespace.
  if (mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0) die_errno("mount tmpfs /run");
  // sysfs shows the network devices of the netns that mounted it: remount it so
  // /sys/class/net describes our namespace (what `ip netns exec` does). The old /sys is
  // lazily detached with everything under it; EINVAL means nothing was mounted there.
  // The cgroup hierarchies under it are the machine's, not a netns's: a copy of that mount tree goes onto
  // the new /sys, so that what podns does with cgroups (a container's devices cgroup) runs here as on the
  // host. None there (ENOENT): nothing to carry.
  int cgroups = (int)syscall(SYS_open_tree, AT_FDCWD, "/sys/fs/cgroup", P_OPEN_TREE_CLONE | O_CLOEXEC | AT_RECURSIVE);
  if (cgroups < 0 && errno != ENOENT) die_errno("open_tree /sys/fs/cgroup");
  if (umount2("/sys", MNT_DETACH) != 0 && errno != EINVAL) die_errno("umount /sys");
  if (mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) die_errno("mount sysfs /sys");
  if (cgroups >= 0) {
    if (syscall(SYS_move_mount, cgroups, "", AT_FDCWD, "/sys/fs/cgroup", P_MOVE_MOUNT_F_EMPTY_PATH) != 0) die_errno("move_mount /sys/fs/cgroup");
    close(cgroups);
  }
  loopback_up();
  if (setenv("PODNS_SANDBOX", "1", 1) != 0) die_errno("setenv");

  // Stay behind as a child subreaper instead of exec'ing: the pauses and watchers that CMD
  // detaches (double fork) are re-parented to us, not to the machine's PID 1, which in some
  // containers and VMs never reaps. So no <defunct> piles up during a long test run. We do not
  // kill what is left when CMD ends: the caller's leak check must still see it.
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) die_errno("prctl(PR_SET_CHILD_SUBREAPER)");
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) die_errno("fork");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old, NULL);
    execvp(argv[i], argv + i);
    int err = errno;
    char step[300];
    snprintf(step, sizeof step, "execvp %s", argv[i]);
    die_errno_code(err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC, err, step);
  }
  // Signals arrive synchronously through sigwait. SIGINT and SIGQUIT from a terminal already
  // reach CMD through its process group, so only the ones sent to us by pid are forwarded.
  int status = 0;
  for (;;) {
    int sig = 0;
    if (sigwait(&all, &sig) != 0) continue;
    if (sig == SIGCHLD) {
      pid_t p;
      int st;
      bool done = false;
      while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == child) { status = st; done = true; }
      }
      if (done) break;
    } else if (sig == SIGTERM || sig == SIGHUP || sig == SIGUSR1 || sig == SIGUSR2) {
      kill(child, sig);
    }
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}
