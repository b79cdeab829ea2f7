// The registry client against a Node fake registry on loopback (test/helpers/fake-registry.ts) for faults the
// real one cannot show: token expiry and re-auth, 429 + Retry-After, a redirect to another host (no
// Authorization there), a corrupted blob, a connection killed mid-blob then Range, a wrong diff_id, lying
// Content-Types, oversized manifests, non-distributable layers. Plus the parsers (challenges, credentials, URLs).
import test from 'ava';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { MediaType } from '../../src/image/oci.js';
import { parseRetryAfter } from '../../src/image/registry/errors.js';
import { findCredentials, parseChallenges, pullToContent, RegistryError, Transport } from '../../src/image/registry/index.js';
import { FakeRegistry, sha } from '../helpers/fake-registry.js';
import { skipReason } from '../helpers/root.js';

function tmp(t: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'podns-faults-'));
  t.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function fake(t: { teardown(fn: () => Promise<void>): void }, o: ConstructorParameters<typeof FakeRegistry>[0] = {}): Promise<FakeRegistry> {
  const f = new FakeRegistry(o);
  await f.start();
  t.teardown(() => f.stop());
  return f;
}

const fast = { backoffMs: 10 };
// 127.0.0.2 is another loopback address: "another host" for the redirect test (inside the sandbox's netns)
const inSandbox = skipReason() === undefined;

test('Bearer, anonymous: one token per scope, cached; every registry request carries it; the token request does not', async (t) => {
  const f = await fake(t, { auth: 'bearer' });
  f.addImage('a/b', 'v1', { layers: [Buffer.alloc(1000, 1), Buffer.alloc(2000, 2)] });
  const s = new ContentStore(tmp(t));
  const r = await pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast });
  t.is(r.layers.length, 2);
  t.is(f.count('GET', /^\/token/), 1, 'one token for repository:a/b:pull');
  t.true(f.requests.filter((q) => q.path.startsWith('/token')).every((q) => q.headers.authorization === undefined));
  const after401 = f.requests.filter((q) => q.path.startsWith('/v2/a/b/')).slice(1);
  t.true(after401.every((q) => /^Bearer /.test(String(q.headers.authorization))));
});

test('Bearer with credentials from an auth file; none → one line saying how to log in', async (t) => {
  const f = await fake(t, { auth: 'bearer', users: { alice: 's3cret' } });
  f.addImage('p/q', 'latest');
  const d = tmp(t);
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/p/q`, store: new ContentStore(join(d, 's1')), ...fast, env: {} }), { instanceOf: RegistryError });
  t.is(err!.message, `${f.host}/p/q: the token server ${f.host} refused an anonymous token (HTTP 401); log in (docker login / podman login)`);
  const auth = join(d, 'auth.json');
  writeFileSync(auth, JSON.stringify({ auths: { [f.host]: { auth: Buffer.from('alice:s3cret').toString('base64') } } }));
  const r = await pullToContent({ ref: `${f.host}/p/q`, store: new ContentStore(join(d, 's2')), authFile: auth, ...fast });
  t.is(r.layers.length, 1);
  const tokenReq = f.requests.filter((q) => q.path.startsWith('/token')).at(-1)!;
  t.is(tokenReq.headers.authorization, `Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
  // wrong password: the credentials' file is named
  writeFileSync(auth, JSON.stringify({ auths: { [f.host]: { username: 'alice', password: 'nope' } } }));
  const e2 = await t.throwsAsync(pullToContent({ ref: `${f.host}/p/q`, store: new ContentStore(join(d, 's3')), authFile: auth, ...fast }));
  t.is(e2!.message, `${f.host}/p/q: the token server ${f.host} refused the credentials from ${auth} (HTTP 401); log in again`);
});

