// Create, get, inspect, delete through the real CLI; every check reads the kernel.
import test from 'ava';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { addrsIn, bridgePorts, ipFiles, linkExists, linksIn, makeEnv, mountsUnder, nftRules, nsIno, pinIno, processGone, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('life', 211);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

privilegedSerial('two pods each see only lo and eth0, each with its own IP; inspect tells the kernel truth', async (t) => {
  const a = await e.cli(['create', 'life-a', '--bridge', e.bridge, '--subnet', e.subnet, '--label', 'app=web']);
  t.is(a.exitCode, 0, a.stderr);
  const b = await e.cli(['create', 'life-b', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(b.exitCode, 0, b.stderr);
  const [nameA, ipA] = a.stdout.trim().split(' ');
  const [nameB, ipB] = b.stdout.trim().split(' ');
  t.is(nameA, 'life-a');
  t.is(nameB, 'life-b');
  t.regex(ipA!, /^10\.211\.0\.\d+$/);
  t.regex(ipB!, /^10\.211\.0\.\d+$/);
  t.not(ipA, ipB);

  for (const [name, ip] of [['life-a', ipA], ['life-b', ipB]] as const) {
    const pin = join(e.netnsDir, name);
    t.deepEqual(await linksIn(pin), ['eth0', 'lo']);
    t.deepEqual(await addrsIn(pin, 'eth0'), [`${ip}/24`]);
    const ins = await e.cli(['inspect', name]);
    t.is(ins.exitCode, 0, ins.stderr);
    const info = JSON.parse(ins.stdout);
    t.is(info.status, 'Running');
    const pid = info.pause.pid as number;
    t.false(processGone(pid));
    t.is(typeof info.pause.oomScoreAdj, 'number');
    for (const type of ['net', 'ipc', 'uts']) {
      const ns = info.namespaces.find((n: { type: string }) => n.type === type);
      t.is(ns.inode, nsIno(pid, type), `${type} inode is the pause's`);
      t.is(pinIno(ns.pinned), nsIno(pid, type), `${type} pin holds the pause's namespace`);
    }
    t.is(pinIno(pin), nsIno(pid, 'net'));
    t.not(nsIno(pid, 'net'), nsIno(process.pid, 'net'));
    t.is(info.network.ifname, 'eth0');
    t.is(info.network.ip, ip);
    t.is(info.network.cidr, `${ip}/24`);
    t.is(info.network.gateway, '10.211.0.1');
    t.is(info.network.bridge, e.bridge);
    t.regex(info.network.mac, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    // the host end is on our bridge, and the MAC the record shows is eth0's
    t.is(readFileSync(`/sys/class/net/${info.network.hostVeth}/master/uevent`, 'utf8').match(/INTERFACE=(\S+)/)?.[1], e.bridge);
    const link = (await import('execa')).execa('nsenter', [`--net=${pin}`, 'ip', '-o', 'link', 'show', 'eth0']);
    t.true((await link).stdout.includes(info.network.mac));
    t.deepEqual(info.labels, name === 'life-a' ? { app: 'web' } : {});
  }
  // the default hostname is the pod's name, in the pod's own uts namespace
  const infoA = JSON.parse((await e.cli(['inspect', 'life-a'])).stdout);
  // the cgroup driver that applies on this host, as the kernel's files show it
  if (existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    t.is(infoA.cgroups.driver, 'v1');
    for (const c of ['cpu', 'cpuset', 'memory', 'freezer', 'pids']) t.true(infoA.cgroups.controllers.includes(c), c);
  } else {
    t.not(infoA.cgroups.driver, 'v1');
  }
  const { execa } = await import('execa');
  t.is((await execa('nsenter', [`--uts=${infoA.namespaces.find((n: { type: string }) => n.type === 'uts').pinned}`, 'hostname'])).stdout.trim(), 'life-a');
  const hosts = readFileSync(join(e.root, 'pods', 'life-a', 'etc', 'hosts'), 'utf8');
  t.regex(hosts, new RegExp(`^${ipA!.replace(/\./g, '\\.')}\\tlife-a$`, 'm'));

  // get: table with NAME STATUS IP CONTAINERS AGE
  const get = await e.cli(['get']);
  t.is(get.exitCode, 0, get.stderr);
  const lines = get.stdout.trim().split('\n');
  t.deepEqual(lines[0]!.split(/\s+/), ['NAME', 'STATUS', 'IP', 'CONTAINERS', 'AGE']);
  t.deepEqual(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 4)), [['life-a', 'Running', ipA, '0/0'], ['life-b', 'Running', ipB, '0/0']]);
  const ls = await e.cli(['ls', 'life-b', '-o', 'json']);
  t.is(JSON.parse(ls.stdout).status.status, 'Running');

  // state modes
  t.is(statSync(e.root).mode & 0o777, 0o700);
  t.is(statSync(join(e.root, 'pods', 'life-a', 'pod.json')).mode & 0o777, 0o600);
  t.is(statSync(join(e.root, 'pods', 'life-a')).mode & 0o777, 0o700);
});

privilegedSerial('delete removes the veth, the pins and the nft rules, and frees the IP', async (t) => {
  const c = await e.cli(['create', 'life-c', '--bridge', e.bridge, '--publish', '18080:80', '--publish', '18053:53/udp']);
  t.is(c.exitCode, 0, c.stderr);
  const ip = c.stdout.trim().split(' ')[1]!;
  const info = JSON.parse((await e.cli(['inspect', 'life-c'])).stdout);
  const veth = info.network.hostVeth as string;
  t.true(linkExists(veth));
  t.true(bridgePorts(e.bridge).includes(veth));
  t.true(ipFiles(e.root, e.bridge).includes(ip));
  const rules = await nftRules(e.nftTable);
  t.true(rules.includes('18080') && rules.includes(ip), `the port mapping is in nft: ${rules}`);
  const pins = mountsUnder(join(e.root, 'pods', 'life-c'));
  t.is(pins.length, 3);
  t.true(mountsUnder(e.netnsDir).some((m) => m.endsWith('/life-c')));

  const d = await e.cli(['delete', 'life-c', '--grace', '5']);
  t.is(d.exitCode, 0, d.stderr);
  t.is(d.stdout.trim(), 'pod "life-c" deleted');
  t.false(linkExists(veth), 'veth gone right away (not left to the async netns teardown)');
  t.false(bridgePorts(e.bridge).includes(veth));
  t.false(ipFiles(e.root, e.bridge).includes(ip));
  t.false((await nftRules(e.nftTable)).includes('18080'));
  t.false(existsSync(join(e.root, 'pods', 'life-c')));
  t.false(existsSync(join(e.netnsDir, 'life-c')));
  t.false(mountsUnder(e.netnsDir).some((m) => m.endsWith('/life-c')));
  t.true(processGone(info.pause.pid));

  // the freed IP can be taken again
  const again = await e.cli(['create', 'life-c2', '--bridge', e.bridge, '--ip', ip]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout.trim(), `life-c2 ${ip}`);
  t.is((await e.cli(['delete', 'life-c2'])).exitCode, 0);

  // not found: a clear error, exit 1; --ignore-not-found as kubectl
  const nf = await e.cli(['delete', 'life-c']);
  t.is(nf.exitCode, 1);
  t.is(nf.stderr.trim(), 'podns delete: pod "life-c" not found');
  const ign = await e.cli(['rm', 'life-c', '--ignore-not-found']);
  t.is(ign.exitCode, 0, ign.stderr);
  t.is(ign.stdout, '');
  const g = await e.cli(['get', 'life-c']);
  t.is(g.exitCode, 1);
  t.is(g.stderr.trim(), 'podns get: pod "life-c" not found');
  const i = await e.cli(['inspect', 'nope']);
  t.is(i.exitCode, 1);
  t.is(i.stderr.trim(), 'podns inspect: pod "nope" not found');
});

privilegedSerial('the net pin is visible to ip netns: `ip netns exec POD` and `ip -n POD` work', async (t) => {
  // /run in the test sandbox is a private tmpfs: the real /run/netns layout, without touching the host's
  const r = await e.cli(['create', 'life-ipns', '--bridge', e.bridge], { PODNS_NETNS_DIR: '/run/netns' });
  t.is(r.exitCode, 0, r.stderr);
  try {
    const { execa } = await import('execa');
    const ipn = await execa('ip', ['-n', 'life-ipns', '-o', 'link', 'show']);
    t.deepEqual(ipn.stdout.split('\n').map((l) => l.split(': ')[1]!.split('@')[0]).sort(), ['eth0', 'lo']);
    const exec = await execa('ip', ['netns', 'exec', 'life-ipns', 'ip', '-o', '-4', 'addr', 'show', 'dev', 'eth0']);
    t.true(exec.stdout.includes(r.stdout.trim().split(' ')[1]!));
    t.true((await execa('ip', ['netns', 'list'])).stdout.includes('life-ipns'));
  } finally {
    const d = await e.cli(['delete', 'life-ipns'], { PODNS_NETNS_DIR: '/run/netns' });
    t.is(d.exitCode, 0, d.stderr);
  }
  t.false(existsSync('/run/netns/life-ipns'));
});

privilegedSerial('pins live in shared mounts: an unmount reaches the copies in containers\' mount namespaces', async (t) => {
  const { execa } = await import('execa');
  const c = await e.cli(['create', 'life-prop', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(c.exitCode, 0, c.stderr);
  // a "container": its own mount namespace made after the pod, rslave as the shim makes it
  const holder = execa('unshare', ['--mount', '--propagation', 'slave', 'sleep', '600'], { reject: false });
  try {
    const pinPaths = [join(e.root, 'pods', 'life-prop', 'ns', 'net'), join(e.netnsDir, 'life-prop')];
    const mountsOf = (pid: number): string[] => readFileSync(`/proc/${pid}/mountinfo`, 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '');
    const { waitFor } = await import('./env.js');
    await waitFor(() => holder.pid !== undefined && readFileSync(`/proc/${holder.pid}/cmdline`, 'utf8').startsWith('sleep'), 'the holder to start');
    const pid = holder.pid!;
    for (const p of pinPaths) t.true(mountsOf(pid).includes(p), `the copy of ${p} is in the holder's mount namespace`);
    // Unmount only (no unlink, which since Linux 3.18 would detach the copies by itself): with a
    // private mount the holder's copy would keep the namespace alive.
    for (const p of pinPaths) await execa('umount', ['-l', p]);
    for (const p of pinPaths) t.false(mountsOf(pid).includes(p), `the unmount of ${p} reached the holder's mount namespace`);
  } finally {
    holder.kill('SIGKILL');
    await holder;
  }
  t.is((await e.cli(['delete', 'life-prop'])).exitCode, 0);
});
