// `podns image pull`, `run --pull`, a manifest's imagePullPolicy, `image ls/rm/prune` and `gc` of pulled images,
// through the CLI, against Debian's docker-registry on 127.0.0.1 inside the test sandbox (test/helpers/registry.ts)
// with images made by umoci from busybox-static.
import test, { type ExecutionContext } from 'ava';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LayerStore } from '../../src/image/layers/store.js';
import { MANIFEST_ACCEPT, MediaType } from '../../src/image/oci.js';
import { createHash } from 'node:crypto';
import { readNames } from '../../src/image/records.js';
import { createTestPod, useContainerEnv } from '../container/env.js';
import type { TestEnv } from '../pod/env.js';
import { logsOf } from '../helpers/logs.js';
import { skipReason } from '../helpers/root.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { getJson, makeOciImage, makeRootfsImage, putManifest, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason();
let E: TestEnv | undefined;
let reg: RunningRegistry | undefined;
let layout = '';
let multiIndex = '';
const plain = ['--dest-tls-verify=false'];
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** t/busybox:v1 and :latest = busybox + /etc/hello; t/second:v1 = those two layers + /etc/second; t/moving:latest. */
useContainerEnv('pullcli', 182, async (env, work) => {
  if (registryToolsMissing() !== undefined) return;
  E = env;
  reg = await startRegistry(join(work, 'registry'));
  ({ layout } = await makeOciImage(join(work, 'img'), { files: { '/etc/hello': 'hello v1\n' } }));
  const f = join(work, 'second.txt');
  writeFileSync(f, 'second image\n');
  await execa('umoci', ['insert', '--image', `${layout}:latest`, '--tag', 'second', f, '/etc/second']);
  await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/busybox:v1`, plain);
  await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/busybox:latest`, plain);
  await skopeoCopy(`oci:${layout}:second`, `docker://${reg.host}/t/second:v1`, plain);
  await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/moving:latest`, plain);
  // a multi-platform index: this host's image and an arm64 one (its config says so)
  const arm = await makeOciImage(join(work, 'arm'), { arch: 'arm64', files: { '/etc/hello': 'arm\n' } });
  await skopeoCopy(`oci:${arm.layout}:latest`, `docker://${reg.host}/t/multi:arm64`, plain);
  await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/t/multi:host`, plain);
  const a = await getJson(reg.host, '/v2/t/multi/manifests/host', MediaType.ociManifest);
  const b = await getJson(reg.host, '/v2/t/multi/manifests/arm64', MediaType.ociManifest);
  const hostArch = process.arch === 'arm64' ? 'arm64' : 'amd64';
  const sha = (x: Buffer): string => `sha256:${createHash('sha256').update(x).digest('hex')}`;
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2, mediaType: MediaType.ociIndex,
    manifests: [
      { mediaType: MediaType.ociManifest, digest: sha(b.body), size: b.body.length, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      ...(hostArch === 'amd64' ? [{ mediaType: MediaType.ociManifest, digest: sha(a.body), size: a.body.length, platform: { os: 'linux', architecture: 'amd64' } }] : []),
    ],
  }));
  multiIndex = await putManifest(reg.host, 't/multi', 'latest', index, MediaType.ociIndex);
  // images with a USER: by name (from the image's /etc/passwd), numeric, and one the image does not know
  const rootfs = makeBusyboxRootfs(join(work, 'user-rootfs'), { files: { 'etc/group': 'root:x:0:\nnogroup:x:65534:\nstaff:x:50:\n' } });
  for (const [tag, user] of [['named', 'nobody'], ['withgroup', 'nobody:staff'], ['numeric', '1234:5678'], ['ghost', 'ghost']] as const) {
    const img = await makeRootfsImage(join(work, `user-${tag}`), rootfs, { cmd: ['id'], user });
    await skopeoCopy(`oci:${img.layout}:latest`, `docker://${reg.host}/t/user:${tag}`, plain);
  }
});

test.after.always(async () => {
  await reg?.stop();
});

function serial(title: string, fn: (t: ExecutionContext, e: TestEnv, r: RunningRegistry) => Promise<void>): void {
  if (missing !== undefined) test.skip(`${title} [skipped: ${missing}]`, () => {});
  else test.serial(title, (t) => fn(t, E!, reg!));
}

