// CRI images from a registry: PullImage with auth, ImageStatus (a missing image: image null), ListImages,
// RemoveImage (idempotent; the image's own blobs and layers go, what another image shares stays), against
// Debian's real docker-registry on loopback (htpasswd, the image tests' helpers). Every test runs against
// podns and against containerd's CRI (test/cri/endpoint.ts); containerd pulls from the loopback registry over
// plain HTTP through a hosts.toml in its registry config_path (test/cri/containerd.ts plainHttpRegistry).
// The store's insides (blobs, unpacked layers, the gc lock) are checked on podns only.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { ContentStore } from '../../src/image/content/store.js';
import { withStoreLock } from '../../src/image/gc.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { inspectImage } from '../../src/image/index.js';
import { makeOciImage, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import type { Msg } from './client.js';
import { codeOf, criSuite, type CriEndpoint } from './endpoint.js';

const missing = registryToolsMissing() ?? (existsSync('/usr/bin/htpasswd') ? undefined : 'htpasswd missing; apt install apache2-utils');
const AUTH = { username: 'kube', password: 'pa55:word' };

let reg: RunningRegistry | undefined;
let dir = '';

/** the registry, reachable by ep's CRI (containerd: over plain HTTP, as its hosts.toml says) */
function registry(ep: CriEndpoint): RunningRegistry {
  if (reg === undefined) throw new Error('the registry did not start');
  ep.containerd?.plainHttpRegistry(reg.host);
  return reg;
}

/** the blobs the endpoint's content store holds (podns: STORE/blobs; containerd: its content store) */
async function blobs(ep: CriEndpoint): Promise<Set<string>> {
  if (ep.podns !== undefined) return new Set(new ContentStore(ep.podns.env.store).list());
  return new Set((await ep.containerd!.ctr(['content', 'ls', '-q'])).split('\n').map((l) => l.trim()).filter((l) => l.startsWith('sha256:')));
}

const minus = (a: Set<string>, b: Set<string>): string[] => [...a].filter((x) => !b.has(x)).sort();

async function runFrom(ep: CriEndpoint, name: string, image: string, file: string): Promise<string> {
  const sb = ep.sandboxConfig(name);
  const { pod_sandbox_id } = await ep.rt('RunPodSandbox', { config: sb });
  try {
    const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id, sandbox_config: sb, config: ep.containerConfig('p', ['/bin/busybox', 'sleep', '1000'], { image: { image } }) });
    await ep.rt('StartContainer', { container_id });
    const r = await ep.rt('ExecSync', { container_id, cmd: ['/bin/busybox', 'cat', file], timeout: 10 });
    return Buffer.from(r.stdout).toString();
  } finally {
    await ep.rt('StopPodSandbox', { pod_sandbox_id });
    await ep.rt('RemovePodSandbox', { pod_sandbox_id });
  }
}

