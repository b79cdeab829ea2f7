// The images of an OCI image layout (image-spec image-layout.md), as a directory or a tar, and of the Docker >= 25
// `docker save` layout, which is one: index.json lists manifests (or image indexes: the host's platform, or the
// one asked for, is picked), each named by its annotations. Names, by what producers write:
//   io.containerd.image.name          a full reference (containerd, Docker >= 25)
//   org.opencontainers.image.ref.name a full reference (podman, skopeo given one) or only a tag (Docker >= 25,
//                                     skopeo given one): a bare tag names no repository, and the image is
//                                     loaded without a name (its id is printed), as docker does.
import type { ContentStore } from '../content/store.js';
import { LIMITS, parseImageConfig, parseManifestDocument, type Descriptor, type Platform } from '../oci.js';
import { hostPlatform, pickManifest } from '../registry/platform.js';
import type { ArchiveContents } from './contents.js';
import { hostile } from './names.js';
import { archiveImageName, type ImagePlan } from './plan.js';

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

/** The name an index entry gives its image, if any. */
export function annotatedName(d: Descriptor, what: string): string | undefined {
  const a = d.annotations ?? {};
  const full = a[ANNOTATION_CONTAINERD_NAME];
  if (full !== undefined && full !== '') return archiveImageName(full, what);
  const ref = a[ANNOTATION_REF_NAME];
  if (ref === undefined || ref === '' || !/[:/]/.test(ref)) return undefined;
  return archiveImageName(ref, what);
}

function readBlob(c: ArchiveContents, content: ContentStore, d: Descriptor, max: number, what: string): Buffer {
  if (!c.hasBlob(d.digest, what) && !content.has(d.digest)) throw hostile(`${what}: blob ${d.digest} is not in the archive`);
  if (d.size > max) throw hostile(`${what}: blob ${d.digest} is ${d.size} bytes, more than the ${max} allowed`);
  const buf = content.read(d.digest, max);
  if (buf.length !== d.size) throw hostile(`${what}: blob ${d.digest} is ${buf.length} bytes, but its descriptor says ${d.size}`);
  return buf;
}

export function planOciLayout(c: ArchiveContents, content: ContentStore, o: { platform?: Platform } = {}): ImagePlan[] {
  if (c.has('oci-layout')) {
    let v: unknown;
    try {
      v = JSON.parse(c.document('oci-layout', `${c.source}: oci-layout`).toString('utf8'));
    } catch {
      throw hostile(`${c.source}: oci-layout is not JSON`);
    }
    const ver = (v as { imageLayoutVersion?: unknown } | null)?.imageLayoutVersion;
    if (typeof ver !== 'string' || !/^1\.\d+\.\d+$/.test(ver)) throw hostile(`${c.source}: oci-layout says imageLayoutVersion ${JSON.stringify(ver)?.slice(0, 40)}, not 1.x`);
  }
  const doc = parseManifestDocument(c.document('index.json', `${c.source}: index.json`), `${c.source}: index.json`);
  if (doc.kind !== 'index') throw hostile(`${c.source}: index.json is an image manifest, not an index`);
  const plans: ImagePlan[] = [];
  for (const [i, top] of doc.index.manifests.entries()) {
    const what = `${c.source}: index.json manifests[${i}]`;
    const name = annotatedName(top, what);
    let d = top;
    let m = parseManifestDocument(readBlob(c, content, d, LIMITS.manifestBytes, what), `${what} (${d.digest})`);
    if (m.kind === 'index') {
      const want = o.platform ?? hostPlatform();
      d = pickManifest(m.index.manifests, want, { chosen: o.platform !== undefined, what: `${what} (${top.digest})` });
      m = parseManifestDocument(readBlob(c, content, d, LIMITS.manifestBytes, what), `${what} (${d.digest})`);
      if (m.kind === 'index') throw hostile(`${what}: an index inside an index inside index.json; podns reads one level`);
    }
    const manifest = m.manifest;
    const cfgBuf = readBlob(c, content, manifest.config, LIMITS.configBytes, `${what} config`);
    const config = parseImageConfig(cfgBuf, `${what} config (${manifest.config.digest})`, manifest.layers.length);
    // a layer absent from the archive may be in the store already (checkPlan); one present must be a blob
    for (const [j, l] of manifest.layers.entries()) c.hasBlob(l.digest, `${what} layer ${j + 1}`);
    plans.push({
      what: name ?? `image ${i + 1} of ${c.source}`,
      names: name !== undefined ? [name] : [],
      manifestDigest: d.digest, manifest, configDigest: manifest.config.digest, config,
      layers: manifest.layers, diffIds: config.rootfs.diff_ids,
    });
  }
  return plans;
}
