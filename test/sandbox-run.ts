// `npm test` → node dist/test/sandbox-run.js ava [AVA ARGS...]
//              node dist/test/sandbox-run.js -- CMD ARGS...   (any command, same sandbox and checks)
//
// As root, the test suite runs inside `podns-helper sandbox`: its own network and mount namespaces
// with an empty /run and a fresh /sys, so bridges, veths, nft rules, netns pins and mounts made by
// tests never reach the machine. This process stays outside and compares the root namespaces before
// and after: a link, /run/netns entry, mount, nft table or ip_forward change that appeared there, or a
// process of this run still alive (one with its env token, or in its sandbox's mount or network
// namespace), is a leak: the run fails with the list even when every test passed.
// Not root: ava runs directly; privileged tests skip themselves (test/helpers/root.ts).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { detectCgroups, hierarchyMounts, TEST_PARENT, TEST_PARENT_PREFIX } from '../src/cgroups/index.js';
import { oneLine } from '../src/errors.js';
import { sandboxArgv } from '../src/native/helper.js';
import { executable, helperPath } from '../src/native/index.js';

const RUN_ENV = 'PODNS_TEST_RUN';
// a run's token: its runner's pid in 8 hex digits, then 16 random ones
const RUN_PID_HEX = 8;
const RUN_TOKEN_HEX = RUN_PID_HEX + 16;

function avaCli(): string {
  const require = createRequire(import.meta.url);
  // ava's exports do not include its CLI: find the package from its main entry and read "bin".
  let dir = path.dirname(require.resolve('ava'));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof pkg.bin === 'string' ? pkg.bin : pkg.bin?.ava;
  if (bin === undefined) throw new Error(`cannot find ava's CLI in ${dir}/package.json`);
  return path.join(dir, bin);
}

// ---- root-namespace snapshot ----------------------------------------------------------

interface Proc {
  key: string; // pid + start time: a reused pid is another process
  desc: string;
  /** started by this run: carries its token or lives in its sandbox's mount or network namespace */
  ours: boolean;
}

/** What identifies this run's processes: an env token, and the sandbox's namespaces once known. */
interface RunMarks {
  token: string;
  sandboxNs: Set<string>; // readlink of /proc/PID/ns/{mnt,net}, e.g. 'mnt:[4026532301]'
}

interface Snapshot {
  /** cgroups under this run's cgroup parent in each hierarchy (the hierarchies are the machine's) */
  cgroups: Set<string>;
  links: Set<string>;
  netns: Set<string>;
  mounts: Set<string>;
  nftTables: Set<string> | undefined;
  ipForward: string | undefined;
  procs: Map<string, Proc>;
}

function linkNames(): Set<string> {
  const r = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  if (r.status === 0) {
    // "2: eth0: <...>" or "5: pn1a2b@if4: <...>"
    return new Set(r.stdout.split('\n').filter(Boolean).map((l) => (l.split(': ')[1] ?? l).split('@')[0] ?? l));
  }
  return new Set(readdirSync('/sys/class/net'));
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function mountTargets(): Set<string> {
  // mountinfo field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
  const lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(Boolean);
  return new Set(lines.map((l) => (l.split(' ')[4] ?? '').replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)))));
}