if (missing !== undefined) {
  test.skip(`CRI pull tests [skipped: ${missing}]`, () => {});
} else {
  const criTest = criSuite({ tag: 'cripull', octet: 153 });

  // team/busybox:v1 = busybox + /etc/hello; team/second:v1 = those two layers + /etc/second (a shared base)
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podns-cri-pull-'));
    const ht = await execa('htpasswd', ['-Bbn', AUTH.username, AUTH.password]);
    writeFileSync(join(dir, 'htpasswd'), ht.stdout + '\n');
    reg = await startRegistry(join(dir, 'registry'), { htpasswd: join(dir, 'htpasswd') });
    const { layout } = await makeOciImage(join(dir, 'img'), { files: { '/etc/hello': 'hello from the registry\n' } });
    const f = join(dir, 'second.txt');
    writeFileSync(f, 'second image\n');
    await execa('umoci', ['insert', '--image', `${layout}:latest`, '--tag', 'second', f, '/etc/second']);
    const creds = ['--dest-tls-verify=false', '--dest-creds', `${AUTH.username}:${AUTH.password}`];
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/team/busybox:v1`, creds);
    await skopeoCopy(`oci:${layout}:second`, `docker://${reg.host}/team/second:v1`, creds);
  });
  test.after.always(async () => {
    await reg?.stop();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  criTest('PullImage: refused without credentials, pulled with AuthConfig; ImageStatus, ListImages, a container from it, RemoveImage (twice)', async (t, ep) => {
    const r = registry(ep);
    const ref = `${r.host}/team/busybox:v1`;
    const denied = await t.throwsAsync(ep.img('PullImage', { image: { image: ref } }));
    t.log(denied?.message);
    t.regex(denied?.message ?? '', /401|credentials|unauthorized|log in/i);
    t.is((await ep.img('ImageStatus', { image: { image: ref } })).image, null, 'nothing stored by the refused pull; a missing image is image null');
    const wrong = await t.throwsAsync(ep.img('PullImage', { image: { image: ref }, auth: { username: 'kube', password: 'nope' } }));
    t.regex(wrong?.message ?? '', /401|refused|credentials|unauthorized/i);

    const { image_ref } = await ep.img('PullImage', { image: { image: ref }, auth: AUTH });
    // podns: the manifest digest; containerd: the config digest. Both are the image's id in ImageStatus.
    t.regex(image_ref, /^sha256:[0-9a-f]{64}$/);
    // the same again through auth (base64 "user:password"), as kubelet sends a docker config's entry
    const again = await ep.img('PullImage', { image: { image: ref }, auth: { auth: Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64') } });
    t.is(again.image_ref, image_ref);

    const st = (await ep.img('ImageStatus', { image: { image: ref } })).image;
    t.is(st.id, image_ref);
    t.deepEqual(st.repo_tags, [ref]);
    t.is(st.repo_digests.length, 1);
    t.regex(st.repo_digests[0], new RegExp(`^${r.host.replace(/\./g, '\\.')}/team/busybox@sha256:[0-9a-f]{64}$`));
    t.true(Number(st.size) > 100_000, `size ${st.size}`);
    t.is((await ep.img('ImageStatus', { image: { image: image_ref } })).image.id, image_ref, 'found by its id (kubelet\'s image_ref)');
    const list = (await ep.img('ListImages', {})).images as Msg[];
    t.true(list.some((i) => i.id === image_ref && i.repo_tags.includes(ref)));
    // the filter: podns applies it; containerd 1.6 ignores it (kubelet never sends one)
    const filtered = (await ep.img('ListImages', { filter: { image: { image: ref } } })).images.map((i: Msg) => i.id) as string[];
    if (ep.kind === 'podns') t.deepEqual(filtered, [image_ref], 'filtered by name');
    else t.true(filtered.includes(image_ref));

    t.is(await runFrom(ep, 'pulled', image_ref, '/etc/hello'), 'hello from the registry\n');

    await ep.img('RemoveImage', { image: { image: ref } });
    t.is((await ep.img('ImageStatus', { image: { image: ref } })).image, null);
    t.is((await ep.img('ImageStatus', { image: { image: image_ref } })).image, null, 'gone by its id too');
    t.false(((await ep.img('ListImages', {})).images as Msg[]).some((i) => i.id === image_ref));
    await ep.img('RemoveImage', { image: { image: ref } });
    await ep.img('RemoveImage', { image: { image: image_ref } });
    t.pass('RemoveImage of an image not there: success');
  });

  criTest('PullImage: an empty reference or a bad auth is refused (INVALID_ARGUMENT on podns)', async (t, ep) => {
    const r = registry(ep);
    const empty = await t.throwsAsync(ep.img('PullImage', { image: { image: '' } }));
    t.log(ep.kind, codeOf(empty), empty?.message);
    const bad = await t.throwsAsync(ep.img('PullImage', { image: { image: `${r.host}/team/busybox:v1` }, auth: { auth: Buffer.from('no-colon').toString('base64') } }));
    t.log(ep.kind, codeOf(bad), bad?.message);
    if (ep.kind === 'podns') {
      t.is(codeOf(empty), status.INVALID_ARGUMENT);
      t.is(codeOf(bad), status.INVALID_ARGUMENT);
      t.regex(bad?.message ?? '', /base64 of "username:password"/);
      const tok = await t.throwsAsync(ep.img('PullImage', { image: { image: `${r.host}/team/busybox:v1` }, auth: { registry_token: 'has space' } }));
      t.is(codeOf(tok), status.INVALID_ARGUMENT);
    }
  });

  criTest('RemoveImage of one of two images sharing a base: its own content goes, the shared layers stay and the other still runs; then the other: nothing of either left', async (t, ep) => {
    const r = registry(ep);
    const first = `${r.host}/team/busybox:v1`;
    const second = `${r.host}/team/second:v1`;
    const before = await blobs(ep);
    const a = (await ep.img('PullImage', { image: { image: first }, auth: AUTH })).image_ref as string;
    const withFirst = await blobs(ep);
    const b = (await ep.img('PullImage', { image: { image: second }, auth: AUTH })).image_ref as string;
    const withBoth = await blobs(ep);
    t.not(a, b);
    t.is(minus(withBoth, withFirst).length, 3, 'the second image adds its manifest, config and one layer blob');
    const pod = ep.podns;
    const recA = pod !== undefined ? inspectImage({ store: pod.env.store, name: a }) : undefined;
    const recB = pod !== undefined ? inspectImage({ store: pod.env.store, name: b }) : undefined;

    await ep.img('RemoveImage', { image: { image: second } });
    t.is((await ep.img('ImageStatus', { image: { image: second } })).image, null);
    t.is((await ep.img('ImageStatus', { image: { image: first } })).image.id, a);
    t.deepEqual(minus(withBoth, await blobs(ep)), minus(withBoth, withFirst), 'exactly the second image\'s own blobs went');
    if (pod !== undefined && recA !== undefined && recB !== undefined) {
      const layers = new LayerStore(pod.env.store);
      const content = new ContentStore(pod.env.store);
      t.is(recB.layers!.length, 3);
      t.deepEqual(recB.layers!.slice(0, 2).map((l) => l.chainId), recA.layers!.map((l) => l.chainId), 'the second image is the first plus one layer');
      const own = recB.layers![2]!;
      t.falsy(layers.get(own.chainId), 'the second image\'s own layer is unpacked no more');
      t.false(content.has(own.digest), 'its layer blob is gone');
      t.false(content.has(b), 'its manifest is gone');
      t.false(content.has(recB.configDigest!), 'its config is gone');
      for (const l of recA.layers!) {
        t.truthy(layers.get(l.chainId), 'the shared layers stay');
        t.true(content.has(l.digest));
      }
    }
    t.is(await runFrom(ep, 'shared', first, '/etc/hello'), 'hello from the registry\n', 'the first image still runs');

    await ep.img('RemoveImage', { image: { image: a } });
    t.is((await ep.img('ImageStatus', { image: { image: first } })).image, null);
    if (pod !== undefined && recA !== undefined && recB !== undefined) {
      const layers = new LayerStore(pod.env.store);
      const content = new ContentStore(pod.env.store);
      for (const rec of [recA, recB]) {
        for (const l of rec.layers!) {
          t.falsy(layers.get(l.chainId), `layer ${l.chainId} gone`);
          t.false(content.has(l.digest), `blob ${l.digest} gone`);
        }
        t.false(content.has(rec.id));
        t.false(content.has(rec.configDigest!));
      }
    }
    t.deepEqual(minus(await blobs(ep), before), [], 'no blob of either image is left');
    const left = ((await ep.img('ListImages', {})).images as Msg[]).filter((i) => i.id === a || i.id === b);
    t.deepEqual(left, []);
  });

  criTest('RemoveImage of an image a container uses: its names go at once, its content when the container goes', async (t, ep) => {
    const r = registry(ep);
    const ref = `${r.host}/team/second:v1`;
    const before = await blobs(ep);
    const id = (await ep.img('PullImage', { image: { image: ref }, auth: AUTH })).image_ref as string;
    const sb = ep.sandboxConfig('inuse');
    const { pod_sandbox_id } = await ep.rt('RunPodSandbox', { config: sb });
    const { container_id } = await ep.rt('CreateContainer', { pod_sandbox_id, sandbox_config: sb, config: ep.containerConfig('c', ['/bin/busybox', 'sleep', '1000'], { image: { image: ref } }) });
    await ep.rt('StartContainer', { container_id });
    await ep.img('RemoveImage', { image: { image: ref } });
    t.is((await ep.img('ImageStatus', { image: { image: ref } })).image, null, 'the name is gone at once');
    t.false(((await ep.img('ListImages', {})).images as Msg[]).some((i) => i.repo_tags.includes(ref)));
    const r1 = await ep.rt('ExecSync', { container_id, cmd: ['/bin/busybox', 'cat', '/etc/second'], timeout: 10 });
    t.is(Buffer.from(r1.stdout).toString(), 'second image\n', 'the running container keeps its files');
    await ep.rt('StopPodSandbox', { pod_sandbox_id });
    await ep.rt('RemovePodSandbox', { pod_sandbox_id });
    t.deepEqual(minus(await blobs(ep), before), [], 'nothing of the image is left once its last container is gone');
    if (ep.podns !== undefined) {
      t.throws(() => inspectImage({ store: ep.podns!.env.store, name: id }), undefined, 'no record left either');
    }
  });

  criTest('RemoveImage waits for a pull in flight (the store\'s gc lock) and then collects', async (t, ep) => {
    const r = registry(ep);
    const ref = `${r.host}/team/second:v1`;
    const id = (await ep.img('PullImage', { image: { image: ref }, auth: AUTH })).image_ref as string;
    const store = ep.podns!.env.store;
    const own = inspectImage({ store, name: id }).layers![2]!;
    let release!: () => void;
    let held!: () => void;
    const holding = new Promise<void>((res) => (held = res));
    // what a pull or load in flight holds from its first blob to its record
    const pull = withStoreLock(store, 'sh', () => new Promise<void>((res) => {
      release = res;
      held();
    }));
    await holding;
    let done = false;
    const rm = ep.img('RemoveImage', { image: { image: ref } }).then(() => (done = true));
    await sleep(300);
    t.false(done, 'RemoveImage waits while a pull holds the lock');
    t.truthy(new LayerStore(store).get(own.chainId), 'nothing collected meanwhile');
    release();
    await pull;
    await rm;
    t.falsy(new LayerStore(store).get(own.chainId));
    t.is((await ep.img('ImageStatus', { image: { image: ref } })).image, null);
  }, { only: ['podns'] });
}
