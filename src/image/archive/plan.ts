// One image found in an archive, checked and ready to store: its manifest (as the archive had it, or made here
// for a docker save image), config and layers, every blob already verified in the content store, and the names
// the archive gives it. Names are normalised here (parseReference: "docker.io/library/busybox:latest" is
// "busybox:latest"); a name that is not a valid reference refuses the archive.
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { PodnsError } from '../../errors.js';
import type { ContentStore } from '../content/store.js';
import { detectCompression } from '../layers/apply.js';
import { checkLayerMediaType, isNonDistributable, type Descriptor, type ImageConfigFile, type ImageManifest } from '../oci.js';
import { hostile } from './names.js';
import { parseImageReference, parseReference } from '../reference.js';

export interface ImagePlan {
  /** for messages: "busybox:latest in FILE", "image 2 of FILE" */
  what: string;
  names: string[];
  manifestDigest: string;
  manifest: ImageManifest;
  configDigest: string;
  config: ImageConfigFile;
  layers: Descriptor[];
  diffIds: string[];
}

/** The store's form of a name an archive gives ("repo:tag"); undefined for a digest-only reference. */
export function archiveImageName(raw: string, what: string): string | undefined {
  let r;
  try {
    r = parseImageReference(raw);
  } catch (err) {
    throw new PodnsError('EBADARCHIVE', `${what}: the name ${JSON.stringify(raw.slice(0, 200))} is not an image reference (${err instanceof Error ? err.message : String(err)})`);
  }
  if (r.tag === undefined && r.digest !== undefined) return undefined;
  return parseReference(`${r.repository}:${r.tag ?? 'latest'}`).ref;
}

/** Plans with one manifest digest become one, with all their names. */
export function mergePlans(plans: ImagePlan[]): ImagePlan[] {
  const by = new Map<string, ImagePlan>();
  for (const p of plans) {
    const had = by.get(p.manifestDigest);
    if (had === undefined) by.set(p.manifestDigest, { ...p, names: [...new Set(p.names)] });
    else had.names = [...new Set([...had.names, ...p.names])];
  }
  return [...by.values()];
}

/** The first bytes of a stored blob (to tell its compression by magic, not by what a media type claims). */
export function blobHead(content: ContentStore, digest: string): Buffer {
  const fd = openSync(content.path(digest), constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const b = Buffer.alloc(8);
    return b.subarray(0, readSync(fd, b, 0, b.length, 0));
  } finally {
    closeSync(fd);
  }
}

/**
 * Checks a plan against the store before anything is unpacked: every blob is there with the size its descriptor
 * says, each layer is a layer podns can unpack, and an uncompressed layer's digest is its diff_id (a compressed
 * one's diff_id is checked as it is unpacked).
 */
export function checkPlan(p: ImagePlan, content: ContentStore): void {
  if (p.diffIds.length !== p.layers.length) throw hostile(`${p.what}: the config lists ${p.diffIds.length} diff_ids for ${p.layers.length} layers`);
  for (const [i, l] of p.layers.entries()) {
    const what = `${p.what}: layer ${i + 1} (${l.digest})`;
    checkLayerMediaType(l, what);
    const have = content.size(l.digest);
    if (have === undefined) {
      throw hostile(`${what} is not in the archive${isNonDistributable(l) ? ' (a non-distributable layer: podns does not fetch those while loading)' : ''}`);
    }
    if (have !== l.size) throw hostile(`${what} is ${have} bytes, but the manifest says ${l.size}`);
    if (detectCompression(blobHead(content, l.digest)) === 'none' && l.digest !== p.diffIds[i]) {
      throw hostile(`${what} is an uncompressed tar whose digest is not the config's diff_id ${p.diffIds[i]}`);
    }
  }
}
