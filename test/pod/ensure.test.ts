// ensurePod (src/pod/ensure.ts), through runContainer: the states a run can meet in a pod another podns
// process made or is making. (The real race, 30 processes at once, is parallel-run.test.ts.)
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodnsError, runContainer } from '../../src/index.js';
import { me, writePod } from '../../src/pod/store.js';
import type { PodRecord } from '../../src/pod/types.js';
import { paths } from '../../src/state/paths.js';

function fixture(t: import('ava').ExecutionContext): { root: string; rootfs: string } {
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-ensure-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  mkdirSync(join(root, 'pods'), { recursive: true });
  mkdirSync(join(dir, 'rootfs'));
  return { root, rootfs: join(dir, 'rootfs') };
}

function record(root: string, name: string, o: Partial<PodRecord>): void {
  mkdirSync(paths.pod(root, name));
  writePod(root, {
    apiVersion: 'podns/v1', name, uid: '00000000-0000-4000-8000-000000000000', phase: 'creating', createdAt: new Date().toISOString(),
    labels: {}, annotations: {}, hostname: name, sharePid: false, networkMode: { kind: 'none' }, namespaces: [], ports: [], containers: [], ...o,
  });
}

test.serial('a pod whose create is still running is waited for, bounded, then one line naming the pod and gc', async (t) => {
  const { root, rootfs } = fixture(t);
  record(root, 'busy', me()); // owned by a live process: this one
  const before = process.env.PODNS_POD_WAIT_MS;
  process.env.PODNS_POD_WAIT_MS = '50';
  t.teardown(() => {
    if (before === undefined) delete process.env.PODNS_POD_WAIT_MS;
    else process.env.PODNS_POD_WAIT_MS = before;
  });
  const err = await t.throwsAsync(runContainer({ root, pod: 'busy', name: 'c', rootfs, command: ['true'] }), { instanceOf: PodnsError });
  t.is((err as PodnsError).code, 'ETIMEDOUT');
  t.regex(err!.message, new RegExp(`^pod "busy" is still being created by podns process ${process.pid} after \\d+ s; .*'podns gc'`));
});

test('a pod left half-created by a dead process: no wait, one line naming gc', async (t) => {
  const { root, rootfs } = fixture(t);
  record(root, 'dead', { ownerPid: 2 ** 22 + 1, ownerStartTime: 1 });
  const err = await t.throwsAsync(runContainer({ root, pod: 'dead', name: 'c', rootfs, command: ['true'] }), { instanceOf: PodnsError });
  t.is((err as PodnsError).code, 'EPODNOTREADY');
  t.regex(err!.message, /^pod "dead" was left half-created by podns process \d+, which is gone; run 'podns gc'/);
});

test('a pod directory without a record (a create killed inside its first lock section) names gc', async (t) => {
  const { root, rootfs } = fixture(t);
  mkdirSync(paths.pod(root, 'norec'));
  const err = await t.throwsAsync(runContainer({ root, pod: 'norec', name: 'c', rootfs, command: ['true'] }), { instanceOf: PodnsError });
  t.is((err as PodnsError).code, 'EPODNOTREADY');
  t.regex(err!.message, /^pod "norec" has a directory but no record .*run 'podns gc'$/);
});

test('a pod being deleted is refused at once', async (t) => {
  const { root, rootfs } = fixture(t);
  record(root, 'going', { phase: 'deleting', ...me() });
  const err = await t.throwsAsync(runContainer({ root, pod: 'going', name: 'c', rootfs, command: ['true'] }), { instanceOf: PodnsError });
  t.is((err as PodnsError).code, 'EPODNOTREADY');
  t.regex(err!.message, /^pod "going" is being deleted/);
});
