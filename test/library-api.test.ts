// The library API (src/index.ts) has one shape: every function that reads or changes podns's state takes
// one options object with an optional root. And the README's library example runs as written.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as api from '../src/index.js';
import { sandboxArgv } from '../src/native/helper.js';
import { helperPath, packageRoot } from '../src/native/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from './helpers/busybox.js';
import { privileged } from './helpers/root.js';

// Exports that touch no state root: errors, names, parsing, namespace identities, the netlink class.
const PURE = new Set(['PodnsError', 'NotFoundError', 'isErrno', 'oneLine', 'validateName', 'netnsDir', 'resolveRoot', 'parseManifest',
  'nsIdentities', 'sameNamespace', 'NetlinkHandle', 'chooseContainer', 'nsExec']);

test('every exported function that touches the state takes one options object', (t) => {
  const fns = Object.entries(api).filter(([name, v]) => typeof v === 'function' && !PURE.has(name));
  t.true(fns.length >= 20, fns.map(([n]) => n).join(' '));
  // Function.length counts the parameters before the first one with a default: 0 or 1 here
  for (const [name, fn] of fns) t.true((fn as (...a: unknown[]) => unknown).length <= 1, `${name} takes ${(fn as () => unknown).length} parameters`);
});

test.serial('the listing functions work without arguments (root: PODNS_ROOT)', async (t) => {
  const dir = mkdtempSync(join(process.env.PODNS_SANDBOX === '1' ? '/run' : '/tmp', 'podns-test-api-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const before = process.env.PODNS_ROOT;
  const beforeStore = process.env.PODNS_STORE;
  process.env.PODNS_ROOT = join(dir, 'root');
  process.env.PODNS_STORE = join(dir, 'store');
  try {
    t.deepEqual(api.listPods(), []);
    t.deepEqual(api.psRows(), []);
    t.deepEqual(api.listImages(), []);
    t.deepEqual(api.listNetworks(), []);
    t.deepEqual(await api.gc(), []);
    await t.throwsAsync(api.deletePod({ name: 'nope' }), { instanceOf: api.NotFoundError });
    t.throws(() => api.readPod({ name: 'nope' }), { instanceOf: api.NotFoundError });
    t.throws(() => api.readContainerConfig({ pod: 'p', name: '../x' }), { instanceOf: api.PodnsError, message: /invalid container name/ });
  } finally {
    if (before === undefined) delete process.env.PODNS_ROOT;
    else process.env.PODNS_ROOT = before;
    if (beforeStore === undefined) delete process.env.PODNS_STORE;
    else process.env.PODNS_STORE = beforeStore;
  }
});

/** The ```ts block under "### As a library" in README.md. */
function readmeLibraryExample(readme: string): string {
  const at = readme.indexOf('### As a library');
  if (at < 0) throw new Error('README.md has no "### As a library" section');
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  if (m === null) throw new Error('README.md: no ```ts block in "As a library"');
  return m[1]!;
}

const PAGE = 'hello from the pod\n';

if (busyboxAvailable()) {
  privileged('the README library example runs as written (in a sandbox of its own, with the README\'s busybox image)', async (t) => {
    const code = readmeLibraryExample(readFileSync(join(packageRoot, 'README.md'), 'utf8'));
    // the test's own environment: `import ... from 'podns'` resolves to this package, the state root and
    // the image the README's "Use" section makes (busybox-static with /www/index.html)
    const work = mkdtempSync('/tmp/podns-test-readme-');
    t.teardown(() => rmSync(work, { recursive: true, force: true }));
    mkdirSync(join(work, 'node_modules'));
    symlinkSync(packageRoot, join(work, 'node_modules', 'podns'));
    const root = join(work, 'root');
    const store = join(work, 'store');
    await api.importImage({ root, store, name: 'busybox', source: makeBusyboxRootfs(join(work, 'bb'), { www: PAGE }), config: { cmd: ['sleep', '3600'] } });
    // after the example: what it left (nothing, once deletePod ran), read by the same library
    const script = `${code}
;{
  const { listPods, gc } = await import('podns');
  const pause = pod.pause.pid;
  let alive = true;
  try { process.kill(pause, 0); } catch { alive = false; }
  process.stdout.write('\\nRESULT ' + JSON.stringify({ code, pods: listPods().length, pauseAlive: alive, gc: await gc() }) + '\\n');
}
`;
    writeFileSync(join(work, 'example.mjs'), script);
    // a network namespace of its own (bridge podns0, host port 8080, nft table podns: the defaults)
    const PATH = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((d) => !d.includes('node_modules')).join(':');
    const env: Record<string, string> = { PATH, PODNS_ROOT: root, PODNS_STORE: store };
    const r = await execa(helperPath, sandboxArgv([process.execPath, join(work, 'example.mjs')]), { env, extendEnv: false, reject: false, cwd: work, timeout: 60_000 });
    t.is(r.exitCode, 0, `${r.stdout}\n${r.stderr}`);
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    t.truthy(line, r.stdout + r.stderr);
    t.deepEqual(JSON.parse(line!.slice('RESULT '.length)), { code: 0, pods: 0, pauseAlive: false, gc: [] });
    t.true(r.stdout.startsWith(PAGE), `execInContainer printed the page: ${JSON.stringify(r.stdout)}`);
    t.false(existsSync(join(root, 'pods', 'web')));
  });
}
