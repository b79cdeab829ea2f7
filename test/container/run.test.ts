// Containers for real: the shim, the pod's namespaces, logs, restarts, exec, stop, ps, delete.
// Every check reads the kernel's truth: /proc/PID/ns/* inodes, /proc/PID/stat, the log files the shim wrote.
import { execa } from 'execa';
import { readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  containerLogs, execInContainer, psRows, readContainerStatus, runContainer, stopContainers,
} from '../../src/container/index.js';
import { PodnsError } from '../../src/errors.js';
import { deletePod } from '../../src/pod/delete.js';
import { readPod } from '../../src/pod/store.js';
import { paths } from '../../src/state/paths.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial } from '../helpers/root.js';
import { bin, nsIno, processGone, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let rootfs = '';
let work = '';

useContainerEnv('ctr', 93, async (e, w) => {
  env = e;
  work = w;
  rootfs = makeBusyboxRootfs(join(work, 'busybox'));
});

async function pod(name: string, o: { sharePid?: boolean; annotations?: Record<string, string> } = {}): Promise<void> {
  await createTestPod(env!, name, o);
}

function collect(): { stdout: string[]; stderr: string[]; w: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } } } {
  const c = { stdout: [] as string[], stderr: [] as string[] };
  return {
    ...c,
    w: { stdout: { write: (s: string) => c.stdout.push(s) > 0 }, stderr: { write: (s: string) => c.stderr.push(s) > 0 } },
  };
}

async function logsOf(podName: string, container: string, o: { previous?: boolean; tail?: number; timestamps?: boolean } = {}): Promise<{ stdout: string; stderr: string }> {
  const c = collect();
  await containerLogs({ root: env!.root, pod: podName, container, out: c.w, ...o });
  return { stdout: c.stdout.join(''), stderr: c.stderr.join('') };
}

