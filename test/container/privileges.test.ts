// What a container may do, read from the kernel: /proc/PID/status of the workload and of an exec session
// (CapEff, CapBnd, CapInh, CapAmb, NoNewPrivs, Seccomp, Uid, Gid, Groups), the denials of the seccomp filter
// seen from inside (a static probe built here with musl-gcc, test/fixtures/seccomp-probe.c), and the pod
// netns's ping_group_range.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { containerLogs, readContainerStatus, runContainer } from '../../src/container/index.js';
import { computeCapabilities, CAPABILITIES, DEFAULT_CAPABILITIES, parseSecurityOpts, privilegeSummary } from '../../src/container/privileges.js';
import { readContainerConfig } from '../../src/container/status.js';
import { PodnsError } from '../../src/errors.js';
import { importImage } from '../../src/image/index.js';
import { applyManifest } from '../../src/manifest/index.js';
import { createPod } from '../../src/pod/create.js';
import { inspectPod } from '../../src/pod/inspect.js';
import { readPod } from '../../src/pod/store.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial } from '../helpers/root.js';
import { packageRoot, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let work = '';
let rootfs = '';
let probeBuilt = false;

const DEFAULT_MASK = 0x800405fbn; // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP NET_BIND_SERVICE SYS_CHROOT SETFCAP
const NET_ADMIN = 1n << 12n;

useContainerEnv('priv', 241, async (e, w) => {
  env = e;
  work = w;
  rootfs = makeBusyboxRootfs(join(work, 'busybox'));
  for (const a of ['unshare', 'mount', 'mknod']) symlinkSync('busybox', join(rootfs, 'bin', a));
  // The probe: static, so it runs in the busybox rootfs. Without musl-gcc the seccomp tests say so and fail.
  const r = await execa('musl-gcc', ['-static', '-O1', '-o', join(rootfs, 'bin', 'probe'), join(packageRoot, 'test', 'fixtures', 'seccomp-probe.c'), '-lpthread'], { reject: false });
  probeBuilt = r.exitCode === 0;
  await importImage({ root: env.root, name: 'privbox', source: rootfs, config: { cmd: ['sleep', '1000'] } });
});

async function pod(name: string): Promise<void> {
  await createTestPod(env!, name);
}

/** /proc/PID/status as a map (the workload's, read from the host: the kernel's own account). */
function status(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

function parseStatus(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

const hex = (s: string | undefined): bigint => BigInt(`0x${s ?? 'x'}`);

/** Every capability this process may hand on: ours (root in the test VM lacks CAP_SYS_RESOURCE). */
function ourBounding(): bigint {
  return hex(status(process.pid).CapBnd);
}

async function run(podName: string, name: string, extra: Partial<Parameters<typeof runContainer>[0]> = {}): Promise<number> {
  const r = await runContainer({ root: env!.root, pod: podName, name, rootfs, command: ['sleep', '1000'], ...extra });
  return r.status.pid;
}

async function logsOf(podName: string, container: string): Promise<string> {
  const out: string[] = [];
  const w = { write: (s: string) => out.push(s) > 0 };
  await containerLogs({ root: env!.root, pod: podName, container, out: { stdout: w, stderr: w } });
  return out.join('');
}

async function runToEnd(podName: string, name: string, command: string[], extra: Partial<Parameters<typeof runContainer>[0]> = {}): Promise<Record<string, string>> {
  await runContainer({ root: env!.root, pod: podName, name, rootfs, command, ...extra });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: podName, name: name })?.state === 'exited', `${name} to exit`);
  const out: Record<string, string> = {};
  for (const line of (await logsOf(podName, name)).split('\n')) {
    const m = /^(\w+)=(\S+)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

test('capability names: with or without CAP_, any case; ALL; an unknown name is one line', (t) => {
  t.deepEqual(computeCapabilities({}), [...DEFAULT_CAPABILITIES].sort((a, b) => CAPABILITIES.indexOf(a) - CAPABILITIES.indexOf(b)));
  t.true(computeCapabilities({ capAdd: ['cap_net_admin'] }).includes('NET_ADMIN'));
  t.deepEqual(computeCapabilities({ capDrop: ['all'] }), []);
  t.deepEqual(computeCapabilities({ capDrop: ['ALL'], capAdd: ['Net_Raw'] }), ['NET_RAW']);
  t.is(computeCapabilities({ privileged: true }).length, CAPABILITIES.length);
  t.false(computeCapabilities({ capAdd: ['ALL'], capDrop: ['SYS_ADMIN'] }).includes('SYS_ADMIN'));
  const e = t.throws(() => computeCapabilities({ capAdd: ['NET_FOO'] }), { instanceOf: PodnsError });
  t.regex(e!.message, /^unknown capability in --cap-add "NET_FOO": use a name from capabilities\(7\)/);
  t.false(e!.message.includes('\n'));
  t.throws(() => computeCapabilities({ capAdd: ['KILL'], capDrop: ['kill'] }), { message: /both added and dropped/ });
});

test('--security-opt: Docker\'s and podman\'s spellings; anything else is refused with what podns knows', (t) => {
  t.deepEqual(parseSecurityOpts(['no-new-privileges']), { noNewPrivileges: true });
  t.deepEqual(parseSecurityOpts(['no-new-privileges:true', 'seccomp=unconfined']), { noNewPrivileges: true, seccomp: 'Unconfined' });
  t.deepEqual(parseSecurityOpts(['no-new-privileges=false']), { noNewPrivileges: false });
  t.throws(() => parseSecurityOpts(['apparmor=unconfined']), { message: /unsupported --security-opt "apparmor=unconfined": podns knows seccomp=unconfined and no-new-privileges/ });
  t.throws(() => parseSecurityOpts(['seccomp=profile.json']), { message: /built-in filter only/ });
});

privilegedSerial('a container and an exec session get podman\'s default capabilities, nothing inheritable or ambient, the seccomp filter', async (t) => {
  await pod('caps');
  const pid = await run('caps', 'c');
  const st = status(pid);
  t.is(hex(st.CapEff), DEFAULT_MASK);
  t.is(hex(st.CapPrm), DEFAULT_MASK);
  t.is(hex(st.CapBnd), DEFAULT_MASK);
  t.is(hex(st.CapInh), 0n);
  t.is(hex(st.CapAmb), 0n);
  t.is(st.NoNewPrivs, '0');
  t.is(st.Seccomp, '2');
  t.is(st.Groups, '', 'no supplementary groups leak in from whoever ran podns');
  // exec: the same set, as the main process
  const ex = await env!.cli(['exec', 'caps', '-c', 'c', '--', 'cat', '/proc/self/status']);
  t.is(ex.exitCode, 0, ex.stderr);
  const es = parseStatus(ex.stdout);
  t.is(hex(es.CapEff), DEFAULT_MASK);
  t.is(hex(es.CapBnd), DEFAULT_MASK);
  t.is(es.Seccomp, '2');
  // PID 1 there is the watcher (the container's own pid namespace): it holds no capability beyond the set
  // effective (KILL, to signal the workload), and no container process may read its /proc files or ptrace it
  const one = await env!.cli(['exec', 'caps', '-c', 'c', '--', 'cat', '/proc/1/status']);
  t.is(hex(parseStatus(one.stdout).CapEff) & ~DEFAULT_MASK, 0n, one.stdout);
  const environ = await env!.cli(['exec', 'caps', '-c', 'c', '--', 'cat', '/proc/1/environ']);
  t.not(environ.exitCode, 0);
  t.regex(environ.stderr, /Permission denied/);
  // in a pod that shares its pid namespace PID 1 is the pause: nothing effective, not readable either
  await createPod({ root: env!.root, name: 'capsshared', bridge: env!.bridge, subnet: env!.subnet, sharePid: true });
  await run('capsshared', 's');
  const p1 = await env!.cli(['exec', 'capsshared', '-c', 's', '--', 'cat', '/proc/1/status']);
  t.regex(p1.stdout, /Name:\s+pause/);
  t.is(hex(parseStatus(p1.stdout).CapEff), 0n);
  t.not((await env!.cli(['exec', 'capsshared', '-c', 's', '--', 'cat', '/proc/1/environ'])).exitCode, 0);
  // and the record says so (inspect)
  const view = inspectPod({ root: env!.root, name: 'caps' }).containers.details.find((c) => c.name === 'c')!;
  t.deepEqual(view.capabilities, computeCapabilities({}));
  t.is(view.seccomp, 'RuntimeDefault');
});

privilegedSerial('--privileged gives every capability and no filter; --cap-drop ALL none; --cap-add NET_ADMIN adds it', async (t) => {
  await pod('capsets');
  const last = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
  const all = ((1n << BigInt(last + 1)) - 1n) & ourBounding();
  const p = status(await run('capsets', 'priv', { privileged: true }));
  t.is(hex(p.CapEff), all);
  t.is(hex(p.CapBnd), all);
  t.is(p.Seccomp, '0');
  const none = status(await run('capsets', 'none', { capDrop: ['ALL'] }));
  t.is(hex(none.CapEff), 0n);
  t.is(hex(none.CapBnd), 0n);
  const na = status(await run('capsets', 'netadmin', { capAdd: ['NET_ADMIN'] }));
  t.is(hex(na.CapEff), DEFAULT_MASK | NET_ADMIN);
  // through the CLI, as a user types it
  const cli = await env!.cli(['run', 'capsets', '--name', 'clicaps', '--rootfs', rootfs, '--cap-add', 'net_admin,CAP_NET_RAW', '--cap-drop', 'KILL', '--', 'sleep', '1000']);
  t.is(cli.exitCode, 0, cli.stderr);
  const c = status(readContainerStatus({ root: env!.root, pod: 'capsets', name: 'clicaps' })!.pid);
  t.is(hex(c.CapEff), (DEFAULT_MASK | NET_ADMIN | (1n << 13n)) & ~(1n << 5n));
  const nnp = await env!.cli(['run', 'capsets', '--name', 'nnp', '--rootfs', rootfs, '--security-opt', 'no-new-privileges', '--', 'sleep', '1000']);
  t.is(nnp.exitCode, 0, nnp.stderr);
  t.is(status(readContainerStatus({ root: env!.root, pod: 'capsets', name: 'nnp' })!.pid).NoNewPrivs, '1');
  // exec of a privileged container: every capability too
  const ex = await env!.cli(['exec', 'capsets', '-c', 'priv', '--', 'cat', '/proc/self/status']);
  t.is(hex(parseStatus(ex.stdout).CapEff), all);
});

privilegedSerial('an unknown capability or security option is one line and makes nothing, not even the pod', async (t) => {
  const r = await env!.cli(['run', 'nopod', '--name', 'c', '--rootfs', rootfs, '--cap-add', 'NET_FOO', '--', 'sleep', '1']);
  t.not(r.exitCode, 0);
  t.is(r.stderr.trim().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /unknown capability in --cap-add "NET_FOO"/);
  const s = await env!.cli(['run', 'nopod', '--name', 'c', '--rootfs', rootfs, '--security-opt', 'seccomp=/etc/profile.json', '--', 'sleep', '1']);
  t.not(s.exitCode, 0);
  t.regex(s.stderr, /built-in filter only/);
  t.throws(() => readPod({ root: env!.root, name: 'nopod' }));
});

privilegedSerial('runAsUser, runAsGroup and supplementalGroups: Uid, Gid and Groups; a non-root user gets only the added capabilities', async (t) => {
  await pod('users');
  const st = status(await run('users', 'u', { uid: 1000, gid: 1001, supplementalGroups: [5, 6] }));
  t.is(st.Uid, '1000\t1000\t1000\t1000');
  t.is(st.Gid, '1001\t1001\t1001\t1001');
  t.is(st.Groups, '5 6');
  t.is(hex(st.CapEff), 0n);
  t.is(hex(st.CapBnd), DEFAULT_MASK);
  const na = status(await run('users', 'na', { uid: 1000, capAdd: ['NET_ADMIN'] }));
  t.is(hex(na.CapEff), NET_ADMIN);
  t.is(hex(na.CapAmb), NET_ADMIN, 'ambient, so that it survives execve');
  // exec runs as the container's user with its groups
  const ex = await env!.cli(['exec', 'users', '-c', 'u', '--', 'cat', '/proc/self/status']);
  const es = parseStatus(ex.stdout);
  t.is(es.Uid, '1000\t1000\t1000\t1000');
  t.is(es.Groups, '5 6');
  t.is(hex(es.CapEff), 0n);
});

privilegedSerial('the manifest\'s securityContext: allowPrivilegeEscalation false, capabilities, privileged, users and groups, seccompProfile', async (t) => {
  const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: sc
spec:
  securityContext:
    runAsUser: 2000
    supplementalGroups: [7, 8]
  containers:
  - name: nnp
    image: privbox
    securityContext:
      allowPrivilegeEscalation: false
      capabilities:
        add: [NET_ADMIN]
        drop: [KILL]
  - name: root
    image: privbox
    securityContext:
      runAsUser: 0
      runAsGroup: 3
      readOnlyRootFilesystem: true
      seccompProfile:
        type: Unconfined
  - name: priv
    image: privbox
    securityContext:
      runAsUser: 0
      privileged: true
`;
  const err: string[] = [];
  await applyManifest({ root: env!.root, file: 'sc.yaml', text: manifest, bridge: env!.bridge, subnet: env!.subnet, out: { write: () => true }, err: { write: (s: string) => err.push(s) } });
  t.deepEqual(err.filter((l) => /securityContext/.test(l)), [], 'no "not supported" warnings for what is supported');
  const pid = (c: string) => readContainerStatus({ root: env!.root, pod: 'sc', name: c })!.pid;
  const nnp = status(pid('nnp'));
  t.is(nnp.NoNewPrivs, '1');
  t.is(nnp.Uid.split('\t')[0], '2000');
  t.is(nnp.Groups, '7 8');
  t.is(hex(nnp.CapEff), NET_ADMIN, 'a non-root user: only the added capability');
  t.is(hex(nnp.CapBnd), (DEFAULT_MASK | NET_ADMIN) & ~(1n << 5n));
  t.is(nnp.Seccomp, '2');
  const root = status(pid('root'));
  t.is(root.Uid.split('\t')[0], '0', 'the container\'s runAsUser wins over the pod\'s');
  t.is(root.Gid.split('\t')[0], '3');
  t.is(root.Seccomp, '0');
  t.is(hex(root.CapEff), DEFAULT_MASK);
  const touch = await env!.cli(['exec', 'sc', '-c', 'root', '--', 'touch', '/written']);
  t.not(touch.exitCode, 0, 'readOnlyRootFilesystem: the root is read-only');
  t.regex(touch.stderr, /Read-only file system/);
  const priv = status(pid('priv'));
  t.is(priv.Seccomp, '0');
  t.is(hex(priv.CapEff), ourBounding() & ((1n << BigInt(Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8')) + 1)) - 1n));
  t.true(readContainerConfig({ root: env!.root, pod: 'sc', name: 'priv' })!.privileged);
});

privilegedSerial('runAsNonRoot without a non-root uid is refused in one line before anything is made', async (t) => {
  for (const sc of ['runAsNonRoot: true', 'runAsNonRoot: true\n      runAsUser: 0']) {
    const manifest = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: nonroot\nspec:\n  containers:\n  - name: c\n    image: privbox\n    securityContext:\n      ${sc}\n`;
    const e = await t.throwsAsync(applyManifest({ root: env!.root, file: 'nr.yaml', text: manifest, bridge: env!.bridge, subnet: env!.subnet, out: { write: () => true }, err: { write: () => true } }));
    t.regex(e!.message, /runAsNonRoot is true but the container would run as root/);
    t.false(e!.message.includes('\n'));
    t.throws(() => readPod({ root: env!.root, name: 'nonroot' }));
  }
  // the library's RunOptions too
  await t.throwsAsync(runContainer({ root: env!.root, pod: 'nonroot2', name: 'c', rootfs, command: ['true'], runAsNonRoot: true }), { message: /must not run as root/ });
  t.throws(() => readPod({ root: env!.root, name: 'nonroot2' }));
  // Localhost seccomp profiles: a clear error
  const local = `apiVersion: v1\nkind: Pod\nmetadata:\n  name: local\nspec:\n  containers:\n  - name: c\n    image: privbox\n    securityContext:\n      seccompProfile:\n        type: Localhost\n        localhostProfile: my.json\n`;
  await t.throwsAsync(applyManifest({ root: env!.root, file: 'l.yaml', text: local, out: { write: () => true }, err: { write: () => true } }), { message: /Localhost profiles are not supported/ });
});

const DENIED = ['kexec_load', 'kexec_file_load', 'init_module', 'finit_module', 'delete_module', 'open_by_handle_at', 'bpf',
  'perf_event_open', 'add_key', 'keyctl', 'request_key', 'mount', 'umount2', 'pivot_root', 'swapon', 'swapoff', 'reboot',
  'settimeofday', 'clock_settime', 'clock_adjtime', 'userfaultfd', 'unshare_user', 'unshare_net', 'clone_newuser', 'setns',
  'lookup_dcookie', 'acct', 'quotactl', 'io_uring_setup', 'personality', 'socket_vsock',
  ...(process.arch === 'x64' ? ['iopl', 'ioperm', 'nfsservctl'] : ['nfsservctl'])];

privilegedSerial('seccomp: each listed call is denied with EPERM from inside a container, clone3 and unknown numbers ENOSYS, other ABIs killed', async (t) => {
  if (!probeBuilt) return t.fail('the seccomp probe could not be built: install musl-tools (musl-gcc)');
  await pod('sec');
  const r = await runToEnd('sec', 'deny', ['/bin/probe', 'deny', 'abi', 'ok']);
  for (const name of DENIED) t.is(r[name], 'EPERM', name);
  t.is(r.clone3, 'ENOSYS', 'libc falls back to clone');
  t.is(r.syscall_1000, 'ENOSYS');
  if (process.arch === 'x64') {
    t.is(r.x32, 'SIGSYS');
    // a kernel without ia32 emulation answers int 0x80 with SIGSEGV before any filter sees it
    t.true(r.i386 === 'SIGSYS' || r.i386 === 'signal', `i386: ${r.i386}`);
  }
  t.is(r.thread, 'ok');
  t.is(r.fork, 'ok');
  // busybox's own tools, as a user would try them
  await run('sec', 'tools');
  for (const [argv, what] of [[['unshare', '-U', 'true'], /Operation not permitted/], [['mount', '-t', 'tmpfs', 't', '/mnt'], /Operation not permitted|permission denied/i],
    // no CAP_MKNOD: no device node of the host's disk (8:0) to read it through
    [['mknod', '/tmp/disk', 'b', '8', '0'], /Operation not permitted/]] as const) {
    const ex = await env!.cli(['exec', 'sec', '-c', 'tools', '--', ...argv]);
    t.not(ex.exitCode, 0, argv.join(' '));
    t.regex(ex.stderr, what);
  }
});

privilegedSerial('seccomp: ordinary work still works (sh, ls, sleep, a web server and wget, threads, fork, ICMP echo without NET_RAW)', async (t) => {
  if (!probeBuilt) return t.fail('the seccomp probe could not be built: install musl-tools (musl-gcc)');
  await pod('work');
  writeFileSync(join(work, 'index.html'), 'hello\n');
  await runContainer({ root: env!.root, pod: 'work', name: 'web', rootfs, command: ['httpd', '-f', '-p', '8080', '-h', '/etc'] });
  let got = '';
  for (let i = 0; i < 50 && got === ''; i++) {
    const w = await env!.cli(['exec', 'work', '-c', 'web', '--', 'wget', '-q', '-O', '-', 'http://127.0.0.1:8080/hostname']);
    if (w.exitCode === 0) got = w.stdout;
    else await new Promise((r) => setTimeout(r, 50));
  }
  t.true(got.length > 0, 'wget fetched a page from the httpd in the pod');
  const sh = await env!.cli(['exec', 'work', '-c', 'web', '--', 'sh', '-c', 'ls / >/dev/null && sleep 0.1 && echo fine']);
  t.is(sh.stdout.trim(), 'fine', sh.stderr);
  const ok = await runToEnd('work', 'probe', ['/bin/probe', 'ok', 'icmp'], { uid: 1000 });
  t.is(ok.thread, 'ok');
  t.is(ok.fork, 'ok');
  t.is(ok.icmp, 'reply', 'ping_group_range lets a non-root user send ICMP echo without CAP_NET_RAW');
});

privilegedSerial('--security-opt seccomp=unconfined lifts the filter (Seccomp: 0, keyctl and unshare go through)', async (t) => {
  if (!probeBuilt) return t.fail('the seccomp probe could not be built: install musl-tools (musl-gcc)');
  await pod('unconf');
  const cli = await env!.cli(['run', 'unconf', '--name', 'u', '--rootfs', rootfs, '--security-opt', 'seccomp=unconfined', '--', '/bin/probe', 'deny', 'abi']);
  t.is(cli.exitCode, 0, cli.stderr);
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'unconf', name: 'u' })?.state === 'exited', 'u to exit');
  const r: Record<string, string> = {};
  for (const line of (await logsOf('unconf', 'u')).split('\n')) {
    const m = /^(\w+)=(\S+)$/.exec(line.trim());
    if (m) r[m[1]!] = m[2]!;
  }
  t.is(r.keyctl, '0');
  t.is(r.unshare_user, '0');
  t.is(r.setns, 'EBADF');
  t.is(r.clone3, 'EINVAL');
  if (process.arch === 'x64') t.not(r.i386, 'SIGSYS');
  t.is(readContainerConfig({ root: env!.root, pod: 'unconf', name: 'u' })!.seccomp, 'Unconfined');
  // the same run without the option: Seccomp 2 in the kernel's view
  const p = await run('unconf', 'filtered');
  t.is(status(p).Seccomp, '2');
  t.is(privilegeSummary(readContainerConfig({ root: env!.root, pod: 'unconf', name: 'filtered' })!).seccomp, 'RuntimeDefault');
});

privilegedSerial('ping_group_range is set in the pod\'s netns, never in ours', async (t) => {
  const ours = readFileSync('/proc/sys/net/ipv4/ping_group_range', 'utf8');
  await pod('pingns');
  const rec = readPod({ root: env!.root, name: 'pingns' });
  const pin = rec.namespaces.find((n) => n.type === 'net')!.path;
  const r = await execa('nsenter', [`--net=${pin}`, 'cat', '/proc/sys/net/ipv4/ping_group_range']);
  t.is(r.stdout.trim().split(/\s+/).join(' '), '0 2147483647');
  t.is(readFileSync('/proc/sys/net/ipv4/ping_group_range', 'utf8'), ours);
  // host network: the pod has no netns of its own, nothing is written
  await createPod({ root: env!.root, name: 'pinghost', network: 'host' });
  t.is(readFileSync('/proc/sys/net/ipv4/ping_group_range', 'utf8'), ours);
  t.true(existsSync(pin));
});
