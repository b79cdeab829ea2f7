// Volumes (run -v, manifest volumes, CRI mounts): host paths mounted into a container by the shim. The
// target is resolved inside the container's root (RESOLVE_IN_ROOT): hostile images whose mount targets
// are symlinks to / or to host directories never get the mount (or a made directory) onto the host.
// Read-only is EROFS, propagation private/rslave/rshared behaves as the kernel's, bad paths are one line.
import type { ExecutionContext } from 'ava';
import test from 'ava';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execCapture, readContainerStatus, runContainer, stopContainers } from '../../src/container/index.js';
import { parseVolumeFlag, validateMounts } from '../../src/container/mounts.js';
import { readPod } from '../../src/pod/store.js';
import type { VolumeMount } from '../../src/pod/types.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { createTestPod, hostFixture, useContainerEnv, type HostFixture as Fixture } from './env.js';

let env: TestEnv | undefined;
let work = '';
let n = 0;

useContainerEnv('mounts', 151, async (e, w) => {
  env = e;
  work = w;
  await createTestPod(e, 'v');
});

const privilegedIf = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  privileged(title, async (t) => {
    if (!busyboxAvailable()) { t.pass('no busybox'); return; }
    await impl(t);
  });

const fixture = (): Fixture => hostFixture(work, `c${++n}`);

async function start(f: Fixture, mounts: VolumeMount[], o: { privileged?: boolean } = {}): Promise<void> {
  await runContainer({ root: env!.root, pod: 'v', name: f.name, rootfs: f.rootfs, command: ['sleep', '1000'], mounts, ...o });
}

async function sh(f: Fixture, script: string): Promise<{ out: string; code: number }> {
  const r = await execCapture({ root: env!.root, pod: 'v', container: f.name, argv: ['sh', '-c', script] });
  return { out: r.stdout.toString() + r.stderr.toString(), code: r.exitCode };
}

const stop = (f: Fixture): Promise<unknown> => stopContainers({ root: env!.root, pod: 'v', names: [f.name], grace: 0 });

/** The run is refused with one line matching RE, and nothing of it is left in the pod. */
async function refused(t: ExecutionContext, f: Fixture, mounts: VolumeMount[], re: RegExp): Promise<void> {
  const err = await t.throwsAsync(start(f, mounts));
  t.log(err?.message);
  t.regex(err?.message ?? '', re);
  t.false((err?.message ?? '').includes('\n'), 'one line');
  t.false(readPod({ root: env!.root, name: 'v' }).containers.includes(f.name), 'no container is left in the pod');
}

