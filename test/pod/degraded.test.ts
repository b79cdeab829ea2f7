// kill -9 of the pause: the pins keep the network; get says Degraded; repair gives a new pause in the
// same namespaces; delete cleans up a pod in either state.
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { addrsIn, bridgePorts, ipFiles, linksIn, makeEnv, nsIno, pinIno, processGone, waitFor, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('degr', 213);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

async function statusOf(name: string): Promise<string> {
  const r = await e.cli(['get', name]);
  return r.stdout.trim().split('\n')[1]!.split(/\s+/)[1]!;
}

privilegedSerial('kill -9 of the pause: Degraded; repair: new pause, same net inode and IP; delete cleans up', async (t) => {
  const c = await e.cli(['create', 'degr-a', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(c.exitCode, 0, c.stderr);
  const ip = c.stdout.trim().split(' ')[1]!;
  const before = JSON.parse((await e.cli(['inspect', 'degr-a'])).stdout);
  const oldPid = before.pause.pid as number;
  const netIno = nsIno(oldPid, 'net');
  const utsIno = nsIno(oldPid, 'uts');
  const ipcIno = nsIno(oldPid, 'ipc');

  process.kill(oldPid, 'SIGKILL');
  await waitFor(() => processGone(oldPid), 'the pause to die');
  t.is(await statusOf('degr-a'), 'Degraded');
  const pin = join(e.netnsDir, 'degr-a');
  // the pin keeps the namespace, its eth0 and its address
  t.is(pinIno(pin), netIno);
  t.deepEqual(await linksIn(pin), ['eth0', 'lo']);
  t.deepEqual(await addrsIn(pin, 'eth0'), [`${ip}/24`]);

  // gc keeps a Degraded pod: it is repairable
  const gc = await e.cli(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.is(gc.stdout, '');
  t.true(existsSync(join(e.root, 'pods', 'degr-a', 'pod.json')));

  const r = await e.cli(['repair', 'degr-a']);
  t.is(r.exitCode, 0, r.stderr);
  const after = JSON.parse((await e.cli(['inspect', 'degr-a'])).stdout);
  const newPid = after.pause.pid as number;
  t.not(newPid, oldPid);
  t.is(r.stdout.trim(), `pod "degr-a" repaired: new pause pid ${newPid}`);
  t.is(nsIno(newPid, 'net'), netIno, 'same net namespace');
  t.is(nsIno(newPid, 'uts'), utsIno);
  t.is(nsIno(newPid, 'ipc'), ipcIno);
  t.is(after.network.ip, ip);
  t.deepEqual(await addrsIn(pin, 'eth0'), [`${ip}/24`]);
  t.is(await statusOf('degr-a'), 'Running');
  // a Running pod has nothing to repair
  const again = await e.cli(['repair', 'degr-a']);
  t.is(again.exitCode, 1);
  t.regex(again.stderr, /is Running .*nothing to repair/);

  const d = await e.cli(['delete', 'degr-a']);
  t.is(d.exitCode, 0, d.stderr);
  t.true(processGone(newPid));
  t.false(existsSync(pin));
  t.false(existsSync(join(e.root, 'pods', 'degr-a')));
  t.false(ipFiles(e.root, e.bridge).includes(ip));
  t.deepEqual(bridgePorts(e.bridge), []);
});

privilegedSerial('a Degraded pod is deleted only with --force, and then completely', async (t) => {
  const c = await e.cli(['create', 'degr-b', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(c.exitCode, 0, c.stderr);
  const info = JSON.parse((await e.cli(['inspect', 'degr-b'])).stdout);
  process.kill(info.pause.pid, 'SIGKILL');
  await waitFor(() => processGone(info.pause.pid), 'the pause to die');
  const d = await e.cli(['delete', 'degr-b']);
  t.is(d.exitCode, 1);
  t.is(d.stderr.trim().split('\n').length, 1);
  t.regex(d.stderr, /--force/);
  t.true(existsSync(join(e.root, 'pods', 'degr-b')), 'refused: nothing removed');
  const f = await e.cli(['delete', '--force', 'degr-b']);
  t.is(f.exitCode, 0, f.stderr);
  t.false(existsSync(join(e.netnsDir, 'degr-b')));
  t.false(existsSync(join(e.root, 'pods', 'degr-b')));
  t.false(bridgePorts(e.bridge).includes(info.network.hostVeth));
  t.deepEqual(ipFiles(e.root, e.bridge), []);
});

privilegedSerial('--share-pid: the pause is PID 1 of the pod; repair gives a fresh pid namespace', async (t) => {
  const c = await e.cli(['create', 'degr-p', '--network', 'none', '--share-pid']);
  t.is(c.exitCode, 0, c.stderr);
  t.is(c.stdout.trim(), 'degr-p');
  const info = JSON.parse((await e.cli(['inspect', 'degr-p'])).stdout);
  const { readFileSync } = await import('node:fs');
  const nspid = readFileSync(`/proc/${info.pause.pid}/status`, 'utf8').match(/^NSpid:\s+(.*)$/m)![1]!.split(/\s+/);
  t.is(nspid.at(-1), '1', 'PID 1 in its own pid namespace');
  const pidIno = nsIno(info.pause.pid, 'pid');
  t.not(pidIno, nsIno(process.pid, 'pid'));
  t.deepEqual(await linksIn(join(e.netnsDir, 'degr-p')), ['lo']);
  process.kill(info.pause.pid, 'SIGKILL');
  await waitFor(() => processGone(info.pause.pid), 'the pause to die');
  const r = await e.cli(['repair', 'degr-p']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stderr, /fresh one/);
  const after = JSON.parse((await e.cli(['inspect', 'degr-p'])).stdout);
  const nspid2 = readFileSync(`/proc/${after.pause.pid}/status`, 'utf8').match(/^NSpid:\s+(.*)$/m)![1]!.split(/\s+/);
  t.is(nspid2.at(-1), '1', 'the new pause is PID 1 of a new pid namespace');
  t.is(nsIno(after.pause.pid, 'net'), info.namespaces.find((n: { type: string }) => n.type === 'net').inode);
  t.is((await e.cli(['delete', 'degr-p'])).exitCode, 0);
});
