// Every invalid input: exit code not 0, one clear line, and the system exactly as it was.
import test from 'ava';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bridgePorts, linkExists, makeEnv, nftRules, pausesOf, type TestEnv } from './env.js';

let e: TestEnv;
test.before(() => {
  if (skipReason() === undefined) e = makeEnv('inval', 215);
});
test.after.always(async () => {
  if (e) await e.cleanup();
});

function tree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const f of readdirSync(d).sort()) {
      const p = join(d, f);
      const st = statSync(p);
      // size and mtime, not content: pins are nsfs files, which cannot be read
      out.push(`${p} ${st.mode.toString(8)} ${st.ino} ${st.size} ${st.mtimeMs}`);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

async function snapshot(): Promise<unknown> {
  return {
    files: tree(e.root),
    netns: existsSync(e.netnsDir) ? readdirSync(e.netnsDir).sort() : [],
    mounts: readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.includes('podns-test-inval')).sort(),
    // links of this file's networks only: other test files make theirs in the same sandbox meanwhile
    links: [linkExists(e.bridge), linkExists('ptinvnew'), bridgePorts(e.bridge)],
    nft: await nftRules(e.nftTable),
    pauses: pausesOf(e.root).sort(),
  };
}

let existingIp = '';

privilegedSerial('set-up: a pod, a network, and a netns name podns did not make', async (t) => {
  const setup = await e.cli(['create', 'inv-exist', '--bridge', e.bridge, '--subnet', e.subnet, '--publish', '19500:80']);
  t.is(setup.exitCode, 0, setup.stderr);
  existingIp = setup.stdout.trim().split(' ')[1]!;
  // a network namespace of the same name that podns did not make (as `ip netns add` would leave)
  mkdirSync(e.netnsDir, { recursive: true });
  writeFileSync(join(e.netnsDir, 'inv-taken'), '');
});

