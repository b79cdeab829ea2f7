// apply_privileges: the container's user, groups, capabilities, no_new_privs and seccomp filter, in the one
// order that works (see privileges.h for the flags).
//
// Kernel hazards, in the order they bite:
// - PR_CAPBSET_DROP needs CAP_SETPCAP in the effective set: drop the bounding set while still full root.
//   It answers EINVAL for a number beyond the kernel's last capability: that is how the loop finds the end
//   (the same number /proc/sys/kernel/cap_last_cap holds, without opening a file per container).
// - setuid() from 0 to another uid clears the permitted and effective sets unless PR_SET_KEEPCAPS is set
//   (the flag itself is cleared by execve). Permitted is kept so that the non-root user's capabilities and
//   the temporary CAP_SYS_ADMIN below can be set after the change.
// - capset() can only shrink permitted, and a capability is raised into the ambient set only when it is in
//   both permitted and inheritable; ambient is what carries a non-root user's capabilities across execve.
// - Installing a filter needs no_new_privs or CAP_SYS_ADMIN in the effective set. Without no_new_privs we keep
//   CAP_SYS_ADMIN effective just for the install, then drop it: the filter goes in last (what runs after it
//   is chdir, prctl, umask and execve, which it allows), and it is chosen by the container's set, not by
//   what we hold while installing it.
// - For uid 0, execve recomputes permitted from the bounding set (root's file capabilities are all), so
//   the bounding set is what root in the container keeps; inheritable stays empty (CVE-2022-27649).
#include "privileges.h"
#include "../common/caps.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif
#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif


void privs_init(struct privs *p) {
  memset(p, 0, sizeof *p);
  p->uid = p->gid = -1;
}

bool privs_flag_is_switch(const char *flag) { return strcmp(flag, "--no-new-privs") == 0; }

static int parse_hex64(const char *s, uint64_t *out) {
  if (s[0] == 0 || strlen(s) > 16) return -1;
  uint64_t v = 0;
  for (const char *c = s; *c; c++) {
    int d = *c >= '0' && *c <= '9' ? *c - '0' : *c >= 'a' && *c <= 'f' ? *c - 'a' + 10 : *c >= 'A' && *c <= 'F' ? *c - 'A' + 10 : -1;
    if (d < 0) return -1;
    v = v << 4 | (uint64_t)d;
  }
  *out = v;
  return 0;
}

int privs_flag(struct privs *p, const char *flag, const char *value, char *why, size_t n) {
  if (!strcmp(flag, "--no-new-privs")) {
    p->nnp = true;
    return 1;
  }
  if (!strcmp(flag, "--caps") || !strcmp(flag, "--user-caps")) {
    uint64_t v;
    if (parse_hex64(value, &v) < 0) {
      snprintf(why, n, "bad %s \"%s\": want a hexadecimal capability mask (bit N = capability N)", flag, value);
      return -1;
    }
    if (flag[2] == 'c') {
      p->caps = v;
      p->have_caps = true;
    } else {
      p->user_caps = v;
    }
    return 1;
  }
  if (!strcmp(flag, "--seccomp")) {
    if (!strcmp(value, "default")) p->seccomp = true;
    else if (!strcmp(value, "unconfined")) p->seccomp = false;
    else {
      snprintf(why, n, "bad --seccomp \"%s\": want default or unconfined", value);
      return -1;
    }
    return 1;
  }
  if (!strcmp(flag, "--groups")) {
    p->have_groups = true;
    p->n_groups = 0;
    const char *c = value;
    while (*c) {
      char *end;
      errno = 0;
      unsigned long g = strtoul(c, &end, 10);
      if (end == c || errno || g > 4294967294UL || (*end != ',' && *end != 0) || p->n_groups == PRIV_MAX_GROUPS) {
        snprintf(why, n, "bad --groups \"%s\": want up to %d numbers separated by commas", value, PRIV_MAX_GROUPS);
        return -1;
      }
      p->groups[p->n_groups++] = (gid_t)g;
      c = *end ? end + 1 : end;
    }
    return 1;
  }
  return 0;
}

#define FAIL(s) do { *step = (s); return -1; } while (0)

int apply_privileges(const struct privs *p, const char **step) {
  *step = "";
  if (p->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) FAIL("prctl(PR_SET_NO_NEW_PRIVS)");

  uint64_t known = ~0ull; /* the capabilities this kernel has */
  bool changes_uid = p->uid > 0;
  if (p->have_caps) {
    int cap = 0;
    for (; cap < 64; cap++) {
      int r = (p->caps >> cap) & 1 ? prctl(PR_CAPBSET_READ, cap, 0, 0, 0) : prctl(PR_CAPBSET_DROP, cap, 0, 0, 0);
      if (r < 0 && errno == EINVAL) break;
      if (r < 0) FAIL("prctl(PR_CAPBSET_DROP)");
    }
    if (cap < 64) known = (1ull << cap) - 1;
    /* What we do not hold ourselves cannot be given (capset only shrinks permitted): --privileged under a
       podns that lacks a capability (a VM without CAP_SYS_RESOURCE, say) gets all that podns has. */
    uint64_t held;
    if (podns_capget(NULL, &held, NULL) < 0) FAIL("capget");
    known &= held;
    if (changes_uid && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) FAIL("prctl(PR_SET_KEEPCAPS)");
  }

  /* Always a deliberate group list once anything is asked for: otherwise the workload would keep the
     supplementary groups of whoever started podns. */
  if (p->have_caps || p->have_groups || p->uid >= 0 || p->gid >= 0) {
    if (setgroups((size_t)(p->have_groups ? p->n_groups : 0), p->groups) < 0) FAIL("setgroups");
  }
  if (p->gid >= 0 && setgid((gid_t)p->gid) < 0) FAIL("setgid");
  if (p->uid >= 0 && setuid((uid_t)p->uid) < 0) FAIL("setuid");

  uint64_t eff = 0, perm = 0, inh = 0, amb = 0;
  uint64_t extra = 0;
  if (p->have_caps) {
    uint64_t set = p->caps & known;
    if (geteuid() == 0) {
      eff = perm = set;
    } else {
      eff = perm = inh = amb = p->user_caps & set;
    }
    if (p->seccomp && !p->nnp) extra = (1ull << PODNS_CAP_SYS_ADMIN) & ~eff;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) FAIL("prctl(PR_CAP_AMBIENT_CLEAR_ALL)");
    if (podns_capset(eff | extra, perm | extra, inh) < 0) FAIL("capset");
    for (int cap = 0; cap < 64; cap++) {
      if (((amb >> cap) & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) < 0) FAIL("prctl(PR_CAP_AMBIENT_RAISE)");
    }
  }

  if (p->seccomp && seccomp_install_default(p->have_caps ? p->caps : ~0ull) < 0) FAIL("seccomp");
  if (extra && podns_capset(eff, perm, inh) < 0) FAIL("capset");
  return 0;
}
