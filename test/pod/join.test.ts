// --network pod:A shares A's network namespace: same inode, same eth0 and IP. After A is deleted the
// joiner keeps the namespace (its own pause and pins hold it) but A's veth is gone: only lo is left.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { addrsIn, linksIn, makeEnv, nsIno, pinIno, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('join', 216);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

privilegedSerial('--network pod:A shares A\'s eth0; after A is deleted the joiner sees only lo', async (t) => {
  const a = await e.cli(['create', 'join-a', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(a.exitCode, 0, a.stderr);
  const ipA = a.stdout.trim().split(' ')[1]!;
  const b = await e.cli(['create', 'join-b', '--network', 'pod:join-a', '--hostname', 'bee']);
  t.is(b.exitCode, 0, b.stderr);
  t.is(b.stdout.trim(), `join-b ${ipA}`, 'prints the shared IP');

  const ia = JSON.parse((await e.cli(['inspect', 'join-a'])).stdout);
  const ib = JSON.parse((await e.cli(['inspect', 'join-b'])).stdout);
  t.is(nsIno(ib.pause.pid, 'net'), nsIno(ia.pause.pid, 'net'), 'same net namespace inode');
  t.not(nsIno(ib.pause.pid, 'uts'), nsIno(ia.pause.pid, 'uts'), 'own uts');
  t.not(nsIno(ib.pause.pid, 'ipc'), nsIno(ia.pause.pid, 'ipc'), 'own ipc');
  t.is(ib.networkMode, 'pod:join-a');
  t.deepEqual(ib.network, { joined: 'join-a', ip: ipA });
  const pinB = join(e.netnsDir, 'join-b');
  t.is(pinIno(pinB), nsIno(ia.pause.pid, 'net'));
  t.deepEqual(await linksIn(pinB), ['eth0', 'lo']);
  t.deepEqual(await addrsIn(pinB, 'eth0'), [`${ipA}/24`]);
  const get = await e.cli(['get', 'join-b']);
  t.regex(get.stdout, new RegExp(`join-b\\s+Running\\s+${ipA.replace(/\./g, '\\.')}`));

  t.is((await e.cli(['delete', 'join-a'])).exitCode, 0);
  t.is(nsIno(ib.pause.pid, 'net'), pinIno(pinB), 'the joiner still has the namespace');
  t.deepEqual(await linksIn(pinB), ['lo']);
  t.regex((await e.cli(['get', 'join-b'])).stdout, /join-b\s+Running\s+<none>/);
  t.is((await e.cli(['delete', 'join-b'])).exitCode, 0);
  t.false(existsSync(pinB));
});
