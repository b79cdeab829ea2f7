// podns ns | net — looking at a pod's namespaces and network from the kernel's side.
import { PodnsError } from '../../errors.js';
import { listPods, readPod } from '../../pod/store.js';
import { netView } from '../../views/net.js';
import { nsView } from '../../views/ns.js';
import { renderNet, renderNs } from '../../views/render.js';
import { parseCommand } from '../args.js';
import type { Command } from '../command.js';
import { json, stdout, stderr } from '../output.js';

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

export const commands: Command[] = [
  { name: 'ns', summary: 'show which process of a pod is in which namespace (by inode)', usage: nsUsage, run: nsCmd },
  { name: 'net', summary: "Show a pod's interfaces and counters, read inside its network namespace", usage: netUsage, run: netCmd },
];
