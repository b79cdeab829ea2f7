// Platforms (image-spec image-index.md): the host's os/arch/variant in OCI's names, `--platform os/arch[/variant]`,
// and the choice of one manifest from an index.
import { endianness } from 'node:os';
import type { Descriptor, Platform } from '../oci.js';
import { PodnsError } from '../../errors.js';

/** Node's process.arch → GOARCH, which OCI uses. */
const NODE_TO_OCI_ARCH: Record<string, string> = {
  x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64',
  mips: 'mips', mipsel: 'mipsle', ppc: 'ppc', ppc64: 'ppc64le', s390: 's390',
};
/** Other spellings people and old images use. */
const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386', i686: '386', armhf: 'arm', armel: 'arm' };

function normArch(a: string): string {
  return ARCH_ALIASES[a.toLowerCase()] ?? a.toLowerCase();
}

/** The platform of this machine (linux; Node's arch mapped to OCI's; arm's variant from the build). */
export function hostPlatform(): Platform {
  let architecture = NODE_TO_OCI_ARCH[process.arch] ?? process.arch;
  if (process.arch === 'ppc64' && endianness() === 'BE') architecture = 'ppc64';
  const p: Platform = { os: 'linux', architecture };
  if (architecture === 'arm64') p.variant = 'v8';
  if (architecture === 'arm') {
    const v = (process.config.variables as Record<string, unknown>).arm_version;
    p.variant = `v${typeof v === 'string' || typeof v === 'number' ? v : '7'}`;
  }
  return p;
}

/** "linux/arm64/v8" → platform; refuses anything else with one line. */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  const ok = /^[a-z0-9_.-]{1,32}$/;
  if (parts.length < 2 || parts.length > 3 || !parts.every((p) => ok.test(p))) {
    throw new PodnsError('EINVAL', `platform "${s.slice(0, 80)}" must be os/arch or os/arch/variant, e.g. linux/amd64 or linux/arm/v7`);
  }
  const p: Platform = { os: parts[0]!, architecture: normArch(parts[1]!) };
  if (parts[2] !== undefined) p.variant = parts[2];
  return p;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** arm64 without a variant is v8; arm without one is read as v7 by docker. */
function variantOf(p: Platform): string | undefined {
  const a = normArch(p.architecture);
  if (p.variant !== undefined && p.variant !== '') return p.variant;
  if (a === 'arm64') return 'v8';
  return undefined;
}

/** Ranks how well an index entry fits: undefined = no fit; smaller = better. */
function rank(want: Platform, have: Platform, strictVariant: boolean): number | undefined {
  if (have.os !== want.os || normArch(have.architecture) !== normArch(want.architecture)) return undefined;
  const wv = variantOf(want);
  const hv = variantOf(have);
  if (wv === undefined || wv === hv) return 0;
  if (strictVariant) return undefined;
  // arm: an older variant runs on a newer cpu (v6 on v7, v5 on v6...)
  const wn = /^v(\d+)$/.exec(wv)?.[1];
  const hn = hv === undefined ? undefined : /^v(\d+)$/.exec(hv)?.[1];
  if (wn !== undefined && hn !== undefined && Number(hn) < Number(wn)) return Number(wn) - Number(hn);
  if (hv === undefined) return 100;
  return undefined;
}

/**
 * Picks the manifest for WANT from an index's entries (the host's platform unless the user chose one, which then
 * needs its variant to match exactly when given). None: an error listing what the index has.
 */
export function pickManifest(manifests: readonly Descriptor[], want: Platform, o: { chosen: boolean; what: string }): Descriptor {
  let best: { d: Descriptor; r: number } | undefined;
  for (const d of manifests) {
    if (d.platform === undefined) continue;
    const r = rank(want, d.platform, o.chosen && want.variant !== undefined);
    if (r !== undefined && (best === undefined || r < best.r)) best = { d, r };
  }
  if (best !== undefined) return best.d;
  const available = [...new Set(manifests.filter((d) => d.platform !== undefined && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform!)))];
  throw new PodnsError('ENOPLATFORM', `${o.what} has no image for ${formatPlatform(want)}; it has ${available.length > 0 ? available.join(', ') : 'no platforms listed'}${available.length > 0 ? '; choose one with --platform' : ''}`);
}
