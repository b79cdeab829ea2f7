// RuntimeService: pod sandboxes, mapped onto podns pods (src/pod). A sandbox is a podns pod whose record
// carries its CRI identity (records.ts); its id is a 64-hex id of its own, its podns name is derived from
// metadata.name and that id (unique, a DNS-1123 label).
import { status } from '@grpc/grpc-js';
import { stopContainers } from '../container/index.js';
import { NotFoundError } from '../errors.js';
import { createPod, deletePod, podIp, podState, releasePodNetwork } from '../pod/index.js';
import { terminate } from '../pod/proc.js';
import type { PortMapping } from '../pod/types.js';
import { validateLabels } from '../state/names.js';
import type { CriContext } from './context.js';
import { criError, matchId, matchLabels, newId, nowNs, podnsName } from './convert.js';
import { containerStatusOf } from './containers.js';
import { dropUnnamedImages } from './images.js';
import { findSandbox, listContainers, listSandboxes, markSandboxStopped, noteSandbox, SANDBOX_ANNOTATION, type Sandbox, type SandboxRecord } from './records.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

function ports(list: Msg[] | undefined): PortMapping[] {
  const out: PortMapping[] = [];
  for (const p of list ?? []) {
    const hostPort = Number(p.host_port);
    if (!(hostPort > 0)) continue; // a container port without a host port publishes nothing
    if (p.protocol === 'SCTP') throw criError(status.INVALID_ARGUMENT, `port mapping ${hostPort}/SCTP: podns publishes tcp and udp only`);
    out.push({ hostPort, containerPort: Number(p.container_port), protocol: p.protocol === 'UDP' ? 'udp' : 'tcp' });
  }
  return out;
}

export async function runPodSandbox(ctx: CriContext, req: Msg): Promise<Msg> {
  const config = req.config;
  const meta = config?.metadata;
  if (meta === undefined || meta === null || meta.name === '' || meta.namespace === '' || meta.uid === '') {
    throw criError(status.INVALID_ARGUMENT, 'RunPodSandbox: config.metadata needs name, namespace and uid');
  }
  if (req.runtime_handler !== '' && req.runtime_handler !== undefined) {
    throw criError(status.INVALID_ARGUMENT, `RunPodSandbox: runtime handler "${req.runtime_handler}" is not known; podns has the default handler only ("")`);
  }
  const ns = config.linux?.security_context?.namespace_options;
  const hostNetwork = ns?.network === 'NODE';
  const id = newId();
  const cri: SandboxRecord = {
    id,
    metadata: { name: meta.name, uid: meta.uid, namespace: meta.namespace, attempt: Number(meta.attempt ?? 0) },
    labels: { ...(config.labels ?? {}) },
    annotations: { ...(config.annotations ?? {}) },
    createdAt: nowNs(),
    logDirectory: config.log_directory ?? '',
    hostNetwork,
    runtimeHandler: '',
    cgroupParent: config.linux?.cgroup_parent ?? '',
  };
  const dns = config.dns_config;
  const hasDns = dns !== undefined && dns !== null && (dns.servers.length + dns.searches.length + dns.options.length) > 0;
  let labels: Record<string, string> = {};
  try {
    labels = validateLabels({ ...cri.labels });
  } catch {
    // podns's own labels must be Kubernetes-valid; the CRI's are kept as given in the annotation anyway
  }
  const name = podnsName(meta.name, id.slice(0, 8));
  const publish = hostNetwork ? [] : ports(config.port_mappings);
  await createPod({
    root: ctx.root,
    name,
    network: hostNetwork ? 'host' : 'bridge',
    ...(!hostNetwork && ctx.bridge !== undefined ? { bridge: ctx.bridge } : {}),
    ...(!hostNetwork && ctx.subnet !== undefined ? { subnet: ctx.subnet } : {}),
    ...(!hostNetwork && config.hostname ? { hostname: config.hostname } : {}),
    ...(hasDns ? { dns: { servers: dns.servers, searches: dns.searches, options: dns.options } } : {}),
    ...(publish.length > 0 ? { publish } : {}),
    // NamespaceMode POD (the proto default) for pid: one pid namespace for the pod
    sharePid: (ns?.pid ?? 'POD') === 'POD',
    labels,
    annotations: { [SANDBOX_ANNOTATION]: JSON.stringify(cri) },
    restartPolicy: 'Never',
    // kubelet's cgroupfs parent ("/kubepods/burstable/podUID"): the pod's cgroups go under it
    ...(cri.cgroupParent.replace(/^\/+|\/+$/g, '') !== '' ? { cgroupParent: cri.cgroupParent.replace(/^\/+|\/+$/g, '') } : {}),
  });
  noteSandbox(ctx.root, id, name);
  return { pod_sandbox_id: id };
}

