// What a container's processes may do: capabilities, user and groups, no_new_privs, the seccomp filter.
// One API for both places a process enters a container: the shim's workload child and `podns-helper exec`.
// Both parse the same flags (privs_flag) and call apply_privileges() as the last step before execve.
//
//   --caps HEX        the capability set (bit N = capability N), 64-bit: the bounding set; for uid 0 also the
//                     effective and permitted sets (inheritable and ambient empty, as podman and Docker since
//                     CVE-2022-27649/24769)
//   --user-caps HEX   for a uid other than 0: effective, permitted, inheritable and ambient (podman gives a
//                     non-root user only the capabilities added explicitly; ambient so they survive execve).
//                     Always within --caps.
//   --groups G1,G2    supplementary groups (without it: none, once any privilege flag or --uid/--gid is given)
//   --no-new-privs    prctl(PR_SET_NO_NEW_PRIVS): setuid binaries and file capabilities give nothing
//   --seccomp default|unconfined   the built-in filter (seccomp.c), or none
// Without --caps the capability sets are left as they are (a record written before these flags existed).
#ifndef PODNS_HELPER_PRIVILEGES_H
#define PODNS_HELPER_PRIVILEGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PRIV_MAX_GROUPS 64

struct privs {
  bool have_caps;
  uint64_t caps;
  uint64_t user_caps;
  bool nnp;
  bool seccomp;
  bool have_groups;
  int n_groups;
  gid_t groups[PRIV_MAX_GROUPS];
  long uid, gid; /* -1: unchanged (filled in by the caller from its own --uid/--gid) */
};

void privs_init(struct privs *p);
/* true for the flags that take no value (--no-new-privs). */
bool privs_flag_is_switch(const char *flag);
/* One flag and its value (NULL for a switch). 1: taken; 0: not a privilege flag; -1: bad value, `why` says so. */
int privs_flag(struct privs *p, const char *flag, const char *value, char *why, size_t n);
/* Everything in order; returns 0, or -1 with errno set and *step naming what failed ("capset", ...).
   After it only what the filter allows may run: chdir, prctl, umask, execve are. */
int apply_privileges(const struct privs *p, const char **step);

/* seccomp.c: installs the default filter, with the calls `caps` allows (mount with CAP_SYS_ADMIN, ...).
   Needs no_new_privs or CAP_SYS_ADMIN in the effective set. 0, or -1 with errno. */
int seccomp_install_default(uint64_t caps);

#endif
