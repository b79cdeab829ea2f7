// podns create | get (ls) | inspect | delete (rm) | gc | repair
import { NotFoundError, oneLine, PodnsError } from '../../errors.js';
import { parsePublish } from '../../network/index.js';
import { LIMIT_FLAGS, parseLimitFlags } from '../../container/limits.js';
import { createPod, deletePod, gc, inspectPod, listPods, podIp, podQos, podState, readPod, repairPod, type PodRecord } from '../../pod/index.js';
import { DEFAULT_GRACE_SECONDS } from '../../pod/delete.js';
import { DEFAULT_ROOT } from '../../state/paths.js';
import { validateName } from '../../state/names.js';
import { parseCommand, parseKeyValues } from '../args.js';
import type { Command } from '../command.js';
import { age, json, table, stdout, stderr } from '../output.js';

const out = (s: string): void => { stdout.write(s); };

function onePod(command: string, positionals: string[]): string {
  if (positionals.length !== 1) {
    throw new PodnsError('EUSAGE', `give exactly one pod name; see 'podns ${command} --help'`);
  }
  return validateName('pod', positionals[0]!);
}

const create: Command = {
  name: 'create',
  summary: 'create a pod: a pause process holding new net, ipc and uts namespaces',
  usage: `Usage: podns create POD [OPTIONS]

Creates a pod and prints its name and IP.

Options:
  --network MODE         bridge (default), none, host, or pod:OTHER (share OTHER's network namespace)
  --subnet CIDR          the bridge network's subnet (default 10.89.0.0/16 on bridge podns0)
  --bridge NAME          use (or make) another bridge; a new one needs --subnet. Each bridge is its own network.
  --ip ADDR              a fixed address inside the subnet (default: the next free one)
  --hostname NAME        the pod's hostname (default: the pod's name, as in Kubernetes)
  --publish HOSTPORT:PORT[/tcp|/udp]   forward a host port to the pod (repeatable)
  --share-pid            one pid namespace for the whole pod, with the pause as its init
  --label KEY=VALUE      (repeatable)
  --annotation KEY=VALUE (repeatable)
  --cgroup-parent PATH   the cgroup the pod's goes under (default podns; e.g. kubepods/burstable, as the
                         kubelet's cgroup_parent): PATH/POD-UID8 holds the pause's and each container's
  --memory SIZE, --memory-swap SIZE, --cpus N, --cpu-shares N, --cpuset-cpus LIST, --pids-limit N
                         the pod's own totals, over all its containers (units as for podns run; no
                         default pids limit for the pod: each container has its own)
  --root DIR             state directory (or PODNS_ROOT; default ${DEFAULT_ROOT})
  -o json|name           print the pod record, or pod/NAME
`,
  async run(argv) {
    const p = parseCommand<{
      network?: string; subnet?: string; bridge?: string; gateway?: string; ip?: string; hostname?: string;
      publish?: string[]; 'share-pid'?: boolean; label?: string[]; annotation?: string[]; 'cgroup-parent'?: string;
      memory?: string; 'memory-swap'?: string; cpus?: string; 'cpu-shares'?: string; 'cpuset-cpus'?: string; 'pids-limit'?: string;
    }>('create', argv, {
      network: { type: 'string' },
      subnet: { type: 'string' },
      bridge: { type: 'string' },
      gateway: { type: 'string' },
      ip: { type: 'string' },
      hostname: { type: 'string' },
      publish: { type: 'string', short: 'p', multiple: true },
      'share-pid': { type: 'boolean' },
      label: { type: 'string', short: 'l', multiple: true },
      annotation: { type: 'string', multiple: true },
      'cgroup-parent': { type: 'string' },
      ...LIMIT_FLAGS,
    });
    const name = onePod('create', p.positionals);
    const v = p.values;
    const l = parseLimitFlags(v);
    const limits = {
      ...(l.memory !== undefined ? { memory: l.memory } : {}), ...(l.memorySwap !== undefined ? { memorySwap: l.memorySwap } : {}),
      ...(l.cpus !== undefined ? { cpus: l.cpus } : {}), ...(l.cpuShares !== undefined ? { cpuShares: l.cpuShares } : {}),
      ...(l.cpusetCpus !== undefined ? { cpusetCpus: l.cpusetCpus } : {}), ...(l.pidsLimit !== undefined ? { pids: l.pidsLimit } : {}),
    };
    const rec = await createPod({
      root: p.globals.root,
      name,
      ...(v.network !== undefined ? { network: v.network } : {}),
      ...(v.subnet !== undefined ? { subnet: v.subnet } : {}),
      ...(v.bridge !== undefined ? { bridge: v.bridge } : {}),
      ...(v.gateway !== undefined ? { gateway: v.gateway } : {}),
      ...(v.ip !== undefined ? { ip: v.ip } : {}),
      ...(v.hostname !== undefined ? { hostname: v.hostname } : {}),
      publish: (v.publish ?? []).map((s) => parsePublish(s)),
      sharePid: v['share-pid'] === true,
      labels: parseKeyValues(v.label, 'label', 'create'),
      annotations: parseKeyValues(v.annotation, 'annotation', 'create'),
      ...(v['cgroup-parent'] !== undefined ? { cgroupParent: v['cgroup-parent'] } : {}),
      ...(Object.keys(limits).length > 0 ? { limits } : {}),
    });
    if (p.globals.output === 'json') out(json(rec));
    else if (p.globals.output === 'name') out(`pod/${rec.name}\n`);
    else {
      const ip = podIp({ root: p.globals.root, record: rec });
      out(ip !== undefined ? `${rec.name} ${ip}\n` : `${rec.name}\n`);
    }
    return 0;
  },
};

