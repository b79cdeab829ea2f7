// `podns ns` against the kernel: every inode it prints is what /proc/PID/ns/TYPE says for a process found
// independently (by its command line in /proc), and the shared/own marks follow from those inodes.
import test from 'ava';
import { execa, type ResultPromise } from 'execa';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { bin, makeEnv, waitFor, type TestEnv } from '../pod/env.js';

const TYPES = ['net', 'ipc', 'uts', 'pid', 'mnt', 'cgroup', 'user', 'time'] as const;

interface Cell { ino: number; dev: number; shared: boolean; host: boolean }
interface Row { pod: string; container: string | null; role: 'pause' | 'main' | 'exec'; pid: number | null; command: string; state?: string; ns: Record<string, Cell> }
interface View { pods: Array<{ pod: string; pauseAlive: boolean; pausePid: number | null; pinned: Record<string, number | null> }>; rows: Row[] }

let e: TestEnv;
let work: string;
let rootfs: string;
let session: ResultPromise | undefined;

test.before(() => {
  if (skipReason() !== undefined) return;
  e = makeEnv('views', 236);
  work = mkdtempSync('/run/podns-test-views-work-');
  rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
});
test.after.always(async () => {
  session?.kill('SIGKILL');
  if (e) await e.cleanup();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** inode from readlink /proc/PID/ns/TYPE ("net:[4026531840]"): the kernel's own text, not a stat. */
function linkIno(pid: number, type: string): number {
  const m = /^\w+:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/ns/${type}`));
  if (!m) throw new Error(`unexpected link for ${pid} ${type}`);
  return Number(m[1]);
}

/** Live (non-zombie) pids whose argv is exactly this. */
function pidsByArgv(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8') !== want) continue;
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (st.slice(st.lastIndexOf(')') + 2).startsWith('Z')) continue;
      out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

function ppidOf(pid: number): number {
  const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
}

async function nsJson(args: string[]): Promise<View> {
  const r = await e.cli(['ns', ...args, '-o', 'json']);
  if (r.exitCode !== 0) throw new Error(`podns ns failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as View;
}

privilegedSerial('ns: one row per process, every inode as /proc shows it, shared/own marks', async (t) => {
  if (!busyboxAvailable()) return t.fail('needs /bin/busybox (apt-get install busybox-static)');
  const c = await e.cli(['create', 'vw', '--bridge', e.bridge, '--subnet', e.subnet]);
  t.is(c.exitCode, 0, c.stderr);
  for (const [name, secs] of [['a', '1001'], ['b', '1002']] as const) {
    const r = await e.cli(['run', 'vw', '--name', name, '--rootfs', rootfs, '--', 'sleep', secs]);
    t.is(r.exitCode, 0, r.stderr);
  }
  // a live exec session in container a
  session = execa('node', [bin, 'exec', 'vw', '-c', 'a', '--', 'sleep', '1003'], { env: e.env, reject: false, stdin: 'ignore' });
  await waitFor(() => pidsByArgv(['sleep', '1003']).length === 1, 'the exec session to start');

  const rec = JSON.parse(readFileSync(join(e.root, 'pods', 'vw', 'pod.json'), 'utf8')) as { pause: { pid: number }; namespaces: Array<{ type: string; path: string }> };
  const [mainA] = pidsByArgv(['sleep', '1001']);
  const [mainB] = pidsByArgv(['sleep', '1002']);
  const [execPid] = pidsByArgv(['sleep', '1003']);
  t.truthy(mainA && mainB && execPid);

  const view = await nsJson(['vw']);
  t.deepEqual(view.rows.map((r) => [r.role, r.container, r.pid]), [
    ['pause', null, rec.pause.pid], ['main', 'a', mainA], ['exec', 'a', execPid], ['main', 'b', mainB],
  ]);
  t.true(view.pods[0]!.pauseAlive);

  // every cell is the kernel's word for that process
  for (const row of view.rows) {
    for (const type of TYPES) {
      const cell = row.ns[type]!;
      t.is(cell.ino, linkIno(row.pid!, type), `${row.role} ${row.container} ${type}`);
      t.is(cell.dev, statSync(`/proc/${row.pid}/ns/${type}`).dev);
    }
  }
  // the pod's pins hold exactly the pause's namespaces
  for (const n of rec.namespaces) t.is(view.pods[0]!.pinned[n.type], statSync(n.path).ino, `pin ${n.type}`);

  const [pause, a, ex, b] = view.rows as [Row, Row, Row, Row];
  for (const row of [a, ex, b]) {
    for (const type of ['net', 'ipc', 'uts'] as const) {
      t.true(row.ns[type]!.shared, `${row.role} ${row.container} ${type} shared`);
      t.is(row.ns[type]!.ino, pause.ns[type]!.ino);
    }
    for (const type of ['mnt', 'pid'] as const) {
      t.false(row.ns[type]!.shared, `${row.role} ${row.container} ${type} own`);
      t.not(row.ns[type]!.ino, pause.ns[type]!.ino);
    }
  }
  t.not(a.ns.mnt!.ino, b.ns.mnt!.ino, 'each container its own mount namespace');
  t.is(ex.ns.mnt!.ino, a.ns.mnt!.ino, "the exec session is in its container's mount namespace");
  t.is(ex.ns.pid!.ino, a.ns.pid!.ino, "and in its pid namespace");
  // the session's parent is podns-helper exec, which is outside the container's pid namespace
  t.not(linkIno(ppidOf(execPid!), 'pid'), a.ns.pid!.ino);
  // host: the namespaces of the process looking (this test's sandbox)
  for (const type of ['cgroup', 'user', 'time'] as const) t.true(pause.ns[type]!.host && a.ns[type]!.host, type);
  t.false(pause.ns.net!.host, "the pod's network namespace is not the host's");

  // the table: same rows, own namespaces marked *, no colour on a pipe, colour only when asked, NO_COLOR wins
  const table = await e.cli(['ns', 'vw']);
  t.is(table.exitCode, 0, table.stderr);
  const lines = table.stdout.split('\n');
  t.regex(lines[0]!, /^CONTAINER\s+PID\s+COMMAND\s+net\s+ipc\s+uts\s+pid\s+mnt\s+cgroup\s+user\s+time$/);
  t.true(lines.some((l) => l.startsWith('(pause)') && l.includes(String(pause.ns.net!.ino))));
  t.true(lines.some((l) => l.startsWith('a (exec)') && l.includes(`${a.ns.mnt!.ino}*`)));
  t.true(lines.some((l) => l.startsWith('b ') && l.includes(`${b.ns.mnt!.ino}*`) && !l.includes(`${b.ns.net!.ino}*`)));
  t.false(table.stdout.includes('\u001b['), 'no colour on a pipe');
  const forced = await e.cli(['ns', 'vw'], { FORCE_COLOR: '1' });
  t.true(forced.stdout.includes('\u001b['), 'FORCE_COLOR colours');
  const noColor = await e.cli(['ns', 'vw'], { FORCE_COLOR: '1', NO_COLOR: '1' });
  t.false(noColor.stdout.includes('\u001b['), 'NO_COLOR wins');

  session.kill('SIGTERM');
  await session;
  session = undefined;
  await waitFor(() => pidsByArgv(['sleep', '1003']).length === 0, 'the exec session to end');
  const after = await nsJson(['vw']);
  t.false(after.rows.some((r) => r.role === 'exec'), 'an ended session is not listed');
});

privilegedSerial('ns: a pod that joined another one, and a pod whose pause died', async (t) => {
  const j = await e.cli(['create', 'vw2', '--network', 'pod:vw']);
  t.is(j.exitCode, 0, j.stderr);
  const all = await nsJson([]);
  const pauses = all.rows.filter((r) => r.role === 'pause');
  t.deepEqual(pauses.map((r) => r.pod).sort(), ['vw', 'vw2']);
  t.is(pauses[0]!.ns.net!.ino, pauses[1]!.ns.net!.ino, 'one network namespace');
  t.not(pauses[0]!.ns.uts!.ino, pauses[1]!.ns.uts!.ino, 'two uts namespaces');

  const vw = await nsJson(['vw']);
  const pausePid = vw.rows[0]!.pid!;
  process.kill(pausePid, 'SIGKILL');
  await waitFor(() => {
    try {
      const st = readFileSync(`/proc/${pausePid}/stat`, 'utf8');
      return st.slice(st.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return true;
    }
  }, 'the pause to die');
  const dead = await nsJson(['vw']);
  t.false(dead.pods[0]!.pauseAlive);
  t.is(dead.rows[0]!.pid, null);
  const a = dead.rows.find((r) => r.container === 'a')!;
  // the pins still name the pod's namespaces: the containers are still "shared"
  t.true(a.ns.net!.shared && a.ns.ipc!.shared && a.ns.uts!.shared);
  t.is(a.ns.net!.ino, vw.rows[0]!.ns.net!.ino);
  const table = await e.cli(['ns', 'vw']);
  t.regex(table.stdout, /\(pause\)\s+-\s+\(dead\)/);
  t.regex(table.stdout, /podns repair vw/);
});

privilegedSerial('ns and net: bad input is one line and a non-zero exit', async (t) => {
  const r = await e.cli(['ns', 'no-such-pod']);
  t.is(r.exitCode, 1);
  t.is(r.stderr.trim().split('\n').length, 1);
  t.regex(r.stderr, /pod "no-such-pod" not found/);
  const bad = await e.cli(['ns', 'Bad_Name']);
  t.is(bad.exitCode, 1);
  t.regex(bad.stderr, /invalid pod name/);
  const n = await e.cli(['net']);
  t.is(n.exitCode, 2);
  t.regex(n.stderr, /give exactly one pod/);
  const c = await e.cli(['net', 'vw', '-c', 'nope']);
  t.is(c.exitCode, 1);
  t.regex(c.stderr, /container "nope" not found in pod "vw"; it has: a, b/);
});