test('an expired token: one re-auth on 401, then success; a registry that keeps saying 401 fails after one', async (t) => {
  const f = await fake(t, { auth: 'bearer' });
  const a = f.addImage('x/y', 'one');
  f.addImage('x/y', 'two');
  const s = new ContentStore(tmp(t));
  const { RegistryClient } = await import('../../src/image/registry/index.js');
  const client = new RegistryClient(fast);
  t.teardown(() => client.close());
  await pullToContent({ ref: `${f.host}/x/y:one`, store: s, client });
  t.is(f.count('GET', /^\/token/), 1);
  f.expireTokens(); // the client still holds it as valid (expires_in 300)
  const r2 = await pullToContent({ ref: `${f.host}/x/y:two`, store: s, client });
  t.not(r2.manifestDigest, a.manifestDigest);
  t.is(f.count('GET', /^\/token/), 2, 'the cached token was refused once, a new one fetched');
  // a server that accepts no token at all
  const g = await fake(t, { auth: 'bearer', tokenTtlMs: 0 });
  g.addImage('x/y', 'one');
  const err = await t.throwsAsync(pullToContent({ ref: `${g.host}/x/y:one`, store: new ContentStore(tmp(t)), ...fast }), { instanceOf: RegistryError });
  t.regex(err!.message, /requires authentication \(UNAUTHORIZED\); log in/);
  t.is(g.count('GET', /^\/token/), 2, 'one token, one re-auth, then the error');
});

test('Basic auth with credentials from DOCKER_CONFIG: a credHelper run with argv, the server on stdin', async (t) => {
  const f = await fake(t, { auth: 'basic', users: { bob: 'pw' } });
  f.addImage('r/s', 'latest');
  const d = tmp(t);
  const bin = join(d, 'bin');
  mkdirSync(bin);
  const helper = join(bin, 'docker-credential-podnstest');
  writeFileSync(helper, `#!${process.execPath}\nlet s='';process.stdin.on('data',(c)=>s+=c).on('end',()=>{require('fs').writeFileSync(${JSON.stringify(join(d, 'asked'))}, process.argv.slice(2).join(' ')+'|'+s);if(s!==${JSON.stringify(f.host)}){console.log('credentials not found in native keychain');process.exit(1)}console.log(JSON.stringify({ServerURL:s,Username:'bob',Secret:'pw'}))});\n`);
  chmodSync(helper, 0o755);
  mkdirSync(join(d, 'docker'));
  writeFileSync(join(d, 'docker', 'config.json'), JSON.stringify({ auths: { [f.host]: {} }, credHelpers: { [f.host]: 'podnstest' } }));
  const env = { PATH: `${bin}:/usr/bin:/bin`, DOCKER_CONFIG: join(d, 'docker'), HOME: d };
  const r = await pullToContent({ ref: `${f.host}/r/s`, store: new ContentStore(join(d, 's')), env, ...fast });
  t.is(r.layers.length, 1);
  const { readFileSync } = await import('node:fs');
  t.is(readFileSync(join(d, 'asked'), 'utf8'), `get|${f.host}`);
  t.true(f.requests.filter((q) => q.path.startsWith('/v2/r/s/')).slice(1).every((q) => q.headers.authorization === `Basic ${Buffer.from('bob:pw').toString('base64')}`));
  // no credentials: the Basic challenge becomes one line
  const e = await t.throwsAsync(pullToContent({ ref: `${f.host}/r/s`, store: new ContentStore(join(d, 's2')), env: { HOME: d }, ...fast }));
  t.regex(e!.message, /requires a login \(Basic auth\) and podns has no credentials for it/);
});

test('429 with Retry-After: waited as asked, then success; a wait too long fails at once with the line', async (t) => {
  const f = await fake(t);
  f.addImage('a/b', 'v1');
  f.faults.tooMany = { count: 1, retryAfter: '1' };
  const t0 = Date.now();
  await pullToContent({ ref: `${f.host}/a/b:v1`, store: new ContentStore(tmp(t)), ...fast });
  t.true(Date.now() - t0 >= 950, `waited ${Date.now() - t0} ms`);
  f.faults.tooMany = { count: 1, retryAfter: '3600' };
  const t1 = Date.now();
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:v1`, store: new ContentStore(tmp(t)), ...fast }), { instanceOf: RegistryError });
  t.true(Date.now() - t1 < 900);
  t.is(err!.message, `${f.host}/a/b:v1: ${f.host} is rate limiting (TOOMANYREQUESTS); wait and retry, or log in for a higher limit (it asks to wait 3600 s)`);
  t.is(parseRetryAfter('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('Wed, 21 Oct 2015 07:27:00 GMT')), 60);
  t.is(parseRetryAfter('soon'), undefined);
});

(inSandbox ? test : test.skip)('a blob redirect to another host: followed, and Authorization is not sent there', async (t) => {
  const f = await fake(t, { auth: 'bearer' });
  const storage = await fake(t, { address: '127.0.0.2' });
  const img = f.addImage('a/b', 'v1', { layers: [Buffer.alloc(50_000, 7)] });
  for (const [d, b] of f.blobs) storage.blobs.set(d, b);
  f.faults.redirectBlobsTo = `http://${storage.host}`;
  const s = new ContentStore(tmp(t));
  await pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast });
  t.true(s.has(img.layers[0]!.digest));
  const got = storage.requests.filter((q) => q.path.startsWith('/storage/'));
  t.is(got.length, 2, 'config and layer came from the storage host');
  t.true(got.every((q) => q.headers.authorization === undefined));
  t.true(f.requests.filter((q) => /\/blobs\//.test(q.path)).every((q) => /^Bearer /.test(String(q.headers.authorization))));
});

