import test from 'ava';
import { PodnsError } from '../../src/errors.js';
import { parseReference, resolveArgv } from '../../src/image/index.js';
import { parseImageReference, repositoryDir, repositoryFromDir } from '../../src/image/reference.js';

const D = 'sha256:' + 'ab'.repeat(32);

test('references as Docker writes them', (t) => {
  t.deepEqual(parseReference('nginx'), { domain: 'docker.io', path: 'library/nginx', name: 'docker.io/library/nginx', repository: 'nginx', tag: 'latest', ref: 'nginx:latest' });
  t.deepEqual(parseReference('nginx:1.25'), { domain: 'docker.io', path: 'library/nginx', name: 'docker.io/library/nginx', repository: 'nginx', tag: '1.25', ref: 'nginx:1.25' });
  t.deepEqual(parseReference('hwchiu/netutils'), { domain: 'docker.io', path: 'hwchiu/netutils', name: 'docker.io/hwchiu/netutils', repository: 'hwchiu/netutils', tag: 'latest', ref: 'hwchiu/netutils:latest' });
  t.deepEqual(parseReference('localhost:5000/team/app:v2'), { domain: 'localhost:5000', path: 'team/app', name: 'localhost:5000/team/app', repository: 'localhost:5000/team/app', tag: 'v2', ref: 'localhost:5000/team/app:v2' });
  t.is(parseReference('registry.example.com/a.b/c_d__e-f---g').ref, 'registry.example.com/a.b/c_d__e-f---g:latest');
  t.is(parseReference('Registry.Example.com:443/x:TAG_1.2-rc').ref, 'Registry.Example.com:443/x:TAG_1.2-rc');
  t.is(parseReference('[::1]:5000/app').ref, '[::1]:5000/app:latest');
  t.is(parseReference('a:' + 'x'.repeat(128)).tag.length, 128);
});

test('Docker normalisation: docker.io, library/, the familiar name is one key', (t) => {
  for (const n of ['nginx', 'library/nginx', 'docker.io/nginx', 'docker.io/library/nginx', 'index.docker.io/library/nginx']) {
    const r = parseImageReference(n);
    t.is(r.name, 'docker.io/library/nginx', n);
    t.is(r.repository, 'nginx', n);
    t.is(r.ref, 'nginx:latest', n);
  }
  t.is(parseImageReference('docker.io/hwchiu/netutils').repository, 'hwchiu/netutils');
  t.is(parseImageReference('docker.io/library/a/b').repository, 'library/a/b', 'library/ is dropped only for one component');
  t.is(parseImageReference('localhost/app').domain, 'localhost');
  t.is(parseImageReference('localhost/app').path, 'app', 'no library/ outside docker.io');
  t.is(parseImageReference('quay.io/a/b:1').name, 'quay.io/a/b');
});

test('digests: name@digest and name:tag@digest; no default tag with a digest', (t) => {
  const a = parseImageReference(`nginx@${D}`);
  t.is(a.digest, D);
  t.is(a.tag, undefined);
  t.is(a.ref, `nginx@${D}`);
  const b = parseImageReference(`127.0.0.1:5000/x/y:v1@${D}`);
  t.deepEqual(b, { domain: '127.0.0.1:5000', path: 'x/y', name: '127.0.0.1:5000/x/y', repository: '127.0.0.1:5000/x/y', tag: 'v1', digest: D, ref: `127.0.0.1:5000/x/y:v1@${D}` });
  for (const bad of ['nginx@sha256:abc', 'nginx@md5:' + 'a'.repeat(32), 'nginx@sha256:' + 'A'.repeat(64), 'nginx@', `nginx@${D}@${D}`, 'nginx@sha256:../../etc']) {
    const err = t.throws(() => parseImageReference(bad), { instanceOf: PodnsError }, bad);
    t.is(err!.code, 'EINVALIDREF');
  }
});

const bad: Array<[string, RegExp]> = [
  ['', /image name is empty/],
  ['nginx@sha256:' + 'a'.repeat(64), /digest are not supported/],
  ['Nginx', /must be lowercase/],
  ['hwchiu/NetUtils', /must be lowercase/],
  ['nginx:', /tag "" must be/],
  ['nginx:-x', /tag "-x" must be/],
  ['nginx:.x', /tag ".x" must be/],
  ['a:' + 'x'.repeat(129), /tag/],
  ['a//b', /empty path component/],
  ['a/', /empty path component/],
  ['/a', /empty path component/],
  ['../etc', /"\.\." is not a valid registry host/],
  ['a/../../b', /path component "\.\." must be/],
  ['.hidden', /path component/],
  ['a..b', /path component "a\.\.b"/],
  ['a_.b', /path component/],
  ['-a', /path component/],
  ['a b', /path component/],
  ['a+b', /path component/],
  ['exa_mple.com/x', /"exa_mple.com" is not a valid registry host/],
  ['bad_host:5000/x', /not a valid registry host/],
  [':tag', /repository name is empty/],
  ['a'.repeat(256), /longer than 255/],
];

for (const [name, re] of bad) {
  test(`refused: ${JSON.stringify(name.length > 40 ? name.slice(0, 40) + '…' : name)}`, (t) => {
    const err = t.throws(() => parseReference(name), { instanceOf: PodnsError });
    t.regex(err!.message, re);
    t.true(err!.code === 'EINVALIDREF');
    t.false(err!.message.includes('\n'));
  });
}

test('the store directory of a repository is one level and reversible', (t) => {
  t.is(repositoryDir('hwchiu/netutils'), 'hwchiu+netutils');
  t.is(repositoryDir('localhost:5000/a/b'), 'localhost:5000+a+b');
  t.is(repositoryFromDir('localhost:5000+a+b'), 'localhost:5000/a/b');
  // "nginx/latest" must not land inside the directory of nginx:latest
  t.not(repositoryDir('nginx/latest'), 'nginx/latest');
});

test('argv by Kubernetes rules', (t) => {
  const img = { entrypoint: ['/entry'], cmd: ['--default'] };
  t.deepEqual(resolveArgv(img), ['/entry', '--default']);
  t.deepEqual(resolveArgv(img, ['sh', '-c']), ['sh', '-c'], 'command replaces entrypoint and drops cmd');
  t.deepEqual(resolveArgv(img, ['sh', '-c'], ['echo hi']), ['sh', '-c', 'echo hi']);
  t.deepEqual(resolveArgv(img, undefined, ['--x']), ['/entry', '--x'], 'args replaces cmd only');
  t.deepEqual(resolveArgv(img, [], []), ['/entry', '--default'], 'empty lists count as unset, as in kubelet');
  t.deepEqual(resolveArgv({ cmd: ['httpd', '-f'] }), ['httpd', '-f']);
  t.deepEqual(resolveArgv({ cmd: ['httpd', '-f'] }, undefined, ['sleep', '1']), ['sleep', '1']);
  const err = t.throws(() => resolveArgv({}, undefined, undefined, 'x:latest'), { instanceOf: PodnsError });
  t.is(err!.code, 'ENOCOMMAND');
  t.regex(err!.message, /^no command: image "x:latest" has no entrypoint or cmd/);
  t.throws(() => resolveArgv({ entrypoint: [] }, [], undefined), { message: /no command/ });
});
