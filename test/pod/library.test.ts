// The library API (src/index.ts): the same lifecycle without the CLI.
import test from 'ava';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createPod, deletePod, gc, inspectPod, listPods, NotFoundError, PodnsError, podState, readPod, updatePod } from '../../src/index.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bridgePorts, linksIn, makeEnv, nsIno, processGone, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('lib', 217);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

privilegedSerial('createPod / readPod / listPods / podState / inspectPod / updatePod / deletePod', async (t) => {
  const rec = await createPod({ root: e.root, name: 'lib-a', bridge: e.bridge, subnet: e.subnet, labels: { tier: 'db' }, annotations: { 'example.com/note': 'x y' } });
  t.is(rec.phase, 'ready');
  t.is(rec.ownerPid, undefined);
  t.is(rec.hostname, 'lib-a');
  t.deepEqual(rec.labels, { tier: 'db' });
  t.regex(rec.network!.ip, /^10\.217\.0\.\d+$/);
  t.is(rec.network!.bridge, e.bridge);
  t.is(rec.network!.prefixLength, 24);
  t.deepEqual(readPod({ root: e.root, name: 'lib-a' }), rec);
  t.deepEqual(listPods({ root: e.root }).map((r) => r.name), ['lib-a']);
  const st = podState({ root: e.root, record: rec });
  t.deepEqual(st, { status: 'Running', pauseAlive: true, ready: 0, total: 0 });
  const info = inspectPod({ root: e.root, name: 'lib-a' });
  t.is(info.namespaces.find((n) => n.type === 'net')!.inode, nsIno(rec.pause!.pid, 'net'));
  t.true(info.namespaces.every((n) => n.pauseInside === true));
  t.deepEqual(await linksIn(join(e.netnsDir, 'lib-a')), ['eth0', 'lo']);

  // updates are atomic read-modify-write under the lock
  await Promise.all(Array.from({ length: 10 }, (_, i) => Promise.resolve().then(() => updatePod({ root: e.root, name: 'lib-a', update: (r) => { r.labels[`k${i}`] = 'v'; } }))));
  t.is(Object.keys(readPod({ root: e.root, name: 'lib-a' }).labels).length, 11);
  t.is(statSync(join(e.root, 'pods', 'lib-a', 'pod.json')).mode & 0o777, 0o600);

  // a network none pod has only lo
  const none = await createPod({ root: e.root, name: 'lib-none', network: 'none' });
  t.is(none.network, undefined);
  t.deepEqual(await linksIn(join(e.netnsDir, 'lib-none')), ['lo']);

  await t.throwsAsync(createPod({ root: e.root, name: 'lib-a' }), { instanceOf: PodnsError, code: 'EEXIST' });
  await t.throwsAsync(createPod({ root: e.root, name: 'NO' }), { instanceOf: PodnsError, code: 'EINVALIDNAME' });

  const removed = await deletePod({ root: e.root, name: 'lib-a', grace: 1 });
  t.true(removed.some((l) => l.startsWith('veth ')));
  t.true(processGone(rec.pause!.pid));
  t.deepEqual(bridgePorts(e.bridge), []);
  t.throws(() => readPod({ root: e.root, name: 'lib-a' }), { instanceOf: NotFoundError });
  await t.throwsAsync(deletePod({ root: e.root, name: 'lib-a' }), { instanceOf: NotFoundError });
  await deletePod({ root: e.root, name: 'lib-none' });
  t.deepEqual(await gc({ root: e.root }), []);
  t.false(existsSync(join(e.netnsDir, 'lib-none')));
});

privilegedSerial('host network: the pause stays in the host netns with its own ipc', async (t) => {
  const rec = await createPod({ root: e.root, name: 'lib-host', network: 'host' });
  t.is(nsIno(rec.pause!.pid, 'net'), nsIno(process.pid, 'net'));
  t.not(nsIno(rec.pause!.pid, 'ipc'), nsIno(process.pid, 'ipc'));
  t.is(rec.netnsPath, undefined);
  t.deepEqual(rec.namespaces.map((n) => n.type), ['ipc']);
  await deletePod({ root: e.root, name: 'lib-host' });
  t.true(processGone(rec.pause!.pid));
});
