// Explicit credentials (CRI PullImage's AuthConfig, a library caller) override the auth files: username and
// password, or a registry token sent as it is. Against the Node fake registry on loopback (its token server
// needs alice's password).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { LayerStore } from '../../src/image/layers/store.js';
import { pullImage } from '../../src/image/pull.js';
import { readNames } from '../../src/image/records.js';
import { pullToContent, RegistryError } from '../../src/image/registry/index.js';
import { FakeRegistry } from '../helpers/fake-registry.js';
import { skipReason } from '../helpers/root.js';
import { tarBuffer } from '../helpers/tar.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-creds-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function fake(t: { teardown(fn: () => Promise<void>): void }, o: ConstructorParameters<typeof FakeRegistry>[0]): Promise<FakeRegistry> {
  const f = new FakeRegistry(o);
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

const fast = { backoffMs: 10, attempts: 2 };
const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;

test('username and password given: used instead of the auth file (whose password is wrong), for the token request', async (t) => {
  const f = await fake(t, { auth: 'bearer', users: { alice: 's3cret' } });
  f.addImage('p/q', 'v1');
  const d = tmp(t);
  const auth = join(d, 'auth.json');
  writeFileSync(auth, JSON.stringify({ auths: { [f.host]: { username: 'alice', password: 'wrong' } } }));
  const r = await pullToContent({ ref: `${f.host}/p/q:v1`, store: new ContentStore(join(d, 's1')), authFile: auth, credentials: { username: 'alice', password: 's3cret' }, ...fast });
  t.is(r.layers.length, 1);
  t.is(f.requests.filter((q) => q.path.startsWith('/token')).at(-1)!.headers.authorization, basic('alice', 's3cret'));
  // the other way round: right file, wrong explicit credentials → refused, and the line says which credentials
  writeFileSync(auth, JSON.stringify({ auths: { [f.host]: { username: 'alice', password: 's3cret' } } }));
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/p/q:v1`, store: new ContentStore(join(d, 's2')), authFile: auth, credentials: { username: 'alice', password: 'nope' }, ...fast }), { instanceOf: RegistryError });
  t.is(err!.message, `${f.host}/p/q: the token server ${f.host} refused the credentials from the credentials given to the pull (HTTP 401); log in again`);
});

test('a registry token given: sent as the Bearer token, no token request, no auth file read', async (t) => {
  const f = await fake(t, { auth: 'bearer', users: { alice: 's3cret' } });
  f.addImage('p/q', 'v1');
  f.tokens.set('given-token-1', Date.now());
  const d = tmp(t);
  const r = await pullToContent({ ref: `${f.host}/p/q:v1`, store: new ContentStore(d), authFile: join(d, 'no-such-auth.json'), credentials: { registryToken: 'given-token-1' }, ...fast });
  t.is(r.layers.length, 1);
  t.is(f.count('GET', /^\/token/), 0);
  // the first request learns the challenge (401); every one after it carries the token
  t.true(f.requests.filter((q) => q.path.startsWith('/v2/p/q/')).slice(1).every((q) => q.headers.authorization === 'Bearer given-token-1'));
});

test('unusable explicit credentials: one usage line before any request', async (t) => {
  const f = await fake(t, { auth: 'bearer' });
  f.addImage('p/q', 'v1');
  const d = tmp(t);
  for (const [creds, re] of [
    [{ registryToken: 'a b' }, /^registry credentials: the registry token must be 1-16384 printable ASCII characters without spaces$/],
    [{ identityToken: '' }, /identity token must be/],
    [{ username: '', password: 'x' }, /a username \(not empty\) and a password are needed/],
    [{ username: 'a:b', password: 'x' }, /the username a ":"|control character/],
  ] as const) {
    const err = await t.throwsAsync(pullImage({ ref: `${f.host}/p/q:v1`, store: d, credentials: creds as never }), { instanceOf: PodnsError });
    t.is(err!.code, 'EUSAGE');
    t.regex(err!.message, re);
  }
  t.is(f.requests.length, 0);
});

(skipReason() === undefined ? test : test.skip)('pullImage passes explicit credentials through: a stored, named image from a registry that needs a login', async (t) => {
  const f = await fake(t, { auth: 'bearer', users: { alice: 's3cret' } });
  f.addImage('p/q', 'v1', { layers: [tarBuffer([{ name: 'hello', data: 'hi\n' }])] });
  const d = tmp(t);
  const r = await pullImage({ ref: `${f.host}/p/q:v1`, store: d, env: { HOME: d }, credentials: { username: 'alice', password: 's3cret' } });
  t.is(readNames(d)[`${f.host}/p/q:v1`], r.id);
  t.is(readFileSync(join(new LayerStore(d).get(r.record.layers![0]!.chainId)!.dir, 'hello'), 'utf8'), 'hi\n');
});

(skipReason() === undefined ? test : test.skip)('an interrupted pull: ECANCELED as one line, no record, no name; the next pull completes from what was kept', async (t) => {
  const f = await fake(t, {});
  // 8 MiB of random data: several chunks, so the pull is mid-blob when it is aborted
  const big = tarBuffer([{ name: 'big', data: randomBytes(8 << 20) }]);
  f.addImage('p/big', 'v1', { layers: [tarBuffer([{ name: 'small', data: 's' }]), big] });
  const d = tmp(t);
  const ac = new AbortController();
  const err = await t.throwsAsync(pullImage({
    ref: `${f.host}/p/big:v1`, store: d, signal: ac.signal,
    onProgress: (e) => {
      if (e.type === 'blob' && e.what === 'layer' && e.index === 1 && e.state === 'downloading' && e.bytes > 0) ac.abort();
    },
  }), { instanceOf: PodnsError });
  t.is(err!.code, 'ECANCELED');
  t.regex(err!.message, /^127\.0\.0\.1:\d+\/p\/big:v1: pull interrupted; what was downloaded is kept and the next pull resumes from it$/);
  t.deepEqual(readNames(d), {});
  t.true([...new ContentStore(d).partials().values()].some((n) => n > 0), 'the part downloaded is kept');
  const r = await pullImage({ ref: `${f.host}/p/big:v1`, store: d });
  t.is(readNames(d)[`${f.host}/p/big:v1`], r.id);
  t.true(f.requests.some((q) => /^bytes=[1-9]\d*-$/.test(String(q.headers.range ?? ''))), 'resumed with Range');
});

(skipReason() === undefined ? test : test.skip)('an abort just as a small blob completes: ECANCELED, no uncaught error from the request\'s socket', async (t) => {
  const f = await fake(t, {});
  f.addImage('p/two', 'v1', { layers: [tarBuffer([{ name: 'small', data: 's' }]), tarBuffer([{ name: 'big', data: randomBytes(4 << 20) }])] });
  const d = tmp(t);
  for (let i = 0; i < 3; i++) {
    const ac = new AbortController();
    const err = await t.throwsAsync(pullImage({
      ref: `${f.host}/p/two:v1`, store: join(d, String(i)), signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'blob' && e.what === 'layer' && e.state === 'downloading' && e.bytes > 0) ac.abort();
      },
    }), { instanceOf: PodnsError });
    t.is(err!.code, 'ECANCELED');
  }
  // an uncaught exception would have ended this test file before this point
  await new Promise((r) => setTimeout(r, 200));
});
