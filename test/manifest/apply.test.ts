// `podns apply -f` / `podns delete -f` for real: pods, containers, namespaces, packets between containers.
// Privileged: runs inside the test sandbox, with its own state root, netns dir, bridge and subnet.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { importImage } from '../../src/image/index.js';
import { DEFAULT_PIDS_LIMIT, readContainerConfig, readContainerStatus } from '../../src/container/index.js';
import { readPod } from '../../src/pod/index.js';
import { LAST_APPLIED } from '../../src/manifest/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bin, makeEnv, type TestEnv } from '../pod/env.js';
// the lesson's manifest (introduction/pod/pause.yaml), the one the tour applies
import { MANIFEST as LESSON } from '../../src/tour/stage.js';

// Own state root, netns dir, nft table, bridge and subnet: other test files share the sandbox's netns.
let E: TestEnv | undefined;
const PAGE = '<html><body>hello from www-server</body></html>\n';

let work = '';
let root = '';

async function podns(args: string[], input?: string) {
  return execa('node', [bin, ...args], { reject: false, env: { NO_COLOR: '1', ...E!.env }, ...(input !== undefined ? { input } : { stdin: 'ignore' }) });
}

const applyArgs = (file: string) => ['apply', '-f', file, '--bridge', E!.bridge, '--subnet', E!.subnet];

// Only this file's links: its bridge and the ports on it. Other test files run at the same time in
// the same sandbox netns, so a global link list would change under us.
async function links(): Promise<string[]> {
  const r = await execa('ip', ['-o', 'link', 'show']);
  const names = r.stdout.split('\n').filter(Boolean).map((l) => (l.split(': ')[1] ?? l).split('@')[0]!);
  const mine = (n: string) => {
    if (n === E!.bridge) return true;
    try { return basename(readlinkSync(`/sys/class/net/${n}/master`)) === E!.bridge; } catch { return false; }
  };
  return names.filter(mine).sort();
}

function podDirs(): string[] {
  const d = join(root, 'pods');
  return existsSync(d) ? readdirSync(d).filter((e) => !e.startsWith('.')) : [];
}

function netnsPins(): string[] {
  const d = E!.netnsDir;
  return existsSync(d) ? readdirSync(d) : [];
}

function writeManifest(name: string, text: string): string {
  const f = join(work, name);
  writeFileSync(f, text);
  return f;
}

/** Polls until fn gives a value (a server may need a moment after its exec to listen); not a timing assertion. */
async function eventually<T>(fn: () => Promise<T | undefined>, tries = 50): Promise<T | undefined> {
  for (let i = 0; i < tries; i++) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  return undefined;
}

if (skipReason() === undefined && busyboxAvailable()) {
  test.before(async () => {
    E = makeEnv('mf', 231);
    root = E.root;
    work = mkdtempSync(join(tmpdir(), 'podns-manifest-'));
    makeBusyboxRootfs(join(work, 'netutils'));
    makeBusyboxRootfs(join(work, 'www'), { www: PAGE });
    await importImage({ root, name: 'hwchiu/netutils', source: join(work, 'netutils'), config: { cmd: ['sleep', 'infinity'] } });
    await importImage({ root, name: 'bare', source: join(work, 'netutils') });
    await importImage({ root, name: 'nginx', source: join(work, 'www'), config: { cmd: ['httpd', '-f', '-p', '80', '-h', '/www'] } });
  });

  test.after.always(async () => {
    if (E === undefined) return;
    await E.cleanup();
    rmSync(work, { recursive: true, force: true });
  });
}

