// A one-layer image as `docker save` writes one (manifest.json with RepoTags, the config, the layer tar),
// made from a directory with tar(1): what `ctr images import` (and `docker load`) take. Tests use it to give
// containerd the same images podns gets from test/helpers/busybox.ts, and the pause image made from podns's
// own static pause binary.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostPlatform } from '../../src/image/registry/platform.js';

export interface ImageConfig {
  entrypoint?: string[];
  cmd?: string[];
  env?: string[];
}

/** Writes ARCHIVE (a docker-save tar) holding ROOTFS as its one layer, tagged TAGS. Returns ARCHIVE. */
export function writeDockerArchive(o: { rootfs: string; work: string; archive: string; tags: string[]; config?: ImageConfig }): string {
  const dir = join(o.work, 'docker-archive');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const layer = join(dir, 'layer.tar');
  execFileSync('tar', ['-c', '-f', layer, '-C', o.rootfs, '--numeric-owner', '--owner=0', '--group=0', '.'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const diffId = `sha256:${createHash('sha256').update(readFileSync(layer)).digest('hex')}`;
  const cfg = {
    architecture: hostPlatform().architecture,
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: {
      Env: o.config?.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(o.config?.entrypoint ? { Entrypoint: o.config.entrypoint } : {}),
      ...(o.config?.cmd ? { Cmd: o.config.cmd } : {}),
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'podns test fixture' }],
  };
  const cfgText = JSON.stringify(cfg);
  const cfgName = `${createHash('sha256').update(cfgText).digest('hex')}.json`;
  writeFileSync(join(dir, cfgName), cfgText);
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify([{ Config: cfgName, RepoTags: o.tags, Layers: ['layer.tar'] }]));
  execFileSync('tar', ['-c', '-f', o.archive, '-C', dir, '--numeric-owner', '--owner=0', '--group=0', 'manifest.json', cfgName, 'layer.tar'], { stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(dir, { recursive: true, force: true });
  return o.archive;
}

/** A rootfs with only the static pause at /pause (its entrypoint). */
export function makePauseRootfs(dir: string, pauseBinary: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  copyFileSync(pauseBinary, join(dir, 'pause'));
  chmodSync(join(dir, 'pause'), 0o755);
  return dir;
}
