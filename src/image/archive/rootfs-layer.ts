// `image save` of an imported root filesystem (kind 'rootfs'): it becomes a one-layer OCI image. The layer is
// the tree as GNU tar writes it (numeric owners, xattrs, sorted names, no atime: the same tree gives the same
// layer), uncompressed, so its digest is its diff_id; the config carries the import's settings. The layer,
// config and manifest go to the content store (verified like any blob); no record changes, and `image prune`
// collects them when nothing uses them.
import { spawn } from 'node:child_process';
import { oneLine, PodnsError } from '../../errors.js';
import type { ContentStore } from '../content/store.js';
import { MediaType, type ImageManifest } from '../oci.js';
import type { StoredImage } from '../records.js';
import { hostPlatform } from '../registry/platform.js';

export function tarArgs(dir: string): string[] {
  return ['--create', '--file=-', `--directory=${dir}`, '--numeric-owner', '--sort=name', '--xattrs', '--xattrs-include=*', '--format=posix', '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime', '.'];
}

async function tarDir(content: ContentStore, dir: string): Promise<{ digest: string; size: number }> {
  const child = spawn('tar', tarArgs(dir), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 4096) stderr += d; });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code));
  });
  try {
    const got = await content.ingestStream(child.stdout);
    const code = await exited;
    if (code !== 0) throw new PodnsError('EIMAGE', `cannot make a layer of ${dir}: ${stderr.split('\n')[0] || `tar exited with status ${code}`}`);
    return got;
  } catch (err) {
    child.kill('SIGKILL');
    if (err instanceof PodnsError) throw err;
    throw new PodnsError('EIMAGE', `cannot make a layer of ${dir}: ${oneLine(err)}`);
  }
}

export async function rootfsAsImage(content: ContentStore, rec: StoredImage, rootfs: string): Promise<{ manifestDigest: string; manifest: ImageManifest; size: number; platform: string }> {
  const layer = await tarDir(content, rootfs);
  const p = hostPlatform();
  const c = rec.config;
  const env = c.env !== undefined ? Object.entries(c.env).map(([k, v]) => `${k}=${v}`) : undefined;
  const config = {
    created: rec.created, architecture: p.architecture, os: p.os, ...(p.variant !== undefined ? { variant: p.variant } : {}),
    config: {
      ...(c.user !== undefined ? { User: c.user } : {}),
      ...(env !== undefined ? { Env: env } : {}),
      ...(c.entrypoint !== undefined ? { Entrypoint: c.entrypoint } : {}),
      ...(c.cmd !== undefined ? { Cmd: c.cmd } : {}),
      ...(c.workingDir !== undefined ? { WorkingDir: c.workingDir } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [layer.digest] },
    history: [{ created: rec.created, created_by: `podns image import${rec.source !== undefined ? ` ${rec.source}` : ''}` }],
  };
  const cfg = Buffer.from(JSON.stringify(config));
  const configDigest = content.put(cfg);
  const manifest: ImageManifest = {
    schemaVersion: 2, mediaType: MediaType.ociManifest,
    config: { mediaType: MediaType.ociConfig, digest: configDigest, size: cfg.length },
    layers: [{ mediaType: MediaType.ociLayer, digest: layer.digest, size: layer.size }],
  };
  const mbuf = Buffer.from(JSON.stringify(manifest));
  return { manifestDigest: content.put(mbuf), manifest, size: mbuf.length, platform: [p.os, p.architecture, p.variant].filter(Boolean).join('/') };
}