function row(root: string, rec: PodRecord, wide: boolean): string[] {
  const st = podState({ root, record: rec });
  const r = [rec.name, st.status, podIp({ root, record: rec }) ?? '<none>', `${st.ready}/${st.total}`, age(rec.createdAt)];
  if (wide) {
    const mode = rec.networkMode.kind === 'pod' ? `pod:${rec.networkMode.pod}` : rec.networkMode.kind;
    r.push(mode, podQos({ root, record: rec }) ?? '<unknown>', st.pauseAlive ? String(rec.pause!.pid) : '<none>', rec.network?.hostVeth ?? '<none>',
      Object.entries(rec.labels).map(([k, val]) => `${k}=${val}`).join(',') || '<none>');
  }
  return r;
}

function jsonView(root: string, rec: PodRecord): unknown {
  const st = podState({ root, record: rec });
  // qosClass where kubectl has it: status.qosClass
  return { ...rec, status: { status: st.status, pauseAlive: st.pauseAlive, ready: st.ready, total: st.total, ip: podIp({ root, record: rec }) ?? null, qosClass: podQos({ root, record: rec }) } };
}

const get: Command = {
  name: 'get',
  aliases: ['ls'],
  summary: 'list pods (NAME, STATUS, IP, CONTAINERS, AGE)',
  usage: `Usage: podns get [POD...] [-o json|wide|name]   (alias: podns ls)

-o wide adds NETWORK, QOS (the QoS class: Guaranteed, Burstable, BestEffort, from the containers'
resources as Kubernetes computes it), PAUSE, VETH and LABELS.
STATUS: Running; Degraded (the pause is gone, the pinned namespaces live on: podns repair);
Creating / Terminating; Failed (an interrupted create or delete, or pause and pins gone: podns gc).
`,
  async run(argv) {
    const p = parseCommand('get', argv, {});
    const root = p.globals.root;
    let recs: PodRecord[];
    if (p.positionals.length > 0) recs = p.positionals.map((n) => readPod({ root, name: validateName('pod', n) }));
    else recs = listPods({ root });
    const o = p.globals.output;
    if (o === 'json') {
      const views = recs.map((r) => jsonView(root, r));
      out(json(p.positionals.length === 1 ? views[0] : views));
    } else if (o === 'name') {
      out(recs.map((r) => `pod/${r.name}\n`).join(''));
    } else if (recs.length === 0) {
      stderr.write('No pods found.\n');
    } else {
      const headers = ['NAME', 'STATUS', 'IP', 'CONTAINERS', 'AGE'];
      if (o === 'wide') headers.push('NETWORK', 'QOS', 'PAUSE', 'VETH', 'LABELS');
      out(table(headers, recs.map((r) => row(root, r, o === 'wide'))));
    }
    return 0;
  },
};

const inspect: Command = {
  name: 'inspect',
  summary: 'show a pod as JSON: pause, namespaces (inode, pin), network, labels',
  usage: `Usage: podns inspect POD

Prints JSON: the pause (pid, oom_score_adj as /proc shows it), each namespace (type, inode, pinned path),
the network (eth0, IP/prefix, MAC, gateway, host-side veth, bridge), labels and the creation time.
`,
  async run(argv) {
    const p = parseCommand('inspect', argv, {});
    const name = onePod('inspect', p.positionals);
    out(json(inspectPod({ root: p.globals.root, name })));
    return 0;
  },
};

