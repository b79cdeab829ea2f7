// Masked and read-only paths (runc's defaults, src/container/masks.ts) and --read-only, checked from
// inside containers: with a root filesystem and on the host's tree.
import type { ExecutionContext } from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readContainerStatus, runContainer } from '../../src/container/index.js';
import { MASKED_PATHS, READONLY_PATHS, protectedPaths } from '../../src/container/masks.js';
import { shimOptions } from '../../src/container/run.js';
import { readPod } from '../../src/pod/store.js';
import type { ContainerConfig } from '../../src/pod/types.js';
import { paths } from '../../src/state/paths.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let work = '';
let rootfs = '';

useContainerEnv('masks', 172, async (e, w) => {
  env = e;
  work = w;
  rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  await createTestPod(e, 'm');
});

/** Runs SCRIPT with sh to its end; its stdout+stderr lines (the log's text, without the CRI prefix). */
async function output(name: string, script: string, o: { rootfs?: boolean; readOnly?: boolean } = {}): Promise<string[]> {
  await runContainer({
    root: env!.root, pod: 'm', name, command: ['sh', '-c', script],
    ...(o.rootfs === false ? {} : { rootfs }), ...(o.readOnly === true ? { readOnlyRootFilesystem: true } : {}),
  });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'm', name })?.state === 'exited', 'the container to end');
  return readFileSync(paths.containerLog(env!.root, 'm', name), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' '));
}

// Each path of the lists that this host's kernel has must come out masked (empty) or read-only.
const SCRIPT = [
  'echo 1 > /proc/sys/vm/drop_caches && echo drop_caches-written',
  `for p in ${MASKED_PATHS.join(' ')}; do if [ -d $p ]; then echo "$p=$(ls -A $p | wc -l)"; elif [ -e $p ]; then echo "$p=$(head -c 64 $p | wc -c)"; fi; done`,
  // the read-only ones, from the kernel's own table of this mount namespace
  `for p in ${READONLY_PATHS.join(' ')}; do grep -q " $p ro," /proc/self/mountinfo && echo ro:$p; done`,
  'echo done',
].join('\n');

function checkProtected(t: ExecutionContext, lines: string[]): void {
  t.true(lines.some((l) => /drop_caches: Read-only file system/.test(l)), `drop_caches refused with EROFS: ${lines.join(' | ')}`);
  t.false(lines.includes('drop_caches-written'));
  const masked = MASKED_PATHS.filter((p) => existsSync(p));
  // this VM's kernel has no /proc/kcore; it has /proc/keys, /proc/timer_list and /sys/firmware
  t.true(masked.length >= 3, `the host has some of the masked paths: ${masked.join(' ')}`);
  for (const p of masked) t.true(lines.includes(`${p}=0`), `${p} is empty: ${lines.join(' | ')}`);
  for (const p of READONLY_PATHS.filter((q) => existsSync(q))) t.true(lines.includes(`ro:${p}`), `${p} is read-only: ${lines.join(' | ')}`);
  t.true(lines.includes('done'));
}

const withBusybox = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  privileged(title, async (t) => {
    if (!busyboxAvailable()) { t.pass('no busybox'); return; }
    await impl(t);
  });

withBusybox('a container with a root filesystem: /proc/sys read-only, /proc/kcore, /proc/keys, /sys/firmware masked', async (t) => {
  checkProtected(t, await output('rootfs', SCRIPT));
});

withBusybox('a container on the host\'s tree: the same masks and read-only paths', async (t) => {
  checkProtected(t, await output('host', SCRIPT, { rootfs: false }));
});

withBusybox('--read-only: the root is read-only; /dev/shm, /proc and the pod\'s /etc/hosts are not', async (t) => {
  const lines = await output('ro', [
    'touch /newfile && echo root-written',
    'touch /dev/shm/f && echo shm-ok',
    'echo "# x" >> /etc/hosts && echo hosts-ok',
    'test -r /proc/self/status && echo proc-ok',
  ].join('\n'), { readOnly: true });
  t.true(lines.some((l) => /newfile: Read-only file system/.test(l)), lines.join(' | '));
  t.false(lines.includes('root-written'));
  for (const ok of ['shm-ok', 'hosts-ok', 'proc-ok']) t.true(lines.includes(ok), `${ok}: ${lines.join(' | ')}`);
  t.false(existsIn(rootfs, 'newfile'));
});

function existsIn(dir: string, name: string): boolean {
  try {
    readFileSync(join(dir, name));
    return true;
  } catch {
    return false;
  }
}

withBusybox('without --read-only the root is writable', async (t) => {
  const lines = await output('rw', 'touch /rwfile && echo root-written; rm -f /rwfile');
  t.true(lines.includes('root-written'), lines.join(' | '));
});

withBusybox('the shim gets the lists unless the container is privileged', async (t) => {
  const rec = readPod({ root: env!.root, name: 'm' });
  const config: ContainerConfig = { name: 'x', pod: 'm', argv: ['true'], env: {}, restartPolicy: 'Never', createdAt: new Date().toISOString() };
  const plain = shimOptions(env!.root, rec, config);
  t.deepEqual(plain.masks, MASKED_PATHS);
  t.deepEqual(plain.readonlyPaths, READONLY_PATHS);
  t.falsy(plain.readonlyRootfs);
  const priv = shimOptions(env!.root, rec, { ...config, privileged: true, readOnlyRootFilesystem: true });
  t.deepEqual(priv.masks, []);
  t.deepEqual(priv.readonlyPaths, []);
  t.true(priv.readonlyRootfs);
  t.deepEqual(protectedPaths({}).masks, MASKED_PATHS);
});
