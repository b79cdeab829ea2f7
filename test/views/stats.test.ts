// `podns stats` against the kernel's own files: the numbers a row shows are bracketed by what this test reads
// itself, before and after the command, from /proc (CPU time, VmRSS, the processes of the pid namespace)
// and over rtnetlink inside the pod's namespace (iproute2's `ip -s -j link`, eth0's counters).
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bin, makeEnv, waitFor, type TestEnv } from '../pod/env.js';

interface Row {
  pod: string; container: string; state: string; source: 'cgroup' | 'proc' | 'mixed' | null; sources: Record<'cpu' | 'memory' | 'pids' | 'blockIO', 'cgroup' | 'proc'> | null; cgroup: string | null;
  cpuPercent: number | null; cpuDeltaNs: number | null; cpuNs: number | null; memoryUsage: number | null; memoryLimit: number | null;
  memoryPercent: number | null; pids: number | null; netRx: number | null; netTx: number | null; blockRead: number | null; blockWrite: number | null;
}
interface StatsJson {
  intervalNs: number; onlineCpus: number; hostMemory: number; containers: Row[];
  pods: Array<{ pod: string; cpuPercent: number | null; memoryUsage: number | null; pids: number | null; netRx: number | null; netTx: number | null }>;
}

let e: TestEnv;
let work: string;