/** Pushes a new image under t/moving:latest (its /etc/hello says WHAT); returns its manifest digest. */
async function movePush(r: RunningRegistry, what: string): Promise<string> {
  const f = join(E!.root, '..', `moving-${what}.txt`);
  writeFileSync(f, `${what}\n`);
  await execa('umoci', ['insert', '--image', `${layout}:latest`, '--tag', `m-${what}`, f, '/etc/hello']);
  await skopeoCopy(`oci:${layout}:m-${what}`, `docker://${r.host}/t/moving:latest`, plain);
  const m = await getJson(r.host, '/v2/t/moving/manifests/latest', MANIFEST_ACCEPT.join(', '));
  return String(m.headers['docker-content-digest']);
}

function containerImage(e: TestEnv, pod: string, c: string): { imageId: string; imageLayers: string[] } {
  return JSON.parse(readFileSync(join(e.root, 'pods', pod, 'containers', c, 'config.json'), 'utf8')) as { imageId: string; imageLayers: string[] };
}

serial('image pull on a pipe: plain lines per step, the digest last; again: everything already there', async (t, e, r) => {
  const p = await e.cli(['image', 'pull', `${r.host}/t/busybox:v1`]);
  t.is(p.exitCode, 0, p.stderr);
  const lines = p.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, new RegExp(`^${r.host}/t/busybox:v1: sha256:[a-f0-9]{64} \\(2 layers, [\\d.]+[kM]?B\\)$`));
  t.is(lines.filter((l) => /^layer [12] [a-f0-9]{12}: downloaded [\d.]+[kM]?B in \d+\.\ds$/.test(l)).length, 2, p.stdout);
  t.is(lines.filter((l) => /^layer [12] [a-f0-9]{12}: unpacked$/.test(l)).length, 2, p.stdout);
  t.false(p.stdout.includes('\u001b'), 'no escape sequences on a pipe');
  const digest = lines.at(-1)!.replace(/^Digest: /, '');
  t.regex(digest, DIGEST);
  t.is(readNames(e.store)[`${r.host}/t/busybox:v1`], digest);
  const again = await e.cli(['image', 'pull', `${r.host}/t/busybox:v1`]);
  t.is(again.exitCode, 0, again.stderr);
  t.is(again.stdout.split('\n').filter((l) => /: already downloaded \(/.test(l)).length, 2, again.stdout);
  t.is(again.stdout.split('\n').filter((l) => /: already unpacked$/.test(l)).length, 2, again.stdout);
  t.is(again.stdout.trimEnd().split('\n').at(-1), `Digest: ${digest}`);
});

serial('image pull --quiet prints only the digest; -o json the result; ls shows REPOSITORY TAG DIGEST SIZE CREATED', async (t, e, r) => {
  const q = await e.cli(['image', 'pull', '-q', `${r.host}/t/busybox:v1`]);
  t.is(q.exitCode, 0, q.stderr);
  t.regex(q.stdout, /^sha256:[a-f0-9]{64}$/, 'one line (execa drops its newline)');
  const j = await e.cli(['image', 'pull', '-o', 'json', `${r.host}/t/busybox:v1`]);
  t.is(j.exitCode, 0, j.stderr);
  const res = JSON.parse(j.stdout) as { ref: string; id: string; digest: string; record: { kind: string; layers: unknown[] } };
  t.like(res, { ref: `${r.host}/t/busybox:v1`, id: q.stdout.trim(), digest: q.stdout.trim(), record: { kind: 'layers' } });
  const ls = await e.cli(['image', 'ls']);
  t.is(ls.exitCode, 0, ls.stderr);
  const [head, ...rows] = ls.stdout.trimEnd().split('\n');
  t.regex(head!, /^REPOSITORY\s+TAG\s+DIGEST\s+SIZE\s+CREATED$/);
  const row = rows.find((l) => l.startsWith(`${r.host}/t/busybox `))!;
  t.regex(row, new RegExp(`^${r.host}/t/busybox\\s+v1\\s+sha256:${res.id.slice(7, 19)}\\s+[\\d.]+[kM]?B\\s+(Less than a second|\\d+ (seconds?|minutes)|About a minute) ago$`));
  const insp = await e.cli(['image', 'inspect', `${r.host}/t/busybox:v1`]);
  t.is(insp.exitCode, 0, insp.stderr);
  const rec = (JSON.parse(insp.stdout) as Array<{ id: string; kind: string; names: string[]; layers: Array<{ chainId: string }> }>)[0]!;
  t.like(rec, { id: res.id, kind: 'layers', names: [`${r.host}/t/busybox:v1`] });
  t.is(rec.layers.length, 2);
});