/** Processes whose pid namespace is this one (host pids), with their state letter. */
function procsInPidNs(ino: number): Array<{ pid: number; state: string; comm: string }> {
  const out: Array<{ pid: number; state: string; comm: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (statSync(`/proc/${e}/ns/pid`).ino !== ino) continue;
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      out.push({ pid: Number(e), state: stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3), comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')) });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

privilegedSerial('containers share the pause\'s net/ipc/uts, have their own mnt (and pid) namespace, and see the pod\'s /etc', async (t) => {
  await pod('shared');
  const a = await runContainer({ root: env!.root, pod: 'shared', name: 'a', rootfs, command: ['sleep', '1000'] });
  const b = await runContainer({ root: env!.root, pod: 'shared', name: 'b', command: ['sleep', '1000'] });
  const rec = readPod({ root: env!.root, name: 'shared' });
  t.deepEqual(rec.containers, ['a', 'b']);
  const pause = rec.pause!.pid;
  for (const c of [a, b]) {
    t.is(c.status.state, 'running');
    for (const type of ['net', 'ipc', 'uts']) t.is(nsIno(c.status.pid, type), nsIno(pause, type), `${c.config.name} ${type}`);
    t.not(nsIno(c.status.pid, 'mnt'), nsIno(pause, 'mnt'), `${c.config.name} mnt`);
    t.not(nsIno(c.status.pid, 'mnt'), nsIno(process.pid, 'mnt'));
    t.not(nsIno(c.status.pid, 'pid'), nsIno(pause, 'pid'), `${c.config.name} pid`);
  }
  t.not(nsIno(a.status.pid, 'mnt'), nsIno(b.status.pid, 'mnt'));
  // the pod's hostname, /etc/hosts and eth0 from inside, through exec
  const r = await cli(['exec', 'shared', '-c', 'a', '--', 'sh', '-c', 'hostname; cat /etc/hostname; grep -c shared /etc/hosts; cat /sys/class/net/eth0/address >/dev/null && echo eth0; echo $$']);
  t.is(r.exitCode, 0, r.stderr);
  const [host, etcHostname, hostsHits, eth0] = r.stdout.split('\n');
  t.is(host, 'shared');
  t.is(etcHostname, 'shared');
  t.true(Number(hostsHits) >= 1);
  t.is(eth0, 'eth0');
  // exec without -c on a pod with two containers: kubectl's words on stderr
  const d = await cli(['exec', 'shared', '--', 'true']);
  t.is(d.exitCode, 0);
  t.is(d.stderr.trim(), 'Defaulted container "a" out of: a, b');
});

privilegedSerial('with --share-pid the containers join the pause\'s pid namespace', async (t) => {
  await pod('sharepid', { sharePid: true });
  const c = await runContainer({ root: env!.root, pod: 'sharepid', name: 'c', rootfs, command: ['sh', '-c', 'ps; exec sleep 1000'] });
  const pause = readPod({ root: env!.root, name: 'sharepid' }).pause!.pid;
  t.is(nsIno(c.status.pid, 'pid'), nsIno(pause, 'pid'));
  // the watcher stays outside: only its children enter the pod's pid namespace
  t.not(nsIno(c.status.watcherPid, 'pid'), nsIno(pause, 'pid'));
  await waitFor(() => readFileSync(paths.containerLog(env!.root, 'sharepid', 'c'), 'utf8').includes('sleep'), 'ps output');
  const { stdout } = await logsOf('sharepid', 'c');
  t.regex(stdout, /^\s+1 \S+\s+pause/m, stdout);
});

privilegedSerial('exec returns the command\'s exit status; -t gives a tty, without -t there is none', async (t) => {
  await pod('ex');
  const main = await runContainer({ root: env!.root, pod: 'ex', name: 'main', rootfs, command: ['sleep', '1000'], env: { GREETING: 'hi' }, workingDir: '/tmp' });
  // environment values reach the workload but never an argv (/proc/PID/cmdline is world-readable)
  t.true(readFileSync(`/proc/${main.status.pid}/environ`, 'utf8').split('\0').includes('GREETING=hi'));
  t.false(readFileSync(`/proc/${main.status.watcherPid}/cmdline`, 'utf8').includes('GREETING'));
  t.is(await execInContainer({ root: env!.root, pod: 'ex', argv: ['sh', '-c', 'exit 3'] }), 3);
  t.is(await execInContainer({ root: env!.root, pod: 'ex', argv: ['true'] }), 0);
  const c2 = await cli(['exec', 'ex', '--', 'sh', '-c', 'exit 7']);
  t.is(c2.exitCode, 7);
  const tty = await cli(['exec', '-t', 'ex', '--', 'sh', '-c', 'test -t 0 && test -t 1 && echo tty-ok']);
  t.is(tty.exitCode, 0, tty.stderr);
  t.is(tty.stdout.trim(), 'tty-ok');
  const notty = await cli(['exec', 'ex', '--', 'sh', '-c', 'test -t 1 || echo no-tty']);
  t.is(notty.stdout.trim(), 'no-tty');
  // the form without --, and the container's env and working directory
  const noDash = await cli(['exec', '-it', 'ex', '-c', 'main', 'sh', '-c', 'echo $GREETING $PWD']);
  t.is(noDash.exitCode, 0, noDash.stderr);
  t.is(noDash.stdout.trim(), 'hi /tmp');
  // -i passes stdin through
  const withStdin = await execaStdin(['exec', '-i', 'ex', '--', 'cat'], 'from stdin\n');
  t.deepEqual(withStdin, { exitCode: 0, stdout: 'from stdin\n', stderr: '' });
  const missing = await cli(['exec', 'ex', '--', 'no-such-command']);
  t.is(missing.exitCode, 127);
});

/** The CLI with this file's env; output as strings. */
async function cli(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await env!.cli(args);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

async function execaStdin(args: string[], input: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await execa('node', [bin, ...args], { env: env!.env, input, reject: false, stripFinalNewline: false });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) };
}

privilegedSerial('logs show each container\'s own output, stdout and stderr apart; --tail and --timestamps', async (t) => {
  await pod('logs');
  for (const c of ['one', 'two']) {
    await runContainer({ root: env!.root, pod: 'logs', name: c, rootfs, command: ['sh', '-c', `echo ${c}-out-1; echo ${c}-err >&2; echo ${c}-out-2; exec sleep 1000`] });
  }
  await waitFor(() => ['one', 'two'].every((c) => readFileSync(paths.containerLog(env!.root, 'logs', c), 'utf8').includes('out-2')), 'output');
  const one = await logsOf('logs', 'one');
  t.is(one.stdout, 'one-out-1\none-out-2\n');
  t.is(one.stderr, 'one-err\n');
  const two = await logsOf('logs', 'two');
  t.is(two.stdout, 'two-out-1\ntwo-out-2\n');
  // --tail counts lines of both streams, in file order
  const last = readFileSync(paths.containerLog(env!.root, 'logs', 'two'), 'utf8').trimEnd().split('\n').pop()!;
  const tail1 = await logsOf('logs', 'two', { tail: 1 });
  t.is(tail1.stdout + tail1.stderr, last.replace(/^\S+ \S+ F /, '') + '\n');
  t.deepEqual(await logsOf('logs', 'two', { tail: 3 }), two);
  t.regex((await logsOf('logs', 'two', { timestamps: true })).stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z two-out-1\n/);
  // the file itself is CRI format
  const file = readFileSync(paths.containerLog(env!.root, 'logs', 'one'), 'utf8');
  t.regex(file, /^\S+Z stdout F one-out-1\n/);
  t.regex(file, /\n\S+Z stderr F one-err\n/);
  const c2 = await cli(['logs', 'logs', '-c', 'two']);
  t.is(c2.stdout, 'two-out-1\ntwo-out-2');
  t.is(c2.stderr, 'two-err');
  const prev = await cli(['logs', '--previous', 'logs', '-c', 'two']);
  t.is(prev.exitCode, 1);
  t.regex(prev.stderr, /has no previous run/);
});

privilegedSerial('a line longer than the CRI limit is split with P and joined again by logs; -f ends with the container', async (t) => {
  await pod('long');
  const long = 'x'.repeat(40000);
  await runContainer({ root: env!.root, pod: 'long', name: 'c', rootfs, command: ['sh', '-c', `sleep 0.2; printf '%s\\n' ${long}; echo done`] });
  const c = collect();
  await containerLogs({ root: env!.root, pod: 'long', container: 'c', out: c.w, follow: true });
  t.is(c.stdout.join(''), `${long}\ndone\n`);
  const file = readFileSync(paths.containerLog(env!.root, 'long', 'c'), 'utf8');
  t.true(file.split('\n').filter((l) => / stdout P /.test(l)).length >= 2);
  t.is(readContainerStatus({ root: env!.root, pod: 'long', name: 'c' })?.exitCode, 0);
});

privilegedSerial('restart policy OnFailure restarts a failing container; --previous shows the earlier run', async (t) => {
  await pod('restart');
  // fails on its first run only: a counter in the rootfs' /tmp survives the restart
  const script = 'n=$(cat /tmp/restart-count 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/restart-count; echo run $n; [ $n -ge 2 ] || exit 1; exec sleep 1000';
  rmSync(join(rootfs, 'tmp', 'restart-count'), { force: true });
  const r = await runContainer({ root: env!.root, pod: 'restart', name: 'flaky', rootfs, command: ['sh', '-c', script], restartPolicy: 'OnFailure', backoffMs: 100 });
  t.is(r.config.restartPolicy, 'OnFailure');
  await waitFor(() => {
    const st = readContainerStatus({ root: env!.root, pod: 'restart', name: 'flaky' });
    return st?.state === 'running' && st.restartCount === 1;
  }, 'the restart', 15000);
  await waitFor(() => readFileSync(paths.containerLog(env!.root, 'restart', 'flaky'), 'utf8').includes('run 2'), 'run 2 output');
  t.is((await logsOf('restart', 'flaky')).stdout, 'run 2\n');
  t.is((await logsOf('restart', 'flaky', { previous: true })).stdout, 'run 1\n');
  const rows = psRows({ root: env!.root, pod: 'restart' });
  t.is(rows.find((x) => x.container === 'flaky')?.restartCount, 1);
  // Never: an exit stays an exit
  await runContainer({ root: env!.root, pod: 'restart', name: 'once', rootfs, command: ['sh', '-c', 'exit 4'] });
  await waitFor(() => readContainerStatus({ root: env!.root, pod: 'restart', name: 'once' })?.state === 'exited', 'exit');
  const st = readContainerStatus({ root: env!.root, pod: 'restart', name: 'once' })!;
  t.is(st.exitCode, 4);
  t.is(st.restartCount, 0);
});

privilegedSerial('ps shows the POD row and one row per container; stop ends them with SIGTERM', async (t) => {
  await pod('pslist');
  const c = await runContainer({ root: env!.root, pod: 'pslist', name: 'web', rootfs, command: ['sleep', '1000'] });
  const rows = psRows({ root: env!.root, pod: 'pslist' });
  const pause = readPod({ root: env!.root, name: 'pslist' }).pause!.pid;
  t.deepEqual(rows.map((r) => [r.container, r.pid, r.status]), [['POD', pause, 'Running'], ['web', c.status.pid, 'Running']]);
  const c2 = await cli(['ps', 'pslist']);
  t.is(c2.exitCode, 0, c2.stderr);
  const lines = c2.stdout.split('\n');
  t.regex(lines[0]!, /^POD\s+CONTAINER\s+PID\s+STATUS/);
  t.regex(lines[1]!, new RegExp(`^pslist\\s+POD\\s+${pause}\\s+Running`));
  t.regex(lines[2]!, new RegExp(`^pslist\\s+web\\s+${c.status.pid}\\s+Running.*sleep 1000`));
  const stop = await cli(['stop', 'pslist', '--grace', '5']);
  t.is(stop.exitCode, 0, stop.stderr);
  const st = readContainerStatus({ root: env!.root, pod: 'pslist', name: 'web' })!;
  t.is(st.state, 'exited');
  t.is(st.signal, 15);
  t.true(processGone(c.status.pid));
  t.true(processGone(c.status.watcherPid));
  t.is(psRows({ root: env!.root, pod: 'pslist' })[1]!.status, 'Exited (143)');
  // again: already stopped is fine
  await stopContainers({ root: env!.root, pod: 'pslist', grace: 1 });
});

privilegedSerial('a workload that ignores SIGTERM is SIGKILLed after the grace period', async (t) => {
  await pod('stubborn');
  const c = await runContainer({ root: env!.root, pod: 'stubborn', name: 'c', rootfs, command: ['sh', '-c', "trap '' TERM; while true; do sleep 1; done"] });
  await stopContainers({ root: env!.root, pod: 'stubborn', names: ['c'], grace: 0.5 });
  t.true(processGone(c.status.pid));
  t.true(processGone(c.status.watcherPid));
  t.is(readContainerStatus({ root: env!.root, pod: 'stubborn', name: 'c' })?.state, 'exited');
});

privilegedSerial('orphans of a workload in its own pid namespace are reaped by the watcher: no <defunct>', async (t) => {
  await pod('zombies');
  // each (cmd &) subshell exits at once: its child is orphaned and reparented to the pid ns's init
  const c = await runContainer({ root: env!.root, pod: 'zombies', name: 'z', rootfs, command: ['sh', '-c', 'for i in 1 2 3 4 5; do (sleep 0.1 &); (true &); done; exec sleep 1000'] });
  const ino = nsIno(c.status.pid, 'pid');
  // the watcher is PID 1 there
  t.is(readlinkSync(`/proc/${c.status.watcherPid}/ns/pid`), `pid:[${ino}]`);
  // the loop is over once the shell has exec'd sleep
  await waitFor(() => readFileSync(`/proc/${c.status.pid}/comm`, 'utf8').trim() === 'sleep', 'exec sleep');
  await waitFor(() => {
    const ps = procsInPidNs(ino);
    return ps.length === 2 && ps.every((p) => p.state !== 'Z');
  }, 'only the watcher and sleep 1000, no zombies', 10000);
  const ps = procsInPidNs(ino);
  t.deepEqual(ps.map((p) => p.pid).sort(), [c.status.pid, c.status.watcherPid].sort());
});

privilegedSerial('the watcher is small: VmRSS and PSS', async (t) => {
  await pod('mem');
  const c = await runContainer({ root: env!.root, pod: 'mem', name: 'c', rootfs, command: ['sh', '-c', 'i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done; exec sleep 1000'] });
  await waitFor(() => readFileSync(paths.containerLog(env!.root, 'mem', 'c'), 'utf8').includes('line 199'), 'output');
  const kb = (text: string, key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)![1]);
  const rss = kb(readFileSync(`/proc/${c.status.watcherPid}/status`, 'utf8'), 'VmRSS');
  const pss = kb(readFileSync(`/proc/${c.status.watcherPid}/smaps_rollup`, 'utf8'), 'Pss');
  t.log(`watcher pid ${c.status.watcherPid}: VmRSS ${rss} kB, PSS ${pss} kB`);
  t.true(rss < 2048, `VmRSS ${rss} kB`);
});

privilegedSerial('deleting the pod kills every process of it', async (t) => {
  await pod('gone');
  const a = await runContainer({ root: env!.root, pod: 'gone', name: 'a', rootfs, command: ['sh', '-c', 'sleep 1000 & sleep 1000 & exec sleep 1000'] });
  const b = await runContainer({ root: env!.root, pod: 'gone', name: 'b', command: ['sleep', '1000'] });
  await pod('gone-shared', { sharePid: true });
  const s = await runContainer({ root: env!.root, pod: 'gone-shared', name: 's', rootfs, command: ['sh', '-c', '(sleep 1000 &); exec sleep 1000'] });
  const pids = new Set<number>();
  const nsA = nsIno(a.status.pid, 'pid');
  const nsS = nsIno(s.status.pid, 'pid');
  await waitFor(() => procsInPidNs(nsA).length >= 4 && procsInPidNs(nsS).length >= 3, 'background sleeps');
  for (const ino of [nsA, nsS, nsIno(b.status.pid, 'pid')]) for (const p of procsInPidNs(ino)) pids.add(p.pid);
  for (const c of [a, b, s]) pids.add(c.status.watcherPid);
  t.true(pids.size >= 9, `found ${pids.size}`);
  await deletePod({ root: env!.root, name: 'gone', grace: 2 });
  await deletePod({ root: env!.root, name: 'gone-shared', grace: 2 });
  const alive = [...pids].filter((p) => !processGone(p));
  t.deepEqual(alive, []);
});

privilegedSerial('run creates a missing pod; bad input is one line and leaves nothing', async (t) => {
  const r = await cli(['run', 'auto', '--name', 'c', '--rootfs', rootfs, '--', 'sleep', '1000']);
  t.is(r.exitCode, 0, r.stderr);
  t.regex(r.stdout, /container\/c started in pod\/auto \(pid \d+\)/);
  t.is(readPod({ root: env!.root, name: 'auto' }).phase, 'ready');
  const dup = await cli(['run', 'auto', '--name', 'c', '--', 'true']);
  t.is(dup.exitCode, 1);
  t.regex(dup.stderr, /container "c" already exists in pod "auto"/);
  const cases: Array<[string[], RegExp]> = [
    [['run', 'nopod', '--name', 'Bad_Name', '--', 'true'], /invalid container name "Bad_Name"/],
    [['run', 'nopod', '--name', 'c', '--env', '1X=y', '--', 'true'], /invalid environment variable name "1X"/],
    [['run', 'nopod', '--name', 'c', '--user', 'root', '--', 'true'], /invalid --user "root"/],
    [['run', 'nopod', '--name', 'c', '--restart', 'Sometimes', '--', 'true'], /invalid --restart "Sometimes"/],
    [['run', 'nopod', '--name', 'c', '--rootfs', join(work, 'nope'), '--', 'true'], /no such directory/],
    [['run', 'nopod', '--name', 'c', '--rootfs', rootfs, '--', 'no-such-program'], /cannot run "no-such-program" in container "c": not found/],
    [['run', 'nopod', '--name', 'c', '--rootfs', rootfs, '--workdir', '/nope', '--', 'true'], /working directory/],
  ];
  for (const [args, re] of cases) {
    const bad = await cli(args);
    t.not(bad.exitCode, 0, args.join(' '));
    t.regex(bad.stderr, re, args.join(' '));
    t.is(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  }
  // the failed starts left no pod behind (nopod was created by run and removed again)
  t.throws(() => readPod({ root: env!.root, name: 'nopod' }), { instanceOf: PodnsError });
  // a failed start in an existing pod leaves that pod as it was
  const again = await cli(['run', 'auto', '--name', 'd', '--rootfs', rootfs, '--', 'no-such-program']);
  t.is(again.exitCode, 1);
  t.deepEqual(readPod({ root: env!.root, name: 'auto' }).containers, ['c']);
});

privilegedSerial('kill -9 of podns run at any step leaves a container that ps shows and delete removes', async (t) => {
  await pod('crash');
  const watchers: number[] = [];
  for (const step of ['container-after-record', 'container-after-config', 'container-after-start']) {
    const name = step.replace('container-after-', '');
    const r = await execa('node', [bin, 'run', 'crash', '--name', name, '--rootfs', rootfs, '--', 'sleep', '1000'], {
      env: { ...env!.env, PODNS_FAULT: step }, reject: false,
    });
    t.is(r.signal, 'SIGKILL', step);
    t.true(readPod({ root: env!.root, name: 'crash' }).containers.includes(name), step);
    const st = readContainerStatus({ root: env!.root, pod: 'crash', name });
    if (step === 'container-after-start') {
      t.is(st?.state, 'running');
      watchers.push(st!.watcherPid, st!.pid);
    } else {
      t.is(st, undefined, step);
    }
  }
  const rows = psRows({ root: env!.root, pod: 'crash' });
  t.deepEqual(rows.map((r) => [r.container, r.status]), [['POD', 'Running'], ['record', 'Created'], ['config', 'Created'], ['start', 'Running']]);
  await deletePod({ root: env!.root, name: 'crash', grace: 1 });
  t.deepEqual(watchers.filter((p) => !processGone(p)), []);
});
