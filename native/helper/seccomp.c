// The default seccomp filter: the effect of Docker's default profile (moby profiles/seccomp/default.json),
// written as a classic BPF program for the one architecture this helper is built for (x86_64 or aarch64).
//
// Facts of that profile, kept here in our own form: an allowlist, everything else fails with EPERM; some
// calls are allowed only with a capability (mount, umount2, unshare, setns... with CAP_SYS_ADMIN; reboot with
// CAP_SYS_BOOT; init_module with CAP_SYS_MODULE; ...); clone without CAP_SYS_ADMIN only without CLONE_NEW*
// flags; clone3 answers ENOSYS without CAP_SYS_ADMIN (its flags live in memory a filter cannot read; libc
// falls back to clone); socket() not for AF_ALG and AF_VSOCK; personality() only for a few harmless values.
// io_uring is not allowed (the profile dropped it). We add: a call number this table does not know (above
// SYSCALL_NR_MAX, or in a gap) answers ENOSYS like runc's stub, so a libc newer than our table falls back;
// another ABI (i386 via int 0x80, arm32 compat, x32) kills the process: its numbers mean other calls.
//
// The program is a constant, laid out at compile time: arch check, the four calls with argument rules,
// then a bitmap of the allowed numbers: A = 1 << (nr & 31) is tested with one JSET against the allowed
// mask of word nr >> 5 (15 words of 32 bits cover 0..479). A lookup costs ~30 instructions whatever the
// number. At install, a stack copy gets the capability-dependent bits ORed in (and clone/clone3 opened
// with CAP_SYS_ADMIN): a few dozen word operations, no allocation, nothing read from disk.
#include "privileges.h"
#include "syscalls.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>

/* ---- kernel ABI (uapi linux/filter.h, linux/seccomp.h, linux/audit.h): musl ships no kernel headers */

struct sf { uint16_t code; uint8_t jt, jf; uint32_t k; };
struct sf_prog { unsigned short len; const struct sf *filter; };

#define LD_W_ABS 0x20  /* BPF_LD | BPF_W | BPF_ABS: A = seccomp_data[k] */
#define LD_IMM 0x00    /* BPF_LD | BPF_IMM: A = k */
#define LD_MEM 0x60    /* BPF_LD | BPF_MEM: A = M[k] */
#define ST_MEM 0x02    /* BPF_ST: M[k] = A */
#define AND_K 0x54     /* BPF_ALU | BPF_AND | BPF_K */
#define LSH_X 0x6c     /* BPF_ALU | BPF_LSH | BPF_X: A <<= X */
#define RSH_K 0x74     /* BPF_ALU | BPF_RSH | BPF_K */
#define TAX 0x07       /* BPF_MISC | BPF_TAX: X = A */
#define JEQ_K 0x15     /* BPF_JMP | BPF_JEQ | BPF_K */
#define JGT_K 0x25     /* BPF_JMP | BPF_JGT | BPF_K */
#define JSET_K 0x45    /* BPF_JMP | BPF_JSET | BPF_K */
#define RET_K 0x06     /* BPF_RET | BPF_K */

#define RET_KILL_PROCESS 0x80000000u
#define RET_ERRNO(e) (0x00050000u | ((e) & 0xffff))
#define RET_ALLOW 0x7fff0000u

/* struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6]. Little-endian on both
   arches: the low 32 bits of args[i] are at 16 + 8i (the flags, family and persona we test are ints). */
#define OFF_NR 0
#define OFF_ARCH 4
#define OFF_ARG0_LO 16

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE 0xc000003eu /* EM_X86_64 | 64-bit | little-endian */
#define SC_PICK(x, a) x
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE 0xc00000b7u /* EM_AARCH64 | 64-bit | little-endian */
#define SC_PICK(x, a) a
#else
#error "the seccomp filter knows x86_64 and aarch64 only"
#endif

/* Capability numbers (uapi linux/capability.h) the profile's conditional rules name. */
#define CAP_DAC_READ_SEARCH 2
#define CAP_SYS_MODULE 16
#define CAP_SYS_RAWIO 17
#define CAP_SYS_CHROOT 18
#define CAP_SYS_PTRACE 19
#define CAP_SYS_PACCT 20
#define CAP_SYS_ADMIN 21
#define CAP_SYS_BOOT 22
#define CAP_SYS_NICE 23
#define CAP_SYS_TIME 25
#define CAP_SYS_TTY_CONFIG 26
#define CAP_SYSLOG 34
#define CAP_PERFMON 38
#define CAP_BPF 39

/* CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET */
#define CLONE_NEW_ANY 0x7e020000u
#define AF_ALG_ 38
#define AF_VSOCK_ 40