function nftTables(): Set<string> | undefined {
  // By absolute path: under npm, node_modules/.bin comes first on PATH and holds @vercel/nft's `nft`.
  const bin = ['/usr/sbin/nft', '/sbin/nft', '/usr/local/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p));
  if (bin === undefined) return undefined;
  const r = spawnSync(bin, ['list', 'tables'], { encoding: 'utf8' });
  return r.status === 0 ? new Set(r.stdout.split('\n').filter(Boolean)) : undefined;
}

function readOr(file: string, fallback: string | undefined): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function linkOr(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch {
    return undefined;
  }
}

function processes(marks: RunMarks): Map<string, Proc> {
  const out = new Map<string, Proc>();
  for (const name of readdirOrEmpty('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const stat = readOr(`/proc/${name}/stat`, undefined);
    if (stat === undefined) continue;
    // "pid (comm) S ppid ..." — comm may contain spaces and parentheses: cut at the last ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    const state = fields[0];
    const startTime = fields[19];
    if (state === 'Z' || state === 'X') continue; // exited; holds nothing but its pid until reaped
    let environ = '';
    try {
      environ = readFileSync(`/proc/${name}/environ`, 'latin1');
    } catch {
      continue;
    }
    const runEntry = environ.split('\0').find((e) => e.startsWith(`${RUN_ENV}=`));
    const inSandbox = ['mnt', 'net'].some((t) => {
      const l = linkOr(`/proc/${name}/ns/${t}`);
      return l !== undefined && marks.sandboxNs.has(l);
    });
    const ours = runEntry === `${RUN_ENV}=${marks.token}` || inSandbox;
    const podnsNamed = comm === 'pause' || comm === 'podns-helper';
    if (!ours && !podnsNamed) continue;
    const cmdline = (readOr(`/proc/${name}/cmdline`, '') ?? '').split('\0').filter(Boolean).join(' ');
    const key = `${name}/${startTime}`;
    out.set(key, { key, desc: `pid ${name} (${comm}): ${cmdline || comm}`, ours });
  }
  return out;
}

/** The cgroup parent of this run's containers, the same name in every hierarchy (src/cgroups/layout.ts and
    src/container/devices.ts read PODNS_CGROUP_PARENT). */
function cgroupParent(marks: RunMarks): string {
  return `${TEST_PARENT_PREFIX}${marks.token}`;
}

/**
 * The hierarchies a run's cgroups can be in: devices, those src/cgroups uses, the cgroup2 mount (tests mount a
 * view of it), and the named v1 hierarchies such as name=systemd (runc, under the containerd CRI tests, makes
 * the run's parent there too: without them an empty directory per run was left behind).
 */
function cgroupMounts(): string[] {
  const host = detectCgroups();
  const mounts = new Set(['/sys/fs/cgroup/devices', ...hierarchyMounts(host)]);
  if (host.driver === 'v1' && host.unified !== null) mounts.add(host.unified);
  for (const m of namedHierarchies()) mounts.add(m);
  return [...mounts];
}

/** Mount points of v1 hierarchies with a name= and no controller (/proc/self/mounts: "src dir type opts ..."). */
function namedHierarchies(): string[] {
  let text = '';
  try {
    text = readFileSync('/proc/self/mounts', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const [, dir, type, opts] = line.split(' ');
    if (type === 'cgroup' && dir !== undefined && opts !== undefined && opts.split(',').some((o) => o.startsWith('name='))) out.push(dir);
  }
  return out;
}

/** The run's parent in each hierarchy. */
function cgroupBases(marks: RunMarks): string[] {
  return cgroupMounts().map((m) => path.join(m, cgroupParent(marks)));
}

/** rmdir of a cgroup tree, deepest first; what still holds a process stays (EBUSY). True when all went. */
function removeCgroupTree(dir: string): boolean {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return true; // gone already
  }
  let all = true;
  for (const e of entries) if (e.isDirectory() && !removeCgroupTree(path.join(dir, e.name))) all = false;
  try {
    rmdirSync(dir);
  } catch {
    all = false;
  }
  return all;
}

/**
 * Parents left by earlier runs that died before their own clean-up (killed, or a crash of this runner):
 * a token starts with its runner's pid (RUN_PID_HEX digits), so a parent whose runner is gone is stale;
 * an older token without it only when no process is left in it. Another run still going is left alone.
 */
function sweepStaleCgroups(marks: RunMarks): void {
  for (const mount of cgroupMounts()) {
    for (const name of readdirOrEmpty(mount)) {
      if (!TEST_PARENT.test(name) || name === cgroupParent(marks)) continue;
      const dir = path.join(mount, name);
      const token = name.slice(TEST_PARENT_PREFIX.length);
      const stale = token.length === RUN_TOKEN_HEX
        ? !existsSync(`/proc/${parseInt(token.slice(0, RUN_PID_HEX), 16)}`)
        : !treeHasProcesses(dir);
      if (stale && removeCgroupTree(dir)) console.error(`sandbox-run: removed ${dir}, left by an earlier run that ended before its clean-up`);
    }
  }
}

function treeHasProcesses(dir: string): boolean {
  if ((readOr(path.join(dir, 'cgroup.procs'), '') ?? '').trim() !== '') return true;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return false;
  }
  return entries.some((e) => e.isDirectory() && treeHasProcesses(path.join(dir, e.name)));
}

function runCgroups(marks: RunMarks): Set<string> {
  const dirs = (d: string) => {
    try {
      return readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(d, e.name));
    } catch {
      return [];
    }
  };
  const out = new Set<string>();
  for (const base of cgroupBases(marks)) {
    for (const pod of dirs(base)) {
      out.add(pod);
      for (const c of dirs(pod)) out.add(c);
    }
  }
  return out;
}

function snapshot(marks: RunMarks): Snapshot {
  return {
    cgroups: runCgroups(marks),
    links: linkNames(),
    netns: new Set(readdirOrEmpty('/run/netns')),
    mounts: mountTargets(),
    nftTables: nftTables(),
    ipForward: readOr('/proc/sys/net/ipv4/ip_forward', undefined),
    procs: processes(marks),
  };
}

function leaks(before: Snapshot, after: Snapshot): { found: string[]; foreign: string[] } {
  const found: string[] = [];
  const foreign: string[] = [];
  const added = (what: string, a: Set<string>, b: Set<string>) => {
    for (const x of b) if (!a.has(x)) found.push(`${what}: ${x}`);
  };
  added('cgroup', before.cgroups, after.cgroups);
  added('link in the root netns', before.links, after.links);
  added('/run/netns entry', before.netns, after.netns);
  added('mount in the root mount namespace', before.mounts, after.mounts);
  if (before.nftTables && after.nftTables) added('nft table in the root netns', before.nftTables, after.nftTables);
  if (before.ipForward !== after.ipForward) found.push(`sysctl net.ipv4.ip_forward changed: ${before.ipForward} -> ${after.ipForward}`);
  for (const [k, p] of after.procs) {
    if (before.procs.has(k)) continue;
    // A pause/podns-helper with no mark of this run may belong to another run on the same machine.
    (p.ours ? found : foreign).push(`process still running: ${p.desc}`);
  }
  return { found, foreign };
}

