// The devices cgroup (cgroup v1 `devices`): a container holding CAP_MKNOD still cannot read the host's
// disk through a node it makes; exec sessions are confined the same way; the cgroup goes with the
// container (watcher), with the pod (delete), after kill -9 (delete, gc); privileged containers have none.
import type { ExecutionContext } from 'ava';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { execInContainer, readContainerConfig, readContainerStatus, runContainer } from '../../src/container/index.js';
import { devicesControllerAvailable, devicesHierarchy } from '../../src/container/devices.js';

const DEVICES_HIERARCHY = devicesHierarchy() ?? '/sys/fs/cgroup/devices';
import { deletePod } from '../../src/pod/delete.js';
import { inspectPod } from '../../src/pod/inspect.js';
import { paths } from '../../src/state/paths.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';
import { processGone, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let work = '';
let rootfs = '';

useContainerEnv('devices', 173, async (e, w) => {
  env = e;
  work = w;
  rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
});

/**
 * A device outside the container's minimal set that this host lets root read, as "b|c MAJOR MINOR": the
 * first disk when readable (on some VMs even the host's root may not read it), else /dev/vcs or /dev/hwrng.
 * Checked by reading 16 bytes through a node made in a fresh directory under /tmp.
 */
function probeDevice(): string[] | undefined {
  const candidates: string[][] = [];
  for (const e of readdirSync('/sys/dev/block')) {
    const uevent = readFileSync(`/sys/dev/block/${e}/uevent`, 'utf8');
    if (/^DEVTYPE=disk$/m.test(uevent) && !/^DEVNAME=(loop|ram|zram)/m.test(uevent)) candidates.push(['b', ...e.split(':')]);
  }
  candidates.push(['c', '7', '0'], ['c', '10', '183']);
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-probe-'));
  try {
    for (const c of candidates) {
      const p = join(dir, 'n');
      rmSync(p, { force: true });
      execFileSync('mknod', [p, ...c]);
      try {
        const fd = openSync(p, 'r');
        try {
          if (readSync(fd, Buffer.alloc(16), 0, 16, null) === 16) return c;
        } finally {
          closeSync(fd);
        }
      } catch {
        // not readable here: the next one
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return undefined;
}

const withCgroup = (title: string, impl: (t: ExecutionContext) => Promise<void>): void =>
  privileged(title, async (t) => {
    if (!busyboxAvailable()) { t.pass('no busybox'); return; }
    if (!devicesControllerAvailable()) { t.pass(`no cgroup v1 devices controller at ${DEVICES_HIERARCHY}`); return; }
    await impl(t);
  });

async function pod(name: string): Promise<void> {
  await createTestPod(env!, name);
}

function logText(p: string, c: string): string {
  return readFileSync(paths.containerLog(env!.root, p, c), 'utf8').split('\n').filter(Boolean).map((l) => l.split(' ').slice(3).join(' ')).join('\n');
}

withCgroup('with CAP_MKNOD, a node of a host device cannot be made or read; the minimal /dev still works', async (t) => {
  const dev = probeDevice();
  if (dev === undefined) { t.pass('no device outside the minimal set is readable here'); return; }
  await pod('mk');
  const script = [
    `/bin/busybox mknod /tmp/d ${dev.join(' ')} && echo made`,
    'echo read=$(head -c 16 /tmp/d | wc -c)',
    'echo x > /dev/null && head -c 4 /dev/urandom | wc -c && echo dev-ok',
    'grep devices /proc/self/cgroup',
  ].join('\n');
  await runContainer({ root: env!.root, pod: 'mk', name: 'c', rootfs, command: ['sh', '-c', script], capAdd: ['MKNOD'] });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'mk', name: 'c' })?.state === 'exited', 'the container to end');
  const out = logText('mk', 'c');
  t.log(out);
  t.false(/read=16/.test(out), `the device was read: ${out}`);
  t.false(/^made$/m.test(out), 'mknod is refused by the devices cgroup, CAP_MKNOD or not');
  t.regex(out, /Operation not permitted/);
  t.regex(out, /dev-ok/);
  const cg = readContainerConfig({ root: env!.root, pod: 'mk', name: 'c' })!.devicesCgroup!;
  t.regex(out, new RegExp(`devices:${cg.slice(DEVICES_HIERARCHY.length)}$`, 'm'), 'the workload was in its devices cgroup');
  t.false(existsSync(cg), 'the watcher removed the cgroup when the container ended');
});

withCgroup('exec sessions join the container\'s devices cgroup; delete removes it', async (t) => {
  const dev = probeDevice();
  await pod('ex');
  await runContainer({ root: env!.root, pod: 'ex', name: 'c', rootfs, command: ['sleep', '1000'], capAdd: ['MKNOD'] });
  const cg = readContainerConfig({ root: env!.root, pod: 'ex', name: 'c' })!.devicesCgroup!;
  t.true(existsSync(cg));
  t.deepEqual(readFileSync(join(cg, 'devices.list'), 'utf8').split('\n').filter(Boolean).sort(),
    ['c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c 5:0 rwm', 'c 5:2 rwm'].sort());
  const inCg = `grep -q ":devices:${cg.slice(DEVICES_HIERARCHY.length)}$" /proc/self/cgroup`;
  t.is(await execInContainer({ root: env!.root, pod: 'ex', container: 'c', argv: ['sh', '-c', inCg] }), 0, 'exec runs in the cgroup');
  if (dev !== undefined) {
    const read = `/bin/busybox mknod /tmp/e ${dev.join(' ')} 2>/dev/null; test "$(head -c 16 /tmp/e 2>/dev/null | wc -c)" = 16`;
    t.is(await execInContainer({ root: env!.root, pod: 'ex', container: 'c', argv: ['sh', '-c', read] }), 1, 'exec cannot read the device');
  }
  const details = inspectPod({ root: env!.root, name: 'ex' }).containers.details[0]!;
  t.is(details.devices.cgroup, cg);
  await deletePod({ root: env!.root, name: 'ex', grace: 0 });
  t.false(existsSync(cg), 'delete removed the cgroup');
  t.false(existsSync(join(cg, '..')), 'and the pod\'s');
});

withCgroup('kill -9 of the watcher: delete removes the cgroup it left', async (t) => {
  await pod('k9');
  const { status } = await runContainer({ root: env!.root, pod: 'k9', name: 'c', rootfs, command: ['sleep', '1000'], capAdd: ['MKNOD'] });
  const cg = readContainerConfig({ root: env!.root, pod: 'k9', name: 'c' })!.devicesCgroup!;
  process.kill(status.watcherPid, 'SIGKILL');
  await waitFor(() => processGone(status.pid), 'the workload to die with its pid namespace');
  t.true(existsSync(cg), 'the watcher had no chance to remove it');
  await deletePod({ root: env!.root, name: 'k9', grace: 0, force: true });
  t.false(existsSync(cg));
});

withCgroup('kill -9 of the watcher and of delete: gc removes the cgroup', async (t) => {
  await pod('gc9');
  const { status } = await runContainer({ root: env!.root, pod: 'gc9', name: 'c', rootfs, command: ['sleep', '1000'], capAdd: ['SYS_ADMIN'] });
  const cg = readContainerConfig({ root: env!.root, pod: 'gc9', name: 'c' })!.devicesCgroup!;
  process.kill(status.watcherPid, 'SIGKILL');
  await waitFor(() => processGone(status.pid), 'the workload to die with its pid namespace');
  const r = await env!.cli(['delete', 'gc9', '--force'], { PODNS_FAULT: 'delete-after-mark' });
  t.is(r.signal, 'SIGKILL', 'delete was killed part way');
  t.true(existsSync(cg));
  const gc = await env!.cli(['gc']);
  t.is(gc.exitCode, 0, gc.stderr);
  t.false(existsSync(cg), gc.stdout);
});

withCgroup('a privileged container has no devices cgroup, and inspect says so', async (t) => {
  await pod('pv');
  await runContainer({ root: env!.root, pod: 'pv', name: 'c', rootfs, command: ['sleep', '1000'], privileged: true });
  t.is(readContainerConfig({ root: env!.root, pod: 'pv', name: 'c' })!.devicesCgroup, undefined);
  const d = inspectPod({ root: env!.root, name: 'pv' }).containers.details[0]!;
  t.deepEqual(d.devices, { cgroup: null, access: 'all of its /dev: privileged (no devices cgroup)' });
  t.deepEqual(d.maskedPaths, []);
});

/** A node of the probe device at DIR/NAME (on the host's /tmp, not the sandbox's nodev /run). */
function deviceNode(dir: string, name: string): string | undefined {
  const dev = probeDevice();
  if (dev === undefined) return undefined;
  const p = join(dir, name);
  execFileSync('mknod', [p, ...dev]);
  return p;
}

withCgroup('without MKNOD or SYS_ADMIN: no devices cgroup, and a device node in the root filesystem cannot be opened (nodev)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-devnode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fixture = makeBusyboxRootfs(join(dir, 'rootfs'));
  if (deviceNode(fixture, 'disk') === undefined) { t.pass('no device outside the minimal set is readable here'); return; }
  await pod('nd');
  await runContainer({ root: env!.root, pod: 'nd', name: 'c', rootfs: fixture, command: ['sh', '-c', 'echo read=$(head -c 16 /disk | wc -c); ls /dev | tr "\\n" " "'] });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'nd', name: 'c' })?.state === 'exited', 'the container to end');
  const out = logText('nd', 'c');
  t.log(out);
  t.regex(out, /read=0/);
  t.regex(out, /Permission denied/);
  t.is(readContainerConfig({ root: env!.root, pod: 'nd', name: 'c' })!.devicesCgroup, undefined, 'no cgroup: nothing to pay for');
});

withCgroup('on the host\'s tree: the minimal /dev, and a device node elsewhere on the host cannot be opened', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'podns-test-devnode-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const node = deviceNode(dir, 'disk');
  if (node === undefined) { t.pass('no device outside the minimal set is readable here'); return; }
  await pod('ht');
  await runContainer({ root: env!.root, pod: 'ht', name: 'c', command: ['sh', '-c', `echo read=$(head -c 16 ${node} | wc -c); echo dev: $(ls /dev)`] });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'ht', name: 'c' })?.state === 'exited', 'the container to end');
  const out = logText('ht', 'c');
  t.log(out);
  t.regex(out, /read=0/);
  t.regex(out, /^dev: fd full null ptmx pts random shm stderr stdin stdout tty urandom zero$/m);
});
