// The images of a `docker save` archive in the legacy layout (manifest.json + CONFIG.json + LAYER/layer.tar, and
// the variants skopeo and podman write: HEX.tar layers, legacy layer directories as symlinks, no `repositories`),
// and the RepoTags of Docker >= 25's manifest.json (which points into its OCI layout).
//
// manifest.json: [{"Config": NAME, "RepoTags": ["repo:tag", ...] | null, "Layers": [NAME, ...]}, ...], every NAME
// a name inside the archive (names.ts). The image id docker gives is the config's digest. podns makes the OCI
// manifest docker did not write: the config and each layer blob as they are (an uncompressed layer's digest is
// its diff_id and is checked against the config before anything is stored; a compressed one's is checked as it is
// unpacked), so the same archive always gives the same image id.
import type { ContentStore } from '../content/store.js';
import { digestOf } from '../digest.js';
import { detectCompression, type LayerCompression } from '../layers/apply.js';
import { LIMITS, MediaType, parseImageConfig, type Descriptor, type ImageManifest } from '../oci.js';
import type { ArchiveContents } from './contents.js';
import { hostile } from './names.js';
import { archiveImageName, blobHead, type ImagePlan } from './plan.js';

/** Images in one manifest.json. */
export const MAX_ARCHIVE_IMAGES = 1000;

export interface DockerManifestEntry {
  what: string;
  names: string[];
  configBytes: Buffer;
  configDigest: string;
  /** names inside the archive */
  layers: string[];
}

/** The blob digests an entry's Layers name (for Docker >= 25, where they are blobs of its OCI layout). */
export function entryLayerDigests(c: ArchiveContents, e: DockerManifestEntry): string[] {
  return e.layers.map((name, i) => c.blob(name, `${e.what}: layer ${i + 1}`).digest);
}

const LAYER_TYPE: Record<LayerCompression, string> = { none: MediaType.ociLayer, gzip: MediaType.ociLayerGzip, zstd: MediaType.ociLayerZstd };

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown, what: string, max: number): string[] {
  if (!Array.isArray(v) || v.length > max || v.some((s) => typeof s !== 'string')) throw hostile(`${what}: expected a list of at most ${max} strings`);
  return v as string[];
}

/** manifest.json's entries, their configs read (from a document or a blob of the archive). */
export function readDockerManifest(c: ArchiveContents, content: ContentStore): DockerManifestEntry[] {
  const src = `${c.source}: manifest.json`;
  let doc: unknown;
  try {
    doc = JSON.parse(c.document('manifest.json', src).toString('utf8'));
  } catch (err) {
    if (err instanceof SyntaxError) throw hostile(`${src} is not JSON`);
    throw err;
  }
  if (!Array.isArray(doc)) throw hostile(`${src}: expected a list of images`);
  if (doc.length > MAX_ARCHIVE_IMAGES) throw hostile(`${src}: more than ${MAX_ARCHIVE_IMAGES} images`);
  return doc.map((e, i) => {
    const what = `${src} [${i}]`;
    if (!isObj(e)) throw hostile(`${what}: expected an object with Config, RepoTags and Layers`);
    if (Array.isArray(e.LayerSources) ? e.LayerSources.length > 0 : isObj(e.LayerSources) && Object.keys(e.LayerSources).length > 0) {
      throw hostile(`${what}: LayerSources (foreign layers) are not supported`);
    }
    const layers = strings(e.Layers, `${what}.Layers`, LIMITS.layers);
    const tags = e.RepoTags === null || e.RepoTags === undefined ? [] : strings(e.RepoTags, `${what}.RepoTags`, MAX_ARCHIVE_IMAGES);
    const cfg = c.resolve(e.Config, `${what}.Config`);
    let configBytes: Buffer;
    if (cfg.kind === 'document') configBytes = cfg.data;
    else if (cfg.kind === 'blob') {
      if (cfg.size > LIMITS.configBytes) throw hostile(`${what}.Config is ${cfg.size} bytes, more than the ${LIMITS.configBytes} allowed`);
      configBytes = content.read(cfg.digest, LIMITS.configBytes);
    } else throw hostile(`${what}.Config: "${String(e.Config).slice(0, 200)}" is ${cfg.what}`);
    const names = tags.map((t) => archiveImageName(t, `${what}.RepoTags`)).filter((n): n is string => n !== undefined);
    return { what: names[0] ?? `image ${i + 1} of ${c.source}`, names, configBytes, configDigest: digestOf(configBytes), layers };
  });
}

/** The images of a legacy docker save archive; the manifests podns makes for them are put in the store. */
export function planDockerArchive(c: ArchiveContents, content: ContentStore): ImagePlan[] {
  return readDockerManifest(c, content).map((e) => {
    const config = parseImageConfig(e.configBytes, `${e.what}: config`, e.layers.length);
    const layers: Descriptor[] = e.layers.map((name, i) => {
      const what = `${e.what}: layer ${i + 1} ("${name.slice(0, 200)}")`;
      const b = c.blob(name, what);
      const kind = detectCompression(blobHead(content, b.digest));
      if (kind === 'none' && b.digest !== config.rootfs.diff_ids[i]) {
        throw hostile(`${what} hashes to ${b.digest}, but the config's diff_id for it is ${config.rootfs.diff_ids[i]}`);
      }
      return { mediaType: LAYER_TYPE[kind], digest: b.digest, size: b.size };
    });
    const configDigest = content.put(e.configBytes, e.configDigest);
    const manifest: ImageManifest = {
      schemaVersion: 2, mediaType: MediaType.ociManifest,
      config: { mediaType: MediaType.ociConfig, digest: configDigest, size: e.configBytes.length },
      layers,
    };
    const manifestDigest = content.put(Buffer.from(JSON.stringify(manifest)));
    return { what: e.what, names: e.names, manifestDigest, manifest, configDigest, config, layers, diffIds: config.rootfs.diff_ids };
  });
}
