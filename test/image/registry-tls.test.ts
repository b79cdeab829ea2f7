// The real docker-registry over TLS with htpasswd (Basic) auth, its certificate signed by a CA the test makes with
// the openssl CLI; podns trusts it only through a certs.d/HOST:PORT/ca.crt directory, and logs in with an auth file.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PodnsError } from '../../src/errors.js';
import { ContentStore } from '../../src/image/content/store.js';
import { pullToContent, RegistryError } from '../../src/image/registry/index.js';
import { skipReason } from '../helpers/root.js';
import { makeOciImage, registryToolsMissing, skopeoCopy, startRegistry, type RunningRegistry } from '../helpers/registry.js';

const missing = registryToolsMissing() ?? skipReason() ?? (existsSync('/usr/bin/htpasswd') && existsSync('/usr/bin/openssl') ? undefined : 'htpasswd or openssl missing; apt install apache2-utils openssl');

let fx: { dir: string; reg: RunningRegistry; certDirs: string[]; authFile: string } | undefined;

async function makeCa(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await execa('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', caKey, '-out', ca, '-days', '2', '-subj', '/CN=podns test CA']);
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  await execa('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=127.0.0.1']);
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  await execa('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', join(dir, 'ext.cnf')]);
  return { ca, cert, key };
}

if (missing !== undefined) {
  test.skip(`registry TLS tests [skipped: ${missing}]`, () => {});
} else {
  test.before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'podns-registry-tls-'));
    mkdirSync(join(dir, 'pki'));
    const pki = await makeCa(join(dir, 'pki'));
    const ht = await execa('htpasswd', ['-Bbn', 'tester', 'pa55:word']);
    writeFileSync(join(dir, 'htpasswd'), ht.stdout + '\n');
    const reg = await startRegistry(join(dir, 'registry'), { htpasswd: join(dir, 'htpasswd'), tls: { cert: pki.cert, key: pki.key, ca: readFileSync(pki.ca, 'utf8') } });
    const certsD = join(dir, 'certs.d');
    mkdirSync(join(certsD, reg.host), { recursive: true });
    writeFileSync(join(certsD, reg.host, 'ca.crt'), readFileSync(pki.ca));
    const { layout } = await makeOciImage(join(dir, 'img'));
    await skopeoCopy(`oci:${layout}:latest`, `docker://${reg.host}/secure/busybox:v1`, ['--dest-cert-dir', join(certsD, reg.host), '--dest-creds', 'tester:pa55:word']);
    const authFile = join(dir, 'auth.json');
    writeFileSync(authFile, JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('tester:pa55:word').toString('base64') } } }));
    fx = { dir, reg, certDirs: [join(dir, 'no-such-dir'), certsD], authFile };
  });

  test.after.always(async () => {
    if (fx === undefined) return;
    await fx.reg.stop();
    rmSync(fx.dir, { recursive: true, force: true });
  });

  function store(t: { teardown(fn: () => void): void }): ContentStore {
    const d = mkdtempSync(join(tmpdir(), 'podns-tls-store-'));
    t.teardown(() => rmSync(d, { recursive: true, force: true }));
    return new ContentStore(d);
  }

  test('HTTPS with the CA from certs.d/HOST:PORT and htpasswd credentials from the auth file', async (t) => {
    const s = store(t);
    const r = await pullToContent({ ref: `${fx!.reg.host}/secure/busybox:v1`, store: s, certDirs: fx!.certDirs, authFile: fx!.authFile });
    t.is(r.layers.length, 1);
    t.true(s.has(r.layers[0]!.digest));
  });

  test('without the CA: one line saying where to put it; never a fallback to plain HTTP', async (t) => {
    const err = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/secure/busybox:v1`, store: store(t), certDirs: [], authFile: fx!.authFile, attempts: 1 }), { instanceOf: PodnsError });
    t.is(err!.code, 'ETLS');
    t.regex(err!.message, new RegExp(`^${fx!.reg.host}: TLS certificate not trusted \\([A-Z_]+\\); put its CA in /etc/podns/certs.d/${fx!.reg.host}/ca.crt, or name it with --insecure-registry$`));
  });

  test('named insecure: TLS not verified, the pull works without the CA', async (t) => {
    const r = await pullToContent({ ref: `${fx!.reg.host}/secure/busybox:v1`, store: store(t), certDirs: [], insecure: [fx!.reg.host], authFile: fx!.authFile });
    t.is(r.layers.length, 1);
  });

  test('no credentials, or wrong ones: UNAUTHORIZED as one line', async (t) => {
    const e1 = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/secure/busybox:v1`, store: store(t), certDirs: fx!.certDirs, env: { HOME: fx!.dir } }), { instanceOf: RegistryError });
    t.regex(e1!.message, /requires a login \(Basic auth\) and podns has no credentials for it; log in/);
    const bad = join(fx!.dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ auths: { [fx!.reg.host]: { username: 'tester', password: 'wrong' } } }));
    const e2 = await t.throwsAsync(pullToContent({ ref: `${fx!.reg.host}/secure/busybox:v1`, store: store(t), certDirs: fx!.certDirs, authFile: bad }), { instanceOf: RegistryError });
    t.is(e2!.registryCode, 'UNAUTHORIZED');
    t.false(e2!.message.includes('\n'));
  });
}
