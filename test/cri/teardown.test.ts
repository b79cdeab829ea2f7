// kubelet's teardown through podns's CRI server, with the work nothing waits for left to a pool thread:
// StopContainer's cgroup removal (an exec session's orphan still in the cgroup is killed before the answer), RemoveContainer's
// and RemovePodSandbox's directories (renamed into the trash), RemovePodSandbox's cgroup and netns pin. Once
// the server has settled that work, nothing of the pod is left.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readContainerConfig } from '../../src/container/index.js';
import { settleTrash } from '../../src/state/trash.js';
import { criSuite } from './endpoint.js';

const criTest = criSuite({ tag: 'teardown', octet: 227 });

const processGone = (pid: number): boolean => {
  try {
    return /^\d+ \(.*\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

async function waitFor(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

criTest('podns: StopContainer kills an exec orphan left in the container\'s cgroup before it answers; Remove* leave nothing once settled', async (t, ep) => {
  const root = ep.podns!.env.root;
  const sb = ep.sandboxConfig('tdown');
  const { pod_sandbox_id: pod } = await ep.rt('RunPodSandbox', { config: sb });
  const { container_id: ctr } = await ep.rt('CreateContainer', { pod_sandbox_id: pod, sandbox_config: sb, config: ep.containerConfig('c', ['sleep', '1000']) });
  await ep.rt('StartContainer', { container_id: ctr });
  const info = JSON.parse((await ep.rt('ContainerStatus', { container_id: ctr, verbose: true })).info.podns) as { pod: string; container: string };
  const cfg = readContainerConfig({ root, pod: info.pod, name: info.container })!;
  const pidsDir = cfg.cgroupDirs!.find((d) => existsSync(join(d, 'cgroup.procs')))!;
  const members = () => readFileSync(join(pidsDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  const before = members();
  // an exec session's background process: its shell ends at once, the pause (the pod's pid 1) adopts it
  await ep.rt('ExecSync', { container_id: ctr, cmd: ['sh', '-c', 'sleep 1001 >/dev/null 2>&1 &'], timeout: 10 });
  let orphan = 0;
  await waitFor('the orphan in the container\'s cgroup', () => (orphan = members().find((p) => !before.includes(p)) ?? 0) !== 0);

  await ep.rt('StopContainer', { container_id: ctr, timeout: 0 });
  // a stopped container has no process left: the orphan is killed before the answer, not after it
  t.false(existsSync(pidsDir), 'at the answer, the orphan is dead and the container\'s cgroups are removed');
  t.is((await ep.rt('ContainerStatus', { container_id: ctr })).status.state, 'CONTAINER_EXITED');
  await settleTrash();
  await waitFor(`the orphan ${orphan} to be killed`, () => processGone(orphan));
  t.false(existsSync(pidsDir), 'the container\'s cgroups are removed');
  t.is((await ep.rt('ContainerStatus', { container_id: ctr })).status.state, 'CONTAINER_EXITED');

  await ep.rt('StopPodSandbox', { pod_sandbox_id: pod });
  await ep.rt('RemoveContainer', { container_id: ctr });
  await ep.rt('RemovePodSandbox', { pod_sandbox_id: pod });
  t.deepEqual((await ep.rt('ListPodSandbox', {})).items, [], 'gone from the list at the answer');
  t.deepEqual((await ep.rt('ListContainers', {})).containers, []);
  await settleTrash();
  t.deepEqual(readdirSync(join(root, 'pods')), [], 'no trash left');
  t.deepEqual(readdirSync(join(root, 'claims')), [], 'no claim left: the pod\'s cgroup and netns pin are gone');
  t.deepEqual(readdirSync(ep.podns!.env.netnsDir), []);
  t.false(existsSync(join(pidsDir, '..')), 'the pod\'s cgroup is removed');
  t.false(readFileSync('/proc/self/mountinfo', 'utf8').includes(join(root, 'pods', info.pod)), 'no pin of the pod is mounted');
}, { only: ['podns'] });