if (busyboxAvailable()) {
privilegedSerial('the lesson manifest applies as written, both containers run in one pod, client reaches the server on localhost', async (t) => {
  const file = writeManifest('pod.yaml', LESSON);
  const r = await podns(applyArgs(file));
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'pod/two-containers created');
  t.is(r.stderr, '', 'no warnings for the lesson manifest');

  const rec = readPod({ root, name: 'two-containers' });
  t.deepEqual(rec.containers, ['client', 'www-server']);
  t.is(rec.labels.app, 'myapp');
  t.is(rec.restartPolicy, 'Always');
  const netPin = rec.namespaces.find((n) => n.type === 'net')!;
  const utsPin = rec.namespaces.find((n) => n.type === 'uts')!;
  // The kernel's truth: both workloads are in the pod's net and uts namespaces.
  for (const c of ['client', 'www-server']) {
    const st = readContainerStatus({ root, pod: 'two-containers', name: c });
    t.is(st?.state, 'running', c);
    t.is(statSync(`/proc/${st!.pid}/ns/net`).ino, netPin.ino, `${c} net ns`);
    t.is(statSync(`/proc/${st!.pid}/ns/uts`).ino, utsPin.ino, `${c} uts ns`);
  }

  // The lesson's point: containers of a pod share localhost.
  const page = await eventually(async () => {
    const x = await podns(['exec', 'two-containers', '-c', 'client', '--', 'wget', '-qO-', 'http://127.0.0.1/']);
    return x.exitCode === 0 ? x.stdout : undefined;
  });
  t.is(page, PAGE.trimEnd());
  const hn = await podns(['exec', 'two-containers', '-c', 'client', '--', 'hostname']);
  t.is(hn.stdout, 'two-containers');

  // Same spec again: unchanged; a different spec: refused, the pod untouched.
  const again = await podns(applyArgs(file));
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout, 'pod/two-containers unchanged');
  const changed = writeManifest('changed.yaml', LESSON.replace('app: myapp', 'app: other'));
  const ch = await podns(applyArgs(changed));
  t.is(ch.exitCode, 1);
  t.regex(ch.stderr, /^podns apply: .*changed\.yaml:1: pod "two-containers" already exists and its spec differs from this manifest; pods cannot be changed in place: delete it first \(podns delete -f .*changed\.yaml\), then apply again$/);
  t.is(readPod({ root, name: 'two-containers' }).uid, rec.uid);
  t.truthy(readPod({ root, name: 'two-containers' }).annotations[LAST_APPLIED]);

  // The image stays while a container runs on it.
  const rmi = await podns(['image', 'rm', 'nginx']);
  t.is(rmi.exitCode, 1);
  t.is(rmi.stderr, 'podns image rm: cannot remove image "nginx:latest": container two-containers/www-server uses it; delete the pod first, or use --force');

  const del = await podns(['delete', '-f', file, '--grace', '1']);
  t.is(del.exitCode, 0, del.stderr);
  t.is(del.stdout, 'pod "two-containers" deleted');
  t.deepEqual(podDirs(), []);
  t.deepEqual(netnsPins(), []);
  t.false((await links()).some((l) => l.startsWith('pn')), 'no host veth left');

  const del2 = await podns(['delete', '-f', file]);
  t.is(del2.exitCode, 1);
  t.is(del2.stderr, 'podns delete: pod "two-containers" not found');
});