test('a corrupted blob: refused with one line, nothing kept', async (t) => {
  const f = await fake(t);
  const img = f.addImage('a/b', 'v1');
  f.faults.corrupt = new Set([img.layers[0]!.digest]);
  const s = new ContentStore(tmp(t));
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast }), { instanceOf: PodnsError });
  t.is(err!.code, 'EBADBLOB');
  t.regex(err!.message, new RegExp(`^blob ${img.layers[0]!.digest}: its content hashes to sha256:[0-9a-f]{64}; the registry or the network corrupted it, nothing was kept$`));
  t.false(s.has(img.layers[0]!.digest));
  t.deepEqual(readdirSync(join(s.dir, 'ingest')), []);
});

test('a connection killed mid-blob: the retry asks for the rest with Range, the blob is complete and verified', async (t) => {
  const f = await fake(t);
  const img = f.addImage('a/b', 'v1', { layers: [randomBytes(400_000)] });
  const layer = img.layers[0]!;
  f.faults.killAfter = new Map([[layer.digest, 100_000]]);
  const s = new ContentStore(tmp(t));
  await pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast });
  const gets = f.requests.filter((q) => q.method === 'GET' && q.path.endsWith(layer.digest));
  t.is(gets.length, 2);
  t.is(gets[0]!.headers.range, undefined);
  const m = /^bytes=(\d+)-$/.exec(String(gets[1]!.headers.range));
  t.truthy(m, `range ${gets[1]!.headers.range}`);
  t.true(Number(m![1]) > 0 && Number(m![1]) <= 100_000);
  t.is(sha((await import('node:fs')).readFileSync(s.path(layer.digest))), layer.digest);
  // a server that ignores Range (200, whole blob): the prefix is skipped, the result is the same
  const g = await fake(t);
  const img2 = g.addImage('a/b', 'v1', { layers: [randomBytes(300_000)] });
  g.faults.killAfter = new Map([[img2.layers[0]!.digest, 60_000]]);
  g.faults.ignoreRange = true;
  const s2 = new ContentStore(tmp(t));
  await pullToContent({ ref: `${g.host}/a/b:v1`, store: s2, ...fast });
  t.true(s2.has(img2.layers[0]!.digest));
});