/* ---- the numbers of this architecture */

#define SC_ENUM(P, name, x, a) SC_##name = SC_PICK(x, a),
enum { SYSCALL_TABLE(SC_ENUM, _) };

#define NWORDS 15
_Static_assert((SYSCALL_NR_MAX >> 5) + 1 == NWORDS, "NWORDS must cover 0..SYSCALL_NR_MAX");

#define BIT_IN(w, nr) ((nr) >= 0 && ((nr) >> 5) == (w) ? (1u << ((nr) & 31)) : 0u)
#define CALL_BIT(w, name) | BIT_IN(w, SC_##name)
#define KNOWN_BIT(w, name, x, a) | BIT_IN(w, SC_##name)
#define WORDS(LIST, X) { (0u LIST(X, 0)), (0u LIST(X, 1)), (0u LIST(X, 2)), (0u LIST(X, 3)), (0u LIST(X, 4)), \
  (0u LIST(X, 5)), (0u LIST(X, 6)), (0u LIST(X, 7)), (0u LIST(X, 8)), (0u LIST(X, 9)), (0u LIST(X, 10)), \
  (0u LIST(X, 11)), (0u LIST(X, 12)), (0u LIST(X, 13)), (0u LIST(X, 14)) }

/* Allowed for everyone (names a given arch lacks are -1 in the table and add nothing). clone, clone3,
   socket and personality have rules of their own below. */