privilegedSerial('apply -f - reads stdin; several documents; pod options reach the pod', async (t) => {
  const text = `apiVersion: v1
kind: Pod
metadata:
  name: first
  annotations: {team: net}
spec:
  hostname: box
  shareProcessNamespace: true
  restartPolicy: Never
  containers:
  - name: c
    image: hwchiu/netutils
    command: ["sh", "-c", "echo \\"$GREETING\\" > /tmp/out; id -u >> /tmp/out; exec sleep infinity"]
    env:
    - name: GREETING
      value: hi $(WHO)
    - name: WHO
      value: later
    securityContext: {runAsUser: 65534, runAsGroup: 65534}
---
apiVersion: v1
kind: Pod
metadata: {name: second}
spec:
  containers:
  - {name: srv, image: nginx, ports: [{containerPort: 80, hostPort: 18080}]}
`;
  const r = await podns(['apply', '-f', '-', '--bridge', E!.bridge, '--subnet', E!.subnet], text);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'pod/first created\npod/second created');
  const first = readPod({ root, name: 'first' });
  t.like(first, { hostname: 'box', sharePid: true, restartPolicy: 'Never' });
  t.is(first.annotations.team, 'net');
  t.true(first.namespaces.some((n) => n.type === 'pid') || first.pause !== undefined);
  const out = await eventually(async () => {
    const x = await podns(['exec', 'first', '--', 'cat', '/tmp/out']);
    return x.exitCode === 0 && x.stdout.split('\n').length === 2 ? x.stdout : undefined;
  });
  // $(WHO) is defined after GREETING, so kubelet leaves it as written
  t.is(out, 'hi $(WHO)\n65534');
  const hn = await podns(['exec', 'first', '--', 'hostname']);
  t.is(hn.stdout, 'box');
  t.deepEqual(readPod({ root, name: 'second' }).ports, [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }]);

  const del = await podns(['delete', '-f', '-', '--grace', '1'], text);
  t.is(del.exitCode, 0, del.stderr);
  t.is(del.stdout, 'pod "first" deleted\npod "second" deleted');
  t.deepEqual(podDirs(), []);
});

