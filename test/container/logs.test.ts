// Bounded container logs for real: the shim rotates the CRI log at --log-max-size keeping --log-max-files
// files (the previous run's included) under a flood; `logs --tail` reads from the end in bounded memory
// (the CLI's peak RSS measured); `logs -f` follows across rotations and a restart; --previous with rotation.
import { execa } from 'execa';
import { readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { containerLogs, readContainerStatus, runContainer, stopContainers } from '../../src/container/index.js';
import { DEFAULT_LOG_MAX_FILES, DEFAULT_LOG_MAX_SIZE } from '../../src/container/log-limits.js';
import { inspectPod } from '../../src/pod/inspect.js';
import { listPods } from '../../src/pod/store.js';
import { paths } from '../../src/state/paths.js';
import { privilegedSerial } from '../helpers/root.js';
import { bin, waitFor, type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let work = '';

useContainerEnv('logs', 247, async (e, w) => {
  env = e;
  work = w;
}, { busybox: false });

async function pod(name: string): Promise<void> {
  await createTestPod(env!, name);
}

const LOG_NAME = /^(current|previous)\.log(\.\d+)?$/;

/** The log files in a container's directory and their sizes (a file removed meanwhile is left out). */
function logFiles(dir: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const n of readdirSync(dir)) {
    if (!LOG_NAME.test(n)) continue;
    try {
      out.set(n, statSync(join(dir, n)).size);
    } catch {
      // rotated away between the listing and the stat
    }
  }
  return out;
}

function total(files: Map<string, number>): number {
  let n = 0;
  for (const s of files.values()) n += s;
  return n;
}

function collect(): { out: string[]; err: string[]; w: { stdout: { write(s: string): boolean }; stderr: { write(s: string): boolean } } } {
  const c = { out: [] as string[], err: [] as string[] };
  return { ...c, w: { stdout: { write: (s: string) => c.out.push(s) > 0 }, stderr: { write: (s: string) => c.err.push(s) > 0 } } };
}

/** Every line of every log file is one whole CRI entry: a rotation never cut one. */
function assertWholeEntries(t: { true(v: boolean, m?: string): void }, dir: string): void {
  for (const n of logFiles(dir).keys()) {
    const text = readFileSync(join(dir, n), 'utf8');
    if (text === '') continue;
    t.true(text.endsWith('\n'), `${n} ends with a whole line`);
    const bad = text.slice(0, -1).split('\n').find((l) => !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /.test(l));
    t.true(bad === undefined, `${n}: every line is a CRI entry (${JSON.stringify(bad?.slice(0, 80))})`);
  }
}

/**
 * Watches a flooding container's directory until `done` says so, failing (and stopping the container at
 * once, so that a log without a cap cannot fill the host's memory) as soon as the files pass `cap`.
 */
async function watchFlood(podName: string, c: string, cap: number, done: (f: Map<string, number>) => boolean, ms = 30000): Promise<{ peak: number; files: Map<string, number> }> {
  const dir = paths.container(env!.root, podName, c);
  const end = Date.now() + ms;
  let peak = 0;
  for (;;) {
    const f = logFiles(dir);
    peak = Math.max(peak, total(f));
    if (peak > cap) {
      await stopContainers({ root: env!.root, pod: podName, names: [c], grace: 0 });
      throw new Error(`the log of ${podName}/${c} holds ${peak} bytes, over the cap of ${cap}: ${JSON.stringify([...f])}`);
    }
    if (done(f)) return { peak, files: f };
    if (Date.now() > end) {
      await stopContainers({ root: env!.root, pod: podName, names: [c], grace: 0 });
      throw new Error(`timed out: ${podName}/${c}'s log files are ${JSON.stringify([...f])}`);
    }
    await sleep(10);
  }
}

privilegedSerial('a yes flood with --log-max-size 64Ki --log-max-files 3 keeps at most the cap, in whole lines; the shim gets the limits', async (t) => {
  await pod('flood');
  const r = await env!.cli(['run', 'flood', '--name', 'yes', '--log-max-size', '64Ki', '--log-max-files', '3', '-o', 'json', '--', 'yes', 'podns']);
  t.is(r.exitCode, 0, r.stderr);
  const res = JSON.parse(r.stdout) as { config: { logMaxSize: number; logMaxFiles: number }; status: { watcherPid: number } };
  t.is(res.config.logMaxSize, 65536);
  t.is(res.config.logMaxFiles, 3);
  const cmdline = readFileSync(`/proc/${res.status.watcherPid}/cmdline`, 'utf8').split('\0');
  t.is(cmdline[cmdline.indexOf('--log-max-size') + 1], '65536');
  t.is(cmdline[cmdline.indexOf('--log-max-files') + 1], '3');
  // podns inspect shows the limits with each container
  const ins = await env!.cli(['inspect', 'flood']);
  t.is(ins.exitCode, 0, ins.stderr);
  const details = (JSON.parse(ins.stdout) as { containers: { details: Array<{ name: string; log: unknown }> } }).containers.details;
  t.deepEqual(details.find((d) => d.name === 'yes')?.log, { maxSize: 65536, maxFiles: 3 });
  const cap = 65536 * 3;
  // rotated past the cap many times over (the oldest file went), for about two seconds; a rotation is
  // atomic in effect: once there are three files, every listing (also one in the middle of a rotation)
  // shows all three names, as a kill -9 of the watcher at any moment would leave them
  const start = Date.now();
  const three = 'current.log,current.log.1,current.log.2';
  let full = false;
  const gaps = new Set<string>();
  const { peak, files } = await watchFlood('flood', 'yes', cap, (f) => {
    const names = [...f.keys()].sort().join();
    if (names === three) full = true;
    else if (full) gaps.add(names);
    return full && Date.now() - start > 2000;
  });
  t.log(`peak ${peak} bytes in ${files.size} files`);
  t.deepEqual([...gaps], [], 'every listing at the cap shows the three files');
  await stopContainers({ root: env!.root, pod: 'flood', names: ['yes'], grace: 0 });
  const dir = paths.container(env!.root, 'flood', 'yes');
  const final = logFiles(dir);
  t.deepEqual([...final.keys()].sort(), ['current.log', 'current.log.1', 'current.log.2']);
  t.true(total(final) <= cap);
  for (const s of final.values()) t.true(s <= 65536);
  assertWholeEntries(t, dir);
  // logs reads them all, oldest first: the text of every line
  const c = collect();
  await containerLogs({ root: env!.root, pod: 'flood', container: 'yes', out: c.w });
  const lines = c.out.join('').split('\n');
  t.is(lines.pop(), '');
  // each entry is "<30-character time> stdout F podns\n": every line on disk is there once
  t.is(lines.length * 46, total(final));
  t.true(lines.every((l) => l === 'podns'));
});

privilegedSerial('with the default limits (10Mi x 5) a yes flood passes 10 MiB several times and stays within 50 MiB', async (t) => {
  await pod('flood-default');
  const r = await runContainer({ root: env!.root, pod: 'flood-default', name: 'yes', command: ['yes'] });
  const cap = DEFAULT_LOG_MAX_SIZE * DEFAULT_LOG_MAX_FILES;
  // the oldest kept file is the fifth: the log has passed 10 MiB four times at least; then a while more
  let full = 0;
  const { peak } = await watchFlood('flood-default', 'yes', cap, (f) => {
    if (f.has('current.log.4') && full === 0) full = Date.now();
    return full > 0 && Date.now() - full > 500;
  }, 60000);
  await stopContainers({ root: env!.root, pod: 'flood-default', names: ['yes'], grace: 0 });
  const final = logFiles(paths.container(env!.root, 'flood-default', 'yes'));
  t.log(`peak ${peak} bytes; at the end ${JSON.stringify([...final])}`);
  t.is(final.size, 5);
  t.true(total(final) <= cap);
  t.false(final.has('current.log.5'));
  t.is(r.config.logMaxSize, DEFAULT_LOG_MAX_SIZE);
  t.is(r.config.logMaxFiles, DEFAULT_LOG_MAX_FILES);
  const details = inspectPod({ root: env!.root, name: 'flood-default' }).containers.details;
  t.deepEqual(details.find((d) => d.name === 'yes')?.log, { maxSize: 10 * 1024 * 1024, maxFiles: 5 });
});

privilegedSerial('a crash-looping flood keeps the previous run inside the cap', async (t) => {
  await pod('crashloop');
  await runContainer({
    root: env!.root, pod: 'crashloop', name: 'c', command: ['sh', '-c', 'yes podns | head -c 300000; exit 1'],
    restartPolicy: 'Always', backoffMs: 1, logMaxSize: 65536, logMaxFiles: 3,
  });
  const { peak } = await watchFlood('crashloop', 'c', 65536 * 3, () => (readContainerStatus({ root: env!.root, pod: 'crashloop', name: 'c' })?.restartCount ?? 0) >= 4);
  await stopContainers({ root: env!.root, pod: 'crashloop', names: ['c'], grace: 0 });
  const dir = paths.container(env!.root, 'crashloop', 'c');
  const final = logFiles(dir);
  t.log(`peak ${peak}; ${JSON.stringify([...final])}`);
  t.true(final.has('previous.log'), 'the previous run keeps its newest file');
  t.true(final.size <= 3);
  t.true(total(final) <= 65536 * 3);
  assertWholeEntries(t, dir);
  const c = collect();
  await containerLogs({ root: env!.root, pod: 'crashloop', container: 'c', previous: true, tail: 2, out: c.w });
  t.is(c.out.join(''), 'podns\npodns\n');
});

/** A CRI entry as the shim writes it. */
function entry(stream: 'stdout' | 'stderr', tag: 'F' | 'P', text: string, i = 0): string {
  return `2026-12-01T10:00:00.${String(i % 1e9).padStart(9, '0')}Z ${stream} ${tag} ${text}\n`;
}

/** A CRI log file of about `bytes` bytes: numbered lines, every tenth on stderr. */
function bigLog(path: string, bytes: number): number {
  const parts: string[] = [];
  let size = 0;
  let i = 0;
  for (; size < bytes; i++) {
    const e = entry(i % 10 === 9 ? 'stderr' : 'stdout', 'F', `line ${i} ${'.'.repeat(40)}`, i);
    parts.push(e);
    size += e.length;
    if (parts.length === 10000) { writeFileSync(path, parts.join(''), { flag: 'a' }); parts.length = 0; }
  }
  writeFileSync(path, parts.join(''), { flag: 'a' });
  return i;
}

/** Peak RSS (kB) of `podns ARGS`, as /usr/bin/time reports it, and its stdout. */
async function cliPeak(args: string[]): Promise<{ kb: number; stdout: string }> {
  const r = await execa('/usr/bin/time', ['-f', 'peak %M', 'node', bin, ...args], { env: env!.env, reject: false, stdin: 'ignore' });
  t0(r.exitCode === 0, `podns ${args.join(' ')}: ${r.stderr}`);
  const m = /peak (\d+)\s*$/.exec(String(r.stderr));
  t0(m !== null, `no peak in ${r.stderr}`);
  return { kb: Number(m![1]), stdout: String(r.stdout) };
}

function t0(ok: boolean, msg: string): void {
  if (!ok) throw new Error(msg);
}

privilegedSerial('logs --tail 5 on a 50 MB log reads from the end: the last 5 lines, across files, in small memory', async (t) => {
  await pod('big');
  for (const c of ['small', 'big']) {
    await runContainer({ root: env!.root, pod: 'big', name: c, command: ['true'] });
    await waitFor(() => readContainerStatus({ root: env!.root, pod: 'big', name: c })?.state === 'exited', `${c} exits`);
  }
  const small = paths.container(env!.root, 'big', 'small');
  writeFileSync(join(small, 'current.log'), entry('stdout', 'F', 'a') + entry('stdout', 'F', 'b'));
  // the fixture: 50 MB of numbered lines, every tenth on stderr
  const dir = paths.container(env!.root, 'big', 'big');
  const log = join(dir, 'current.log');
  writeFileSync(log, '');
  const n = bigLog(log, 50e6);
  t.true(statSync(log).size >= 50e6);
  const line = (i: number): string => `line ${i} ${'.'.repeat(40)}`;
  // the last 5 lines; the CLI's stdout gets the stdout ones (stderr has time's line too)
  const last5 = Array.from({ length: 5 }, (_, k) => n - 5 + k);
  const base = await cliPeak(['logs', 'big', '-c', 'small', '--tail', '5']);
  t.is(base.stdout, 'a\nb');
  const big = await cliPeak(['logs', 'big', '-c', 'big', '--tail', '5']);
  t.is(big.stdout, last5.filter((i) => i % 10 !== 9).map(line).join('\n'));
  t.log(`peak RSS: ${base.kb} kB on a 2-line log, ${big.kb} kB with --tail 5 on 50 MB`);
  // reading the file whole would take 50 MB for the bytes and as much again for the text
  t.true(big.kb - base.kb < 16 * 1024, `--tail 5 on 50 MB costs ${big.kb - base.kb} kB more than on 2 lines`);

  // rotated: the 50 MB file is current.log.1, ending in the first piece of a line that ends in current.log
  renameSync(log, join(dir, 'current.log.1'));
  writeFileSync(join(dir, 'current.log.1'), entry('stdout', 'P', 'long-'), { flag: 'a' });
  writeFileSync(log, entry('stderr', 'F', 'err-last') + entry('stdout', 'F', 'line') + entry('stdout', 'F', 'end'));
  const c = collect();
  await containerLogs({ root: env!.root, pod: 'big', container: 'big', tail: 5, out: c.w });
  t.is(c.out.join(''), [...[n - 2, n - 1].filter((i) => i % 10 !== 9).map(line), 'long-line', 'end'].map((l) => l + '\n').join(''));
  t.is(c.err.join(''), [...[n - 2, n - 1].filter((i) => i % 10 === 9).map(line), 'err-last'].map((l) => l + '\n').join(''));
  const ts = collect();
  await containerLogs({ root: env!.root, pod: 'big', container: 'big', tail: 2, timestamps: true, out: ts.w });
  t.is(ts.out.join(''), '2026-12-01T10:00:00.000000000Z long-line\n2026-12-01T10:00:00.000000000Z end\n');
});

privilegedSerial('logs -f across rotations and a restart gets every line of a counted sequence exactly once', async (t) => {
  await pod('follow');
  const counter = join(work, 'follow-runs');
  // run 1 prints 0..7999 and fails, run 2 prints 8000..15999 and succeeds; paced (a pause every 100 lines)
  // so that the follower stays within the 10 files kept
  const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; ` +
    'i=$(( (n-1) * 8000 )); e=$((i + 8000)); while [ $i -lt $e ]; do echo "seq $i"; i=$((i+1)); ' +
    '[ $((i % 100)) -eq 0 ] && sleep 0.01; done; [ $n -ge 2 ]';
  await runContainer({
    root: env!.root, pod: 'follow', name: 'c', command: ['sh', '-c', script], restartPolicy: 'OnFailure', backoffMs: 100,
    logMaxSize: 65536, logMaxFiles: 10,
  });
  const c = collect();
  // polls 0.7 s apart: several rotations happen between two reads (a 64Ki file takes ~0.2 s here), so the
  // follower must find the files in between by the inode it holds, not just reopen current.log
  await containerLogs({ root: env!.root, pod: 'follow', container: 'c', follow: true, pollMs: 700, out: c.w });
  const got = c.out.join('').split('\n');
  t.is(got.pop(), '');
  const want = Array.from({ length: 16000 }, (_, i) => `seq ${i}`);
  const missing = want.filter((l, i) => got[i] !== l).length;
  t.is(got.length, 16000, `${missing} lines differ`);
  t.deepEqual(got, want);
  const st = readContainerStatus({ root: env!.root, pod: 'follow', name: 'c' })!;
  t.is(st.restartCount, 1);
  t.is(st.exitCode, 0);
  const files = logFiles(paths.container(env!.root, 'follow', 'c'));
  t.log(JSON.stringify([...files]));
  // run 1 (the previous) rotated too, and gave files up to the current run's rotations down to the cap
  t.true(files.has('current.log.3') && files.has('previous.log.1'), 'both runs rotated several times');
  t.true(files.size <= 10);
});

privilegedSerial('--previous after a restart shows the previous run\'s newest lines, trimmed to the cap by the current run', async (t) => {
  await pod('prev');
  const counter = join(work, 'prev-runs');
  // run 1: 3000 lines (~3 files of 64Ki), exits 1; run 2: 2000 lines (2 files), then sleeps
  const script = `n=$(cat ${counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > ${counter}; ` +
    'if [ $n -eq 1 ]; then i=0; while [ $i -lt 3000 ]; do echo "run1 $i"; i=$((i+1)); done; exit 1; fi; ' +
    'i=0; while [ $i -lt 2000 ]; do echo "run2 $i"; i=$((i+1)); done; exec sleep 1000';
  await runContainer({
    root: env!.root, pod: 'prev', name: 'c', command: ['sh', '-c', script], restartPolicy: 'OnFailure', backoffMs: 100,
    logMaxSize: 65536, logMaxFiles: 3,
  });
  const dir = paths.container(env!.root, 'prev', 'c');
  await waitFor(() => readFileSync(join(dir, 'current.log'), 'utf8').includes('run2 1999'), 'run 2 output', 15000);
  const files = logFiles(dir);
  t.deepEqual([...files.keys()].sort(), ['current.log', 'current.log.1', 'previous.log']);
  const cur = collect();
  await containerLogs({ root: env!.root, pod: 'prev', container: 'c', out: cur.w });
  t.deepEqual(cur.out.join(''), Array.from({ length: 2000 }, (_, i) => `run2 ${i}\n`).join(''));
  const prev = collect();
  await containerLogs({ root: env!.root, pod: 'prev', container: 'c', previous: true, out: prev.w });
  const lines = prev.out.join('').trimEnd().split('\n');
  t.true(lines.length > 100 && lines.length < 1500, `${lines.length} lines of run 1 kept`);
  const first = Number(lines[0]!.split(' ')[1]);
  t.deepEqual(lines, Array.from({ length: 3000 - first }, (_, i) => `run1 ${first + i}`), 'the newest lines of run 1, in order');
  const tail = collect();
  await containerLogs({ root: env!.root, pod: 'prev', container: 'c', previous: true, tail: 2, timestamps: true, out: tail.w });
  t.regex(tail.out.join(''), /^\S+Z run1 2998\n\S+Z run1 2999\n$/);
  const r = await env!.cli(['logs', 'prev', '-c', 'c', '--previous', '--tail', '1']);
  t.is(r.stdout, 'run1 2999');
});

privilegedSerial('kill -9 of the watcher at each step of a restart\'s log turnover: current.log still holds the run that ended, no run\'s numbering has a gap, no line is lost', async (t) => {
  await pod('turn');
  const run1 = Array.from({ length: 3000 }, (_, i) => `run1 ${i}`);
  // PODNS_FAULT=<step> reaches the watcher (src/fault.ts faultEnv), which dies there on its first restart
  const steps = ['dropped', 'linked-1', 'linked', 'trimmed'];
  for (const step of steps) {
    const name = `c-${step}`;
    process.env.PODNS_FAULT = `watcher-new-run-${step}`;
    try {
      // 3000 lines (~3 files of 64Ki), exit 1: the watcher turns the log over for the restart and dies
      await runContainer({
        root: env!.root, pod: 'turn', name, command: ['sh', '-c', 'i=0; while [ $i -lt 3000 ]; do echo "run1 $i"; i=$((i+1)); done; exit 1'],
        restartPolicy: 'OnFailure', backoffMs: 1, logMaxSize: 65536, logMaxFiles: 5,
      });
    } finally {
      delete process.env.PODNS_FAULT;
    }
    await waitFor(() => readContainerStatus({ root: env!.root, pod: 'turn', name })?.state === 'exited', `the watcher to die at ${step}`, 15000);
    const st = readContainerStatus({ root: env!.root, pod: 'turn', name })!;
    t.like(st, { exitCode: 1, restartCount: 0 }, `${step}: the status is the run that ended`);
    const dir = paths.container(env!.root, 'turn', name);
    const files = [...logFiles(dir).keys()];
    t.log(step, files.sort().join(' '));
    for (const r of ['current', 'previous']) {
      const ks = files.filter((f) => f.startsWith(`${r}.log`)).map((f) => Number(f.split('.')[2] ?? 0)).sort((x, y) => x - y);
      t.deepEqual(ks, ks.map((_, i) => i), `${step}: ${r}.log* numbered from 0 without a gap`);
    }
    t.true(files.includes('current.log'), `${step}: current.log is there`);
    const read = async (previous: boolean): Promise<string[]> => {
      const c = collect();
      await containerLogs({ root: env!.root, pod: 'turn', container: name, previous, out: c.w }).catch((err: { code?: string }) => {
        if (err.code !== 'ENOPREVIOUS') throw err;
      });
      const text = c.out.join('');
      return text === '' ? [] : text.trimEnd().split('\n');
    };
    const cur = await read(false);
    const prev = await read(true);
    // each is the run's newest lines, in order; together nothing is lost
    t.deepEqual(cur, run1.slice(run1.length - cur.length), `${step}: logs shows the run that ended`);
    t.deepEqual(prev, run1.slice(run1.length - prev.length), `${step}: logs --previous shows (part of) it`);
    t.is(Math.max(cur.length, prev.length), run1.length, `${step}: every line of the run is readable`);
    t.true(cur.length > 0, `${step}: logs shows its last words`);
  }
});

privilegedSerial('a line longer than 16 KiB is split with P; with a 32Ki cap its pieces land in separate files and logs joins them', async (t) => {
  await pod('split');
  await runContainer({
    root: env!.root, pod: 'split', name: 'c', command: ['sh', '-c', "sleep 0.2; head -c 40000 /dev/zero | tr '\\0' x; echo; echo done"],
    logMaxSize: 32768, logMaxFiles: 5,
  });
  const c = collect();
  await containerLogs({ root: env!.root, pod: 'split', container: 'c', follow: true, out: c.w });
  t.is(c.out.join(''), `${'x'.repeat(40000)}\ndone\n`);
  const dir = paths.container(env!.root, 'split', 'c');
  assertWholeEntries(t, dir);
  // containerd's split: 16384 bytes of text per P piece, the rest with F; the second piece would pass
  // 32Ki in the first file, so it starts the next
  const tags = (n: string): string[] => readFileSync(join(dir, n), 'utf8').split('\n').filter(Boolean).map((l) => {
    const m = /^\S+ \S+ ([FP]) (.*)$/.exec(l)!;
    return `${m[1]}${m[2]!.length}`;
  });
  t.deepEqual([...logFiles(dir).keys()].sort(), ['current.log', 'current.log.1']);
  t.deepEqual(tags('current.log.1'), ['P16384']);
  t.deepEqual(tags('current.log'), ['P16384', 'F7232', 'F4']);
  const tail = collect();
  await containerLogs({ root: env!.root, pod: 'split', container: 'c', tail: 2, out: tail.w });
  t.is(tail.out.join(''), `${'x'.repeat(40000)}\ndone\n`);
});

privilegedSerial('run --log-max-size/--log-max-files: bad values are refused with one line, nothing is made', async (t) => {
  for (const [args, re] of [
    [['--log-max-size', '10XB'], /invalid --log-max-size "10XB": give bytes or a size such as 10Mi/],
    [['--log-max-size', '1Ki'], /use 32768 \(32Ki/],
    [['--log-max-files', '1'], /invalid log max files 1: use 2/],
  ] as const) {
    const r = await env!.cli(['run', 'badlimits', '--name', 'c', ...args, '--', 'true']);
    t.is(r.exitCode, 2, r.stderr);
    t.regex(r.stderr, re);
    t.is(r.stderr.trim().split('\n').length, 1);
  }
  t.false(listPods({ root: env!.root }).some((p) => p.name === 'badlimits'));
});