const del: Command = {
  name: 'delete',
  aliases: ['rm'],
  summary: 'delete pods: stop everything, remove the veth, release the IP, remove the state',
  usage: `Usage: podns delete POD... [--grace S] [--force] [--ignore-not-found]   (alias: podns rm)
       podns delete -f FILE        delete what a manifest describes

  --grace S            seconds between SIGTERM and SIGKILL (default ${DEFAULT_GRACE_SECONDS})
  --force              also delete a pod whose pause is already gone (Degraded, Failed)
  --ignore-not-found   a pod that does not exist is not an error (as in kubectl)
`,
  async run(argv) {
    const p = parseCommand<{ grace?: string; force?: boolean; 'ignore-not-found'?: boolean; filename?: string }>('delete', argv, {
      grace: { type: 'string' },
      force: { type: 'boolean' },
      'ignore-not-found': { type: 'boolean' },
      filename: { type: 'string', short: 'f' },
    });
    const root = p.globals.root;
    let grace: number | undefined;
    if (p.values.grace !== undefined) {
      grace = Number(p.values.grace);
      if (p.values.grace.trim() === '' || !Number.isFinite(grace) || grace < 0) {
        throw new PodnsError('EUSAGE', `invalid --grace "${p.values.grace}"; give seconds, 0 or more`);
      }
    }
    if (p.values.filename !== undefined) {
      if (p.positionals.length > 0) throw new PodnsError('EUSAGE', 'give either -f FILE or pod names, not both');
      // Manifests are the manifest module's business (loaded on use): it resolves the file to pods and
      // deletes each, printing `pod "NAME" deleted`.
      const { deleteFromManifest } = await import('../../manifest/apply.js');
      return await deleteFromManifest({
        root, file: p.values.filename, ...(grace !== undefined ? { grace } : {}), force: p.values.force === true,
        ignoreNotFound: p.values['ignore-not-found'] === true, out: stdout, err: stderr,
      });
    }
    if (p.positionals.length === 0) throw new PodnsError('EUSAGE', "name the pods to delete (or -f FILE); see 'podns delete --help'");
    for (const n of p.positionals) validateName('pod', n);
    let code = 0;
    for (const name of p.positionals) {
      try {
        await deletePod({ root, name, ...(grace !== undefined ? { grace } : {}), force: p.values.force === true });
        out(`pod "${name}" deleted\n`);
      } catch (err) {
        if (err instanceof NotFoundError && p.values['ignore-not-found'] === true) continue;
        if (p.positionals.length === 1) throw err;
        stderr.write(`podns delete: ${oneLine(err)}\n`);
        code = 1;
      }
    }
    return code;
  },
};

const gcCmd: Command = {
  name: 'gc',
  summary: 'remove what crashed runs left: pauses without state, state without a pause, stray veths, pins, IPs',
  usage: `Usage: podns gc [-o json]

Finds and removes, printing one line for each thing removed:
  pods whose create or delete was interrupted, and pods whose pause and namespace pins are both gone;
  pause processes without state; pod directories without a record; host veths, namespace pins, IPs
  and port mappings that belong to no pod. Degraded pods are kept (podns repair brings them back).
`,
  async run(argv) {
    const p = parseCommand('gc', argv, {});
    if (p.positionals.length > 0) throw new PodnsError('EUSAGE', 'gc takes no arguments');
    const lines = await gc({ root: p.globals.root, store: p.globals.store });
    if (p.globals.output === 'json') out(json(lines));
    else out(lines.map((l) => l + '\n').join(''));
    return 0;
  },
};

const repair: Command = {
  name: 'repair',
  summary: 'give a Degraded pod (pause gone) a new pause in the same namespaces',
  usage: `Usage: podns repair POD

Starts a new pause that joins the pod's pinned net, ipc and uts namespaces: same network namespace,
same eth0 and IP; containers are left alone. A --share-pid pod gets a fresh pid namespace: the old one
ended with the old pause (its init), and the kernel ended its processes with it.
`,
  async run(argv) {
    const p = parseCommand('repair', argv, {});
    const name = onePod('repair', p.positionals);
    const rec = await repairPod({ root: p.globals.root, name });
    if (p.globals.output === 'json') out(json(rec));
    else {
      out(`pod "${name}" repaired: new pause pid ${rec.pause!.pid}\n`);
      if (rec.sharePid) {
        stderr.write(`note: pod "${name}" shares a pid namespace; its old one ended with the old pause, so the new pause starts a fresh one\n`);
      }
    }
    return 0;
  },
};

export const commands: Command[] = [create, get, inspect, del, gcCmd, repair];
