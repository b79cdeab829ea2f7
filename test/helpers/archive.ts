// Image archives for the load/save tests, built from what skopeo writes (docker-archive, OCI layouts) of images
// umoci makes from busybox-static: the layouts other producers write (docker save's legacy layout with shared
// layers as symlinks, Docker >= 25's OCI layout + manifest.json) are assembled here from those parts, and hostile
// variants are written entry by entry with test/helpers/tar.ts.
import { execa } from 'execa';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { skopeoCopy } from './registry.js';
import { writeTar, type TarEntry } from './tar.js';

export const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

/** An image as docker-archive parts: its config bytes, its uncompressed layers, its tags. */
export interface ImageParts {
  config: Buffer;
  layers: Buffer[];
  tags: string[];
}

/** Reads one image of a docker-archive skopeo wrote (a single-image archive). */
export async function dockerArchiveParts(file: string, dir: string): Promise<ImageParts> {
  mkdirSync(dir, { recursive: true });
  await execa('tar', ['-xf', file, '-C', dir]);
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
  return { config: readFileSync(join(dir, m[0]!.Config)), layers: m[0]!.Layers.map((l) => readFileSync(join(dir, l))), tags: m[0]!.RepoTags };
}

/**
 * docker save's legacy layout for several images: LAYERID/layer.tar (a layer another image already wrote is a
 * symlink to it, as docker writes it), LAYERID/VERSION and json, CONFIGHEX.json, manifest.json, and repositories
 * unless omitted. `gzipTop` stores an image's top layer gzip-compressed (a producer quirk).
 */
export function legacyEntries(images: ImageParts[], o: { repositories?: boolean; gzipTop?: number[] } = {}): TarEntry[] {
  const entries: TarEntry[] = [];
  const written = new Map<string, string>();
  const manifest: Array<{ Config: string; RepoTags: string[]; Layers: string[] }> = [];
  const repos: Record<string, Record<string, string>> = {};
  for (const [ii, img] of images.entries()) {
    const layerNames: string[] = [];
    let parent = '';
    for (const [li, layer] of img.layers.entries()) {
      const gz = (o.gzipTop ?? []).includes(ii) && li === img.layers.length - 1;
      const data = gz ? gzipSync(layer) : layer;
      // docker's layer ids depend on the image: a layer two images share is written once, then linked
      const id = sha(`${ii} ${parent} ${sha(data)}`);
      parent = id;
      layerNames.push(`${id}/layer.tar`);
      if (written.has(id)) continue;
      const first = [...written.entries()].find(([, h]) => h === sha(data));
      entries.push({ name: `${id}/`, type: '5' }, { name: `${id}/VERSION`, data: '1.0' }, { name: `${id}/json`, data: JSON.stringify({ id }) });
      if (first !== undefined) entries.push({ name: `${id}/layer.tar`, type: '2', link: `../${first[0]}/layer.tar` });
      else entries.push({ name: `${id}/layer.tar`, data });
      written.set(id, sha(data));
    }
    entries.push({ name: `${sha(img.config)}.json`, data: img.config });
    manifest.push({ Config: `${sha(img.config)}.json`, RepoTags: img.tags, Layers: layerNames });
    for (const t of img.tags) {
      const at = t.lastIndexOf(':');
      (repos[t.slice(0, at)] ??= {})[t.slice(at + 1)] = parent;
    }
  }
  entries.push({ name: 'manifest.json', data: JSON.stringify(manifest) });
  if (o.repositories !== false) entries.push({ name: 'repositories', data: JSON.stringify(repos) });
  return entries;
}

export function writeLegacyArchive(file: string, images: ImageParts[], o: { repositories?: boolean; gzipTop?: number[] } = {}): string {
  return writeTar(file, legacyEntries(images, o));
}

/**
 * Rewrites the first image of OCI layout DIR with its gzip layers stored uncompressed, under MEDIATYPE (the right
 * one, or "+gzip" for the producer quirk), and the index entry's annotations; returns the new manifest.
 */
export function decompressLayers(dir: string, mediaType: string, annotations?: Record<string, string>): { config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> } {
  const blobs = join(dir, 'blobs', 'sha256');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; size: number; annotations?: Record<string, string> }> };
  const md = index.manifests[0]!;
  const manifest = JSON.parse(readFileSync(join(blobs, md.digest.slice(7)), 'utf8')) as { config: { digest: string }; layers: Array<{ mediaType: string; digest: string; size: number }> };
  for (const l of manifest.layers) {
    const plain = gunzipSync(readFileSync(join(blobs, l.digest.slice(7))));
    writeFileSync(join(blobs, sha(plain)), plain);
    Object.assign(l, { mediaType, digest: `sha256:${sha(plain)}`, size: plain.length });
  }
  const mb = Buffer.from(JSON.stringify(manifest));
  writeFileSync(join(blobs, sha(mb)), mb);
  Object.assign(md, { digest: `sha256:${sha(mb)}`, size: mb.length });
  if (annotations !== undefined) md.annotations = annotations;
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return manifest;
}

/**
 * Docker >= 25's layout: an OCI layout with uncompressed layer blobs (decompressed here from skopeo's copy),
 * index.json annotated as Docker writes it (io.containerd.image.name = full name, ref.name = the tag only), and a
 * manifest.json whose Config and Layers name the blobs, with RepoTags.
 */
export async function writeDocker25Archive(file: string, work: string, layout: string, tag: string, name: string): Promise<void> {
  const dir = join(work, 'docker25');
  await skopeoCopy(`oci:${layout}:${tag}`, `oci:${dir}:${tag}`);
  const manifest = decompressLayers(dir, 'application/vnd.oci.image.layer.v1.tar', { 'io.containerd.image.name': `docker.io/library/${name}`, 'org.opencontainers.image.ref.name': name.split(':')[1]! });
  const p = (d: string): string => `blobs/sha256/${d.slice(7)}`;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: p(manifest.config.digest), RepoTags: [name], Layers: manifest.layers.map((l) => p(l.digest)) }]));
  writeFileSync(join(dir, 'repositories'), '{}');
  await execa('tar', ['-cf', file, '-C', dir, ...readdirSync(dir).sort()]);
}

/** Rewrites the first image of OCI layout DIR as a Docker schema 2 manifest (what a pull from Docker Hub stores), named NAME. */
export function asDockerSchema2(dir: string, name: string): string {
  const blobs = join(dir, 'blobs', 'sha256');
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: Array<Record<string, unknown>> };
  const md = index.manifests[0]!;
  const m = JSON.parse(readFileSync(join(blobs, String(md.digest).slice(7)), 'utf8')) as { mediaType?: string; config: { mediaType: string }; layers: Array<{ mediaType: string }> };
  m.mediaType = 'application/vnd.docker.distribution.manifest.v2+json';
  m.config.mediaType = 'application/vnd.docker.container.image.v1+json';
  for (const l of m.layers) l.mediaType = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
  const mb = Buffer.from(JSON.stringify(m));
  writeFileSync(join(blobs, sha(mb)), mb);
  Object.assign(md, { mediaType: m.mediaType, digest: `sha256:${sha(mb)}`, size: mb.length, annotations: { 'org.opencontainers.image.ref.name': name } });
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
  return `sha256:${sha(mb)}`;
}
