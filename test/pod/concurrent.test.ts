// 20 `podns create` processes at once: the lock keeps the state whole and no address is given twice.
import test from 'ava';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { addrsIn, bridgePorts, ipFiles, makeEnv, type TestEnv } from './env.js';

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

  const del = await Promise.all(names.map((n) => e.cli(['delete', n, '--grace', '1'])));
  for (const r of del) t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(ipFiles(e.root, e.bridge), []);
  t.deepEqual(bridgePorts(e.bridge), []);
  t.deepEqual(readdirSync(join(e.root, 'pods')).filter((f) => !f.startsWith('.')), []);
});
