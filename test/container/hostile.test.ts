// Hostile images: root filesystems whose /etc, /dev, /proc, /sys, /tmp are symlinks to host directories
// (absolute, relative with "..", through each other), and /etc/hosts a symlink to a host file. The
// watcher resolves every path with the container's root as "/" (openat2 RESOLVE_IN_ROOT, mounts on fds):
// the host's directories stay untouched, and the container either runs with its files inside its own
// root or fails with one error naming the path in the image. A tty's /dev/console is bound by fd in the
// container's own /dev: an image's /dev/console symlink to a host file is never followed.
import type { ExecutionContext } from 'ava';
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { readContainerStatus, runContainer } from '../../src/container/index.js';
import { importImage } from '../../src/image/index.js';
import { paths } from '../../src/state/paths.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, hostFixture, useContainerEnv, type HostFixture as Fixture } from './env.js';

let env: TestEnv | undefined;
let work = '';
let n = 0;

useContainerEnv('hostile', 171, async (e, w) => {
  env = e;
  work = w;
  await createTestPod(e, 'h');
});

const fixture = (): Fixture => hostFixture(work, `c${++n}`);

/** "../" enough times to climb from DIR (inside the rootfs) to the host's / and then down to TARGET. */
function climb(depthFrom: string, target: string): string {
  return '../'.repeat(depthFrom.split('/').length + 2) + target.replace(/^\//, '');
}

function replaceWithLink(rootfs: string, p: string, target: string): void {
  rmSync(join(rootfs, p), { recursive: true, force: true });
  symlinkSync(target, join(rootfs, p));
}

/** The host dir holds only what the test put there. */
function untouched(t: ExecutionContext, host: string): void {
  t.deepEqual(readdirSync(host), ['keep'], `nothing was made in the host directory ${host}`);
  t.is(readFileSync(join(host, 'keep'), 'utf8'), 'host\n');
}

/**
 * Runs SCRIPT in the fixture to its end. Either the run fails with a message naming PATH (the path in the
 * image), or the script's output is returned.
 */
async function runOrRefuse(t: ExecutionContext, f: Fixture, script: string, path: string): Promise<string | undefined> {
  let started = false;
  try {
    await runContainer({ root: env!.root, pod: 'h', name: f.name, rootfs: f.rootfs, command: ['sh', '-c', script] });
    started = true;
  } catch (err) {
    const msg = (err as Error).message;
    t.log(msg);
    t.regex(msg, new RegExp(`rootfs: [A-Z]+ \\(${path.replace(/\//g, '\\/')} in the image is `), msg);
    t.false(msg.includes(f.host), `the message names the path in the image, not the host's: ${msg}`);
    return undefined;
  }
  t.true(started);
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'h', name: f.name })?.state === 'exited', 'the container to end');
  return readFileSync(paths.containerLog(env!.root, 'h', f.name), 'utf8');
}

const privilegedIf = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  privileged(title, async (t) => {
    if (!busyboxAvailable()) { t.pass('no busybox'); return; }
    await impl(t);
  });

privilegedIf('etc -> an absolute host dir: hosts, hostname, resolv.conf are not made on the host', async (t) => {
  const f = fixture();
  replaceWithLink(f.rootfs, 'etc', f.host);
  await runOrRefuse(t, f, 'cat /etc/hosts', '/etc');
  untouched(t, f.host);
});