test('a wrong diff_id is returned as the config says: the caller\'s unpack (applyLayer) finds the mismatch', async (t) => {
  const f = await fake(t);
  const wrong = `sha256:${'e'.repeat(64)}`;
  f.addImage('a/b', 'v1', { diffIds: [wrong] });
  const s = new ContentStore(tmp(t));
  const r = await pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast });
  t.deepEqual(r.diffIds, [wrong]);
  t.not(sha(gunzipSync((await import('node:fs')).readFileSync(s.path(r.layers[0]!.digest)))), r.diffIds[0]);
  // a config whose diff_ids do not match the layer count is refused here
  f.addImage('a/b', 'v2', { diffIds: [wrong, wrong] });
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:v2`, store: s, ...fast }));
  t.regex(err!.message, /rootfs\.diff_ids has 2 entries but the manifest has 1 layers; the image or registry is broken/);
});

test('hostile manifests: Content-Type that disagrees, oversized, bad digests, artifacts, schema 1', async (t) => {
  const f = await fake(t);
  f.addImage('a/b', 'v1');
  const s = new ContentStore(tmp(t));
  f.faults.contentType = MediaType.dockerManifest;
  const e1 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast }));
  t.regex(e1!.message, /Content-Type application\/vnd\.docker\.distribution\.manifest\.v2\+json but the document says application\/vnd\.oci\.image\.manifest\.v1\+json/);
  f.faults.contentType = undefined;
  const put = (tag: string, doc: unknown, mt: string = MediaType.ociManifest): void => f.putManifest('a/b', tag, Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)), mt);
  put('big', { schemaVersion: 2, mediaType: MediaType.ociManifest, pad: 'x'.repeat(5 << 20) });
  const e2 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:big`, store: s, ...fast }));
  t.regex(e2!.message, /more than the 4194304 allowed; refused/);
  const cfg = { mediaType: MediaType.ociConfig, digest: `sha256:${'a'.repeat(64)}`, size: 10 };
  put('baddigest', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [{ mediaType: MediaType.ociLayerGzip, digest: 'sha256:../../../etc/passwd', size: 1 }] });
  const e3 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:baddigest`, store: s, ...fast }));
  t.is((e3 as PodnsError).code, 'EBADDIGEST');
  put('badsize', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: [{ mediaType: MediaType.ociLayerGzip, digest: cfg.digest, size: -1 }] });
  const e4 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:badsize`, store: s, ...fast }));
  t.regex(e4!.message, /size -1 is not a non-negative integer/);
  put('artifact', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: { ...cfg, mediaType: 'application/vnd.cncf.helm.config.v1+json' }, layers: [] });
  const e5 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:artifact`, store: s, ...fast }));
  t.regex(e5!.message, /is not an image config/);
  put('v1', { schemaVersion: 1, name: 'a/b', fsLayers: [] }, MediaType.dockerManifestV1Signed);
  const e6 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:v1`, store: s, ...fast }));
  t.regex(e6!.message, /schema 1 manifests are deprecated/);
  const many = Array.from({ length: 501 }, () => ({ mediaType: MediaType.ociLayerGzip, digest: cfg.digest, size: 1 }));
  put('many', { schemaVersion: 2, mediaType: MediaType.ociManifest, config: cfg, layers: many });
  const e7 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:many`, store: s, ...fast }));
  t.regex(e7!.message, /layers: more than 500 entries/);
  put('notjson', '{"schemaVersion":2,');
  const e8 = await t.throwsAsync(pullToContent({ ref: `${f.host}/a/b:notjson`, store: s, ...fast }));
  t.regex(e8!.message, /not JSON/);
  for (const e of [e1, e2, e3, e4, e5, e6, e7, e8]) t.false(e!.message.includes('\n'));
  t.deepEqual(s.list(), [], 'a refused manifest is not stored');
});

(inSandbox ? test : test.skip)('non-distributable layers: fetched from their URLs when the registry lacks them (no Authorization), else one line', async (t) => {
  const f = await fake(t, { auth: 'bearer' });
  const storage = await fake(t, { address: '127.0.0.2' });
  const img = f.addImage('nd/x', 'v1', { nonDistributable: true, urls: [`http://${storage.host}`] });
  const layer = img.layers[0]!;
  storage.blobs.set(layer.digest, layer.blob);
  f.faults.missingBlobs = new Set([layer.digest]);
  const s = new ContentStore(tmp(t));
  const r = await pullToContent({ ref: `${f.host}/nd/x:v1`, store: s, ...fast });
  t.is(r.layers[0]!.mediaType, MediaType.ociLayerNonDistributableGzip);
  t.true(s.has(layer.digest));
  t.true(storage.requests.every((q) => q.headers.authorization === undefined));
  const img2 = f.addImage('nd/y', 'v1', { nonDistributable: true });
  f.faults.missingBlobs = new Set([img2.layers[0]!.digest]);
  const err = await t.throwsAsync(pullToContent({ ref: `${f.host}/nd/y:v1`, store: s, ...fast }));
  t.regex(err!.message, /layer 0 \(sha256:[0-9a-f]{64}\) is non-distributable, the registry does not have it and the manifest gives no URLs/);
});

test('plain HTTP only to loopback or a registry named insecure; URL policy for redirects and realms', (t) => {
  const tr = new Transport({ insecureRegistries: ['reg.example:5000'] });
  t.notThrows(() => tr.checkUrl(new URL('http://127.0.0.1:5000/v2/'), 'x'));
  t.notThrows(() => tr.checkUrl(new URL('http://[::1]:5000/v2/'), 'x'));
  t.notThrows(() => tr.checkUrl(new URL('http://localhost/v2/'), 'x'));
  t.notThrows(() => tr.checkUrl(new URL('http://reg.example:5000/v2/'), 'x'));
  t.notThrows(() => tr.checkUrl(new URL('https://anything.example/v2/'), 'x'));
  t.throws(() => tr.checkUrl(new URL('http://reg.example:5001/v2/'), 'x'), { message: /plain HTTP; podns uses HTTP only for loopback or a registry named with --insecure-registry/ });
  t.throws(() => tr.checkUrl(new URL('http://10.0.0.1/v2/'), 'x'), { message: /plain HTTP/ });
  t.throws(() => tr.checkUrl(new URL('file:///etc/passwd'), 'x'), { message: /file: URLs are not allowed/ });
  t.throws(() => tr.checkUrl(new URL('http://127.example.com/'), 'x'), { message: /plain HTTP/ });
});

