// `podns image save REF... -o FILE`: an OCI image layout as a tar (an "oci-archive", as skopeo and podman call it):
//   oci-layout                 {"imageLayoutVersion":"1.0.0"}
//   index.json                 one entry per name given (an image named twice is listed twice, with one digest),
//                              annotated with the full reference in org.opencontainers.image.ref.name (skopeo's
//                              oci-archive:FILE:NAME and podman load read it) and io.containerd.image.name (docker)
//   blobs/sha256/HEX           each manifest, config and layer once, streamed from the content store and
//                              re-hashed on the way out (a damaged store fails the save, it does not spread)
//   manifest.json              docker save's list ([{Config, RepoTags, Layers}] naming the blobs above), as Docker
//                              >= 25 writes it: docker load reads it, and podman load reads an archive of several
//                              images through it (podman 4 reads one image only from an oci-archive)
// An imported root filesystem (kind 'rootfs') is saved as a one-layer image (rootfs-layer.ts).
// The file is written next to its final name and renamed when complete: a failed save leaves no archive.
import { once } from 'node:events';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { oneLine, PodnsError } from '../../errors.js';
import { resolveStore, type StoreOption } from '../../state/store-root.js';
import { ContentStore } from '../content/store.js';
import { withStoreLock } from '../gc.js';
import { digester, parseDigest } from '../digest.js';
import { LIMITS, MediaType, parseManifestDocument, type Descriptor, type ImageManifest } from '../oci.js';
import { imageDir, readImage } from '../records.js';
import { parseImageReference } from '../reference.js';
import { findImage, ImageNotFoundError } from '../store.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME } from './oci-layout.js';
import { rootfsAsImage } from './rootfs-layer.js';
import { TarWriter } from './tar-write.js';

export interface SaveOptions extends StoreOption {
  refs: string[];
  /** a file, or "-" for STDOUT */
  output: string;
  stdout?: Writable;
}

export interface SavedImage {
  /** as given */
  ref: string;
  /** the full reference written in index.json; absent for an image saved by id */
  name?: string;
  /** the manifest digest in the archive (the image id, or for an imported rootfs, the one-layer image's) */
  digest: string;
}

interface Entry extends SavedImage {
  manifest: ImageManifest;
  manifestSize: number;
  manifestMediaType: string;
  platform?: string;
}

/** "busybox:latest" → "docker.io/library/busybox:latest"; an id → undefined. */
function fullName(ref: string): string | undefined {
  const r = parseImageReference(ref);
  return `${r.name}:${r.tag ?? 'latest'}`;
}

async function resolveEntry(store: string, content: ContentStore, ref: string): Promise<Entry> {
  const hit = findImage(store, ref);
  const rec = hit !== undefined ? readImage(store, hit.id) : undefined;
  if (hit === undefined || rec === undefined) throw new ImageNotFoundError(ref);
  const name = hit.ref === hit.id ? undefined : fullName(hit.ref);
  if (rec.kind === 'rootfs') {
    const r = await rootfsAsImage(content, rec, join(imageDir(store, rec.id), 'rootfs'));
    return { ref, ...(name !== undefined ? { name } : {}), digest: r.manifestDigest, manifest: r.manifest, manifestSize: r.size, manifestMediaType: MediaType.ociManifest, platform: r.platform };
  }
  const buf = content.read(rec.id, LIMITS.manifestBytes);
  const doc = parseManifestDocument(buf, `image ${hit.ref} manifest`);
  if (doc.kind !== 'manifest') throw new PodnsError('EBADIMAGE', `image ${hit.ref}: its id ${rec.id} is an index, not a manifest; pull it again`);
  return {
    ref, ...(name !== undefined ? { name } : {}), digest: rec.id, manifest: doc.manifest, manifestSize: buf.length,
    manifestMediaType: doc.manifest.mediaType ?? MediaType.ociManifest, ...(rec.platform !== undefined ? { platform: rec.platform } : {}),
  };
}

function platformOf(s: string | undefined): Descriptor['platform'] | undefined {
  if (s === undefined) return undefined;
  const [os, architecture, variant] = s.split('/');
  if (os === undefined || architecture === undefined) return undefined;
  return { os, architecture, ...(variant !== undefined ? { variant } : {}) };
}

export function indexFor(entries: readonly Entry[]): Buffer {
  const manifests = entries.map((e) => {
    const platform = platformOf(e.platform);
    return {
      mediaType: e.manifestMediaType, digest: e.digest, size: e.manifestSize,
      ...(e.name !== undefined ? { annotations: { [ANNOTATION_CONTAINERD_NAME]: e.name, [ANNOTATION_REF_NAME]: e.name } } : {}),
      ...(platform !== undefined ? { platform } : {}),
    };
  });
  return Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
}

