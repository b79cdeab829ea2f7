// gc in a long-lived process: it reads records again after every await. Here gc marks two interrupted
// pods (a dead owner) and takes the first apart slowly (its container ignores SIGTERM: the grace period);
// meanwhile the second is force-deleted and made anew under the same name, in this same process. gc must
// leave the new pod alone: taking it apart from the record it read before would release the new pod's
// IP, unpin its namespaces and remove its state.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { createPod, deletePod, gc, podState, readPod, runContainer, updatePod } from '../../src/index.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { makeEnv, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('gcrr', 219);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

/** Marks a record as left by a podns process that is gone (pid 1's start time is never another's). */
async function interrupted(name: string): Promise<void> {
  await updatePod({ root: e.root, name, update: (r) => {
    r.phase = 'deleting';
    r.ownerPid = 1;
    r.ownerStartTime = -1;
  } });
}

privilegedSerial('gc does not take apart a pod made anew under a name it had marked', async (t) => {
  const net = { root: e.root, bridge: e.bridge, subnet: e.subnet };
  await createPod({ ...net, name: 'gcrr-a' });
  await runContainer({ root: e.root, pod: 'gcrr-a', name: 'stubborn', command: ['/bin/sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] });
  const old = await createPod({ ...net, name: 'gcrr-b' });
  await interrupted('gcrr-a');
  await interrupted('gcrr-b');

  const collecting = gc({ root: e.root });
  // once gc has marked gcrr-b as its own, replace it (gc is busy with gcrr-a's 2 s grace period)
  for (let i = 0; i < 400 && readPod({ root: e.root, name: 'gcrr-b' }).ownerPid !== process.pid; i++) await sleep(5);
  t.is(readPod({ root: e.root, name: 'gcrr-b' }).ownerPid, process.pid, 'gc marked gcrr-b');
  t.true(existsSync(join(e.root, 'pods', 'gcrr-a')), 'gc is still taking gcrr-a apart');
  await deletePod({ root: e.root, name: 'gcrr-b', force: true, grace: 0 });
  const fresh = await createPod({ ...net, name: 'gcrr-b' });
  t.not(fresh.uid, old.uid);

  const lines = await collecting;
  t.true(lines.some((l) => l.includes('pod gcrr-a')), lines.join('\n'));
  t.false(lines.some((l) => l.includes('pod gcrr-b')), `gc touched the new gcrr-b:\n${lines.join('\n')}`);
  const now = readPod({ root: e.root, name: 'gcrr-b' });
  t.is(now.uid, fresh.uid);
  t.is(podState({ root: e.root, record: now }).status, 'Running');
  t.true(existsSync(join(e.netnsDir, 'gcrr-b')), 'its netns pin is there');
  t.true(existsSync(join(e.root, 'networks')), 'network state kept');
  t.false(existsSync(join(e.root, 'pods', 'gcrr-a')));
  await deletePod({ root: e.root, name: 'gcrr-b', grace: 0 });
});
