// What a container may do: its capability set, no_new_privs, seccomp mode and supplementary groups.
// The one copy of the capability names and numbers, of the default set, and of how add/drop/privileged make
// the final set; the helper gets only masks (native/helper/privileges.h), never names.
//
// Defaults, as podman's (containers.conf default_capabilities) and Docker's minus AUDIT_WRITE, MKNOD, NET_RAW:
// root in a container keeps CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, NET_BIND_SERVICE, SETFCAP, SETGID,
// SETPCAP, SETUID and SYS_CHROOT (bounding, effective and permitted; inheritable and ambient empty, as
// podman and Docker since CVE-2022-27649/CVE-2022-24769). A non-root user gets, as with podman, only the
// capabilities added explicitly (--cap-add, capabilities.add), in every set including ambient, so they
// survive execve. The seccomp filter is Docker's default profile (native/helper/seccomp.c).
import { PodnsError } from '../errors.js';
import type { ContainerConfig } from '../pod/types.js';

/** Capability names by number (uapi linux/capability.h), without the CAP_ prefix. */
export const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
] as const;

export type Capability = (typeof CAPABILITIES)[number];

/** podman's default set. */
export const DEFAULT_CAPABILITIES: readonly Capability[] = [
  'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID', 'SETPCAP', 'SETUID',
  'SYS_CHROOT',
];

export type SeccompMode = 'RuntimeDefault' | 'Unconfined';

const BY_NAME: ReadonlyMap<string, number> = new Map(CAPABILITIES.map((c, i) => [c, i]));

/** "net_admin", "CAP_NET_ADMIN", "Net_Admin" → "NET_ADMIN"; "all" → "ALL" (podman's rules). */
export function normalizeCapability(name: string, what = 'capability'): Capability | 'ALL' {
  const up = name.trim().toUpperCase();
  const bare = up.startsWith('CAP_') ? up.slice(4) : up;
  if (bare === 'ALL') return 'ALL';
  if (!BY_NAME.has(bare)) {
    throw new PodnsError('EINVALIDCAP', `unknown ${what} "${name.slice(0, 64)}": use a name from capabilities(7) such as NET_ADMIN or CAP_NET_ADMIN, or ALL`);
  }
  return bare as Capability;
}

function sorted(set: Iterable<Capability>): Capability[] {
  return [...new Set(set)].sort((a, b) => BY_NAME.get(a)! - BY_NAME.get(b)!);
}

export interface CapabilityOptions {
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
}

/**
 * The container's set: the default (every capability with privileged), plus capAdd, minus capDrop.
 * ALL in capDrop leaves only capAdd; ALL in capAdd means every capability (capDrop still applies).
 * A capability both added and dropped, or ALL in both, is refused.
 */
export function computeCapabilities(o: CapabilityOptions): Capability[] {
  const add = (o.capAdd ?? []).map((n) => normalizeCapability(n, 'capability in --cap-add'));
  const drop = (o.capDrop ?? []).map((n) => normalizeCapability(n, 'capability in --cap-drop'));
  if (add.includes('ALL') && drop.includes('ALL')) {
    throw new PodnsError('EINVALIDCAP', 'ALL cannot be both added and dropped; drop ALL and add the capabilities you need');
  }
  for (const a of add) {
    if (a !== 'ALL' && drop.includes(a)) throw new PodnsError('EINVALIDCAP', `capability ${a} is both added and dropped; give it once`);
  }
  const base: Capability[] = o.privileged === true || add.includes('ALL') ? [...CAPABILITIES] : drop.includes('ALL') ? [] : [...DEFAULT_CAPABILITIES];
  const set = new Set<Capability>(base);
  for (const a of add) if (a !== 'ALL') set.add(a);
  for (const d of drop) if (d !== 'ALL') set.delete(d);
  return sorted(set);
}

/** What podman gives a non-root user: the explicitly added capabilities that are in the set. */
export function userCapabilities(capAdd: string[] | undefined, set: readonly Capability[]): Capability[] {
  const add = (capAdd ?? []).map((n) => normalizeCapability(n));
  if (add.includes('ALL')) return [...set];
  return sorted(add.filter((a): a is Capability => a !== 'ALL' && set.includes(a)));
}

/** 64-bit mask, bit N = capability N (the helper's --caps). */
export function capabilityMask(set: readonly string[]): bigint {
  let mask = 0n;
  for (const c of set) {
    const n = BY_NAME.get(c);
    if (n !== undefined) mask |= 1n << BigInt(n);
  }
  return mask;
}

export interface PrivilegeOptions extends CapabilityOptions {
  noNewPrivileges?: boolean;
  seccomp?: SeccompMode;
  supplementalGroups?: number[];
}

export type PrivilegeFields = Pick<ContainerConfig, 'privileged' | 'capabilities' | 'ambientCapabilities' | 'noNewPrivileges' | 'seccomp' | 'supplementalGroups'>;