privilegedIf('etc -> the same absolute path inside the root: the files are made there, in the container', async (t) => {
  const f = fixture();
  // the path the link names exists in the image too: resolved in the root, that is where /etc is
  const inside = join(f.rootfs, f.host);
  mkdirSync(inside, { recursive: true });
  writeFileSync(join(inside, 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  replaceWithLink(f.rootfs, 'etc', f.host);
  const out = await runOrRefuse(t, f, 'cat /etc/hosts; echo; cat /etc/hostname', '/etc');
  t.truthy(out, 'it runs');
  t.regex(out!, /stdout F .*localhost/, 'the pod\'s hosts file is the container\'s /etc/hosts');
  t.true(existsSync(join(inside, 'hosts')), 'the bind target was made inside the root');
  untouched(t, f.host);
});

privilegedIf('etc -> ../../.. up to a host dir (relative, with ..): nothing is made on the host', async (t) => {
  const f = fixture();
  replaceWithLink(f.rootfs, 'etc', climb(f.rootfs, f.host));
  await runOrRefuse(t, f, 'cat /etc/hosts', '/etc');
  untouched(t, f.host);
});

privilegedIf('etc -> tmp/etc and tmp -> a host dir: a chain through /tmp stays inside the root', async (t) => {
  const f = fixture();
  mkdirSync(join(f.host, 'etc'));
  replaceWithLink(f.rootfs, 'tmp', f.host);
  replaceWithLink(f.rootfs, 'etc', 'tmp/etc');
  await runOrRefuse(t, f, 'cat /etc/hosts', '/etc');
  t.deepEqual(readdirSync(join(f.host, 'etc')), [], 'nothing was made in the host directory');
  rmSync(join(f.host, 'etc'), { recursive: true });
  untouched(t, f.host);
});

privilegedIf('/etc/hosts -> a host file: the host file is not the mount target', async (t) => {
  const f = fixture();
  const hostFile = join(f.host, 'keep');
  symlinkSync(climb(join(f.rootfs, 'etc'), hostFile), join(f.rootfs, 'etc', 'hosts'));
  const out = await runOrRefuse(t, f, 'cat /etc/hosts', '/etc/hosts');
  // either refused, naming /etc/hosts, or the container reads the pod's hosts file at /etc/hosts
  if (out !== undefined) t.regex(out, /stdout F .*localhost/);
  untouched(t, f.host);
});

for (const dir of ['dev', 'proc', 'sys'] as const) {
  privilegedIf(`${dir} -> a host dir: the kernel filesystem is not mounted through the link`, async (t) => {
    const f = fixture();
    replaceWithLink(f.rootfs, dir, f.host);
    const check = dir === 'dev' ? 'test -c /dev/null && test -d /dev/pts && echo ok'
      : dir === 'proc' ? 'test -r /proc/self/status && echo ok' : 'test -d /sys/class/net && echo ok';
    const out = await runOrRefuse(t, f, check, `/${dir}`);
    if (out !== undefined) t.regex(out, /stdout F ok/);
    untouched(t, f.host);
  });
}

privilegedIf('dev -> ../../.. up to a host dir: refused, nothing made on the host', async (t) => {
  const f = fixture();
  const target = join(f.host, 'made');
  replaceWithLink(f.rootfs, 'dev', climb(f.rootfs, target));
  await runOrRefuse(t, f, 'test -c /dev/null && echo ok', '/dev');
  untouched(t, f.host);
});

privilegedIf('etc is a file: one error naming /etc', async (t) => {
  const f = fixture();
  rmSync(join(f.rootfs, 'etc'), { recursive: true });
  writeFileSync(join(f.rootfs, 'etc'), 'not a dir\n');
  await t.throwsAsync(runContainer({ root: env!.root, pod: 'h', name: f.name, rootfs: f.rootfs, command: ['true'] }),
    { message: /rootfs: ENOTDIR \(\/etc in the image is not a directory/ });
});

privilegedIf('a container plants etc -> host dir in its upper dir: its restart does not follow it to the host', async (t) => {
  const f = fixture();
  const image = `hostile-${f.name}`;
  // no /etc in the image: the first run's watcher makes it in the upper dir, where the container may rename it
  rmSync(join(f.rootfs, 'etc'), { recursive: true });
  await importImage({ root: env!.root, name: image, source: f.rootfs });
  // first run: replace /etc in the container's own (persistent) upper dir with a link to the host dir, fail
  const script = `if [ -L /etc ]; then echo second; exit 0; fi; mv /etc /etc.old && ln -s ${f.host} /etc && echo planted; exit 1`;
  await runContainer({ root: env!.root, pod: 'h', name: f.name, image, command: ['sh', '-c', script], restartPolicy: 'OnFailure', backoffMs: 20 });
  const logs = (): string => ['containerLog', 'containerPreviousLog'].map((k) => {
    try {
      return readFileSync(paths[k as 'containerLog'](env!.root, 'h', f.name), 'utf8');
    } catch {
      return '';
    }
  }).join('');
  await waitFor(() => /\/etc in the image is |stdout F second/.test(logs()), 'the restart').catch((err: Error) => {
    throw new Error(`${err.message}; logs: ${logs()}`);
  });
  t.true(lstatSync(join(paths.container(env!.root, 'h', f.name), 'rootfs', 'upper', 'etc')).isSymbolicLink(), 'the first run planted the link');
  t.regex(logs(), /cannot start the container: ENOENT rootfs: \/etc in the image is /, 'the restart is refused, naming /etc');
  untouched(t, f.host);
});

privilegedIf('dev/console -> a host file (absolute, and climbing with ".."): a tty container\'s console is its pty, the host file is untouched', async (t) => {
  for (const target of ['abs', 'climb']) {
    const f = fixture();
    const hostFile = join(f.host, 'keep');
    symlinkSync(target === 'abs' ? hostFile : climb('dev', hostFile), join(f.rootfs, 'dev', 'console'));
    await runContainer({ root: env!.root, pod: 'h', name: f.name, rootfs: f.rootfs, tty: true, command: ['sh', '-c', 'stat -c "%t:%T" /dev/console "$(tty)"; echo hostile > /dev/console'] });
    await waitFor(() => readContainerStatus({ root: env!.root, pod: 'h', name: f.name })?.state === 'exited', 'the container to end');
    const lines = readFileSync(paths.containerLog(env!.root, 'h', f.name), 'utf8').split('\n').map((l) => l.replace(/^\S+ stdout [FP] /, '').replace(/\r$/, ''));
    t.regex(lines[0]!, /^88:[0-9a-f]+$/, target);
    t.is(lines[0], lines[1], `${target}: /dev/console is the pty`);
    t.is(lines[2], 'hostile', `${target}: written to the terminal`);
    untouched(t, f.host);
    t.true(lstatSync(join(f.rootfs, 'dev', 'console')).isSymbolicLink(), 'the image\'s link is left as it was');
  }
});
