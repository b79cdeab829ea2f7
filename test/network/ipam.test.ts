// IP allocation: files under a temp state root, real processes racing. No root needed.
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PodnsError } from '../../src/errors.js';
import { resolveConfig } from '../../src/network/config.js';
import { allocateIp, listAllocations, releaseIps } from '../../src/network/ipam.js';

function tempRoot(t: import('ava').ExecutionContext): string {
  const root = mkdtempSync(join(tmpdir(), 'podns-ipam-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  return root;
}

test('sequential allocation skips network and gateway, continues after the last one, files hold the owner', (t) => {
  const root = tempRoot(t);
  const net = resolveConfig({ bridge: 'ptipam', subnet: '10.241.200.0/24' });
  t.is(allocateIp(root, net, 'a'), '10.241.200.2');
  t.is(allocateIp(root, net, 'b'), '10.241.200.3');
  t.is(readFileSync(join(root, 'networks', 'ptipam', 'ips', '10.241.200.3'), 'utf8'), 'b');
  t.deepEqual(releaseIps(root, 'ptipam', 'a'), ['10.241.200.2']);
  // the freed address is not handed out again at once: the scan goes on from the last allocation
  t.is(allocateIp(root, net, 'c'), '10.241.200.4');
  t.deepEqual(listAllocations(root, 'ptipam'), [{ ip: '10.241.200.3', owner: 'b' }, { ip: '10.241.200.4', owner: 'c' }]);
});

test('a gateway in the middle is skipped; the scan wraps around; a full subnet is a clear error', (t) => {
  const root = tempRoot(t);
  // /29: hosts .1-.6, gateway .3
  const net = resolveConfig({ bridge: 'ptipam', subnet: '10.241.201.0/29', gateway: '10.241.201.3' });
  const got = ['p1', 'p2', 'p3', 'p4', 'p5'].map((o) => allocateIp(root, net, o));
  t.deepEqual(got, ['10.241.201.1', '10.241.201.2', '10.241.201.4', '10.241.201.5', '10.241.201.6']);
  const err = t.throws(() => allocateIp(root, net, 'p6'), { instanceOf: PodnsError });
  t.is(err?.code, 'ESUBNETFULL');
  t.regex(err!.message, /^network "ptipam" has no free address left in 10\.241\.201\.0\/29: .*another network/);
  releaseIps(root, 'ptipam', 'p2');
  t.is(allocateIp(root, net, 'p7'), '10.241.201.2', 'wraps around to the freed address');
});

test('a requested --ip must be a free host address of the subnet', (t) => {
  const root = tempRoot(t);
  const net = resolveConfig({ bridge: 'ptipam', subnet: '10.241.202.0/24' });
  t.is(allocateIp(root, net, 'web', '10.241.202.77'), '10.241.202.77');
  const inUse = t.throws(() => allocateIp(root, net, 'db', '10.241.202.77'), { instanceOf: PodnsError });
  t.is(inUse?.code, 'EADDRINUSE');
  t.is(inUse?.message, 'IP 10.241.202.77 is already used by pod "web" on network "ptipam": choose another --ip, or leave it out');
  for (const [ip, re] of [
    ['10.241.203.5', /not a host address of network "ptipam" \(10\.241\.202\.0\/24\)/],
    ['10.241.202.0', /not a host address/],
    ['10.241.202.255', /not a host address/],
    ['10.241.202.1', /is the gateway/],
    ['10.241.202', /invalid --ip "10\.241\.202"/],
  ] as const) {
    const e = t.throws(() => allocateIp(root, net, 'db', ip), { instanceOf: PodnsError });
    t.regex(e!.message, re);
    t.false(e!.message.includes('\n'));
  }
  t.deepEqual(listAllocations(root, 'ptipam'), [{ ip: '10.241.202.77', owner: 'web' }]);
});

test('20 processes allocating at once get 20 different addresses', async (t) => {
  const root = tempRoot(t);
  const net = resolveConfig({ bridge: 'ptrace', subnet: '10.241.204.0/24' });
  const ipam = fileURLToPath(new URL('../../src/network/ipam.js', import.meta.url));
  const script = `
    const { allocateIp } = await import(${JSON.stringify(ipam)});
    const [root, owner, net] = process.argv.slice(1);
    // start together: wait for the go signal on stdin
    process.stdin.once('data', () => { process.stdout.write(allocateIp(root, JSON.parse(net), owner)); process.exit(0); });
  `;
  const procs = Array.from({ length: 20 }, (_, i) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, root, `pod-${i}`, JSON.stringify(net)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    const done = new Promise<{ out: string; err: string; code: number | null }>((resolve) => child.on('close', (code) => resolve({ out, err, code })));
    return { child, done };
  });
  // let them all load, then release them at once
  await new Promise((r) => setTimeout(r, 1500));
  for (const p of procs) p.child.stdin.end('go\n');
  const results = await Promise.all(procs.map((p) => p.done));
  for (const r of results) t.is(r.code, 0, r.err);
  const ips = results.map((r) => r.out);
  t.is(new Set(ips).size, 20, `distinct: ${ips.join(' ')}`);
  for (const ip of ips) t.regex(ip, /^10\.241\.204\.(\d+)$/);
  t.false(ips.includes('10.241.204.1'), 'never the gateway');
  const files = readdirSync(join(root, 'networks', 'ptrace', 'ips')).sort();
  t.deepEqual(files, [...ips].sort());
  const owners = new Set(listAllocations(root, 'ptrace').map((a) => a.owner));
  t.is(owners.size, 20);
  t.false(existsSync(join(root, 'networks', 'ptrace', 'ips', '10.241.204.1')));
});