test('WWW-Authenticate: bearer and basic, quoted commas, several challenges, hostile ones', (t) => {
  t.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull,push"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/nginx:pull,push' } },
  ]);
  t.deepEqual(parseChallenges('Basic realm="x\\"y", Bearer realm=tok'), [
    { scheme: 'basic', params: { realm: 'x"y' } }, { scheme: 'bearer', params: { realm: 'tok' } },
  ]);
  t.deepEqual(parseChallenges(['Basic realm="unterminated']), [{ scheme: 'basic', params: {} }]);
  t.deepEqual(parseChallenges('Bearer ' + 'a=b,'.repeat(5000)), []);
  t.deepEqual(parseChallenges(undefined), []);
  const protoKey = parseChallenges('Bearer __proto__="x",realm="r"')[0]!;
  t.is(protoKey.params.realm, 'r');
  t.is(Object.getPrototypeOf(protoKey.params), Object.prototype);
});

test('credentials: REGISTRY_AUTH_FILE, containers auth.json (most specific key), docker config (Hub keys), precedence', async (t) => {
  const d = tmp(t);
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  writeFileSync(join(d, 'auth.json'), JSON.stringify({ auths: { 'quay.io': { auth: b64('host:1') }, 'quay.io/org': { auth: b64('org:2') }, 'quay.io/org/repo': { auth: b64('repo:3') } } }));
  const env = { REGISTRY_AUTH_FILE: join(d, 'auth.json'), HOME: d };
  t.is((await findCredentials('quay.io', 'org/repo', { env }))?.username, 'repo');
  t.is((await findCredentials('quay.io', 'org/other', { env }))?.username, 'org');
  t.is((await findCredentials('quay.io', 'orga/x', { env }))?.username, 'host');
  t.is(await findCredentials('ghcr.io', 'a/b', { env }), undefined);
  mkdirSync(join(d, '.docker'));
  writeFileSync(join(d, '.docker', 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: b64('hub:pw:with:colons') }, 'quay.io': { auth: b64('docker:9') } } }));
  const hub = await findCredentials('docker.io', 'library/nginx', { env: { HOME: d } });
  t.deepEqual(hub, { username: 'hub', password: 'pw:with:colons', source: join(d, '.docker', 'config.json') });
  t.is((await findCredentials('quay.io', 'x/y', { env }))?.username, 'host', 'the containers file is searched first');
  mkdirSync(join(d, 'run', 'containers'), { recursive: true });
  writeFileSync(join(d, 'run', 'containers', 'auth.json'), JSON.stringify({ auths: { 'quay.io': { auth: b64('xdg:1') } } }));
  t.is((await findCredentials('quay.io', 'x/y', { env: { HOME: d, XDG_RUNTIME_DIR: join(d, 'run') } }))?.username, 'xdg');
  writeFileSync(join(d, 'broken.json'), '{');
  await t.throwsAsync(findCredentials('quay.io', 'x', { authFile: join(d, 'broken.json') }), { message: /is not valid JSON/ });
  await t.throwsAsync(findCredentials('quay.io', 'x', { authFile: join(d, 'none.json') }), { message: /cannot read the auth file .*ENOENT/ });
  writeFileSync(join(d, 'h.json'), JSON.stringify({ credsStore: '../../bin/sh' }));
  await t.throwsAsync(findCredentials('quay.io', 'x', { authFile: join(d, 'h.json') }), { message: /credential helper name "\.\.\/\.\.\/bin\/sh" is not valid/ });
  writeFileSync(join(d, 'h.json'), JSON.stringify({ credsStore: 'podns-none' }));
  await t.throwsAsync(findCredentials('quay.io', 'x', { authFile: join(d, 'h.json'), env: { PATH: d } }), { message: /docker-credential-podns-none is configured but not installed/ });
});
