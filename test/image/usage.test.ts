// image du, image prune, and the pull policy table (Kubernetes' defaults, podman's --pull words).
import test from 'ava';
import { execa } from 'execa';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { importImage, listImages } from '../../src/image/index.js';
import { defaultPullPolicy, needsPull, parseRunPull } from '../../src/image/pull-policy.js';
import { pruneImages, storeUsage } from '../../src/image/usage.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';

const BIN = fileURLToPath(new URL('../../../bin/podns.js', import.meta.url));

test('pull policy: Kubernetes defaults, --pull words, imported images are never pulled', (t) => {
  t.is(defaultPullPolicy('nginx'), 'Always');
  t.is(defaultPullPolicy('nginx:latest'), 'Always');
  t.is(defaultPullPolicy('localhost:5000/app'), 'Always', 'the port is no tag');
  t.is(defaultPullPolicy('localhost:5000/app:v1'), 'IfNotPresent');
  t.is(defaultPullPolicy('nginx:1.25'), 'IfNotPresent');
  t.is(defaultPullPolicy(`nginx@sha256:${'a'.repeat(64)}`), 'IfNotPresent');
  t.is(parseRunPull('always'), 'Always');
  t.is(parseRunPull('missing'), 'IfNotPresent');
  t.is(parseRunPull('never'), 'Never');
  t.throws(() => parseRunPull('sometimes'), { message: '--pull "sometimes" is not one of always, missing, never' });
  t.throws(() => parseRunPull('constructor'), { message: /not one of/ });
  t.true(needsPull('Always', 'layers'));
  t.true(needsPull('IfNotPresent', undefined));
  t.false(needsPull('IfNotPresent', 'layers'));
  t.false(needsPull('Never', undefined));
  t.false(needsPull('Always', 'rootfs'), 'an imported rootfs is local');
});

if (busyboxAvailable()) {
  test('du counts each part once; prune removes unnamed images nothing uses, and dead work dirs', async (t) => {
    const d = mkdtempSync(join(tmpdir(), 'podns-test-usage-'));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    const store = join(d, 'store');
    const root = join(d, 'root');
    const src = makeBusyboxRootfs(join(d, 'bb'));
    const a = await importImage({ root, store, name: 'bb', source: src });
    const b = await importImage({ root, store, name: 'bb', source: src }); // a is now unnamed
    await importImage({ root, store, name: 'used', source: src });
    const used = listImages({ store }).find((i) => i.ref === 'used:latest')!;
    mkdirSync(join(root, 'pods', 'p', 'containers', 'c'), { recursive: true });
    writeFileSync(join(root, 'pods', 'p', 'containers', 'c', 'config.json'), JSON.stringify({ name: 'c', image: 'x', imageId: a.id }));
    mkdirSync(join(store, 'tmp', 'pull-99999999-x'), { recursive: true });
    const before = storeUsage({ store });
    t.is(before.images, 3);
    t.true(before.parts.find((p) => p.part === 'images')!.bytes > 3 * 1_000_000);
    t.is(before.total, before.parts.reduce((n, p) => n + p.bytes, 0));
    let r = await pruneImages({ root, store });
    t.deepEqual(r.images, [], 'the unnamed image a container uses stays');
    t.is(r.temp.length, 1);
    rmSync(join(root, 'pods'), { recursive: true });
    r = await pruneImages({ root, store });
    t.deepEqual(r.images, [a.id]);
    t.deepEqual(listImages({ store }).map((i) => i.id).sort(), [b.id, used.id].sort());
    // the CLI
    const cli = (...args: string[]) => execa('node', [BIN, ...args], { reject: false, env: { PODNS_ROOT: root, PODNS_STORE: store } });
    let c = await cli('image', 'du');
    t.is(c.exitCode, 0, c.stderr);
    t.regex(c.stdout, /^PART\s+SIZE\s+ENTRIES\n/);
    t.regex(c.stdout, /\nimages\s+[\d.]+MB\s+2\n/);
    t.regex(c.stdout, /\ntotal\s+[\d.]+MB\s+2 images$/);
    c = await cli('image', 'prune', '--all');
    t.is(c.exitCode, 0, c.stderr);
    t.is(c.stdout.split('\n').filter((l) => l.startsWith('Deleted: ')).length, 2);
    t.deepEqual(listImages({ store }), []);
    c = await cli('image', 'du', '-o', 'json');
    t.is((JSON.parse(c.stdout) as { images: number }).images, 0);
  });
}