serial('reference forms: no tag is :latest, @sha256 pulls and runs by digest; a bad reference is one line and makes nothing', async (t, e, r) => {
  const p = await e.cli(['image', 'pull', '-q', `${r.host}/t/busybox`]);
  t.is(p.exitCode, 0, p.stderr);
  const digest = p.stdout.trim();
  t.is(readNames(e.store)[`${r.host}/t/busybox:latest`], digest);
  const byDigest = await e.cli(['image', 'pull', `${r.host}/t/busybox@${digest}`]);
  t.is(byDigest.exitCode, 0, byDigest.stderr);
  t.is(byDigest.stdout.trimEnd().split('\n').at(-1), `Digest: ${digest}`);
  t.is(readNames(e.store)[`${r.host}/t/busybox@${digest}`], digest);
  const ls = await e.cli(['image', 'ls']);
  t.regex(ls.stdout, new RegExp(`\\n${r.host}/t/busybox\\s+<none>\\s+sha256:${digest.slice(7, 19)}\\s`));
  await createTestPod(e, 'bydigest');
  const run = await e.cli(['run', 'bydigest', '--name', 'c', '--image', `${r.host}/t/busybox@${digest}`, '--pull', 'never', '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(run.exitCode, 0, run.stderr);
  t.regex(await logsOf(e, 'bydigest', 'c', /hello/), /hello v1/);
  t.is((await e.cli(['delete', '--grace', '0', 'bydigest'])).exitCode, 0);

  const before = readdirSync(e.store).sort();
  for (const [ref, re] of [
    [`${r.host}/T/Busybox`, /^podns image: invalid image reference "127\.0\.0\.1:\d+\/T\/Busybox": repository name must be lowercase$/],
    [`${r.host}/t/busybox@sha256:abc`, /^podns image: invalid image reference ".*": "sha256:abc" after '@' is not a digest/],
    [`${r.host}/t/busybox:-bad`, /^podns image: invalid image reference ".*": tag "-bad" must be/],
  ] as const) {
    const bad = await e.cli(['image', 'pull', ref]);
    t.is(bad.exitCode, 1, ref);
    t.regex(bad.stderr.trimEnd(), re);
    t.is(bad.stderr.trimEnd().split('\n').length, 1, bad.stderr);
    t.is(bad.stdout, '');
  }
  t.deepEqual(readdirSync(e.store).sort(), before, 'nothing made');
  const two = await e.cli(['image', 'pull', 'a', 'b']);
  t.is(two.exitCode, 2);
  t.regex(two.stderr, /give one image reference/);
  const unknown = await e.cli(['image', 'pull', `${r.host}/t/nosuch:v1`]);
  t.is(unknown.exitCode, 1);
  t.is(unknown.stderr.trimEnd().split('\n').length, 1, unknown.stderr);
  t.regex(unknown.stderr, /t\/nosuch/);
});

serial('run --pull: never fails cleanly when missing (no pod); missing pulls once; always asks the registry again', async (t, e, r) => {
  const ref = `${r.host}/t/moving:latest`;
  const never = await e.cli(['run', 'pn', '--name', 'c', '--image', ref, '--pull', 'never', '--', '/bin/busybox', 'true']);
  t.is(never.exitCode, 1);
  t.regex(never.stderr.trimEnd(), /^podns run: image "127\.0\.0\.1:\d+\/t\/moving:latest" not found; pull it \(podns image pull /);
  t.is(never.stderr.trimEnd().split('\n').length, 1);
  t.is((await e.cli(['get', '-o', 'name'])).stdout.includes('pod/pn'), false, 'no pod made');
  const badPull = await e.cli(['run', 'pn', '--name', 'c', '--image', ref, '--pull', 'sometimes', '--', 'true']);
  t.is(badPull.exitCode, 2);
  t.regex(badPull.stderr, /--pull "sometimes" is not one of always, missing, never/);

  await createTestPod(e, 'pm');
  const first = await e.cli(['run', 'pm', '--name', 'a', '--image', ref, '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(first.exitCode, 0, first.stderr);
  t.regex(first.stderr, /t\/moving:latest: sha256:[a-f0-9]{64} \(2 layers/, 'the pull shows its progress on stderr');
  t.regex(await logsOf(e, 'pm', 'a', /hello/), /hello v1/);
  const old = containerImage(e, 'pm', 'a').imageId;
  const moved = await movePush(r, 'v2');
  t.not(moved, old);
  const missingRun = await e.cli(['run', 'pm', '--name', 'b', '--image', ref, '--pull', 'missing', '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(missingRun.exitCode, 0, missingRun.stderr);
  t.is(missingRun.stderr, '', 'missing: the stored image, no registry request');
  t.is(containerImage(e, 'pm', 'b').imageId, old);
  const always = await e.cli(['run', 'pm', '--name', 'c', '--image', ref, '--pull', 'always', '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(always.exitCode, 0, always.stderr);
  t.is(containerImage(e, 'pm', 'c').imageId, moved);
  t.regex(await logsOf(e, 'pm', 'c', /v2/), /^v2$/m);
  t.is(readNames(e.store)[ref], moved);
  t.is((await e.cli(['delete', '--grace', '0', 'pm'])).exitCode, 0);
});

serial('imagePullPolicy in a manifest: Never refuses a missing image with its line; IfNotPresent pulls; no tag means Always', async (t, e, r) => {
  const dir = join(e.root, '..');
  const manifest = (image: string, policy?: string): string => `apiVersion: v1
kind: Pod
metadata:
  name: mpp
spec:
  restartPolicy: Never
  containers:
  - name: c
    image: ${image}
${policy !== undefined ? `    imagePullPolicy: ${policy}\n` : ''}    command: ["/bin/busybox", "cat", "/etc/hello"]
`;
  const file = join(dir, 'mpp.yaml');
  writeFileSync(file, manifest(`${r.host}/t/second:v1`, 'Never'));
  const never = await e.cli(['apply', '-f', file]);
  t.is(never.exitCode, 1);
  t.regex(never.stderr.trimEnd(), /^podns apply: .*mpp\.yaml:9: spec\.containers\[0\] \(c\): image "127\.0\.0\.1:\d+\/t\/second:v1" not found/);
  t.false((await e.cli(['get', '-o', 'name'])).stdout.includes('pod/mpp'));

  writeFileSync(file, manifest(`${r.host}/t/second:v1`, 'IfNotPresent'));
  const ifp = await e.cli(['apply', '-f', file, '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(ifp.exitCode, 0, ifp.stderr);
  t.truthy(readNames(e.store)[`${r.host}/t/second:v1`]);
  t.is((await e.cli(['delete', '--grace', '0', 'mpp'])).exitCode, 0);

  // no tag: Always, so the image moved on the registry is the one that runs
  const moved = await movePush(r, 'v3');
  writeFileSync(file, manifest(`${r.host}/t/moving`));
  const always = await e.cli(['apply', '-f', file, '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(always.exitCode, 0, always.stderr);
  t.is(containerImage(e, 'mpp', 'c').imageId, moved);
  t.regex(await logsOf(e, 'mpp', 'c', /v3/), /^v3$/m);
  t.is((await e.cli(['delete', '--grace', '0', 'mpp'])).exitCode, 0);
});

serial('two images sharing a base: rm of one keeps the base; rm refuses while a container uses it; prune removes the unreferenced', async (t, e, r) => {
  await e.cli(['image', 'pull', '-q', `${r.host}/t/busybox:v1`]);
  const second = (await e.cli(['image', 'pull', '-q', `${r.host}/t/second:v1`])).stdout.trim();
  const layers = new LayerStore(e.store);
  const rec = JSON.parse((await e.cli(['image', 'inspect', `${r.host}/t/second:v1`])).stdout)[0] as { layers: Array<{ chainId: string; digest: string }> };
  t.is(rec.layers.length, 3);
  await createTestPod(e, 'user');
  const run = await e.cli(['run', 'user', '--name', 'c', '--image', `${r.host}/t/second:v1`, '--', '/bin/busybox', 'sleep', '600']);
  t.is(run.exitCode, 0, run.stderr);
  const refused = await e.cli(['image', 'rm', `${r.host}/t/second:v1`]);
  t.is(refused.exitCode, 1);
  t.regex(refused.stderr, /cannot remove image "127\.0\.0\.1:\d+\/t\/second:v1": container user\/c uses it; delete the pod first, or use --force/);
  // forced: the name goes, the image and its layers stay while the container runs; prune keeps them too
  const forced = await e.cli(['image', 'rm', '--force', `${r.host}/t/second:v1`]);
  t.is(forced.exitCode, 0, forced.stderr);
  t.regex(forced.stdout, /^Untagged: /);
  await e.cli(['image', 'prune']);
  for (const l of rec.layers) t.truthy(layers.get(l.chainId), 'a running container\'s layers are never collected');
  t.is((await e.cli(['delete', '--grace', '0', 'user'])).exitCode, 0);
  // now unused and unnamed: prune removes the image, its own layer and blob, not the shared base
  const pr = await e.cli(['image', 'prune']);
  t.is(pr.exitCode, 0, pr.stderr);
  t.regex(pr.stdout, new RegExp(`^Deleted: ${second}$`, 'm'));
  t.regex(pr.stdout, new RegExp(`^Deleted layer: ${rec.layers[2]!.chainId}$`, 'm'));
  t.regex(pr.stdout, new RegExp(`^Deleted blob: ${rec.layers[2]!.digest}$`, 'm'));
  t.falsy(layers.get(rec.layers[2]!.chainId));
  t.truthy(layers.get(rec.layers[0]!.chainId));
  t.truthy(layers.get(rec.layers[1]!.chainId));
  t.true(existsSync(join(e.store, 'blobs', 'sha256', rec.layers[0]!.digest.slice(7))));
  // the base image still runs
  await createTestPod(e, 'base');
  const again = await e.cli(['run', 'base', '--name', 'c', '--image', `${r.host}/t/busybox:v1`, '--pull', 'never', '--', '/bin/busybox', 'cat', '/etc/hello']);
  t.is(again.exitCode, 0, again.stderr);
  t.regex(await logsOf(e, 'base', 'c', /hello/), /hello v1/);
  t.is((await e.cli(['delete', '--grace', '0', 'base'])).exitCode, 0);
  // rm of a second name keeps the image; rm of the last removes what only it used
  const rm = await e.cli(['image', 'rm', `${r.host}/t/busybox:v1`]);
  t.is(rm.exitCode, 0, rm.stderr);
});

serial('the image\'s USER: a name from its /etc/passwd (and /etc/group), numeric ids; --user wins; an unknown name is one line', async (t, e, r) => {
  await createTestPod(e, 'users');
  for (const [tag, want] of [['named', 'uid=65534(nobody) gid=65534(nogroup)'], ['withgroup', 'uid=65534(nobody) gid=50(staff)'], ['numeric', 'uid=1234 gid=5678']] as const) {
    const run = await e.cli(['run', 'users', '--name', tag, '--image', `${r.host}/t/user:${tag}`]);
    t.is(run.exitCode, 0, run.stderr);
    t.regex(await logsOf(e, 'users', tag, /uid=/), new RegExp(`^${want.replace(/[()]/g, '\\$&')}`), tag);
  }
  const root = await e.cli(['run', 'users', '--name', 'asroot', '--image', `${r.host}/t/user:named`, '--user', '0']);
  t.is(root.exitCode, 0, root.stderr);
  t.regex(await logsOf(e, 'users', 'asroot', /uid=/), /^uid=0\(root\)/);
  const ghost = await e.cli(['run', 'users', '--name', 'ghost', '--image', `${r.host}/t/user:ghost`]);
  t.is(ghost.exitCode, 1);
  t.regex(ghost.stderr.trimEnd().split('\n').at(-1)!, /^podns run: image "127\.0\.0\.1:\d+\/t\/user:ghost": the image's user "ghost" is not in its \/etc\/passwd; give a numeric user \(--user UID\[:GID\] \/ runAsUser\)$/);
  t.false(existsSync(join(e.root, 'pods', 'users', 'containers', 'ghost')), 'nothing made');
  t.is((await e.cli(['delete', '--grace', '0', 'users'])).exitCode, 0);
});

serial('--platform picks from a multi-platform index; the digest printed is the index\'s; a missing platform lists those there', async (t, e, r) => {
  const arm = await e.cli(['image', 'pull', '--platform', 'linux/arm64', `${r.host}/t/multi:latest`]);
  t.is(arm.exitCode, 0, arm.stderr);
  t.is(arm.stdout.trimEnd().split('\n').at(-1), `Digest: ${multiIndex}`);
  t.regex(arm.stdout, /\(1\.\d+MB, linux\/arm64(\/v8)?\)/);
  const rec = (JSON.parse((await e.cli(['image', 'inspect', `${r.host}/t/multi:latest`])).stdout) as Array<{ id: string; indexDigest: string; platform: string }>)[0]!;
  t.is(rec.indexDigest, multiIndex);
  t.not(rec.id, multiIndex);
  t.regex(rec.platform, /^linux\/arm64/);
  const ls = await e.cli(['image', 'ls']);
  t.regex(ls.stdout, new RegExp(`\\n${r.host}/t/multi\\s+latest\\s+sha256:${multiIndex.slice(7, 19)}\\s`), 'DIGEST is what pull printed');
  const none = await e.cli(['image', 'pull', '--platform', 'linux/s390x', `${r.host}/t/multi:latest`]);
  t.is(none.exitCode, 1);
  t.is(none.stderr.trimEnd().split('\n').length, 1, none.stderr);
  t.regex(none.stderr, /linux\/s390x/);
  t.regex(none.stderr, /linux\/arm64/, 'the platforms there are listed');
  const bad = await e.cli(['image', 'pull', '--platform', 'linux', `${r.host}/t/multi:latest`]);
  t.not(bad.exitCode, 0);
  t.is(bad.stderr.trimEnd().split('\n').length, 1, bad.stderr);
  // rm by a digest reference no name holds (the index digest): the image goes, with its names
  const rm = await e.cli(['image', 'rm', `${r.host}/t/multi@${multiIndex}`]);
  t.is(rm.exitCode, 0, rm.stderr);
  t.regex(rm.stdout, /^Deleted: /);
  t.false(Object.hasOwn(readNames(e.store), `${r.host}/t/multi:latest`));
  t.is((await e.cli(['image', 'inspect', rec.id])).exitCode, 1);
});

serial('--insecure-registry and PODNS_INSECURE_REGISTRIES: a bad host is one usage line, nothing made', async (t, e, r) => {
  const before = readdirSync(e.store).sort();
  const flag = await e.cli(['image', 'pull', '--insecure-registry', 'bad host!', `${r.host}/t/busybox:v1`]);
  t.is(flag.exitCode, 2);
  t.is(flag.stderr.trimEnd(), 'podns image: insecure registry "bad host!" is not a host or host:port (e.g. registry.local:5000)');
  const env = await e.cli(['image', 'pull', `${r.host}/t/busybox:v1`], { PODNS_INSECURE_REGISTRIES: 'ok.example:5000, x/y' });
  t.is(env.exitCode, 2);
  t.regex(env.stderr, /insecure registry "x\/y" is not a host or host:port/);
  t.deepEqual(readdirSync(e.store).sort(), before);
  const ok = await e.cli(['image', 'pull', '-q', '--insecure-registry', r.host, '--insecure-registry', 'registry.local:5000', `${r.host}/t/busybox:v1`]);
  t.is(ok.exitCode, 0, ok.stderr);
});

serial('gc removes a dead pull\'s partial download', async (t, e) => {
  const partial = join(e.store, 'ingest', `sha256-${'ab'.repeat(32)}`);
  writeFileSync(partial, 'half a blob');
  const gc = await e.cli(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.regex(gc.stdout, /removed partial download sha256-(ab){32} \(no live pull holds it\)/);
  t.false(existsSync(partial));
});

serial('registry stopped: run from the store works (a warning), a pull is one clear line', async (t, e, r) => {
  const ref = `${r.host}/t/busybox:latest`;
  t.is((await e.cli(['image', 'pull', '-q', ref])).exitCode, 0);
  await r.stop();
  try {
    await createTestPod(e, 'offline');
    const run = await e.cli(['run', 'offline', '--name', 'c', '--image', ref, '--pull', 'always', '--', '/bin/busybox', 'cat', '/etc/hello']);
    t.is(run.exitCode, 0, run.stderr);
    t.regex(run.stderr, /^podns run: warning: .*t\/busybox:latest: the registry cannot be reached .*; using the stored sha256:/m);
    t.regex(await logsOf(e, 'offline', 'c', /hello/), /hello v1/);
    const missingRun = await e.cli(['run', 'offline', '--name', 'd', '--image', ref, '--', '/bin/busybox', 'true']);
    t.is(missingRun.exitCode, 0, missingRun.stderr);
    t.is((await e.cli(['delete', '--grace', '0', 'offline'])).exitCode, 0);
    const pull = await e.cli(['image', 'pull', `${r.host}/t/second:v1`]);
    t.is(pull.exitCode, 1);
    t.is(pull.stderr.trimEnd().split('\n').length, 1, pull.stderr);
    t.regex(pull.stderr, /^podns image: .*127\.0\.0\.1:\d+.*(ECONNREFUSED|refused|cannot)/);
  } finally {
    await r.start();
  }
});
