// The kernel's fd-based path and mount interfaces (openat2, open_tree, move_mount, fsopen, fsconfig,
// fsmount, mount_setattr): numbers and flags, for the shim's rootfs set-up and the test sandbox. musl has no
// wrappers, and <linux/mount.h> clashes with <sys/mount.h>, so the ABI is spelled out here, once.
#ifndef PODNS_HELPER_MOUNTAPI_H
#define PODNS_HELPER_MOUNTAPI_H

#include <fcntl.h>
#include <stdint.h>
#include <sys/syscall.h>

#ifndef SYS_openat2
#define SYS_openat2 437 /* the same number on every architecture (syscalls from 424 on are shared) */
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

#define P_RESOLVE_NO_XDEV 0x01
#define P_RESOLVE_NO_MAGICLINKS 0x02
#define P_RESOLVE_NO_SYMLINKS 0x04
#define P_RESOLVE_BENEATH 0x08
#define P_RESOLVE_IN_ROOT 0x10

#define P_OPEN_TREE_CLONE 1
#define P_MOVE_MOUNT_F_EMPTY_PATH 0x04
#define P_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define P_FSOPEN_CLOEXEC 0x01
#define P_FSMOUNT_CLOEXEC 0x01
#define P_FSCONFIG_SET_FLAG 0
#define P_FSCONFIG_SET_STRING 1
#define P_FSCONFIG_SET_FD 5
#define P_FSCONFIG_CMD_CREATE 6
#define P_MOUNT_ATTR_RDONLY 0x01
#define P_MOUNT_ATTR_NOSUID 0x02
#define P_MOUNT_ATTR_NODEV 0x04
#define P_MOUNT_ATTR_NOEXEC 0x08
#define P_MOUNT_ATTR_STRICTATIME 0x20
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

struct p_open_how {
  uint64_t flags, mode, resolve;
};

struct p_mount_attr {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#endif
