// kill -9 of `podns create` at every step (PODNS_FAULT=<step>): gc leaves no veth, pin, IP, nft rule or
// process behind. Also an interrupted delete and repair, and the strays gc must find without a record.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { detectCgroups, hierarchyMounts } from '../../src/cgroups/index.js';
import { bridgePorts, ipFiles, linkExists, makeEnv, mountsUnder, nftRules, pausesOf, processGone, waitFor, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('fault', 214);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

// One fault point per distinct state of a create (src/pod/create.ts), in order; what each state holds and
// so what gc must say it removed. pause: the pause is certain to run (others: it may, still starting).
interface Step { step: string; record: boolean; pins: boolean; veth: boolean; ports: boolean; pause: boolean }
const STEPS: Step[] = [
  // record-1 lock held: the pod directory, the claim (naming the cgroup) and the pod's cgroup, no pause yet
  { step: 'after-cgroup', record: false, pins: false, veth: false, ports: false, pause: false },
  // the pause being spawned (into its cgroup leaf): a pause, if it came to be, is a stray
  { step: 'pause-spawning', record: false, pins: false, veth: false, ports: false, pause: false },
  // the pod directory, claim and IP file, no pod.json (a directory without a record)
  { step: 'after-ip', record: false, pins: false, veth: false, ports: false, pause: false },
  { step: 'after-record', record: true, pins: false, veth: false, ports: false, pause: false },
  // pins made, no veth yet
  { step: 'after-pin', record: true, pins: true, veth: false, ports: false, pause: false },
  { step: 'after-veth', record: true, pins: true, veth: true, ports: false, pause: false },
  // everything but the pause, which may still be starting
  { step: 'after-etc', record: true, pins: true, veth: true, ports: false, pause: false },
  { step: 'after-pause', record: true, pins: true, veth: true, ports: false, pause: true },
  { step: 'after-ports', record: true, pins: true, veth: true, ports: true, pause: true },
];

/**
 * Processes still running the killed command: a create killed while its pause was being spawned leaves the
 * spawn's child (vfork-style: it shares the killed process's memory, so /proc shows it with the same
 * command line) and grandchild running on until they exec the pause. gc must run after that, or a pause
 * could appear after it (seen under load).
 */
function stillRunning(argv: string[]): number {
  const want = argv.join('\0') + '\0';
  let n = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').endsWith(want)) n++;
    } catch {
      // gone
    }
  }
  return n;
}

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
  t.deepEqual(podCgroups(name), [], `${name}: cgroups`);
}

/** The pod's cgroups (PARENT/NAME-UID8) in every hierarchy podns uses. */
function podCgroups(name: string): string[] {
  const parent = process.env.PODNS_CGROUP_PARENT ?? 'podns';
  return hierarchyMounts(detectCgroups()).flatMap((m) => {
    const dir = join(m, parent);
    return existsSync(dir) ? readdirSync(dir).filter((d) => d.startsWith(`${name}-`)).map((d) => join(dir, d)) : [];
  });
}

