// What a container may not see or change of the host's kernel through /proc and /sys: runc's defaults
// (and podman's, moby's), one list each. The shim gets them as --mask and --readonly-path; `--privileged`
// (config.privileged) lifts both, as it does in podman.
//
// Masked: a file gets /dev/null bound over it, a directory an empty read-only tmpfs. These leak the
// host's memory (kcore), keys, timers and scheduler state, or reach firmware and power limits.
// Read-only: bound onto themselves read-only. /proc/sys holds sysctls of the host's kernel that no
// namespace covers (vm.drop_caches, kernel.*); /proc/sysrq-trigger would reboot the host.
import type { ContainerConfig } from '../pod/types.js';

export const MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
]);

export const READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/** The shim's limit per list (native/helper/shim.h MAX_MASKS). */
export const MAX_PROTECTED_PATHS = 32;

/** The lists a container gets: none when privileged; its own lists (the CRI's) instead of the defaults. */
export function protectedPaths(config: Pick<ContainerConfig, 'privileged' | 'maskedPaths' | 'readonlyPaths'>): { masks: readonly string[]; readonlyPaths: readonly string[] } {
  if (config.privileged === true) return { masks: [], readonlyPaths: [] };
  return { masks: config.maskedPaths ?? MASKED_PATHS, readonlyPaths: config.readonlyPaths ?? READONLY_PATHS };
}