test.before(() => {
  if (skipReason() !== undefined) return;
  e = makeEnv('vstat', 238);
  work = mkdtempSync('/run/podns-test-vstat-work-');
});
test.after.always(async () => {
  if (e) await e.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

const TICK_NS = 10_000_000;

function status(pod: string, name: string): { pid: number; watcherPid: number } {
  return JSON.parse(readFileSync(join(e.root, 'pods', pod, 'containers', name, 'status.json'), 'utf8')) as { pid: number; watcherPid: number };
}

function ino(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

/** The processes in the workload's pid namespace (and its mount namespace), the watcher left out. */
function nsMembers(pod: string, name: string): number[] {
  const st = status(pod, name);
  const pidNs = ino(`/proc/${st.pid}/ns/pid`);
  const mnt = ino(`/proc/${st.pid}/ns/mnt`);
  return readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n)).map(Number)
    .filter((p) => p !== st.watcherPid && ino(`/proc/${p}/ns/pid`) === pidNs && ino(`/proc/${p}/ns/mnt`) === mnt);
}

function cpuTicks(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const g = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(g[11]) + Number(g[12]) + Number(g[13]) + Number(g[14]);
}

function systemTicks(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  return line.trim().split(/\s+/).slice(1, 9).reduce((s, v) => s + Number(v), 0);
}

function rss(pids: number[]): number {
  let total = 0;
  for (const p of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${p}/status`, 'utf8');
    } catch {
      continue; // ended since the scan (the shell's $(...) subshell)
    }
    const m = /^VmRSS:\s+([0-9]+) kB$/m.exec(text);
    total += m ? Number(m[1]) * 1024 : 0;
  }
  return total;
}

/** The container's memory cgroup directory, from its config.json. */
function memoryDir(pod: string, name: string): string {
  const cfg = JSON.parse(readFileSync(join(e.root, 'pods', pod, 'containers', name, 'config.json'), 'utf8')) as { cgroupDirs?: string[] };
  const d = (cfg.cgroupDirs ?? []).find((x) => existsSync(join(x, 'memory.limit_in_bytes')) || existsSync(join(x, 'memory.max')));
  if (d === undefined) throw new Error(`no memory cgroup recorded for ${pod}/${name}: ${JSON.stringify(cfg.cgroupDirs)}`);
  return d;
}

/** A memory cgroup's usage as stats counts it: usage minus inactive file pages (docker's). */
function kernelUsage(dir: string): number {
  if (existsSync(join(dir, 'memory.limit_in_bytes'))) {
    const inactive = Number(/^total_inactive_file ([0-9]+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))![1]);
    return Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8')) - inactive;
  }
  const inactive = Number(/^inactive_file ([0-9]+)$/m.exec(readFileSync(join(dir, 'memory.stat'), 'utf8'))![1]);
  return Number(readFileSync(join(dir, 'memory.current'), 'utf8')) - inactive;
}

async function eth0(pin: string): Promise<{ rx: number; tx: number }> {
  const r = await execa('nsenter', [`--net=${pin}`, 'ip', '-s', '-j', 'link', 'show', 'dev', 'eth0']);
  const s = (JSON.parse(r.stdout) as Array<{ stats64: { rx: { bytes: number }; tx: { bytes: number } } }>)[0]!.stats64;
  return { rx: s.rx.bytes, tx: s.tx.bytes };
}

async function statsJson(args: string[]): Promise<StatsJson> {
  const r = await e.cli(['stats', ...args, '--no-stream', '-o', 'json']);
  if (r.exitCode !== 0) throw new Error(`podns stats failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as StatsJson;
}

privilegedSerial('stats: CPU, memory, pids and network are what the kernel counts', async (t) => {
  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  t.is((await e.cli(['create', 'st', '--bridge', e.bridge, '--subnet', e.subnet])).exitCode, 0);
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  t.is((await e.cli(['run', 'st', '--name', 'spin', '--rootfs', rootfs, '--', 'sh', '-c', 'while :; do :; done'])).exitCode, 0);
  // 20 MB held in a shell variable (printf pads to the width): the shell's RSS grows by that much
  t.is((await e.cli(['run', 'st', '--name', 'mem', '--rootfs', rootfs, '--', 'sh', '-c', "x=$(printf '%20000000s' a); sleep 1000 & wait"])).exitCode, 0);
  await waitFor(() => rss(nsMembers('st', 'mem')) > 20_000_000, 'the mem container holds its 20 MB');
  const rec = JSON.parse(readFileSync(join(e.root, 'pods', 'st', 'pod.json'), 'utf8')) as {
    namespaces: Array<{ type: string; path: string }>; network: { gateway: string };
  };
  const pin = rec.namespaces.find((n) => n.type === 'net')!.path;
  const ping = await e.cli(['exec', 'st', '-c', 'mem', '--', 'ping', '-c', '2', rec.network.gateway]);
  t.is(ping.exitCode, 0, ping.stdout + ping.stderr);

  const spinPid = status('st', 'spin').pid;
  const cpu0 = cpuTicks(spinPid);
  const sys0 = systemTicks();
  const net0 = await eth0(pin);
  const memDir = memoryDir('st', 'mem');
  const memBefore = kernelUsage(memDir);
  const v = await statsJson(['st']);
  const memAfter = kernelUsage(memDir);
  const net1 = await eth0(pin);
  const cpu1 = cpuTicks(spinPid);
  const sys1 = systemTicks();

  t.deepEqual(v.containers.map((c) => c.container).sort(), ['mem', 'spin']);
  const spin = v.containers.find((c) => c.container === 'spin')!;
  const mem = v.containers.find((c) => c.container === 'mem')!;
  // no limit flags: each still has its cgroup (every container does), so the numbers are the cgroup's,
  // and no memory limit is invented (the cgroup's is the unlimited default)
  for (const c of [spin, mem]) {
    t.is(c.state, 'running');
    t.is(c.source, 'cgroup');
    t.is(c.cgroup, memoryDir('st', c.container));
    t.is(c.memoryLimit, null);
  }

  // CPU: the spinner's own CPU time over the machine's, bracketing the command (the same /proc numbers)
  const cpus = v.onlineCpus;
  const bracketPct = ((cpu1 - cpu0) / ((sys1 - sys0) / cpus)) * 100;
  t.true(spin.cpuDeltaNs! <= (cpu1 - cpu0 + 2) * TICK_NS, `the interval's CPU time ${spin.cpuDeltaNs} is within the bracket's ${(cpu1 - cpu0) * TICK_NS}`);
  t.true(spin.cpuPercent! > bracketPct / 2, `spinner: stats ${spin.cpuPercent}% vs ${bracketPct.toFixed(1)}% over the bracket`);
  // (not an absolute share: all containers sit in the run's cgroup parent, one weight among the machine's
  // other processes, so on a loaded machine a spinner may get less than half a CPU; the bracket says what it got)
  t.true(spin.cpuPercent! > 10, `a spinner is busy: ${spin.cpuPercent}% (bracket ${bracketPct.toFixed(1)}%)`);
  t.true(spin.cpuPercent! <= cpus * 100 + 1);
  t.true(mem.cpuPercent !== null && mem.cpuPercent < 10, `the sleeping container: ${mem.cpuPercent}%`);

  // memory: the cgroup's usage minus inactive file pages, bracketed within a few %
  t.true(mem.memoryUsage! > 20_000_000, `mem holds 20 MB: ${mem.memoryUsage}`);
  t.true(mem.memoryUsage! >= Math.min(memBefore, memAfter) * 0.97 && mem.memoryUsage! <= Math.max(memBefore, memAfter) * 1.03,
    `memory ${mem.memoryUsage} vs the cgroup's ${memBefore}..${memAfter}`);
  t.true(Math.abs(mem.memoryPercent! - (mem.memoryUsage! / v.hostMemory) * 100) < 1e-9, 'without a limit, % of the host memory');

  // pids: the processes of each pid namespace
  t.is(spin.pids, nsMembers('st', 'spin').length);
  t.is(mem.pids, nsMembers('st', 'mem').length);
  t.true(mem.pids! >= 2, 'sh and its sleep');

  // network: eth0's counters, inside the bracket, the same on every row of the pod and in its total
  for (const c of [spin, mem]) {
    t.true(net0.rx <= c.netRx! && c.netRx! <= net1.rx, `rx ${c.netRx} in ${net0.rx}..${net1.rx}`);
    t.true(net0.tx <= c.netTx! && c.netTx! <= net1.tx, `tx ${c.netTx} in ${net0.tx}..${net1.tx}`);
  }
  t.true(mem.netTx! >= 2 * 84, 'the pings were counted');
  const pod = v.pods.find((p) => p.pod === 'st')!;
  t.is(pod.netRx, spin.netRx);
  t.is(pod.pids, spin.pids! + mem.pids!);
  t.is(pod.memoryUsage, spin.memoryUsage! + mem.memoryUsage!);

  // the table for people: the docker columns, one row per container and the pod's total
  const table = await e.cli(['stats', 'st', '--no-stream']);
  t.is(table.exitCode, 0, table.stderr);
  const lines = table.stdout.trimEnd().split('\n');
  t.regex(lines[0]!, /^POD\s+CONTAINER\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS\s+SOURCE$/);
  t.is(lines.length, 4);
  t.regex(lines.find((l) => /\bmem\b/.test(l))!, /MiB \/ unlimited .* cgroup$/);
  t.regex(lines[3]!, /^st\s+\(pod\)/);
});

privilegedSerial('stats: bad input is one line and a non-zero exit; a stopped container is shown without numbers', async (t) => {
  const r = await e.cli(['stats', 'nosuchpod', '--no-stream']);
  t.is(r.exitCode, 1);
  t.is(r.stdout, '');
  t.is(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  t.regex(r.stderr, /nosuchpod/);
  const bad = await e.cli(['stats', '../x', '--no-stream']);
  t.not(bad.exitCode, 0);
  t.is(bad.stderr.trimEnd().split('\n').length, 1, bad.stderr);

  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  t.is((await e.cli(['create', 'st2', '--network', 'none'])).exitCode, 0);
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs2'));
  t.is((await e.cli(['run', 'st2', '--name', 'done', '--rootfs', rootfs, '--', 'true'])).exitCode, 0);
  await waitFor(() => JSON.parse(readFileSync(join(e.root, 'pods', 'st2', 'containers', 'done', 'status.json'), 'utf8')).state === 'exited', 'exited');
  const v = await statsJson(['st2']);
  t.is(v.containers.length, 1);
  const c = v.containers[0]!;
  t.is(c.state, 'exited');
  t.is(c.source, null);
  for (const k of ['cpuPercent', 'memoryUsage', 'memoryPercent', 'pids', 'netRx', 'blockRead'] as const) t.is(c[k], null, `${k} is not measured`);
});

privilegedSerial('stats: in a pod sharing one pid namespace, each container counts only its own processes (its mount namespace)', async (t) => {
  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  t.is((await e.cli(['create', 'st3', '--network', 'none', '--share-pid'])).exitCode, 0);
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs3'));
  t.is((await e.cli(['run', 'st3', '--name', 'one', '--rootfs', rootfs, '--', 'sleep', '1000'])).exitCode, 0);
  t.is((await e.cli(['run', 'st3', '--name', 'three', '--rootfs', rootfs, '--', 'sh', '-c', 'sleep 1000 & sleep 1000 & wait'])).exitCode, 0);
  await waitFor(() => nsMembers('st3', 'three').length === 3, 'sh and its two sleeps');
  // hostile: by pid namespace alone, each container would see the other's processes (and the pause)
  const pidNs = ino(`/proc/${status('st3', 'one').pid}/ns/pid`);
  t.is(pidNs, ino(`/proc/${status('st3', 'three').pid}/ns/pid`), 'one pid namespace for the pod');
  const byPidNs = readdirSync('/proc').filter((n) => /^[0-9]+$/.test(n) && ino(`/proc/${n}/ns/pid`) === pidNs).length;
  t.true(byPidNs >= 5, `the pod's pid namespace holds ${byPidNs}`);
  const v = await statsJson(['st3']);
  const by = new Map(v.containers.map((c) => [c.container, c]));
  t.is(by.get('one')!.pids, 1);
  t.is(by.get('three')!.pids, 3);
  t.is(v.pods[0]!.pids, 4);
  t.is(by.get('one')!.netRx, null, 'network none: no eth0, no numbers');
});

privilegedSerial('stats: on a terminal the table is redrawn (screen cleared) until interrupted', async (t) => {
  // script(1) gives the command a pty as stdout; it is stopped after a few redraws
  const p = execa('script', ['-qfec', `${process.execPath} ${bin} stats`, '/dev/null'],
    { env: { ...process.env, ...e.env }, reject: false, stdin: 'ignore' });
  let out = '';
  p.stdout!.on('data', (d: Buffer) => { out += d.toString('latin1'); });
  await waitFor(() => (out.match(/\x1b\[2J\x1b\[H/g) ?? []).length >= 2, 'two redraws', 20_000);
  p.kill('SIGTERM'); // script hangs up the pty: the stats loop ends with it
  await p;
  t.regex(out, /POD\s+CONTAINER\s+CPU %/);
});

privilegedSerial('stats: a container run with --memory shows that limit and its cgroup usage; what the cgroup lacks comes from /proc', async (t) => {
  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  t.is((await e.cli(['create', 'st4', '--network', 'none'])).exitCode, 0);
  const rootfs = makeBusyboxRootfs(join(work, 'rootfs4'));
  const r = await e.cli(['run', 'st4', '--name', 'lim', '--memory', '64m', '--rootfs', rootfs, '--', 'sh', '-c', "x=$(printf '%10000000s' a); sleep 1000 & wait"]);
  t.is(r.exitCode, 0, r.stderr);
  await waitFor(() => rss(nsMembers('st4', 'lim')) > 10_000_000, 'the container holds its 10 MB');
  const cfg = JSON.parse(readFileSync(join(e.root, 'pods', 'st4', 'containers', 'lim', 'config.json'), 'utf8')) as { cgroupDirs?: string[] };
  const memDir = (cfg.cgroupDirs ?? []).find((d) => existsSync(join(d, 'memory.limit_in_bytes')) || existsSync(join(d, 'memory.max')));
  t.truthy(memDir, `a memory cgroup is recorded: ${JSON.stringify(cfg.cgroupDirs)}`);
  const v1 = existsSync(join(memDir!, 'memory.limit_in_bytes'));
  const before = kernelUsage(memDir!);
  const v = await statsJson(['st4']);
  const after = kernelUsage(memDir!);
  const c = v.containers[0]!;
  t.is(c.memoryLimit, 64 * 1024 * 1024);
  t.is(c.memoryLimit, Number(readFileSync(join(memDir!, v1 ? 'memory.limit_in_bytes' : 'memory.max'), 'utf8')));
  t.is(c.cgroup, memDir!);
  t.is(c.sources!.memory, 'cgroup');
  const lo = Math.min(before, after) * 0.97;
  const hi = Math.max(before, after) * 1.03;
  t.true(c.memoryUsage! >= lo && c.memoryUsage! <= hi, `usage ${c.memoryUsage} vs the cgroup's ${before}..${after}`);
  t.true(Math.abs(c.memoryPercent! - (c.memoryUsage! / c.memoryLimit!) * 100) < 1e-9, 'MEM % of the limit');
  // every number is somebody's: the cgroup's, or /proc's where podns made no cgroup for that controller
  for (const k of ['cpu', 'pids', 'blockIO'] as const) {
    const where = c.sources![k];
    t.true(where === 'cgroup' || where === 'proc');
  }
  t.is(c.pids, nsMembers('st4', 'lim').length);
  const table = await e.cli(['stats', 'st4', '--no-stream']);
  t.regex(table.stdout, /MiB \/ 64MiB/);
});