privilegedSerial('the network exists (as on any machine that ran podns before)', async (t) => {
  const base = await e.cli(['create', 'fault-base', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(base.exitCode, 0, base.stderr);
  t.is((await e.cli(['delete', 'fault-base'])).exitCode, 0);
});

STEPS.forEach((s, i) => {
  privilegedSerial(`kill -9 of create at ${s.step}: gc removes everything`, async (t) => {
    const name = `fault-${s.step}`;
    const args = ['create', name, '--bridge', e.bridge, '--publish', `${19000 + i}:80`];
    const r = await e.cli(args, { PODNS_FAULT: s.step });
    t.is(r.signal, 'SIGKILL', `${s.step}: the create was killed (${r.stderr})`);
    await waitFor(() => stillRunning(args) === 0, `${s.step}: the killed create's spawns to exec or end`);
    const g = await e.cli(['get', name]);
    if (s.record) t.regex(g.stdout, /Failed/, `${s.step}: shown as Failed`);
    else t.regex(g.stderr, /not found/, `${s.step}: no record yet`);
    const gc = await e.cli(['gc']);
    t.is(gc.exitCode, 0, gc.stderr);
    const said = (re: RegExp, want: boolean, what: string) => (want ? t.regex : t.notRegex)(gc.stdout, re, `${s.step}: ${what}`);
    if (s.record) t.regex(gc.stdout, new RegExp(`state of pod ${name}`), `${s.step}: gc says what it removed`);
    if (s.record) said(/removed cgroup /, true, 'the cgroup');
    else t.regex(gc.stdout, /removed cgroup .* no pod record/, `${s.step}: the cgroup, found by the claim`);
    if (s.step === 'after-ip') {
      t.regex(gc.stdout, /a pod directory without a record/);
      t.regex(gc.stdout, /released IP /);
    }
    if (s.record) said(/removed IP /, true, 'the IP');
    said(/removed pin /, s.pins, 'pins');
    said(/removed veth pn/, s.veth, 'the veth');
    said(/removed port mappings/, s.ports, 'port mappings');
    if (s.pause) t.regex(gc.stdout, /removed pause process \d+/);
    await assertNothingLeft(t, name);
    const again = await e.cli(['gc']);
    t.is(again.stdout, '', `${s.step}: a second gc finds nothing`);
  });
});

for (const step of ['container-after-record', 'container-after-config', 'container-after-cgroups', 'container-after-start']) {
  privilegedSerial(`kill -9 of run at ${step}, then of delete: gc leaves no cgroup`, async (t) => {
    const name = `fault-run-${step.replace('container-after-', '')}`;
    t.is((await e.cli(['create', name, '--network', 'none'])).exitCode, 0);
    const r = await e.cli(['run', name, '--name', 'c', '--memory', '32m', '--', 'sleep', '1000'], { PODNS_FAULT: step });
    t.is(r.signal, 'SIGKILL', `${step}: the run was killed (${r.stderr})`);
    t.true(podCgroups(name).length > 0, 'the pod\'s cgroup is there');
    const del = await e.cli(['delete', name, '--force', '--grace', '0'], { PODNS_FAULT: 'delete-after-mark' });
    t.is(del.signal, 'SIGKILL');
    const gc = await e.cli(['gc']);
    t.is(gc.exitCode, 0, gc.stderr);
    t.regex(gc.stdout, /removed cgroup /, `${step}: gc says it removed the cgroup`);
    await assertNothingLeft(t, name);
  });
}

privilegedSerial('kill -9 of create at after-ready: the pod is complete, gc keeps it, delete removes it', async (t) => {
  const name = 'fault-after-ready';
  const r = await e.cli(['create', name, '--bridge', e.bridge, '--publish', '19050:80'], { PODNS_FAULT: 'after-ready' });
  t.is(r.signal, 'SIGKILL', r.stderr);
  t.is((await e.cli(['gc'])).stdout, '');
  t.regex((await e.cli(['get', name])).stdout, /Running/);
  t.is((await e.cli(['delete', name])).exitCode, 0);
  await assertNothingLeft(t, name);
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

privilegedSerial('kill -9 of repair part way: delete --force also stops the pause the record does not name', async (t) => {
  // the record is 'ready' but still carries the killed repair's mark: delete must look for unrecorded pauses
  t.is((await e.cli(['create', 'fault-rep2', '--bridge', e.bridge])).exitCode, 0);
  const info = JSON.parse((await e.cli(['inspect', 'fault-rep2'])).stdout);
  process.kill(info.pause.pid, 'SIGKILL');
  await waitFor(() => processGone(info.pause.pid), 'the pause to die');
  const r = await e.cli(['repair', 'fault-rep2'], { PODNS_FAULT: 'repair-after-pause' });
  t.is(r.signal, 'SIGKILL');
  const [stray] = pausesOf(e.root);
  t.truthy(stray, 'the new pause runs but is not recorded');
  t.is((await e.cli(['delete', '--force', 'fault-rep2'])).exitCode, 0);
  await waitFor(() => processGone(stray!), 'the unrecorded pause to be stopped by delete');
  t.deepEqual(pausesOf(e.root), []);
  await assertNothingLeft(t, 'fault-rep2');
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