#define ALLOWED(X, P) \
  X(P, accept) X(P, accept4) X(P, access) X(P, adjtimex) X(P, alarm) X(P, arch_prctl) X(P, bind) X(P, brk) \
  X(P, capget) X(P, capset) X(P, chdir) X(P, chmod) X(P, chown) X(P, clock_adjtime) X(P, clock_getres) \
  X(P, clock_gettime) X(P, clock_nanosleep) X(P, close) X(P, close_range) X(P, connect) X(P, copy_file_range) \
  X(P, creat) X(P, dup) X(P, dup2) X(P, dup3) X(P, epoll_create) X(P, epoll_create1) X(P, epoll_ctl) \
  X(P, epoll_ctl_old) X(P, epoll_pwait) X(P, epoll_pwait2) X(P, epoll_wait) X(P, epoll_wait_old) X(P, eventfd) \
  X(P, eventfd2) X(P, execve) X(P, execveat) X(P, exit) X(P, exit_group) X(P, faccessat) X(P, faccessat2) \
  X(P, fadvise64) X(P, fallocate) X(P, fanotify_mark) X(P, fchdir) X(P, fchmod) X(P, fchmodat) X(P, fchown) \
  X(P, fchownat) X(P, fcntl) X(P, fdatasync) X(P, fgetxattr) X(P, flistxattr) X(P, flock) X(P, fork) \
  X(P, fremovexattr) X(P, fsetxattr) X(P, fstat) X(P, fstatfs) X(P, fsync) X(P, ftruncate) X(P, futex) \
  X(P, futex_waitv) X(P, futimesat) X(P, get_robust_list) X(P, get_thread_area) X(P, getcpu) X(P, getcwd) \
  X(P, getdents) X(P, getdents64) X(P, getegid) X(P, geteuid) X(P, getgid) X(P, getgroups) X(P, getitimer) \
  X(P, getpeername) X(P, getpgid) X(P, getpgrp) X(P, getpid) X(P, getppid) X(P, getpriority) X(P, getrandom) \
  X(P, getresgid) X(P, getresuid) X(P, getrlimit) X(P, getrusage) X(P, getsid) X(P, getsockname) \
  X(P, getsockopt) X(P, gettid) X(P, gettimeofday) X(P, getuid) X(P, getxattr) X(P, inotify_add_watch) \
  X(P, inotify_init) X(P, inotify_init1) X(P, inotify_rm_watch) X(P, io_cancel) X(P, io_destroy) \
  X(P, io_getevents) X(P, io_pgetevents) X(P, io_setup) X(P, io_submit) X(P, ioctl) X(P, ioprio_get) \
  X(P, ioprio_set) X(P, kill) X(P, landlock_add_rule) X(P, landlock_create_ruleset) \
  X(P, landlock_restrict_self) X(P, lchown) X(P, lgetxattr) X(P, link) X(P, linkat) X(P, listen) \
  X(P, listxattr) X(P, llistxattr) X(P, lremovexattr) X(P, lseek) X(P, lsetxattr) X(P, lstat) X(P, madvise) \
  X(P, membarrier) X(P, memfd_create) X(P, memfd_secret) X(P, mincore) X(P, mkdir) X(P, mkdirat) X(P, mknod) \
  X(P, mknodat) X(P, mlock) X(P, mlock2) X(P, mlockall) X(P, mmap) X(P, modify_ldt) X(P, mprotect) \
  X(P, mq_getsetattr) X(P, mq_notify) X(P, mq_open) X(P, mq_timedreceive) X(P, mq_timedsend) X(P, mq_unlink) \
  X(P, mremap) X(P, msgctl) X(P, msgget) X(P, msgrcv) X(P, msgsnd) X(P, msync) X(P, munlock) X(P, munlockall) \
  X(P, munmap) X(P, name_to_handle_at) X(P, nanosleep) X(P, newfstatat) X(P, open) X(P, openat) X(P, openat2) \
  X(P, pause) X(P, pidfd_open) X(P, pidfd_send_signal) X(P, pipe) X(P, pipe2) X(P, pkey_alloc) X(P, pkey_free) \
  X(P, pkey_mprotect) X(P, poll) X(P, ppoll) X(P, prctl) X(P, pread64) X(P, preadv) X(P, preadv2) \
  X(P, prlimit64) X(P, process_mrelease) X(P, process_vm_readv) X(P, process_vm_writev) X(P, pselect6) \
  X(P, ptrace) X(P, pwrite64) X(P, pwritev) X(P, pwritev2) X(P, read) X(P, readahead) X(P, readlink) \
  X(P, readlinkat) X(P, readv) X(P, recvfrom) X(P, recvmmsg) X(P, recvmsg) X(P, remap_file_pages) \
  X(P, removexattr) X(P, rename) X(P, renameat) X(P, renameat2) X(P, restart_syscall) X(P, rmdir) X(P, rseq) \
  X(P, rt_sigaction) X(P, rt_sigpending) X(P, rt_sigprocmask) X(P, rt_sigqueueinfo) X(P, rt_sigreturn) \
  X(P, rt_sigsuspend) X(P, rt_sigtimedwait) X(P, rt_tgsigqueueinfo) X(P, sched_get_priority_max) \
  X(P, sched_get_priority_min) X(P, sched_getaffinity) X(P, sched_getattr) X(P, sched_getparam) \
  X(P, sched_getscheduler) X(P, sched_rr_get_interval) X(P, sched_setaffinity) X(P, sched_setattr) \
  X(P, sched_setparam) X(P, sched_setscheduler) X(P, sched_yield) X(P, seccomp) X(P, select) X(P, semctl) \
  X(P, semget) X(P, semop) X(P, semtimedop) X(P, sendfile) X(P, sendmmsg) X(P, sendmsg) X(P, sendto) \
  X(P, set_robust_list) X(P, set_thread_area) X(P, set_tid_address) X(P, setfsgid) X(P, setfsuid) X(P, setgid) \
  X(P, setgroups) X(P, setitimer) X(P, setpgid) X(P, setpriority) X(P, setregid) X(P, setresgid) \
  X(P, setresuid) X(P, setreuid) X(P, setrlimit) X(P, setsid) X(P, setsockopt) X(P, setuid) X(P, setxattr) \
  X(P, shmat) X(P, shmctl) X(P, shmdt) X(P, shmget) X(P, shutdown) X(P, sigaltstack) X(P, signalfd) \
  X(P, signalfd4) X(P, socketpair) X(P, splice) X(P, stat) X(P, statfs) X(P, statx) X(P, symlink) \
  X(P, symlinkat) X(P, sync) X(P, sync_file_range) X(P, syncfs) X(P, sysinfo) X(P, tee) X(P, tgkill) X(P, time) \
  X(P, timer_create) X(P, timer_delete) X(P, timer_getoverrun) X(P, timer_gettime) X(P, timer_settime) \
  X(P, timerfd_create) X(P, timerfd_gettime) X(P, timerfd_settime) X(P, times) X(P, tkill) X(P, truncate) \
  X(P, umask) X(P, uname) X(P, unlink) X(P, unlinkat) X(P, utime) X(P, utimensat) X(P, utimes) X(P, vfork) \
  X(P, vmsplice) X(P, wait4) X(P, waitid) X(P, write) X(P, writev)

/* Allowed only with a capability of the container's set. */
#define WITH_DAC_READ_SEARCH(X, P) X(P, open_by_handle_at)
#define WITH_SYS_ADMIN(X, P) X(P, bpf) X(P, fanotify_init) X(P, fsconfig) X(P, fsmount) X(P, fsopen) X(P, fspick) \
  X(P, lookup_dcookie) X(P, mount) X(P, mount_setattr) X(P, move_mount) X(P, open_tree) X(P, perf_event_open) \
  X(P, quotactl) X(P, quotactl_fd) X(P, setdomainname) X(P, sethostname) X(P, setns) X(P, syslog) X(P, umount2) \
  X(P, unshare)
