// podns ns | net — looking at a pod's namespaces and network from the kernel's side.
import { PodnsError } from '../../errors.js';
import { listPods, readPod } from '../../pod/store.js';
import { netView } from '../../views/net.js';
import { nsView } from '../../views/ns.js';
import { computeStats, hostMemory, statsRows, STATS_HEADERS, takeSample, type Sample } from '../../views/stats.js';
import { renderNet, renderNs } from '../../views/render.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';
import { json, stdout, stderr, table } from '../output.js';
import { setTimeout as sleep } from 'node:timers/promises';

const nsUsage = `Usage:
  podns ns [POD...] [-o json]

Which process of a pod is in which namespace, like lsns narrowed to pods: one row per process (the
pause, each container's main process, each live exec session), one column per namespace type holding
the namespace's inode (what 'readlink /proc/PID/ns/TYPE' shows). Two processes share a namespace when
the numbers are equal. A namespace marked * is the container's own; unmarked ones are the pause's,
shared by the whole pod. Without POD: every pod.

An exec session is a process inside a container (its mount namespace and the pid namespace of its
main process) that the main process did not start, such as 'podns exec POD -- sh'.

-o json: {pods: [...], rows: [{pod, container, role: pause|main|exec, pid, command,
          ns: {net: {ino, dev, shared, host}, ...}}]}
`;

const netUsage = `Usage:
  podns net POD [-c CONTAINER] [-o json]

The network interfaces seen from inside the pod, read in its network namespace over rtnetlink: name,
state, MAC, addresses, MTU, RX/TX packets and bytes; and the host-side end of eth0's veth pair with its
bridge. With -c, the namespace is read through that container's process (/proc/PID/ns/net): in a pod it
is the pause's, so the view is the same interface and the same counters.
`;

async function nsCmd(argv: string[]): Promise<number> {
  const p = parseCommand('ns', argv, {});
  const root = p.globals.root;
  const pods = p.positionals.length > 0 ? [...new Set(p.positionals)].map((n) => readPod({ root, name: n })) : listPods({ root });
  const view = nsView(root, pods);
  if (p.globals.output === 'json') {
    stdout.write(json(view));
    return 0;
  }
  if (p.globals.output === 'name') {
    for (const r of view.rows) if (r.pid !== null) stdout.write(`${r.pid}\n`);
    return 0;
  }
  if (view.rows.length === 0) {
    stderr.write('No pods found.\n');
    return 0;
  }
  stdout.write(renderNs(view, stdout));
  return 0;
}

async function netCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ container?: string }>('net', argv, { container: { type: 'string', short: 'c' } });
  if (p.positionals.length !== 1) {
    throw new PodnsError('EUSAGE', `podns net: give exactly one pod, e.g. podns net web${p.positionals.length > 1 ? ` (got ${p.positionals.length})` : ''}`);
  }
  const rec = readPod({ root: p.globals.root, name: p.positionals[0]! });
  const view = netView(p.globals.root, rec, p.values.container);
  if (p.globals.output === 'json') stdout.write(json(view));
  else if (p.globals.output === 'name') for (const i of view.interfaces) stdout.write(`${i.name}\n`);
  else stdout.write(renderNet(view, stdout));
  return 0;
}

const statsUsage = `Usage:
  podns stats [POD...] [--no-stream] [-o json]

What each container uses, like 'docker stats' and 'kubectl top': CPU % (100% is one full CPU, over
the last interval of about a second), memory usage / limit and %, network I/O (the pod's eth0, read
inside its network namespace; every container of a pod shares it), block I/O (read / written) and PIDS.
Without POD: every pod. A pod of several containers gets a "(pod)" total row.

SOURCE says where a row's numbers come from: "cgroup" (the container's cgroup: v1 cpuacct, memory,
pids, blkio; v2 cpu.stat, memory.current, pids.current, io.stat) or "proc" (a container without a
cgroup, on a host without cgroups or from before every container had one: the processes in its pid and
mount namespace, from /proc; no limit applies then). Memory usage
leaves out inactive file cache, as docker does; without a limit, MEM % is of the host's memory.

On a terminal the table is redrawn every second until Ctrl-C; with --no-stream, on a pipe, or with
-o json: one reading (two samples a second apart) and exit.

-o json: {intervalNs, onlineCpus, hostMemory, containers: [{pod, container, state, source, cgroup,
          cpuPercent, cpuDeltaNs, cpuNs, memoryUsage, memoryLimit (null: none), memoryPercent, pids,
          netRx, netTx, blockRead, blockWrite}], pods: [{pod, cpuPercent, memoryUsage, pids, netRx,
          netTx, blockRead, blockWrite}]}  (bytes and percents as numbers; null: not measured)
`;

const STATS_INTERVAL_MS = 1000;

async function statsCmd(argv: string[]): Promise<number> {
  const p = parseCommand<{ 'no-stream'?: boolean }>('stats', argv, { 'no-stream': { type: 'boolean' } });
  const root = p.globals.root;
  const names = [...new Set(p.positionals)];
  // every pod named is checked before anything is measured: a typo is one line, not a half table
  const load = () => (names.length > 0 ? names.map((n) => readPod({ root, name: n })) : listPods({ root }));
  let pods = load();
  const memTotal = hostMemory();
  const stream = p.globals.output !== 'json' && !p.values['no-stream'] && Boolean(stdout.isTTY);
  let prev: Sample = takeSample(root, pods);
  for (;;) {
    await sleep(STATS_INTERVAL_MS);
    if (stream && names.length === 0) pods = listPods({ root });
    const next = takeSample(root, pods);
    const view = computeStats(prev, next, memTotal);
    prev = next;
    if (p.globals.output === 'json') {
      stdout.write(json(view));
      return 0;
    }
    if (p.globals.output === 'name') {
      for (const c of view.containers) stdout.write(`${c.pod}/${c.container}\n`);
      return 0;
    }
    const text = view.containers.length === 0 ? 'No containers found.\n' : table(STATS_HEADERS, statsRows(view));
    if (!stream) {
      stdout.write(text);
      return 0;
    }
    // like docker stats: clear the screen, cursor home, redraw
    stdout.write(`\x1b[2J\x1b[H${text}`);
  }
}

export const commands: Command[] = [
  { name: 'ns', summary: 'show which process of a pod is in which namespace (by inode)', usage: nsUsage, run: nsCmd },
  { name: 'stats', summary: 'Show CPU, memory, network, block I/O and pids of each container, like docker stats', usage: statsUsage, run: statsCmd },
  { name: 'net', summary: "Show a pod's interfaces and counters, read inside its network namespace", usage: netUsage, run: netCmd },
];
