// Per-file set-up of the CRI tests: a state root, image store, bridge and netns dir of the file's own
// (test/pod/env.ts), a busybox image imported as "busybox", and a sandbox config as kubelet sends one.
import { mkdirSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { importImage } from '../../src/image/index.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { makeEnv, type TestEnv } from '../pod/env.js';
import type { Msg } from './client.js';

export async function criEnv(tag: string, octet: number): Promise<TestEnv & { logDir: string; work: string }> {
  const e = makeEnv(tag, octet);
  const work = mkdtempSync(join(e.root, '..', 'work-'));
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  await importImage({ root: e.root, store: e.store, name: 'busybox', source: rootfs, config: { cmd: ['sh'] } });
  const logDir = join(work, 'logs');
  mkdirSync(logDir);
  return Object.assign(e, { logDir, work });
}

let seq = 0;

export function sandboxConfig(name: string, extra: Msg = {}): Msg {
  seq++;
  return {
    metadata: { name, namespace: 'default', uid: `uid-${name}-${process.pid}-${seq}`, attempt: 0 },
    hostname: name,
    log_directory: '',
    labels: { app: name },
    annotations: {},
    linux: {},
    ...extra,
  };
}

export function containerConfig(name: string, cmd: string[], extra: Msg = {}): Msg {
  return { metadata: { name, attempt: 0 }, image: { image: 'busybox' }, command: cmd, labels: { c: name }, ...extra };
}
