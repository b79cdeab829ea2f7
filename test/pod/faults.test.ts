// kill -9 of `podns create` at every step (PODNS_FAULT=<step>): gc leaves no veth, pin, IP, nft rule or
// process behind. Also an interrupted delete and repair, and the strays gc must find without a record.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bridgePorts, ipFiles, linkExists, makeEnv, mountsUnder, nftRules, pausesOf, processGone, waitFor, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('fault', 214);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

const STEPS = ['after-record', 'after-pause', 'after-pin', 'after-ip', 'after-veth', 'after-ports', 'after-etc', 'after-pause-record', 'after-ready'];
// record 2 (the pause, and phase ready) is the last write of a create: from there on the pod is complete
const COMPLETE = ['after-pause-record', 'after-ready'];

async function assertNothingLeft(t: import('ava').ExecutionContext, name: string): Promise<void> {
  t.false(existsSync(join(e.root, 'pods', name)), `${name}: state dir`);
  t.deepEqual(mountsUnder(join(e.root, 'pods')), [], `${name}: pins under the root`);
  t.deepEqual(mountsUnder(e.netnsDir), [], `${name}: pins in the netns dir`);
  t.false(existsSync(join(e.netnsDir, name)));
  t.deepEqual(ipFiles(e.root, e.bridge), [], `${name}: IPs`);
  t.deepEqual(bridgePorts(e.bridge), [], `${name}: veths`);
  t.false((await nftRules(e.nftTable)).includes(`pod-${name}`), `${name}: nft rules`);
  t.deepEqual(pausesOf(e.root), [], `${name}: pause processes`);
  t.deepEqual(readdirSync(join(e.root, 'claims')), [], `${name}: claims`);
}

privilegedSerial('the network exists (as on any machine that ran podns before)', async (t) => {
  const base = await e.cli(['create', 'fault-base', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(base.exitCode, 0, base.stderr);
  t.is((await e.cli(['delete', 'fault-base'])).exitCode, 0);
});

STEPS.forEach((step, i) => {
  privilegedSerial(`kill -9 of create at ${step}: gc removes everything`, async (t) => {
    const name = `fault-${step}`;
    const r = await e.cli(['create', name, '--bridge', e.bridge, '--publish', `${19000 + i}:80`], { PODNS_FAULT: step });
    t.is(r.signal, 'SIGKILL', `${step}: the create was killed (${r.stderr})`);
    if (COMPLETE.includes(step)) {
      // the pod was complete: gc keeps it, delete removes it
      const gc = await e.cli(['gc']);
      t.is(gc.stdout, '', step);
      const g = await e.cli(['get', name]);
      t.regex(g.stdout, /Running/);
      t.is((await e.cli(['delete', name])).exitCode, 0);
    } else {
      const g = await e.cli(['get', name]);
      t.regex(g.stdout, /Failed/, `${step}: shown as Failed`);
      const gc = await e.cli(['gc']);
      t.is(gc.exitCode, 0, gc.stderr);
      t.regex(gc.stdout, new RegExp(`state of pod ${name}`), `${step}: gc says what it removed`);
      if (step === 'after-pause') t.regex(gc.stdout, /removed pause process \d+/);
      if (['after-veth', 'after-ports', 'after-etc'].includes(step)) t.regex(gc.stdout, /removed veth pn/);
      if (['after-ports', 'after-etc'].includes(step)) t.regex(gc.stdout, /removed port mappings/);
      if (!['after-record', 'after-pause'].includes(step)) t.regex(gc.stdout, /removed pin /);
      if (!['after-record', 'after-pause', 'after-pin'].includes(step)) t.regex(gc.stdout, /removed IP /);
    }
    await assertNothingLeft(t, name);
    const again = await e.cli(['gc']);
    t.is(again.stdout, '', `${step}: a second gc finds nothing`);
  });
});

privilegedSerial('kill -9 of delete part way: gc finishes it', async (t) => {
  t.is((await e.cli(['create', 'fault-del', '--bridge', e.bridge, '--publish', '19100:80'])).exitCode, 0);
  const r = await e.cli(['delete', 'fault-del'], { PODNS_FAULT: 'delete-after-mark' });
  t.is(r.signal, 'SIGKILL');
  t.regex((await e.cli(['get', 'fault-del'])).stdout, /Failed/);
  const gc = await e.cli(['gc']);
  t.regex(gc.stdout, /delete was interrupted/);
  await assertNothingLeft(t, 'fault-del');
});

privilegedSerial('kill -9 of repair part way: gc removes the unrecorded pause and keeps the Degraded pod', async (t) => {
  t.is((await e.cli(['create', 'fault-rep', '--bridge', e.bridge])).exitCode, 0);
  const info = JSON.parse((await e.cli(['inspect', 'fault-rep'])).stdout);
  process.kill(info.pause.pid, 'SIGKILL');
  await waitFor(() => processGone(info.pause.pid), 'the pause to die');
  const r = await e.cli(['repair', 'fault-rep'], { PODNS_FAULT: 'repair-after-pause' });
  t.is(r.signal, 'SIGKILL');
  t.is(pausesOf(e.root).length, 1, 'the new pause runs but is not recorded');
  const gc = await e.cli(['gc']);
  t.regex(gc.stdout, /removed pause process \d+ \(pod fault-rep: no state records it\)/);
  t.deepEqual(pausesOf(e.root), []);
  t.regex((await e.cli(['get', 'fault-rep'])).stdout, /Degraded/);
  t.is((await e.cli(['repair', 'fault-rep'])).exitCode, 0);
  t.is((await e.cli(['delete', 'fault-rep'])).exitCode, 0);
  await assertNothingLeft(t, 'fault-rep');
});

privilegedSerial('gc: state without a pause and without pins, stray veths and IPs without a pod', async (t) => {
  t.is((await e.cli(['create', 'fault-gone', '--bridge', e.bridge])).exitCode, 0);
  const info = JSON.parse((await e.cli(['inspect', 'fault-gone'])).stdout);
  process.kill(info.pause.pid, 'SIGKILL');
  await waitFor(() => processGone(info.pause.pid), 'the pause to die');
  // someone unmounted the pins (as a reboot of the mount namespace would)
  for (const ns of info.namespaces as Array<{ pinned: string }>) await execa('umount', ['-l', ns.pinned]);
  t.regex((await e.cli(['get', 'fault-gone'])).stdout, /Failed/);

  // a veth with our prefix on our bridge that no pod owns, and an IP whose owner does not exist
  await execa('ip', ['link', 'add', 'pn0000000beef0', 'type', 'veth', 'peer', 'name', 'pn0000000beef1']);
  await execa('ip', ['link', 'set', 'pn0000000beef0', 'master', e.bridge]);
  const ips = join(e.root, 'networks', e.bridge, 'ips');
  mkdirSync(ips, { recursive: true });
  writeFileSync(join(ips, '10.214.0.250'), 'ghost', { mode: 0o600 });

  const gc = await e.cli(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stdout, /pod fault-gone: its pause and its namespace pins are gone/);
  t.regex(gc.stdout, /removed veth pn0000000beef0 \(bridge /);
  t.regex(gc.stdout, /released IP 10\.214\.0\.250 .*ghost/);
  t.false(linkExists('pn0000000beef0'));
  t.false(linkExists('pn0000000beef1'));
  await assertNothingLeft(t, 'fault-gone');
  t.is((await e.cli(['gc'])).stdout, '');
});