#define WITH_SYS_BOOT(X, P) X(P, reboot)
#define WITH_SYS_CHROOT(X, P) X(P, chroot)
#define WITH_SYS_MODULE(X, P) X(P, delete_module) X(P, init_module) X(P, finit_module)
#define WITH_SYS_PACCT(X, P) X(P, acct)
#define WITH_SYS_PTRACE(X, P) X(P, kcmp) X(P, pidfd_getfd) X(P, process_madvise)
#define WITH_SYS_RAWIO(X, P) X(P, iopl) X(P, ioperm)
#define WITH_SYS_TIME(X, P) X(P, settimeofday) X(P, clock_settime)
#define WITH_SYS_TTY_CONFIG(X, P) X(P, vhangup)
#define WITH_SYS_NICE(X, P) X(P, get_mempolicy) X(P, mbind) X(P, set_mempolicy) X(P, set_mempolicy_home_node)
#define WITH_SYSLOG(X, P) X(P, syslog)
#define WITH_PERFMON(X, P) X(P, perf_event_open)
#define WITH_BPF(X, P) X(P, bpf)

static const struct {
  uint8_t cap;
  uint32_t words[NWORDS];
} cap_calls[] = {
    {CAP_DAC_READ_SEARCH, WORDS(WITH_DAC_READ_SEARCH, CALL_BIT)},
    {CAP_SYS_ADMIN, WORDS(WITH_SYS_ADMIN, CALL_BIT)},
    {CAP_SYS_BOOT, WORDS(WITH_SYS_BOOT, CALL_BIT)},
    {CAP_SYS_CHROOT, WORDS(WITH_SYS_CHROOT, CALL_BIT)},
    {CAP_SYS_MODULE, WORDS(WITH_SYS_MODULE, CALL_BIT)},
    {CAP_SYS_PACCT, WORDS(WITH_SYS_PACCT, CALL_BIT)},
    {CAP_SYS_PTRACE, WORDS(WITH_SYS_PTRACE, CALL_BIT)},
    {CAP_SYS_RAWIO, WORDS(WITH_SYS_RAWIO, CALL_BIT)},
    {CAP_SYS_TIME, WORDS(WITH_SYS_TIME, CALL_BIT)},
    {CAP_SYS_TTY_CONFIG, WORDS(WITH_SYS_TTY_CONFIG, CALL_BIT)},
    {CAP_SYS_NICE, WORDS(WITH_SYS_NICE, CALL_BIT)},
    {CAP_SYSLOG, WORDS(WITH_SYSLOG, CALL_BIT)},
    {CAP_PERFMON, WORDS(WITH_PERFMON, CALL_BIT)},
    {CAP_BPF, WORDS(WITH_BPF, CALL_BIT)},
};

/* ---- the program */

#define STMT(c, k) {(uint16_t)(c), 0, 0, (uint32_t)(k)}
#define JUMP(c, k, jt, jf) {(uint16_t)(c), (jt), (jf), (uint32_t)(k)}

/* One word of the bitmap (A = nr >> 5, M[0] = 1 << (nr & 31)): allowed, known (EPERM) or unknown (ENOSYS). */
#define WORD_INSNS 7
#define WORD(w) \
  JUMP(JEQ_K, w, 0, 6), STMT(LD_MEM, 0), JUMP(JSET_K, (0u ALLOWED(CALL_BIT, w)), 0, 1), STMT(RET_K, RET_ALLOW), \
  JUMP(JSET_K, (0u SYSCALL_TABLE(KNOWN_BIT, w)), 0, 1), STMT(RET_K, RET_ERRNO(EPERM)), STMT(RET_K, RET_ERRNO(ENOSYS))

/* Indices of what install patches, and of the first word. */
enum {
  I_ARCH = 0,          /* ld arch; jeq native; kill */
  I_NR = 3,            /* ld nr */
#if defined(__x86_64__)
  I_X32 = 4,           /* x32 ABI: nr with bit 30 set, arch still x86_64; jset; kill */
  I_CLONE = 6,
#else
  I_CLONE = 4,
#endif
  I_CLONE_FLAGS = I_CLONE + 2, /* jset CLONE_NEW_ANY: 0 with CAP_SYS_ADMIN */
  I_CLONE3 = I_CLONE + 5,
  I_CLONE3_RET = I_CLONE3 + 1, /* ENOSYS: ALLOW with CAP_SYS_ADMIN */
  I_SOCKET = I_CLONE3 + 2,
  I_PERSONA = I_SOCKET + 6,
  I_RANGE = I_PERSONA + 9,
  I_WORDS = I_RANGE + 9,
  PROG_LEN = I_WORDS + NWORDS * WORD_INSNS + 1,
};