/** The ContainerConfig fields for these options (checked; nothing made). uid: the container's (undefined = 0). */
export function resolvePrivileges(o: PrivilegeOptions, uid: number | undefined): PrivilegeFields {
  const capabilities = computeCapabilities(o);
  const groups = o.supplementalGroups ?? [];
  if (groups.length > 64) throw new PodnsError('EINVALIDUSER', `too many supplementary groups (${groups.length}): at most 64`);
  for (const g of groups) {
    if (!Number.isInteger(g) || g < 0 || g > 4294967294) throw new PodnsError('EINVALIDUSER', `invalid supplementary group ${g}: use a number from 0 to 4294967294`);
  }
  if (o.seccomp !== undefined && o.seccomp !== 'RuntimeDefault' && o.seccomp !== 'Unconfined') {
    throw new PodnsError('EUSAGE', `invalid seccomp mode "${String(o.seccomp)}": use RuntimeDefault or Unconfined`);
  }
  const ambient = uid !== undefined && uid !== 0 ? userCapabilities(o.capAdd, capabilities) : [];
  return {
    ...(o.privileged === true ? { privileged: true } : {}),
    capabilities,
    ...(ambient.length > 0 ? { ambientCapabilities: ambient } : {}),
    ...(o.noNewPrivileges === true ? { noNewPrivileges: true } : {}),
    // podman and containerd: a privileged container runs without a filter
    seccomp: o.privileged === true ? 'Unconfined' : o.seccomp ?? 'RuntimeDefault',
    ...(groups.length > 0 ? { supplementalGroups: [...new Set(groups)] } : {}),
  };
}

/**
 * The helper's privilege options for a container (shim and exec take the same ones; src/native/helper.ts
 * spells them). A record written before these fields existed gets none: its processes keep what such a
 * container always had.
 */
export function privilegeOptions(config: Pick<ContainerConfig, 'capabilities' | 'ambientCapabilities' | 'noNewPrivileges' | 'seccomp' | 'supplementalGroups'>): {
  caps?: bigint; userCaps?: bigint; noNewPrivs?: boolean; seccomp?: 'default' | 'unconfined'; groups?: number[];
} {
  if (config.capabilities === undefined) return {};
  return {
    caps: capabilityMask(config.capabilities),
    ...(config.ambientCapabilities !== undefined && config.ambientCapabilities.length > 0 ? { userCaps: capabilityMask(config.ambientCapabilities) } : {}),
    ...(config.supplementalGroups !== undefined && config.supplementalGroups.length > 0 ? { groups: config.supplementalGroups } : {}),
    ...(config.noNewPrivileges === true ? { noNewPrivs: true } : {}),
    seccomp: config.seccomp === 'Unconfined' ? 'unconfined' : 'default',
  };
}

/**
 * `--security-opt` values, as Docker and podman spell them: seccomp=unconfined, no-new-privileges[=|:true|false].
 * Anything else (a seccomp profile file, apparmor, label) is refused with what podns supports.
 */
export function parseSecurityOpts(opts: string[]): { seccomp?: SeccompMode; noNewPrivileges?: boolean } {
  const out: { seccomp?: SeccompMode; noNewPrivileges?: boolean } = {};
  for (const raw of opts) {
    const m = /^([a-z-]+)(?:[=:](.*))?$/.exec(raw);
    const key = m?.[1];
    const value = m?.[2];
    if (key === 'no-new-privileges' && (value === undefined || value === 'true' || value === 'false')) {
      out.noNewPrivileges = value !== 'false';
    } else if (key === 'seccomp' && value === 'unconfined') {
      out.seccomp = 'Unconfined';
    } else if (key === 'seccomp' && (value === 'default' || value === 'runtime/default')) {
      out.seccomp = 'RuntimeDefault';
    } else if (key === 'seccomp') {
      throw new PodnsError('EUSAGE', `--security-opt ${raw}: podns has its built-in filter only; use seccomp=unconfined to run without it`);
    } else {
      throw new PodnsError('EUSAGE', `unsupported --security-opt "${raw}": podns knows seccomp=unconfined and no-new-privileges`);
    }
  }
  return out;
}

/** For `podns inspect`: the sets the container's main process starts with. */
export function privilegeSummary(config: ContainerConfig): {
  capabilities: string[] | null; effective: string[] | null; seccomp: SeccompMode | null; noNewPrivileges: boolean;
  privileged: boolean; supplementalGroups: number[];
} {
  const root = config.uid === undefined || config.uid === 0;
  return {
    capabilities: config.capabilities ?? null,
    effective: config.capabilities === undefined ? null : root ? config.capabilities : config.ambientCapabilities ?? [],
    seccomp: config.seccomp ?? null,
    noNewPrivileges: config.noNewPrivileges === true,
    privileged: config.privileged === true,
    supplementalGroups: config.supplementalGroups ?? [],
  };
}
