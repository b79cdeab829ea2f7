// The container's devices cgroup (cgroup v1 `devices` controller): where it lives, whether this host has
// one, and its removal. The shim makes it (deny all, allow the minimal /dev: native/helper/shim_devices.c)
// and the workload and every exec session join it; config.json records the path before it is made, so
// that delete and gc find it even after kill -9, and the watcher removes it when the container ends.
//
// Layout: src/cgroups/layout.ts's PARENT/POD-UID8/CONTAINER in the devices hierarchy (the pod's name and
// the first 8 characters of its uid: a pod made again under the same name does not meet its predecessor's).
// Without a v1 devices controller (a pure cgroup v2 host) there is none: v2 device access is a BPF
// program attached to the cgroup, which podns does not implement; inspect says so.
import { existsSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { cgroupPaths, defaultCgroupParent, hostCgroups, ourCgroup, removeCgroupTree } from '../cgroups/index.js';
import type { ContainerConfig, PodRecord } from '../pod/types.js';

/** The v1 devices hierarchy's mount (src/cgroups/detect.ts), undefined without one. */
export function devicesHierarchy(): string | undefined {
  const h = hostCgroups();
  return h.driver === 'v1' ? h.mounts.devices : undefined;
}

let available: boolean | undefined;

/** Does this host have a v1 devices controller? (once per process) */
export function devicesControllerAvailable(): boolean {
  const m = devicesHierarchy();
  available ??= m !== undefined && existsSync(join(m, 'devices.allow'));
  return available;
}

/**
 * Capabilities that let a process make a device node (MKNOD) or reach one the mounts hide (SYS_ADMIN:
 * remount without nodev, mount devtmpfs). Without them a container reaches no device outside its minimal
 * /dev: every other mount is nodev (native/helper/shim_rootfs.c). With them, only the devices cgroup stops it.
 */
const DEVICE_CAPABILITIES = ['MKNOD', 'SYS_ADMIN'];

/**
 * The devices cgroup for a new container, or undefined: privileged, no controller on this host, or no
 * capability that needs one (without MKNOD and SYS_ADMIN the nodev mounts are the barrier). Its join rides
 * on the RCU grace period the container's other cgroups' joins wait for anyway (written back to back).
 * A record without capabilities (before podns set them) had every capability.
 */
export function devicesCgroupFor(rec: Pick<PodRecord, 'name' | 'uid' | 'cgroupParent'>, container: string, config: Pick<ContainerConfig, 'privileged' | 'capabilities'>): string | undefined {
  if (config.privileged === true || !devicesControllerAvailable()) return undefined;
  if (config.capabilities !== undefined && !config.capabilities.some((c) => DEVICE_CAPABILITIES.includes(c))) return undefined;
  return join(devicesHierarchy()!, cgroupPaths(rec, container, rec.cgroupParent ?? defaultCgroupParent()).container!);
}

/** The devices cgroup path relative to its hierarchy when it is one podns makes (ourCgroup), else undefined. */
function ours(path: string | undefined): string | undefined {
  const m = devicesHierarchy();
  if (path === undefined || m === undefined || !path.startsWith(`${m}/`)) return undefined;
  return ourCgroup(path.slice(m.length + 1), 'leaf');
}

/** What inspect says about a container's devices. */
export function devicesSummary(config: Pick<ContainerConfig, 'devicesCgroup' | 'privileged' | 'capabilities'>): string {
  if (config.privileged === true) return 'all of its /dev: privileged (no devices cgroup)';
  const minimal = 'only the minimal /dev (null, zero, full, random, urandom, tty, ptmx, pts); every other mount nodev';
  if (config.devicesCgroup !== undefined) return `${minimal}; and a cgroup v1 devices cgroup allows only those (it holds MKNOD or SYS_ADMIN)`;
  if (config.capabilities !== undefined && !config.capabilities.some((c) => DEVICE_CAPABILITIES.includes(c))) return `${minimal}; no MKNOD or SYS_ADMIN, so no devices cgroup is needed`;
  return `${minimal}; not confined by a devices cgroup: this host has no cgroup v1 devices controller (cgroup v2 device programs are not implemented)`;
}

/**
 * Removes a container's devices cgroup (and the pod's dir once empty). True when it was there. A path
 * that devicesCgroupFor cannot have made (a hand-edited config.json) is left alone. EBUSY: processes
 * are still inside; they are being killed, so it is retried for a moment before giving up.
 */
export async function removeDevicesCgroup(path: string | undefined): Promise<boolean> {
  const rel = ours(path);
  if (rel === undefined) return false;
  const m = devicesHierarchy()!;
  if (!(await removeCgroupTree(join(m, rel)))) return false;
  try {
    rmdirSync(dirname(join(m, rel)));
  } catch {
    // other containers of the pod still have theirs (ENOTEMPTY/EBUSY), or it is gone
  }
  return true;
}

/** The devices cgroup a container's config.json records (undefined when none, or the file is unreadable). */
export function recordedDevicesCgroup(configPath: string): string | undefined {
  try {
    const v = (JSON.parse(readFileSync(configPath, 'utf8')) as Partial<ContainerConfig>).devicesCgroup;
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