static const struct sf base_program[] = {
    /* I_ARCH */
    STMT(LD_W_ABS, OFF_ARCH),
    JUMP(JEQ_K, AUDIT_ARCH_NATIVE, 1, 0),
    STMT(RET_K, RET_KILL_PROCESS),
    /* I_NR */
    STMT(LD_W_ABS, OFF_NR),
#if defined(__x86_64__)
    JUMP(JSET_K, 0x40000000u, 0, 1),
    STMT(RET_K, RET_KILL_PROCESS),
#endif
    /* I_CLONE: deny a new namespace without CAP_SYS_ADMIN */
    JUMP(JEQ_K, SC_clone, 0, 4),
    STMT(LD_W_ABS, OFF_ARG0_LO),
    JUMP(JSET_K, CLONE_NEW_ANY, 0, 1),
    STMT(RET_K, RET_ERRNO(EPERM)),
    STMT(RET_K, RET_ALLOW),
    /* I_CLONE3 */
    JUMP(JEQ_K, SC_clone3, 0, 1),
    STMT(RET_K, RET_ERRNO(ENOSYS)),
    /* I_SOCKET: not AF_ALG, not AF_VSOCK */
    JUMP(JEQ_K, SC_socket, 0, 5),
    STMT(LD_W_ABS, OFF_ARG0_LO),
    JUMP(JEQ_K, AF_ALG_, 2, 0),
    JUMP(JEQ_K, AF_VSOCK_, 1, 0),
    STMT(RET_K, RET_ALLOW),
    STMT(RET_K, RET_ERRNO(EPERM)),
    /* I_PERSONA: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query 0xffffffff */
    JUMP(JEQ_K, SC_personality, 0, 8),
    STMT(LD_W_ABS, OFF_ARG0_LO),
    JUMP(JEQ_K, 0x0, 5, 0),
    JUMP(JEQ_K, 0x8, 4, 0),
    JUMP(JEQ_K, 0x20000, 3, 0),
    JUMP(JEQ_K, 0x20008, 2, 0),
    JUMP(JEQ_K, 0xffffffffu, 1, 0),
    STMT(RET_K, RET_ERRNO(EPERM)),
    STMT(RET_K, RET_ALLOW),
    /* I_RANGE: above the table: ENOSYS; else M[0] = 1 << (nr & 31), A = nr >> 5 */
    JUMP(JGT_K, SYSCALL_NR_MAX, 0, 1),
    STMT(RET_K, RET_ERRNO(ENOSYS)),
    STMT(AND_K, 31),
    STMT(TAX, 0),
    STMT(LD_IMM, 1),
    STMT(LSH_X, 0),
    STMT(ST_MEM, 0),
    STMT(LD_W_ABS, OFF_NR),
    STMT(RSH_K, 5),
    /* I_WORDS */
    WORD(0), WORD(1), WORD(2), WORD(3), WORD(4), WORD(5), WORD(6), WORD(7), WORD(8), WORD(9), WORD(10),
    WORD(11), WORD(12), WORD(13), WORD(14),
    STMT(RET_K, RET_ERRNO(ENOSYS)),
};

_Static_assert(sizeof base_program / sizeof base_program[0] == PROG_LEN, "the I_* indices do not match the program");

/* The program for a capability set: the constant one with the capability-dependent bits ORed in. */
static void build_program(uint64_t caps, struct sf prog[PROG_LEN]) {
  memcpy(prog, base_program, sizeof base_program);
  if (caps & (1ull << CAP_SYS_ADMIN)) {
    prog[I_CLONE_FLAGS].k = 0; /* JSET 0 never jumps: every clone allowed */
    prog[I_CLONE3_RET].k = RET_ALLOW;
  }
  for (size_t g = 0; g < sizeof cap_calls / sizeof cap_calls[0]; g++) {
    if (!(caps & (1ull << cap_calls[g].cap))) continue;
    for (int w = 0; w < NWORDS; w++) prog[I_WORDS + w * WORD_INSNS + 2].k |= cap_calls[g].words[w];
  }
}

int seccomp_install_default(uint64_t caps) {
  struct sf prog[PROG_LEN];
  build_program(caps, prog);
  struct sf_prog fp = {PROG_LEN, prog};
  return prctl(PR_SET_SECCOMP, 2 /* SECCOMP_MODE_FILTER */, &fp, 0, 0);
}