test('validateMounts: relative, "..", root and duplicate targets are refused; parents sort first', (t) => {
  const src = process.cwd();
  t.throws(() => validateMounts([{ source: src, target: 'data' }]), { message: /invalid mount target "data": it is relative/ });
  t.throws(() => validateMounts([{ source: src, target: '/a/../etc' }]), { message: /it holds "\.\."/ });
  t.throws(() => validateMounts([{ source: src, target: '/' }]), { message: /cannot be mounted on the container's root/ });
  t.throws(() => validateMounts([{ source: src, target: '/d' }, { source: src, target: '/d/' }]), { message: /two mounts on \/d/ });
  t.throws(() => validateMounts([{ source: 'rel', target: '/d' }]), { message: /give an absolute path on the host/ });
  t.throws(() => validateMounts([{ source: '/nonexistent-podns-src', target: '/d' }]), { message: /does not exist on the host/ });
  t.throws(() => validateMounts([{ source: src, target: '/d', propagation: 'bogus' as 'private' }]), { message: /invalid propagation "bogus"/ });
  const sorted = validateMounts([{ source: src, target: '/a/b/c' }, { source: src, target: '/a//' }, { source: src, target: '/z', readOnly: true }]);
  t.deepEqual(sorted.map((m) => m.target), ['/a', '/z', '/a/b/c']);
  t.true(sorted[1]!.readOnly);
});

test('parseVolumeFlag: HOST:CTR[:ro,rslave]; relative host paths resolve, relative container paths do not', (t) => {
  t.deepEqual(parseVolumeFlag('/srv:/data:ro'), { source: '/srv', target: '/data', readOnly: true });
  t.deepEqual(parseVolumeFlag('./x:/data:rslave'), { source: join(process.cwd(), 'x'), target: '/data', propagation: 'rslave' });
  t.throws(() => parseVolumeFlag('/srv:data'), { message: /-v container path "data": it is relative/ });
  t.throws(() => parseVolumeFlag('/srv:/a/../b'), { message: /holds "\.\."/ });
  t.throws(() => parseVolumeFlag('name:/data'), { message: /named volume/ });
  t.throws(() => parseVolumeFlag('/srv:/d:sometimes'), { message: /invalid -v option "sometimes"/ });
  t.throws(() => parseVolumeFlag('/srv'), { message: /give HOST:CONTAINER/ });
});

privilegedIf('a directory and a file volume: read-write reaches the host, read-only is EROFS', async (t) => {
  const f = fixture();
  const file = join(work, `${f.name}-file`);
  writeFileSync(file, 'token\n');
  const ro = join(work, `${f.name}-ro`);
  mkdirSync(ro);
  await start(f, [{ source: f.host, target: '/data' }, { source: ro, target: '/data/ro', readOnly: true }, { source: file, target: '/var/run/secret/token', readOnly: true }]);
  let r = await sh(f, 'cat /data/keep /var/run/secret/token && echo made > /data/out && echo ok');
  t.is(r.code, 0, r.out);
  t.is(readFileSync(join(f.host, 'out'), 'utf8'), 'made\n', 'a write reaches the host directory');
  r = await sh(f, 'touch /data/ro/x');
  t.not(r.code, 0);
  t.regex(r.out, /Read-only file system/);
  r = await sh(f, 'echo x > /var/run/secret/token');
  t.regex(r.out, /Read-only file system/);
  t.deepEqual(readdirSync(ro), [], 'nothing written through the read-only volume');
  t.is(readFileSync(file, 'utf8'), 'token\n');
  r = await sh(f, 'grep " /data/ro " /proc/mounts');
  t.regex(r.out, /\bro,nosuid,nodev\b/, 'read-only, nosuid, nodev');
  await stop(f);
});

privilegedIf('target /data -> / in the image: refused, nothing mounted over the container\'s root or the host', async (t) => {
  const f = fixture();
  symlinkSync('/', join(f.rootfs, 'data'));
  await refused(t, f, [{ source: f.host, target: '/data' }], /volume: EINVAL \(\/data resolves to the container's root directory/);
});

privilegedIf('target /data -> ../../.. up to the host\'s /etc: the mount lands on the container\'s /etc, the host\'s is untouched', async (t) => {
  const f = fixture();
  const marker = `podns-mounts-test-${process.pid}-${f.name}`;
  symlinkSync('../'.repeat(f.rootfs.split('/').length + 2) + 'etc', join(f.rootfs, 'data'));
  await start(f, [{ source: f.host, target: `/data/${marker}` }]);
  const r = await sh(f, `cat /etc/${marker}/keep`);
  t.is(r.code, 0, r.out);
  t.regex(r.out, /host/, 'the volume is at the container\'s /etc');
  t.true(existsSync(join(f.rootfs, 'etc', marker)), 'the target was made inside the root');
  t.false(existsSync(join('/etc', marker)), 'nothing was made in the host\'s /etc');
  await stop(f);
});

privilegedIf('target /data -> an absolute host dir: refused, naming /data; the host dir is untouched', async (t) => {
  const f = fixture();
  const hostDir = join(work, `${f.name}-hostdir`);
  mkdirSync(hostDir);
  symlinkSync(hostDir, join(f.rootfs, 'data'));
  await refused(t, f, [{ source: f.host, target: '/data/sub' }], /rootfs: ENOENT \(\/data in the image is a symbolic link to a missing directory/);
  t.deepEqual(readdirSync(hostDir), [], 'nothing made in the host dir the link names');
});

privilegedIf('a file target that is a link to a missing host file: refused, the host file is not made', async (t) => {
  const f = fixture();
  const hostFile = join(work, `${f.name}-planted`);
  writeFileSync(join(work, `${f.name}-src`), 'secret\n');
  symlinkSync(hostFile, join(f.rootfs, 'etc', 'token'));
  await refused(t, f, [{ source: join(work, `${f.name}-src`), target: '/etc/token' }], /\/etc\/token in the image is a symbolic link to a missing file/);
  t.false(existsSync(hostFile), 'the host file the link names was not made');
});

privilegedIf('a directory volume on a file of the image: one line naming both', async (t) => {
  const f = fixture();
  writeFileSync(join(f.rootfs, 'etc', 'conf'), 'x\n');
  await refused(t, f, [{ source: f.host, target: '/etc/conf' }], /\/etc\/conf in the image is not a directory|\/etc\/conf is a file in the container/);
});

privilegedIf('propagation: rslave sees mounts made on the host later, private does not; rshared sends them back', async (t) => {
  const f = fixture();
  const src = join(work, `${f.name}-shared`);
  mkdirSync(join(src, 'sub'), { recursive: true });
  // the source is a shared mount of its own (in the test sandbox's mount namespace)
  execFileSync('mount', ['--bind', src, src]);
  execFileSync('mount', ['--make-shared', src]);
  try {
    await start(f, [{ source: src, target: '/slave', propagation: 'rslave' }, { source: src, target: '/private' }, { source: src, target: '/shared', propagation: 'rshared' }], { privileged: true });
    execFileSync('mount', ['-t', 'tmpfs', 'podns-test', join(src, 'sub')]);
    writeFileSync(join(src, 'sub', 'late'), 'late\n');
    let r = await sh(f, 'cat /slave/sub/late');
    t.is(r.code, 0, `rslave: ${r.out}`);
    r = await sh(f, 'test -e /private/sub/late && echo seen || echo not-seen');
    t.regex(r.out, /not-seen/, 'private: the host\'s later mount is not seen');
    r = await sh(f, 'cat /shared/sub/late');
    t.is(r.code, 0, `rshared receives too: ${r.out}`);
    mkdirSync(join(src, 'back'));
    r = await sh(f, 'busybox mount -t tmpfs back /shared/back && echo from-container > /shared/back/f && echo ok');
    t.is(r.code, 0, r.out);
    t.is(readFileSync(join(src, 'back', 'f'), 'utf8'), 'from-container\n', 'rshared: a mount made in the container reaches the host');
    await stop(f);
  } finally {
    execFileSync('umount', ['-R', '-l', src]);
  }
});

privilegedIf('without a root filesystem: the target must exist; the volume shows at the host path in the container only', async (t) => {
  const f = fixture();
  const target = join(work, `${f.name}-target`);
  mkdirSync(target);
  await runContainer({ root: env!.root, pod: 'v', name: f.name, command: ['sleep', '1000'], mounts: [{ source: f.host, target, readOnly: true }] });
  const r = await execCapture({ root: env!.root, pod: 'v', container: f.name, argv: ['cat', join(target, 'keep')] });
  t.is(r.stdout.toString(), 'host\n');
  t.deepEqual(readdirSync(target), [], 'the host\'s own path is not mounted over');
  await stop(f);
  const g = fixture();
  const err = await t.throwsAsync(runContainer({ root: env!.root, pod: 'v', name: g.name, command: ['true'], mounts: [{ source: g.host, target: join(work, 'missing-target') }] }));
  t.regex(err?.message ?? '', /volume: ENOENT .*the target must exist on the host/);
  t.is(readContainerStatus({ root: env!.root, pod: 'v', name: g.name }), undefined);
});
