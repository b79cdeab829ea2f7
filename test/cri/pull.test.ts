// CRI PullImage with auth against Debian's real docker-registry on loopback (htpasswd, the image tests'
// helpers): without credentials refused, with AuthConfig (username/password, or auth as base64) pulled; then
// ImageStatus and ListImages show it with repo_tags, repo_digests and size, a container runs from it, and
// RemoveImage removes it.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveCri, type CriServer } from '../../src/cri/index.js';
import { makeOciImage, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';
import { skipReason } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { criClient, type CriClient, type Msg } from './client.js';
import { criEnv, sandboxConfig } from './env.js';

const missing = registryToolsMissing() ?? skipReason() ?? (existsSync('/usr/bin/htpasswd') ? undefined : 'htpasswd missing; apt install apache2-utils');

let e: TestEnv & { logDir: string; work: string };
let server: CriServer;
let c: CriClient;
let reg: RunningRegistry;
let dir = '';

if (missing !== undefined) {
  test.skip(`CRI pull tests [skipped: ${missing}]`, () => {});
} else {
  test.before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'podns-cri-pull-'));
    const ht = await execa('htpasswd', ['-Bbn', 'kube', 'pa55:word']);
    writeFileSync(join(dir, 'htpasswd'), ht.stdout + '\n');
    reg = await startRegistry(join(dir, 'registry'), { htpasswd: join(dir, 'htpasswd') });
    const { layout } = await makeOciImage(join(dir, 'img'), { files: { '/etc/hello': 'hello from the registry\n' } });
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/team/busybox:v1`, ['--dest-tls-verify=false', '--dest-creds', 'kube:pa55:word']);
    e = await criEnv('cripull', 153);
    const socket = join(e.work, 'cri.sock');
    server = await serveCri({ root: e.root, store: e.store, bridge: e.bridge, subnet: e.subnet, listen: `unix://${socket}`, log: () => undefined });
    c = criClient(socket);
  });
  test.after.always(async () => {
    c?.close();
    await server?.close();
    await reg?.stop();
    if (e) await e.cleanup();
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  test.serial('PullImage: refused without credentials, pulled with AuthConfig; ImageStatus, ListImages, a container from it, RemoveImage', async (t) => {
    const ref = `${reg.host}/team/busybox:v1`;
    const denied = await t.throwsAsync(c.img('PullImage', { image: { image: ref } }));
    t.log(denied?.message);
    t.regex(denied?.message ?? '', /401|credentials|unauthorized|log in/i);
    t.is((await c.img('ImageStatus', { image: { image: ref } })).image, null, 'nothing stored by the refused pull');
    const wrong = await t.throwsAsync(c.img('PullImage', { image: { image: ref }, auth: { username: 'kube', password: 'nope' } }));
    t.regex(wrong?.message ?? '', /401|refused|credentials/i);

    const { image_ref } = await c.img('PullImage', { image: { image: ref }, auth: { username: 'kube', password: 'pa55:word' } });
    t.regex(image_ref, /^sha256:[0-9a-f]{64}$/);
    // the same again through auth (base64 "user:password"), as kubelet sends a docker config's entry
    const again = await c.img('PullImage', { image: { image: ref }, auth: { auth: Buffer.from('kube:pa55:word').toString('base64') } });
    t.is(again.image_ref, image_ref);

    const st = (await c.img('ImageStatus', { image: { image: ref } })).image;
    t.is(st.id, image_ref);
    t.deepEqual(st.repo_tags, [ref]);
    t.is(st.repo_digests.length, 1);
    t.regex(st.repo_digests[0], new RegExp(`^${reg.host.replace(/\./g, '\\.')}/team/busybox@sha256:[0-9a-f]{64}$`));
    t.true(Number(st.size) > 100_000, `size ${st.size}`);
    t.is((await c.img('ImageStatus', { image: { image: image_ref } })).image.id, image_ref, 'found by its id (kubelet\'s image_ref)');
    const list = (await c.img('ListImages', {})).images.map((i: Msg) => i.id);
    t.true(list.includes(image_ref));

    const sbCfg = sandboxConfig('pulled');
    const { pod_sandbox_id } = await c.rt('RunPodSandbox', { config: sbCfg });
    const { container_id } = await c.rt('CreateContainer', { pod_sandbox_id, sandbox_config: sbCfg, config: { metadata: { name: 'p', attempt: 0 }, image: { image: image_ref }, command: ['/bin/busybox', 'sleep', '1000'] } });
    await c.rt('StartContainer', { container_id });
    const r = await c.rt('ExecSync', { container_id, cmd: ['/bin/busybox', 'cat', '/etc/hello'], timeout: 10 });
    t.is(Buffer.from(r.stdout).toString(), 'hello from the registry\n');
    await c.rt('RemovePodSandbox', { pod_sandbox_id });

    await c.img('RemoveImage', { image: { image: ref } });
    t.is((await c.img('ImageStatus', { image: { image: ref } })).image, null);
  });

  test.serial('PullImage: an empty reference or a bad auth is INVALID_ARGUMENT', async (t) => {
    const empty = await t.throwsAsync(c.img('PullImage', { image: { image: '' } }));
    t.is((empty as Msg).code, 3);
    const bad = await t.throwsAsync(c.img('PullImage', { image: { image: `${reg.host}/team/busybox:v1` }, auth: { auth: Buffer.from('no-colon').toString('base64') } }));
    t.is((bad as Msg).code, 3);
    t.regex(bad?.message ?? '', /base64 of "username:password"/);
    const tok = await t.throwsAsync(c.img('PullImage', { image: { image: `${reg.host}/team/busybox:v1` }, auth: { registry_token: 'has space' } }));
    t.is((tok as Msg).code, 3);
  });
}