/** docker save's manifest.json: one entry per image, its names as RepoTags. */
export function dockerManifestFor(entries: readonly Entry[]): Buffer {
  const out: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const byDigest = new Map<string, { Config: string; RepoTags: string[]; Layers: string[] }>();
  const path = (d: string): string => {
    const p = parseDigest(d);
    return `blobs/${p.algorithm}/${p.hex}`;
  };
  for (const e of entries) {
    let m = byDigest.get(e.digest);
    if (m === undefined) {
      m = { Config: path(e.manifest.config.digest), RepoTags: [], Layers: e.manifest.layers.map((l) => path(l.digest)) };
      byDigest.set(e.digest, m);
      out.push(m);
    }
    // the full name: podman reads a short one as localhost/NAME; docker normalises either
    if (e.name !== undefined && !m.RepoTags.includes(e.name)) m.RepoTags.push(e.name);
  }
  return Buffer.from(JSON.stringify(out));
}

/** Streams blob DIGEST from the store, checking its size and digest on the way. */
async function* checkedBlob(content: ContentStore, digest: string, size: number): AsyncGenerator<Buffer> {
  const h = digester(parseDigest(digest).algorithm);
  let n = 0;
  for await (const c of content.open(digest) as AsyncIterable<Buffer>) {
    h.update(c);
    n += c.length;
    yield c;
  }
  if (n !== size || h.digest() !== digest) {
    throw new PodnsError('EBADBLOB', `blob ${digest} in ${content.dir} is damaged (it no longer hashes to its name); nothing was saved: remove the image and pull or load it again`);
  }
}

function errnoCode(err: unknown): string {
  const c = (err as { code?: unknown }).code;
  return typeof c === 'string' ? c : 'EIO';
}

export async function saveImages(o: SaveOptions): Promise<SavedImage[]> {
  if (o.refs.length === 0) throw new PodnsError('EUSAGE', 'podns image save: name at least one image, e.g. podns image save busybox -o busybox.tar');
  const store = resolveStore(o.store);
  // blobs are read (and, for an imported rootfs, written) while `image prune` waits
  return withStoreLock(store, 'sh', () => saveLocked(o, store));
}

async function saveLocked(o: SaveOptions, store: string): Promise<SavedImage[]> {
  const content = new ContentStore(store);
  const entries: Entry[] = [];
  for (const ref of o.refs) entries.push(await resolveEntry(store, content, ref));
  // each blob once, sizes from the descriptors (checked against the store as they are written)
  const blobs = new Map<string, number>();
  for (const e of entries) {
    blobs.set(e.digest, e.manifestSize);
    blobs.set(e.manifest.config.digest, e.manifest.config.size);
    for (const l of e.manifest.layers) blobs.set(l.digest, l.size);
  }
  for (const [d] of blobs) {
    if (!content.has(d)) throw new PodnsError('ENOBLOB', `blob ${d} of ${entries.find((e) => e.digest === d || e.manifest.config.digest === d || e.manifest.layers.some((l) => l.digest === d))?.ref} is not in the content store ${store}; pull or load the image again`);
  }
  const write = async (w: TarWriter): Promise<void> => {
    await w.file('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    await w.file('index.json', indexFor(entries));
    await w.file('manifest.json', dockerManifestFor(entries));
    await w.dir('blobs');
    for (const alg of new Set([...blobs.keys()].map((d) => parseDigest(d).algorithm))) await w.dir(`blobs/${alg}`);
    for (const [d, size] of blobs) {
      const p = parseDigest(d);
      await w.stream(`blobs/${p.algorithm}/${p.hex}`, size, checkedBlob(content, d, size));
    }
    await w.end();
  };
  if (o.output === '-') {
    const out = o.stdout ?? process.stdout;
    await write(new TarWriter(async (b) => {
      if (!out.write(b)) await once(out, 'drain');
    }));
  } else {
    const tmp = join(dirname(o.output), `.${basename(o.output)}.podns-save-${process.pid}`);
    let fh;
    try {
      fh = await open(tmp, 'wx', 0o644);
    } catch (err) {
      throw new PodnsError(errnoCode(err), `cannot write ${o.output}: ${errnoCode(err) === 'ENOENT' ? 'its directory does not exist' : oneLine(err)}`);
    }
    try {
      await write(new TarWriter(async (b) => {
        let off = 0;
        while (off < b.length) off += (await fh.write(b, off, b.length - off)).bytesWritten;
      }));
      await fh.sync();
      await fh.close();
      await rename(tmp, o.output);
    } catch (err) {
      await fh.close().catch(() => {});
      await rm(tmp, { force: true });
      throw err;
    }
  }
  return entries.map((e) => ({ ref: e.ref, ...(e.name !== undefined ? { name: e.name } : {}), digest: e.digest }));
}