privilegedSerial('bad manifests: clear errors with line numbers, nothing created, no veth', async (t) => {
  const before = await links();
  const cases: Array<[string, string, RegExp]> = [
    ['yaml-error.yaml', LESSON.replace('  labels:', ' labels:'), /yaml-error\.yaml:5: YAML: /],
    ['no-name.yaml', LESSON.replace('  name: two-containers\n', ''), /no-name\.yaml:3: metadata\.name is missing/],
    ['dup.yaml', LESSON.replace('name: www-server', 'name: client'), /dup\.yaml:11: spec\.containers\[1\]\.name: duplicate container name "client" \(also on line 9\)/],
    // Never: the store only (no registry is asked; pull failures are test/image/pull-policy.test.ts's)
    ['no-image.yaml', LESSON.replace('image: nginx', 'image: nginx:9.9\n    imagePullPolicy: Never'),
      /no-image\.yaml:12: spec\.containers\[1\] \(www-server\): image "nginx:9\.9" not found; pull it \(podns image pull nginx:9\.9\), load it \(podns image load -i FILE\) or import a root filesystem with: podns image import nginx:9\.9 FILE\.tar/],
    ['bad-env.yaml', LESSON + '    env:\n    - name: PORT\n      value: 80\n', /bad-env\.yaml:15: spec\.containers\[1\]\.env\[0\]\.value must be a string, not a number; quote it: value: "80"/],
    // the first pod is fine, the second is not: neither is created
    ['second-bad.yaml', LESSON + '---\n' + LESSON.replace('two-containers', 'other').replace('image: hwchiu/netutils', 'image: nosuch\n    imagePullPolicy: Never'),
      /second-bad\.yaml:23: spec\.containers\[0\] \(client\): image "nosuch:latest" not found/],
    ['kind.yaml', 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n', /kind\.yaml:2: kind "Deployment" is not supported/],
    ['ports.yaml', [1, 2].map((i) => `apiVersion: v1\nkind: Pod\nmetadata: {name: p${i}}\nspec:\n  containers:\n  - {name: c, image: nginx, ports: [{containerPort: 80, hostPort: 18081}]}\n`).join('---\n'),
      /ports\.yaml:8: pod "p2": host port 18081\/tcp is also published by pod "p1" in this file; publish each host port once/],
    ['no-command.yaml', LESSON.replace('image: nginx', 'image: nginx\n    args: []').replace('image: hwchiu/netutils', 'image: bare'),
      /no-command\.yaml:9: spec\.containers\[0\] \(client\): no command: image "bare:latest" has no entrypoint or cmd/],
  ];
  for (const [name, text, re] of cases) {
    const file = writeManifest(name, text);
    const r = await podns(applyArgs(file));
    t.is(r.exitCode, 1, `${name}: ${r.stdout} ${r.stderr}`);
    t.regex(r.stderr, re, name);
    t.is(r.stdout, '', name);
    t.deepEqual(podDirs(), [], `${name}: no pod`);
    t.deepEqual(netnsPins(), [], `${name}: no netns pin`);
  }
  t.deepEqual(await links(), before, 'no veth (or bridge) appeared');

  // --dry-run checks everything and makes nothing
  const dry = await podns([...applyArgs(writeManifest('dry.yaml', LESSON)), '--dry-run']);
  t.is(dry.exitCode, 0, dry.stderr);
  t.is(dry.stdout, 'pod/two-containers created (dry run)');
  t.deepEqual(podDirs(), []);
  t.deepEqual(await links(), before);
});

privilegedSerial('resources: recorded, QoS in get -o wide and inspect, a bad quantity makes nothing', async (t) => {
  const pod = (name: string, resources: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  containers:
  - name: c
    image: hwchiu/netutils${resources}
`;
  const text = [
    pod('qos-g', '\n    resources:\n      limits: {cpu: 500m, memory: 64Mi}'),
    pod('qos-b', '\n    resources:\n      requests: {cpu: "0.1"}'),
    pod('qos-be', ''),
  ].join('---\n');
  const file = writeManifest('qos.yaml', text);
  const r = await podns(applyArgs(file));
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stdout, 'pod/qos-g created\npod/qos-b created\npod/qos-be created');
  // enforced now: no "not enforced" warning
  t.is(r.stderr, '');
  t.deepEqual(readContainerConfig({ root, pod: 'qos-g', name: 'c' })?.resources,
    { limits: { cpu: '500m', memory: '64Mi' }, requests: { cpu: '500m', memory: '64Mi' } });
  t.deepEqual(readContainerConfig({ root, pod: 'qos-b', name: 'c' })?.resources, { requests: { cpu: '100m' } });
  t.is(readContainerConfig({ root, pod: 'qos-be', name: 'c' })?.resources, undefined);
  // and enforced as the kubelet maps them: limits → memory limit and CFS quota, requests → cpu.shares
  const cg = (pod: string, file: string): string => {
    const c = readContainerConfig({ root, pod, name: 'c' })!;
    const dir = (c.cgroupDirs ?? []).find((d) => existsSync(join(d, file)));
    return dir === undefined ? `no ${file} among ${JSON.stringify(c.cgroupDirs)}` : readFileSync(join(dir, file), 'utf8').trim();
  };
  t.is(cg('qos-g', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
  t.is(cg('qos-g', 'cpu.cfs_quota_us'), '50000');
  t.is(cg('qos-g', 'cpu.cfs_period_us'), '100000');
  t.is(cg('qos-g', 'cpu.shares'), '512');
  t.is(cg('qos-b', 'cpu.shares'), '102');
  t.deepEqual(readContainerConfig({ root, pod: 'qos-b', name: 'c' })?.limits, { cpuShares: 102, pids: DEFAULT_PIDS_LIMIT });
  t.deepEqual(readContainerConfig({ root, pod: 'qos-be', name: 'c' })?.limits, { pids: DEFAULT_PIDS_LIMIT }, 'BestEffort without resources: the default pids limit only');
  t.is(cg('qos-be', 'cpu.shares'), '1024', 'and no shares of its own (the default)');

  const wide = await podns(['get', '-o', 'wide', 'qos-g', 'qos-b', 'qos-be']);
  t.is(wide.exitCode, 0, wide.stderr);
  const [head, ...rows] = wide.stdout.split('\n').map((l) => l.trim().split(/\s+/));
  const col = head!.indexOf('QOS');
  t.true(col > 0, wide.stdout);
  t.deepEqual(rows.map((row) => [row[0], row[col]]), [['qos-g', 'Guaranteed'], ['qos-b', 'Burstable'], ['qos-be', 'BestEffort']]);
  const js = await podns(['get', '-o', 'json', 'qos-g', 'qos-b']);
  t.deepEqual((JSON.parse(js.stdout) as Array<{ status: { qosClass: string } }>).map((p) => p.status.qosClass), ['Guaranteed', 'Burstable']);
  const plain = await podns(['get', 'qos-g']);
  t.false(plain.stdout.includes('QOS'), 'only -o wide has the column');
  for (const [name, qos] of [['qos-g', 'Guaranteed'], ['qos-b', 'Burstable'], ['qos-be', 'BestEffort']]) {
    const ins = await podns(['inspect', name!]);
    t.is(ins.exitCode, 0, ins.stderr);
    t.is(JSON.parse(ins.stdout).qosClass, qos, name);
  }

  // a hand-edited record with a quantity that does not parse: shown as unknown, never guessed, get still lists
  const cfgFile = join(root, 'pods', 'qos-b', 'containers', 'c', 'config.json');
  const cfg = JSON.parse(readFileSync(cfgFile, 'utf8')) as { resources: unknown };
  cfg.resources = { requests: { cpu: 'lots' } };
  writeFileSync(cfgFile, JSON.stringify(cfg));
  const w2 = await podns(['get', '-o', 'wide', 'qos-b', 'qos-g']);
  t.is(w2.exitCode, 0, w2.stderr);
  t.deepEqual(w2.stdout.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[col]), ['<unknown>', 'Guaranteed']);
  t.is(JSON.parse((await podns(['inspect', 'qos-b'])).stdout).qosClass, null);

  const del = await podns(['delete', '-f', file, '--grace', '1']);
  t.is(del.exitCode, 0, del.stderr);
  t.deepEqual(podDirs(), []);

  // a bad quantity: one line naming file, line, field and fix; nothing is made
  const before = await links();
  const bad = writeManifest('bad-quantity.yaml', text.replace('memory: 64Mi', 'memory: 64MB'));
  const b = await podns(applyArgs(bad));
  t.is(b.exitCode, 1);
  t.is(b.stdout, '');
  // (the other pods' warnings are printed too, as for any manifest; the error is one line)
  t.is(b.stderr.split('\n').filter((l) => !l.includes(': warning: ')).join('\n'), `podns apply: ${bad}:9: spec.containers[0].resources.limits.memory: "64MB" has an unknown suffix "MB" (Kubernetes writes Ki Mi Gi Ti Pi Ei or k M G T P E, no B); write a number with an optional suffix, like 500m, 0.5 or 2 (cpu), 128Mi or 1G (memory)`);
  t.deepEqual(podDirs(), []);
  t.deepEqual(netnsPins(), []);
  t.deepEqual(await links(), before, 'no veth');
});

privilegedSerial('volumes: hostPath (DirectoryOrCreate, read-only), a shared emptyDir, a subPath that stays in its volume', async (t) => {
  const host = join(work, 'vol-host');
  const made = join(work, 'vol-made');
  // a link planted in the host dir: the subPath through it resolves inside the volume, never to the host's /etc
  const planted = join(work, 'vol-planted');
  const marker = `podns-subpath-${process.pid}`;
  mkdirSync(join(planted, 'etc'), { recursive: true });
  symlinkSync('/etc', join(planted, 'link'));
  mkdirSync(host);
  writeFileSync(join(host, 'keep'), 'host\n');
  const file = writeManifest('volumes.yaml', `apiVersion: v1
kind: Pod
metadata: {name: vols}
spec:
  volumes:
  - {name: data, hostPath: {path: ${host}, type: Directory}}
  - {name: made, hostPath: {path: ${made}, type: DirectoryOrCreate}}
  - {name: planted, hostPath: {path: ${planted}}}
  - {name: shared, emptyDir: {}}
  containers:
  - name: writer
    image: bare
    command: ["sh", "-c", "echo from-writer > /shared/msg; echo x > /made/x; sleep 1000"]
    volumeMounts:
    - {name: shared, mountPath: /shared}
    - {name: made, mountPath: /made}
    - {name: planted, mountPath: /sub, subPath: link/${marker}}
  - name: reader
    image: bare
    command: ["sleep", "1000"]
    volumeMounts:
    - {name: shared, mountPath: /in, readOnly: true}
    - {name: data, mountPath: /data, readOnly: true}
`);
  const r = await podns(applyArgs(file));
  t.is(r.exitCode, 0, r.stderr);
  const msg = await eventually(async () => {
    const x = await podns(['exec', 'vols', '-c', 'reader', '--', 'cat', '/in/msg', '/data/keep']);
    return x.exitCode === 0 ? x.stdout : undefined;
  });
  t.is(msg, 'from-writer\nhost', 'the emptyDir is shared by the pod\'s containers; the hostPath is seen');
  const ro = await podns(['exec', 'vols', '-c', 'reader', '--', 'touch', '/in/y']);
  t.regex(ro.stderr, /Read-only file system/);
  t.is(readFileSync(join(made, 'x'), 'utf8'), 'x\n', 'DirectoryOrCreate made the host dir');
  t.true(existsSync(join(planted, 'etc', marker)), 'the subPath was made inside the volume (its link resolved there)');
  t.false(existsSync(join('/etc', marker)), 'nothing was made in the host\'s /etc');
  const emptyDir = join(root, 'pods', 'vols', 'volumes', 'shared');
  t.is(statSync(emptyDir).mode & 0o777, 0o777);
  const del = await podns(['delete', '-f', file, '--grace', '0']);
  t.is(del.exitCode, 0, del.stderr);
  t.false(existsSync(emptyDir), 'the emptyDir goes with the pod');
  t.true(existsSync(join(host, 'keep')), 'the hostPath stays');

  // a hostPath that must exist and does not: one line, nothing made
  const bad = writeManifest('volumes-bad.yaml', `apiVersion: v1
kind: Pod
metadata: {name: vols2}
spec:
  volumes: [{name: d, hostPath: {path: ${join(work, 'nope')}, type: Directory}}]
  containers: [{name: c, image: bare, command: [sleep, "1"], volumeMounts: [{name: d, mountPath: /d}]}]
`);
  const b = await podns(applyArgs(bad));
  t.is(b.exitCode, 1);
  t.is(b.stderr, `podns apply: ${bad}:1: pod "vols2": volume "d": hostPath ${join(work, 'nope')} does not exist (type Directory); create it first or use DirectoryOrCreate`);
  t.deepEqual(podDirs(), []);
});

/** The mount at POINT in a mountinfo text: its device, fstype and super options (what the kernel says it is). */
function mountOf(mountinfo: string, point: string): { dev: string; fstype: string; superOpts: string } | undefined {
  let found: { dev: string; fstype: string; superOpts: string } | undefined;
  for (const line of mountinfo.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f[4] === point && dash > 0) found = { dev: f[2]!, fstype: f[dash + 1]!, superOpts: f[dash + 3] ?? '' };
  }
  return found;
}

privilegedSerial('emptyDir medium Memory: a tmpfs of sizeLimit, shared by the containers; unmounted and removed with the pod, and by gc', async (t) => {
  const file = writeManifest('memvol.yaml', `apiVersion: v1
kind: Pod
metadata: {name: memvol}
spec:
  volumes:
  - {name: mem, emptyDir: {medium: Memory, sizeLimit: 8Mi}}
  - {name: disk, emptyDir: {}}
  containers:
  - name: writer
    image: bare
    command: ["sh", "-c", "echo in-memory > /mem/msg; sleep 1000"]
    volumeMounts: [{name: mem, mountPath: /mem}, {name: disk, mountPath: /disk}]
  - name: reader
    image: bare
    command: ["sleep", "1000"]
    volumeMounts: [{name: mem, mountPath: /in}]
`);
  const r = await podns(applyArgs(file));
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.stderr, '', 'no warning: medium Memory is served');
  const msg = await eventually(async () => {
    const x = await podns(['exec', 'memvol', '-c', 'reader', '--', 'cat', '/in/msg']);
    return x.exitCode === 0 ? x.stdout : undefined;
  });
  t.is(msg, 'in-memory', 'the tmpfs is the same for both containers');
  // the kernel's truth, from inside the containers: a tmpfs of 8 MiB, nosuid and nodev; the disk one is not
  const inReader = (await podns(['exec', 'memvol', '-c', 'reader', '--', 'cat', '/proc/self/mountinfo'])).stdout;
  const m = mountOf(inReader, '/in');
  t.is(m?.fstype, 'tmpfs', inReader);
  t.regex(m?.superOpts ?? '', /(^|,)size=8192k(,|$)/);
  const inWriter = (await podns(['exec', 'memvol', '-c', 'writer', '--', 'cat', '/proc/self/mountinfo'])).stdout;
  t.is(mountOf(inWriter, '/mem')?.fstype, 'tmpfs');
  t.is(mountOf(inWriter, '/mem')?.dev, m?.dev, 'one tmpfs (one superblock) for both containers');
  // (the test's state root is itself on the sandbox's tmpfs /run: the disk emptyDir is told apart by its device)
  t.not(mountOf(inWriter, '/disk')?.dev, m?.dev, 'an emptyDir without a medium is a directory of the state\'s filesystem');
  t.notRegex(mountOf(inWriter, '/disk')?.superOpts ?? '', /size=8192k/);
  const full = await podns(['exec', 'memvol', '-c', 'writer', '--', 'sh', '-c', 'head -c 16777216 /dev/zero > /mem/big']);
  t.not(full.exitCode, 0);
  const dir = join(root, 'pods', 'memvol', 'volumes', 'mem');
  const big = statSync(join(dir, 'big')).size;
  t.true(big <= 8 * 1024 * 1024 && big > 7 * 1024 * 1024, `sizeLimit is the tmpfs size: 16 MiB do not fit (${big} bytes written: ${full.stderr})`);
  t.is(mountOf(readFileSync('/proc/self/mountinfo', 'utf8'), dir)?.fstype, 'tmpfs', 'mounted on the pod\'s volume directory, on the host side');

  const del = await podns(['delete', '-f', file, '--grace', '0']);
  t.is(del.exitCode, 0, del.stderr);
  const after = readFileSync('/proc/self/mountinfo', 'utf8');
  t.false(after.includes(join(root, 'pods', 'memvol')), 'no mount left under the pod\'s state');
  t.false(existsSync(dir));

  // what a crash inside the pod directory's removal leaves (its trash, the tmpfs still mounted): gc unmounts and removes it
  const trash = join(root, 'pods', '.trash-memvol-0badf00d');
  const left = join(trash, 'volumes', 'mem');
  mkdirSync(left, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', left]);
  writeFileSync(join(left, 'x'), 'x');
  const gc = await podns(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stdout, new RegExp(`removed mount ${left.replace(/[.]/g, '\\.')} \\(no pod record\\)`));
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(trash), 'the tmpfs is unmounted');
  t.false(existsSync(trash));
});

privilegedSerial('a container that cannot start takes its pod with it', async (t) => {
  const before = await links();
  const file = writeManifest('nostart.yaml', LESSON.replace('    image: nginx\n', '    image: nginx\n    command: ["/no/such/program"]\n'));
  const r = await podns(applyArgs(file));
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^podns apply: pod\/two-containers: container "www-server" did not start: .*\/no\/such\/program.*; the pod was deleted again$/);
  t.is(r.stdout, '');
  t.deepEqual(podDirs(), []);
  t.deepEqual(netnsPins(), []);
  t.deepEqual((await links()).filter((l) => l.startsWith('pn')), before.filter((l) => l.startsWith('pn')), 'no veth left');
});

} else {
  test.skip('manifest apply tests [skipped: /bin/busybox missing; apt install busybox-static]', () => {});
}
