// The workload and exec sessions start with every signal at its default disposition and none blocked
// (the watcher ignores SIGHUP and SIGPIPE, and an ignored signal survives execve); the workload keeps
// the pod's oom_score_adj (the value its watcher started with) whatever the watcher does with its own.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execInContainer, runContainer } from '../../src/container/index.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { privilegedSerial } from '../helpers/root.js';
import { type TestEnv } from '../pod/env.js';
import { createTestPod, useContainerEnv } from './env.js';

let env: TestEnv | undefined;
let work = '';
let rootfs = '';

useContainerEnv('signals', 174, async (e, w) => {
  env = e;
  work = w;
  rootfs = makeBusyboxRootfs(join(work, 'rootfs'));
  await createTestPod(e, 's');
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
