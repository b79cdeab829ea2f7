// 20 `podns create` processes at once: the lock keeps the state whole and no address is given twice.
import test from 'ava';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { addrsIn, bridgePorts, ipFiles, makeEnv, pausesOf, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('conc', 212);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

privilegedSerial('20 concurrent creates (20 CLI processes) get 20 distinct IPs', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `conc-${i}`);
  // The bridge does not exist yet: all 20 race to make the network too.
  const results = await Promise.all(names.map((n) => e.cli(['create', n, '--bridge', e.bridge, '--subnet', e.subnet])));
  for (const r of results) t.is(r.exitCode, 0, r.stderr);
  const ips = results.map((r) => r.stdout.trim().split(' ')[1]!);
  t.is(new Set(ips).size, 20, `distinct: ${ips.join(' ')}`);
  // kernel truth: each pod's eth0 has the address it printed
  for (let i = 0; i < names.length; i++) {
    t.deepEqual(await addrsIn(join(e.netnsDir, names[i]!), 'eth0'), [`${ips[i]}/24`]);
  }
  t.deepEqual(ipFiles(e.root, e.bridge), [...ips].sort());
  t.is(bridgePorts(e.bridge).length, 20);
  const get = await e.cli(['get', '-o', 'json']);
  const list = JSON.parse(get.stdout) as Array<{ name: string; status: { status: string } }>;
  t.deepEqual(list.map((p) => p.name).sort(), [...names].sort());
  t.true(list.every((p) => p.status.status === 'Running'));
  // no temporary file of an atomic write is left anywhere
  for (const n of names) t.deepEqual(readdirSync(join(e.root, 'pods', n)).filter((f) => f.startsWith('.')), []);
});

privilegedSerial('20 concurrent deletes free everything', async (t) => {
  const names = Array.from({ length: 20 }, (_, i) => `conc-${i}`);
  const del = await Promise.all(names.map((n) => e.cli(['delete', n, '--grace', '1'])));
  for (const r of del) t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(ipFiles(e.root, e.bridge), []);
  t.deepEqual(bridgePorts(e.bridge), []);
  t.deepEqual(readdirSync(join(e.root, 'pods')).filter((f) => !f.startsWith('.')), []);
});

privilegedSerial('two creates racing for one --ip: one wins, the other undoes everything it made', async (t) => {
  const [a, b] = await Promise.all(['race-a', 'race-b'].map((n) => e.cli(['create', n, '--bridge', e.bridge, '--ip', '10.212.0.200'])));
  const results = [a!, b!];
  const won = results.filter((r) => r.exitCode === 0);
  const lost = results.filter((r) => r.exitCode !== 0);
  t.is(won.length, 1, results.map((r) => r.stderr).join(' | '));
  t.is(lost.length, 1);
  const loser = results[0]!.exitCode === 0 ? 'race-b' : 'race-a';
  t.is(lost[0]!.stderr.trim().split('\n').length, 1);
  t.regex(lost[0]!.stderr, /10\.212\.0\.200 is already (in use|used)/);
  // the loser may have got as far as its pause and pins before the address was taken: all undone
  t.false(existsSync(join(e.root, 'pods', loser)));
  t.false(existsSync(join(e.netnsDir, loser)));
  t.deepEqual(readdirSync(join(e.root, 'claims')).filter((f) => f.startsWith(`${loser}.`)), []);
  t.deepEqual(ipFiles(e.root, e.bridge), ['10.212.0.200']);
  t.is(pausesOf(e.root).length, 1);
  t.is(bridgePorts(e.bridge).length, 1);
  t.is((await e.cli(['gc'])).stdout, '', 'nothing for gc');
  t.is((await e.cli(['delete', loser === 'race-a' ? 'race-b' : 'race-a'])).exitCode, 0);
});

privilegedSerial('two creates racing for one name: exactly one pod', async (t) => {
  const results = await Promise.all([0, 1].map(() => e.cli(['create', 'race-name', '--bridge', e.bridge])));
  t.deepEqual(results.map((r) => r.exitCode).sort(), [0, 1]);
  t.regex(results.find((r) => r.exitCode !== 0)!.stderr, /pod "race-name" already exists/);
  t.is(pausesOf(e.root).length, 1);
  t.is(bridgePorts(e.bridge).length, 1);
  t.is((await e.cli(['delete', 'race-name'])).exitCode, 0);
  t.deepEqual(pausesOf(e.root), []);
});