function cases(): Array<[string[], RegExp]> {
  const br = ['--bridge', e.bridge];
  return [
    [['create', 'Bad_Name'], /invalid pod name "Bad_Name".*DNS-1123/],
    [['create', 'a'.repeat(64)], /invalid pod name/],
    [['create', 'x.y'], /invalid pod name/],
    [['create', 'ends-'], /invalid pod name/],
    [['create'], /exactly one pod name/],
    [['create', 'a1', 'b1'], /exactly one pod name/],
    [['create', 'ok-1', '--no-such-flag'], /Unknown option/],
    [['create', 'inv-exist', ...br], /pod "inv-exist" already exists/],
    [['create', 'inv-taken', ...br], /already exists .*ip netns delete inv-taken/],
    [['create', 'ok-1', '--network', 'bogus'], /invalid --network "bogus": use bridge, none, host or pod:NAME/],
    [['create', 'ok-1', '--network', 'pod:'], /name the pod to join/],
    [['create', 'ok-1', '--network', 'pod:missing'], /pod "missing" not found/],
    [['create', 'ok-1', '--network', 'pod:Bad'], /invalid pod name "Bad"/],
    [['create', 'ok-1', '--network', 'pod:ok-1'], /cannot join its own network/],
    [['create', 'ok-1', '--network', 'none', '--ip', '10.215.0.5'], /--ip needs --network bridge/],
    [['create', 'ok-1', '--network', 'none', '--publish', '8080:80'], /--publish needs --network bridge/],
    [['create', 'ok-1', '--network', 'pod:inv-exist', '--subnet', '10.1.0.0/24'], /--subnet needs --network bridge/],
    [['create', 'ok-1', '--network', 'host', '--hostname', 'h1'], /--hostname cannot be used with --network host/],
    [['create', 'ok-1', '--bridge', 'ptinvnew', '--subnet', '10.300.0.0/24'], /invalid subnet|invalid --subnet/],
    [['create', 'ok-1', '--bridge', 'ptinvnew', '--subnet', '10.216.0.1/24'], /host bits.*10\.216\.0\.0\/24/],
    [['create', 'ok-1', '--bridge', 'ptinvnew', '--subnet', '10.216.0.0/31'], /\/8 to \/30/],
    [['create', 'ok-1', '--bridge', 'ptinvnew', '--subnet', '10.215.0.0/25'], /overlaps network/],
    [['create', 'ok-1', '--bridge', 'ptinvnew'], /give its --subnet/],
    [['create', 'ok-1', '--bridge', 'Bad/Br', '--subnet', '10.217.0.0/24'], /invalid bridge name/],
    [['create', 'ok-1', '--bridge', 'a-very-long-bridge-name', '--subnet', '10.217.0.0/24'], /invalid bridge name/],
    [['create', 'ok-1', ...br, '--subnet', '10.99.0.0/24'], /already has subnet 10\.215\.0\.0\/24/],
    [['create', 'ok-1', ...br, '--ip', '192.168.1.1'], /not a host address of the pod network/],
    [['create', 'ok-1', ...br, '--ip', '10.215.0.255'], /not a host address/],
    [['create', 'ok-1', ...br, '--ip', '10.215.0.1'], /gateway/],
    [['create', 'ok-1', ...br, '--ip', 'x'], /invalid --ip "x"/],
    [['create', 'ok-1', ...br, '--ip', existingIp], /already in use/],
    [['create', 'ok-1', ...br, '--publish', '19500:80'], /already published by pod "inv-exist"/],
    [['create', 'ok-1', ...br, '--publish', '70000:80'], /port/],
    [['create', 'ok-1', ...br, '--publish', 'web:80'], /invalid --publish "web:80"/],
    [['create', 'ok-1', ...br, '--publish', '1.2.3.4:80:80'], /host address is not supported/],
    [['create', 'ok-1', ...br, '--publish', '8080:80/sctp'], /tcp|udp/],
    [['create', 'ok-1', ...br, '--publish', '8081:80', '--publish', '8081:81'], /twice/],
    [['create', 'ok-1', '--label', 'noequals'], /KEY=VALUE/],
    [['create', 'ok-1', '--label', 'bad key=v'], /invalid label key/],
    [['create', 'ok-1', '--label', `k=${'v'.repeat(64)}`], /invalid value for label/],
    [['create', 'ok-1', '--hostname', 'Bad_Host'], /invalid hostname/],
    [['create', 'ok-1', '-o', 'yaml'], /unknown output format/],
    [['delete'], /name the pods/],
    [['delete', 'Bad_Name'], /invalid pod name/],
    [['delete', 'nope'], /pod "nope" not found/],
    [['delete', 'inv-exist', '--grace=-1'], /invalid --grace/],
    [['delete', 'inv-exist', '--grace', 'soon'], /invalid --grace/],
    [['get', 'Bad'], /invalid pod name/],
    [['get', 'nope'], /pod "nope" not found/],
    [['inspect'], /exactly one pod name/],
    [['repair', 'nope'], /pod "nope" not found/],
    [['repair', 'inv-exist'], /nothing to repair/],
    [['gc', 'extra'], /gc takes no arguments/],
  ];
}

// in chunks, so no single test runs long on a loaded machine
for (let chunk = 0; chunk < 5; chunk++) {
  privilegedSerial(`every invalid input: exit != 0, one line, nothing changed (part ${chunk + 1})`, async (t) => {
    const all = cases();
    const size = Math.ceil(all.length / 5);
    const mine = all.slice(chunk * size, (chunk + 1) * size);
    const before = await snapshot();
    for (const [args, msg] of mine) {
      const r = await e.cli(args);
      const what = args.join(' ');
      t.not(r.exitCode, 0, `${what}: exit code`);
      const lines = r.stderr.trim().split('\n');
      t.is(lines.length, 1, `${what}: one line, got ${JSON.stringify(r.stderr)}`);
      t.regex(lines[0]!, /^podns [a-z]+: /, what);
      t.regex(lines[0]!, msg, what);
      t.is(r.stdout, '', `${what}: nothing on stdout`);
      t.deepEqual(await snapshot(), before, `${what}: the system is unchanged`);
    }
  });
}