/** The sandbox's mount and network namespaces, read from the sandboxed process once it has unshared. */
async function learnSandboxNs(pid: number | undefined, marks: RunMarks): Promise<void> {
  if (pid === undefined) return;
  const selfMnt = linkOr('/proc/self/ns/mnt');
  const selfNet = linkOr('/proc/self/ns/net');
  for (let i = 0; i < 1000; i++) {
    const mnt = linkOr(`/proc/${pid}/ns/mnt`);
    const net = linkOr(`/proc/${pid}/ns/net`);
    if (mnt === undefined || net === undefined) return; // already gone
    if (mnt !== selfMnt && net !== selfNet) {
      marks.sandboxNs.add(mnt);
      marks.sandboxNs.add(net);
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- run ------------------------------------------------------------------------------

function runChild(cmd: string, args: string[], env: NodeJS.ProcessEnv, onSpawn?: (pid: number | undefined) => void): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: 'inherit', env });
    // ^C reaches the child through the terminal's process group; a SIGTERM aimed at us is passed on.
    // Either way we stay to do the leak check.
    const onInt = () => {};
    const onTerm = () => child.kill('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    child.on('spawn', () => onSpawn?.(child.pid));
    child.on('error', (err) => {
      console.error(`sandbox-run: cannot start ${cmd}: ${oneLine(err)}`);
      resolve(127);
    });
    child.on('close', (code, sig) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? 128 + (sig ? osConstants.signals[sig] : 0));
    });
  });
}

async function main(argv: string[]): Promise<number> {
  let command: string[];
  if (argv[0] === 'ava') command = [process.execPath, avaCli(), ...argv.slice(1)];
  else if (argv[0] === '--' && argv.length > 1) command = argv.slice(1);
  else {
    console.error('usage: sandbox-run ava [AVA ARGS...] | sandbox-run -- CMD ARGS...');
    return 2;
  }

  const isRoot = process.getuid?.() === 0;
  if (!isRoot) {
    console.error('sandbox-run: not root: running without the sandbox; privileged tests will skip (or fail with PODNS_REQUIRE_ROOT_TESTS=1)');
    return runChild(command[0]!, command.slice(1), process.env);
  }

  let helper: string;
  try {
    helper = executable(helperPath);
  } catch (err) {
    console.error(`sandbox-run: ${oneLine(err)}`);
    return 1;
  }

  // the token starts with our pid, so that a later run can tell our cgroups from a live run's (sweepStaleCgroups)
  const marks: RunMarks = { token: process.pid.toString(16).padStart(RUN_PID_HEX, '0') + randomBytes(8).toString('hex'), sandboxNs: new Set() };
  sweepStaleCgroups(marks);
  // the containers' devices cgroups go under a parent of this run's, so that a leftover is found (and
  // told apart from another run's) in the machine-wide hierarchy
  // an image store inside the sandbox's own empty /run, for anything that does not name one: a test never
  // writes to the machine's /var/lib/podns
  const env = { PODNS_STORE: '/run/podns-test-store', ...process.env, [RUN_ENV]: marks.token, PODNS_CGROUP_PARENT: cgroupParent(marks) };
  const before = snapshot(marks);
  let learning: Promise<void> = Promise.resolve();
  const code = await runChild(helper, sandboxArgv(command), env, (pid) => {
    learning = learnSandboxNs(pid, marks);
  });
  await learning;

  // Some teardown is asynchronous in the kernel (a netns and its veths go away shortly after
  // their last process): only what is still there after a short while is a leak.
  let result = leaks(before, snapshot(marks));
  for (let i = 0; i < 20 && result.found.length + result.foreign.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    result = leaks(before, snapshot(marks));
  }
  // reported above when something was left; removed either way, so that no run leaves cgroups behind (what
  // still holds a process stays, and the process is reported as a leak too)
  for (const base of cgroupBases(marks)) removeCgroupTree(base);
  if (result.foreign.length > 0) {
    console.error(`\nsandbox-run: note: new pause/podns-helper processes not started by this run (another run on this machine?):`);
    for (const f of result.foreign) console.error(`  - ${f}`);
  }
  if (result.found.length > 0) {
    console.error(`\nsandbox-run: LEAK CHECK FAILED: ${result.found.length} thing(s) outside the test sandbox appeared during the run:`);
    for (const f of result.found) console.error(`  - ${f}`);
    console.error('Tests must work inside the sandbox and kill/remove everything they start.');
    return code === 0 ? 1 : code;
  }
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`sandbox-run: ${oneLine(err)}`);
    process.exit(1);
  },
);
