// Content digests (OCI image spec, descriptor.md): "ALGORITHM:ENCODED". Every digest that comes from an image,
// a manifest, a registry or an archive is checked here before it reaches a path or a comparison: only the
// registered algorithms with their exact lowercase-hex lengths are accepted, so a digest string can never
// carry a '/', a '..' or a NUL into the content store. ChainIDs (image spec, config.md) are computed here too.
import { createHash } from 'node:crypto';
import { PodnsError } from '../errors.js';

export type DigestAlgorithm = 'sha256' | 'sha512';

/** Hex length of each registered algorithm's encoded part. */
const HEX_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

export interface Digest {
  algorithm: DigestAlgorithm;
  /** lowercase hex */
  hex: string;
  /** "sha256:…" */
  value: string;
}

function shown(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

/** Parses a digest; throws EBADDIGEST naming WHAT (e.g. "layer 2 of nginx:latest") when it is malformed. */
export function parseDigest(s: unknown, what = 'digest'): Digest {
  if (typeof s !== 'string') throw new PodnsError('EBADDIGEST', `${what}: the digest is not a string; the image or registry is broken`);
  const colon = s.indexOf(':');
  const algorithm = s.slice(0, colon) as DigestAlgorithm;
  const hex = s.slice(colon + 1);
  const len = colon > 0 ? HEX_LENGTH[algorithm] : undefined;
  if (len === undefined || !Object.hasOwn(HEX_LENGTH, algorithm)) {
    throw new PodnsError('EBADDIGEST', `${what}: "${shown(s)}" is not a digest (expected sha256:<64 hex digits>); the image or registry is broken`);
  }
  if (hex.length !== len || !/^[a-f0-9]+$/.test(hex)) {
    throw new PodnsError('EBADDIGEST', `${what}: "${shown(s)}" is not a valid ${algorithm} digest (${len} lowercase hex digits); the image or registry is broken`);
  }
  return { algorithm, hex, value: s };
}

/** True when S is a well-formed digest. */
export function isDigest(s: unknown): s is string {
  try {
    parseDigest(s);
    return true;
  } catch {
    return false;
  }
}

/** A streaming hasher for one algorithm; `digest()` gives "algorithm:hex". */
export function digester(algorithm: DigestAlgorithm = 'sha256'): { update(b: Uint8Array): void; digest(): string } {
  const h = createHash(algorithm);
  return {
    update: (b) => {
      h.update(b);
    },
    digest: () => `${algorithm}:${h.digest('hex')}`,
  };
}

/** The sha256 digest of a buffer ("sha256:…"). */
export function digestOf(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * ChainIDs of a layer stack, bottom first: ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " + DiffID(Ln)).
 * Two images that share their first k layers share the first k ChainIDs, which is what lets one unpacked layer serve both.
 */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const [i, d] of diffIds.entries()) {
    parseDigest(d, `diff_id ${i}`);
    out.push(i === 0 ? d : digestOf(`${out[i - 1]} ${d}`));
  }
  return out;
}