export async function stopPodSandbox(ctx: CriContext, req: Msg): Promise<Msg> {
  const s = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (s === undefined) return {}; // unknown or removed: stopped already
  // NOTREADY first (a crash after this leaves it stopped, as asked), then every process of it
  await markSandboxStopped(ctx.root, s.pod.name);
  await stopContainers({ root: ctx.root, pod: s.pod.name, grace: 0 });
  if (s.pod.pause !== undefined) await terminate(s.pod.pause, 0);
  // "reclaims network resources": kubelet may run the pod's next sandbox, with the same host ports, long
  // before its garbage collection removes this one. The host ports at once; the veth and the IP after the
  // answer (the kernel's link delete waits for RCU grace periods: half of a whole pod's teardown), the IP
  // given back once the veth is gone. The server's close waits for it; RemovePodSandbox does not (the
  // pod's state may go first); a crash meanwhile leaves veth and IP to RemovePodSandbox's delete or to gc.
  await releasePodNetwork(ctx.root, s.pod, { portsOnly: true });
  const name = s.pod.name;
  if (!releasing.has(name)) {
    const work = releasePodNetwork(ctx.root, { ...s.pod, ports: [] }).then(() => undefined, () => undefined)
      .finally(() => releasing.delete(name));
    releasing.set(name, work);
  }
  return {};
}

/** StopPodSandbox's network teardown still under way after its answer, by podns pod name. */
const releasing = new Map<string, Promise<void>>();

/** Resolves once every network teardown StopPodSandbox left running is done (the server's close). */
export async function settleSandboxes(): Promise<void> {
  await Promise.all([...releasing.values()]);
}

export async function removePodSandbox(ctx: CriContext, req: Msg): Promise<Msg> {
  const s = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (s === undefined) return {};
  // a network teardown StopPodSandbox started goes on by itself: the pod's state can go meanwhile
  const networkElsewhere = releasing.has(s.pod.name);
  const images = listContainers(ctx.root, [s]).map((c) => c.imageRef);
  try {
    // the pod's directory goes after the answer, on a pool thread (renamed into the trash first: gone from
    // every listing at once, and gc's should this process die before it is removed)
    await deletePod({ root: ctx.root, name: s.pod.name, force: true, grace: 0, background: true, ...(networkElsewhere ? { networkElsewhere: true } : {}) });
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  await dropUnnamedImages(ctx, images);
  return {};
}

function ready(ctx: CriContext, s: Sandbox): boolean {
  return s.cri.stopped !== true && s.pod.phase === 'ready' && podState({ root: ctx.root, record: s.pod }).pauseAlive;
}

function item(ctx: CriContext, s: Sandbox): Msg {
  return {
    id: s.cri.id,
    metadata: s.cri.metadata,
    state: ready(ctx, s) ? 'SANDBOX_READY' : 'SANDBOX_NOTREADY',
    created_at: s.cri.createdAt,
    labels: s.cri.labels,
    annotations: s.cri.annotations,
    runtime_handler: s.cri.runtimeHandler,
  };
}

export function podSandboxStatus(ctx: CriContext, req: Msg): Msg {
  const s = findSandbox(ctx.root, req.pod_sandbox_id ?? '');
  if (s === undefined) throw criError(status.NOT_FOUND, `pod sandbox "${req.pod_sandbox_id}" not found`);
  const base = item(ctx, s);
  const ip = s.cri.hostNetwork ? '' : podIp({ root: ctx.root, record: s.pod }) ?? '';
  const containers = listContainers(ctx.root, [s]).map((c) => containerStatusOf(ctx, c));
  return {
    status: {
      ...base,
      network: { ip, additional_ips: [] },
      linux: { namespaces: { options: { network: s.cri.hostNetwork ? 'NODE' : 'POD', pid: s.pod.sharePid ? 'POD' : 'CONTAINER', ipc: 'POD', target_id: '' } } },
    },
    info: req.verbose ? { podns: JSON.stringify({ pod: s.pod.name, uid: s.pod.uid, pause: s.pod.pause ?? null, cgroupParent: s.cri.cgroupParent }) } : {},
    containers_statuses: containers,
    timestamp: nowNs(),
  };
}

export function listPodSandbox(ctx: CriContext, req: Msg): Msg {
  const f = req.filter ?? {};
  const items = listSandboxes(ctx.root).map((s) => item(ctx, s)).filter((i: Msg) =>
    matchId(i.id, f.id) && (f.state === null || f.state === undefined || f.state.state === i.state) && matchLabels(i.labels, f.label_selector));
  return { items };
}
