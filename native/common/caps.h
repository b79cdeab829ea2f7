// Capability sets through capget/capset (version 3: two 32-bit words per set), for the static helpers
// (musl ships no <sys/capability.h> and no kernel headers). Shared by podns-helper and pause.
#ifndef PODNS_COMMON_CAPS_H
#define PODNS_COMMON_CAPS_H

#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PODNS_CAP_KILL 5
#define PODNS_CAP_SYS_ADMIN 21

struct podns_cap_header { uint32_t version; int pid; };
struct podns_cap_data { uint32_t effective, permitted, inheritable; };
#define PODNS_CAPS_VERSION_3 0x20080522

/* This thread's sets. 0, or -1 with errno. */
static inline int podns_capget(uint64_t *eff, uint64_t *perm, uint64_t *inh) {
  struct podns_cap_header h = {PODNS_CAPS_VERSION_3, 0};
  struct podns_cap_data d[2];
  if (syscall(SYS_capget, &h, d) < 0) return -1;
  if (eff) *eff = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
  if (perm) *perm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
  if (inh) *inh = (uint64_t)d[0].inheritable | (uint64_t)d[1].inheritable << 32;
  return 0;
}

/* capset can only shrink permitted, and effective must stay within it. 0, or -1 with errno. */
static inline int podns_capset(uint64_t eff, uint64_t perm, uint64_t inh) {
  struct podns_cap_header h = {PODNS_CAPS_VERSION_3, 0};
  struct podns_cap_data d[2] = {
      {(uint32_t)eff, (uint32_t)perm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(perm >> 32), (uint32_t)(inh >> 32)},
  };
  return (int)syscall(SYS_capset, &h, d);
}

/* Effective = only `keep` (within permitted), permitted kept: a process that can take its capabilities
   back (podns_cap_raise) but holds none while idle. 0, or -1 with errno. */
static inline int podns_cap_lower(uint64_t keep) {
  uint64_t perm, inh;
  if (podns_capget(0, &perm, &inh) < 0) return -1;
  return podns_capset(keep & perm, perm, inh);
}

/* Effective = permitted again. */
static inline int podns_cap_raise(void) {
  uint64_t perm, inh;
  if (podns_capget(0, &perm, &inh) < 0) return -1;
  return podns_capset(perm, perm, inh);
}

#endif
