// The workload and exec sessions start with every signal at its default disposition and none blocked
// (the watcher ignores SIGHUP and SIGPIPE, and an ignored signal survives execve); the workload keeps
// the pod's oom_score_adj (the value its watcher started with) whatever the watcher does with its own.
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execInContainer, runContainer } from '../../src/container/index.js';
import { createPod } from '../../src/pod/create.js';
import { deletePod } from '../../src/pod/delete.js';
import { listPods } from '../../src/pod/store.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial, skipReason } from '../helpers/root.js';
import { makeEnv, type TestEnv } from '../pod/env.js';

let env: TestEnv | undefined;
let work = '';
let rootfs = '';

test.before(async () => {
  if (skipReason() !== undefined || !busyboxAvailable()) return;
  env = makeEnv('signals', 174);
  work = mkdtempSync(join(env.root, '..', 'work-'));
  rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  await createPod({ root: env.root, name: 's', bridge: env.bridge, subnet: env.subnet });
});

test.after.always(async () => {
  if (env === undefined) return;
  for (const rec of listPods({ root: env.root })) await deletePod({ root: env.root, name: rec.name, grace: 0, force: true }).catch(() => undefined);
  await env.cleanup();
  rmSync(work, { recursive: true, force: true });
});

function statusField(pid: number, field: string): string {
  return new RegExp(`^${field}:\\s*(\\S+)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]!;
}

privilegedSerial('the workload starts with no signal ignored or blocked (SIGHUP at its default)', async (t) => {
  if (!busyboxAvailable()) { t.pass('no busybox'); return; }
  const { status } = await runContainer({ root: env!.root, pod: 's', name: 'sig', rootfs, command: ['sleep', '1000'] });
  t.not(BigInt(`0x${statusField(status.watcherPid, 'SigIgn')}`) & 1n, 0n, 'the watcher itself ignores SIGHUP');
  t.is(statusField(status.pid, 'SigIgn'), '0000000000000000');
  t.is(statusField(status.pid, 'SigBlk'), '0000000000000000');
  // an exec session too
  const probe = 'grep -q "^SigIgn:[[:space:]]*0000000000000000$" /proc/self/status && grep -q "^SigBlk:[[:space:]]*0000000000000000$" /proc/self/status';
  t.is(await execInContainer({ root: env!.root, pod: 's', container: 'sig', argv: ['sh', '-c', probe] }), 0);
});

privilegedSerial('the workload keeps the oom_score_adj the watcher started with (the pod\'s)', async (t) => {
  if (!busyboxAvailable()) { t.pass('no busybox'); return; }
  // raising is always allowed: a value of our own that children inherit
  const mine = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
  const pod = Math.max(mine, 321);
  writeFileSync('/proc/self/oom_score_adj', String(pod));
  const { status } = await runContainer({ root: env!.root, pod: 's', name: 'oom', rootfs, command: ['sleep', '1000'] });
  t.is(Number(readFileSync(`/proc/${status.pid}/oom_score_adj`, 'utf8')), pod);
  // lowering needs CAP_SYS_RESOURCE; where the watcher has it, it is below the workload
  const w = Number(readFileSync(`/proc/${status.watcherPid}/oom_score_adj`, 'utf8'));
  t.true(w === pod || w === -999, `watcher ${w}`);
});
