// A container's root from several layers: the shim's overlay with one lower dir per layer (lowerdir+ by fd;
// the lowerdir=a:b:c fallback by path, short through fsconfig and long through mount(2)), and the copy
// fallback where overlay is unavailable (src/image/flatten.ts). The layers are made here in overlay's format,
// as the layer store unpacks them: whiteouts are 0/0 character devices, opaque dirs carry
// trusted.overlay.opaque=y.
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flattenLayers } from '../../src/image/flatten.js';
import { HELPER_ARGV0, parseShimReady, shimArgv } from '../../src/native/helper.js';
import { helperPath, native } from '../../src/native/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { createTestPod, useContainerEnv } from '../container/env.js';
import type { TestEnv } from '../pod/env.js';

let E: TestEnv | undefined;
useContainerEnv('lyr', 196, (env) => {
  E = env;
});

function work(t: ExecutionContext): string {
  const base = mkdtempSync(join(process.env.PODNS_SANDBOX === '1' ? '/run' : '/tmp', 'podns-test-layers-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  return base;
}

async function whiteout(path: string): Promise<void> {
  await execa('mknod', [path, 'c', '0', '0']);
}

function opaque(path: string): void {
  native.lsetxattr(path, 'trusted.overlay.opaque', Buffer.from('y'));
}

/**
 * Three layers, bottom first: base = busybox + /gone, /opq/{a,b}, /kept/x, /swap (a dir), /link -> /kept;
 * mid = whiteout of /gone, /opq opaque with /opq/c, /swap a file, /mid; top = /kept/y, /top, /link a dir.
 */
async function makeLayers(d: string): Promise<{ base: string; mid: string; top: string }> {
  const base = join(d, 'l', '1');
  const mid = join(d, 'l', '2');
  const top = join(d, 'l', '3');
  makeBusyboxRootfs(base);
  writeFileSync(join(base, 'gone'), 'base\n');
  mkdirSync(join(base, 'opq'));
  writeFileSync(join(base, 'opq', 'a'), 'a\n');
  writeFileSync(join(base, 'opq', 'b'), 'b\n');
  mkdirSync(join(base, 'kept'));
  writeFileSync(join(base, 'kept', 'x'), 'x\n');
  mkdirSync(join(base, 'swap'));
  writeFileSync(join(base, 'swap', 'inner'), 'inner\n');
  symlinkSync('/kept', join(base, 'link'));
  mkdirSync(mid, { recursive: true });
  await whiteout(join(mid, 'gone'));
  mkdirSync(join(mid, 'opq'));
  opaque(join(mid, 'opq'));
  writeFileSync(join(mid, 'opq', 'c'), 'c\n');
  writeFileSync(join(mid, 'swap'), 'now a file\n');
  writeFileSync(join(mid, 'mid'), 'mid\n');
  mkdirSync(join(top, 'kept'), { recursive: true });
  writeFileSync(join(top, 'kept', 'y'), 'y\n');
  writeFileSync(join(top, 'top'), 'top\n');
  mkdirSync(join(top, 'link'));
  writeFileSync(join(top, 'link', 'z'), 'z\n');
  return { base, mid, top };
}

/** What the merged view must show (the same script runs in the container and on the flattened copy). */
const SCRIPT = 'cd "${1:-/}" && for f in gone opq/a opq/b opq/c kept/x kept/y swap mid top link/z; do if [ -e "$f" ]; then printf "%s=%s " "$f" "$(cat "$f" 2>/dev/null || echo dir)"; else printf "%s=- " "$f"; fi; done; echo';
const EXPECTED = 'gone=- opq/a=- opq/b=- opq/c=c kept/x=x kept/y=y swap=now a file mid=mid top=top link/z=z';

function readAll(fd: number): string {
  const buf = Buffer.alloc(4096);
  let text = '';
  for (;;) {
    const n = readSync(fd, buf);
    if (n === 0) return text;
    text += buf.toString('utf8', 0, n);
  }
}

/** Runs SCRIPT in a container whose root is the overlay of LAYERS (top first); returns its output. */
async function inOverlay(t: ExecutionContext, d: string, layers: string[], env: string[] = []): Promise<string> {
  const dir = mkdtempSync(join(d, 'c-'));
  writeFileSync(join(dir, 'env'), 'PATH=/bin\0', { mode: 0o600 });
  const [r, w] = native.pipe();
  let pid: number;
  try {
    pid = native.spawn({
      path: helperPath,
      argv: [HELPER_ARGV0, ...shimArgv({
        dir, readyFd: 3, pidNs: 'new', envFile: join(dir, 'env'), rootfs: layers[0]!, lowers: layers.slice(1),
        overlay: join(dir, 'rootfs'), argv: ['sh', '-c', `${SCRIPT}; echo written > /new`],
      })],
      env,
      fds: [[3, w]],
    });
  } finally {
    closeSync(w);
  }
  const line = readAll(r);
  closeSync(r);
  native.waitpid(pid);
  const ready = parseShimReady(line.split('\n')[0]!);
  t.truthy(ready, `the shim started the workload: ${line}`);
  const status = join(dir, 'status.json');
  for (let i = 0; i < 100; i++) {
    if (existsSync(status) && (JSON.parse(readFileSync(status, 'utf8')) as { state: string }).state === 'exited') break;
    await new Promise((res) => setTimeout(res, 50));
  }
  t.is(readFileSync(join(dir, 'rootfs', 'upper', 'new'), 'utf8'), 'written\n', 'writes go to the container\'s upper dir');
  for (const l of layers) t.false(existsSync(join(l, 'new')), 'no layer changes');
  // CRI log lines: TIME stdout F TEXT
  return readFileSync(join(dir, 'current.log'), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' ')).join('\n').trim();
}

if (!busyboxAvailable()) {
  privileged('layers [skipped: /bin/busybox missing; apt install busybox-static]', (t) => t.pass());
} else {
  privileged('shim: an overlay of three layers, each by fd (lowerdir+): whiteouts, opaque dirs, replaced types', async (t) => {
    const d = work(t);
    const { base, mid, top } = await makeLayers(d);
    t.is(await inOverlay(t, d, [top, mid, base]), EXPECTED);
  });

  privileged('shim: the same by path (lowerdir=a:b:c, the fallback for kernels without lowerdir+), short and past 256 bytes', async (t) => {
    const d = work(t);
    const { base, mid, top } = await makeLayers(d);
    t.is(await inOverlay(t, d, [top, mid, base], ['PODNS_OVERLAY_PATHS=1']), EXPECTED, 'short: fsconfig strings');
    // paths long enough that "lowerdir=..." passes fsconfig's 256-byte strings: mount(2) with a page of data
    const deep = join(d, 'x'.repeat(100), 'y'.repeat(100));
    mkdirSync(deep, { recursive: true });
    await execa('cp', ['-a', join(d, 'l'), deep]);
    const long = [join(deep, 'l', '3'), join(deep, 'l', '2'), join(deep, 'l', '1')];
    t.true(long.join(':').length > 256);
    t.is(await inOverlay(t, d, long, ['PODNS_OVERLAY_PATHS=1']), EXPECTED, 'long: mount(2)');
  });

  privileged('shim: --lower is refused without --overlay, or with a ":" in it', async (t) => {
    const d = work(t);
    for (const [extra, re] of [[['--lower', '/a'], /--lower needs --rootfs and --overlay/], [['--rootfs', '/x', '--overlay', '/y', '--lower', '/a:b'], /bad --lower/]] as const) {
      const r = await execa(helperPath, ['shim', '--dir', d, '--ready-fd', '1', ...extra, '--', 'true'], { reject: false });
      t.is(r.exitCode, 2);
      t.regex(r.stderr, re);
    }
  });

  privileged('no overlay: the layers are copied into one tree with overlay\'s semantics (flattenLayers)', async (t) => {
    const d = work(t);
    const { base, mid, top } = await makeLayers(d);
    const copy = join(d, 'copy');
    await flattenLayers([top, mid, base], copy);
    const r = await execa(join(copy, 'bin', 'busybox'), ['sh', '-c', SCRIPT, 'sh', copy]);
    t.is(r.stdout.trim(), EXPECTED);
    t.false(existsSync(join(copy, 'gone')), 'no whiteout device is left in the copy');
    t.is(native.lgetxattr(join(copy, 'opq'), 'trusted.overlay.opaque'), undefined, 'no opaque mark either');
    t.true(lstatSync(join(copy, 'link')).isDirectory(), 'a directory replaced the symlink; nothing was written through it');
    t.false(existsSync(join(base, 'kept', 'z')));
    t.true(lstatSync(join(copy, 'bin', 'sh')).isSymbolicLink());
  });
}

privileged('run --image where overlay is unavailable (PODNS_NO_OVERLAY=1): the container gets a copy; the image stays as it was', async (t) => {
  const e = E!;
  const d = work(t);
  const src = makeBusyboxRootfs(join(d, 'bb'));
  let r = await e.cli(['image', 'import', 'bb', src, '--cmd', '["sleep","600"]']);
  t.is(r.exitCode, 0, r.stderr);
  await createTestPod(e, 'cp');
  r = await e.cli(['run', 'cp', '--name', 'c', '--image', 'bb', '--', 'sh', '-c', 'echo mine > /bin/mine; sleep 600'], { PODNS_NO_OVERLAY: '1' });
  t.is(r.exitCode, 0, r.stderr);
  const cfg = JSON.parse(readFileSync(join(e.root, 'pods', 'cp', 'containers', 'c', 'config.json'), 'utf8')) as { rootfs: string; rootfsCopy?: boolean; imageId: string };
  t.true(cfg.rootfsCopy);
  t.is(cfg.rootfs, join(e.root, 'pods', 'cp', 'containers', 'c', 'rootfs', 'copy'));
  const x = await e.cli(['exec', 'cp', '-c', 'c', '--', 'cat', '/bin/mine']);
  t.is(x.stdout, 'mine');
  t.false(existsSync(join(src, 'bin', 'mine')));
  const img = JSON.parse((await e.cli(['image', 'inspect', 'bb'])).stdout) as Array<{ id: string }>;
  t.is(cfg.imageId, img[0]!.id, 'config.json records the image id');
  t.false(existsSync(join(e.store, 'images', 'sha256', img[0]!.id.slice(7), 'rootfs', 'bin', 'mine')), 'the image is untouched');
  r = await e.cli(['image', 'rm', 'bb']);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /container cp\/c uses it/);
  r = await e.cli(['delete', '--grace', '0', 'cp']);
  t.is(r.exitCode, 0, r.stderr);
});
