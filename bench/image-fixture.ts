// The image the image bench pulls: about 100 MB of random data in 3 gzip layers, written directly as an OCI
// image layout (no network, no builder), once per run, then pushed to the loopback registry with skopeo.
//
//   layer 0: a busybox root (/bin/busybox and its applets, /etc/passwd ...) and data0/: half of the random bytes
//   layer 1: data1/: a third
//   layer 2: data2/: a sixth
// The random bytes go into files of 1 KiB to 4 MiB (log-uniform sizes from a fixed seed, 20 per directory),
// the mix of a real image's big and small files; random data does not compress, so a layer blob is as large
// as its files. The same tree is also written, flattened, to a directory: the rootfs that `image import`
// takes for the "run today" side of the image-run section.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../src/image/digest.js';
import { MediaType } from '../src/image/oci.js';
import { hostPlatform } from '../src/image/registry/platform.js';
import { APPLETS, BUSYBOX } from '../test/helpers/busybox.js';
import { tarBuffer, type TarEntry } from '../test/helpers/tar.js';

/** 97 MB of random data, the image. */
export const BIG_IMAGE_RANDOM_BYTES = 97_000_000;
const SHARES = [1 / 2, 1 / 3, 1 / 6];
const MIN_FILE = 1024;
const MAX_FILE = 4 * 1024 * 1024;
const FILES_PER_DIR = 20;

export interface BigImage {
  /** the OCI layout directory, and the tag in it */
  layout: string;
  tag: string;
  /** per layer, bottom first: the blob's (compressed) size, the tar's size, files in it */
  layers: Array<{ digest: string; blobBytes: number; tarBytes: number; files: number }>;
  randomBytes: number;
  /** the same files flattened into one directory (for `image import`) */
  rootfs: string;
  /** what the image's config runs */
  cmd: string[];
}

/** A small deterministic generator (mulberry32): the same file sizes every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fileSizes(total: number, rnd: () => number): number[] {
  const out: number[] = [];
  let left = total;
  const lmin = Math.log(MIN_FILE);
  const lmax = Math.log(MAX_FILE);
  while (left > 0) {
    const s = Math.min(left, Math.round(Math.exp(lmin + rnd() * (lmax - lmin))));
    out.push(s);
    left -= s;
  }
  return out;
}

/** Tar entries of data files under TOP/, and the same files written under ROOTFS/TOP/. */
function dataEntries(top: string, bytes: number, rnd: () => number, rootfs: string): TarEntry[] {
  const entries: TarEntry[] = [{ name: `${top}/`, type: '5', mode: 0o755 }];
  mkdirSync(join(rootfs, top), { mode: 0o755 });
  fileSizes(bytes, rnd).forEach((size, i) => {
    const dir = `${top}/d${Math.floor(i / FILES_PER_DIR)}`;
    if (i % FILES_PER_DIR === 0) {
      entries.push({ name: `${dir}/`, type: '5', mode: 0o755 });
      mkdirSync(join(rootfs, dir), { mode: 0o755 });
    }
    const data = randomBytes(size);
    const name = `${dir}/f${i}`;
    entries.push({ name, data, mode: 0o644 });
    writeFileSync(join(rootfs, name), data, { mode: 0o644 });
  });
  return entries;
}

/** The busybox root of the bottom layer (and of ROOTFS). */
function baseEntries(rootfs: string): TarEntry[] {
  const entries: TarEntry[] = [];
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'dev', 'sys', 'root', 'var', 'run']) {
    entries.push({ name: `${d}/`, type: '5', mode: d === 'tmp' ? 0o1777 : 0o755 });
    mkdirSync(join(rootfs, d), { mode: 0o755 });
  }
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  entries.push({ name: 'bin/busybox', data: readFileSync(BUSYBOX), mode: 0o755 });
  copyFileSync(BUSYBOX, join(rootfs, 'bin', 'busybox'));
  chmodSync(join(rootfs, 'bin', 'busybox'), 0o755);
  for (const a of APPLETS) {
    entries.push({ name: `bin/${a}`, type: '2', link: 'busybox', mode: 0o777 });
    symlinkSync('busybox', join(rootfs, 'bin', a));
  }
  const passwd = 'root:x:0:0:root:/root:/bin/sh\n';
  const group = 'root:x:0:\n';
  entries.push({ name: 'etc/passwd', data: passwd, mode: 0o644 }, { name: 'etc/group', data: group, mode: 0o644 });
  writeFileSync(join(rootfs, 'etc', 'passwd'), passwd);
  writeFileSync(join(rootfs, 'etc', 'group'), group);
  return entries;
}

/** Writes the image to DIR/oci (tag "latest") and its flattened tree to DIR/rootfs. */
export function makeBigImage(dir: string, randomTotal = BIG_IMAGE_RANDOM_BYTES): BigImage {
  const layout = join(dir, 'oci');
  const rootfs = join(dir, 'rootfs');
  const blobs = join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  mkdirSync(rootfs, { mode: 0o755 });
  const put = (data: Buffer | string): { digest: string; size: number } => {
    const digest = digestOf(data);
    writeFileSync(join(blobs, digest.slice('sha256:'.length)), data);
    return { digest, size: Buffer.byteLength(data) };
  };
  const rnd = prng(97);
  const layers: BigImage['layers'] = [];
  const diffIds: string[] = [];
  let used = 0;
  SHARES.forEach((share, i) => {
    const bytes = i === SHARES.length - 1 ? randomTotal - used : Math.round(randomTotal * share);
    used += bytes;
    const entries = [...(i === 0 ? baseEntries(rootfs) : []), ...dataEntries(`data${i}`, bytes, rnd, rootfs)];
    const tar = tarBuffer(entries);
    diffIds.push(digestOf(tar));
    const blob = put(gzipSync(tar));
    layers.push({ digest: blob.digest, blobBytes: blob.size, tarBytes: tar.length, files: entries.filter((e) => (e.type ?? '0') === '0').length });
  });
  const p = hostPlatform();
  const cmd = ['/bin/sleep', '3600'];
  const config = put(JSON.stringify({
    created: '2026-01-01T00:00:00Z', architecture: p.architecture, os: p.os, ...(p.variant !== undefined ? { variant: p.variant } : {}),
    config: { Cmd: cmd, Env: ['PATH=/bin'] }, rootfs: { type: 'layers', diff_ids: diffIds },
  }));
  const manifest = put(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => ({ mediaType: MediaType.ociLayerGzip, digest: l.digest, size: l.blobBytes })),
  }));
  const tag = 'latest';
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociIndex,
    manifests: [{ mediaType: MediaType.ociManifest, digest: manifest.digest, size: manifest.size, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return { layout, tag, layers, randomBytes: randomTotal, rootfs, cmd };
}
