// The CRI test suites run against two endpoints: podns's CRI server (in-process, on a socket in the test's
// directory) and containerd's CRI (test/cri/containerd.ts) where it is installed. That the same test passes
// against both shows that it describes the CRI contract (what kubelet and critest expect), not podns's
// habits. A test file makes one suite and registers its tests through it:
//
//   const criTest = criSuite({ tag: 'mine', octet: 243 });           // tag <= 10 chars, octet unique per file
//   criTest('what it checks', async (t, ep) => {
//     const sb = ep.sandboxConfig('web');
//     const { pod_sandbox_id } = await ep.rt('RunPodSandbox', { config: sb });
//     ...
//   });
//   criTest('podns only: ...', impl, { only: ['podns'] });             // podns internals (ep.podns)
//
// Each test is registered once per endpoint as "[podns] TITLE" and "[containerd] TITLE", serial. Set
// PODNS_CRI_ENDPOINTS=podns (or containerd) to run one of them. containerd missing: its tests are skipped
// with the reason in the title (a failure under PODNS_REQUIRE_ROOT_TESTS=1, as in CI, which installs it).
// Endpoint differences a test may meet, each allowed by the contract: Stop* of an unknown id answers OK or
// NOT_FOUND (kubelet takes both), RuntimeConfig may be UNIMPLEMENTED (containerd 1.6; kubelet then uses
// its own cgroup driver), image names come back short (podns: busybox:latest) or normalized
// (containerd: docker.io/library/busybox:latest) — compare with normalizeImageRef.
import test, { type ExecutionContext } from 'ava';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { serveCri, type CriServer } from '../../src/cri/index.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { writeDockerArchive } from '../helpers/docker-archive.js';
import { skipReason } from '../helpers/root.js';
import type { TestEnv } from '../pod/env.js';
import { criClient, type CriClient, type Msg } from './client.js';
import { containerdMissing, startContainerd, type Containerd } from './containerd.js';
import { containerConfig, criEnv, sandboxConfig } from './env.js';

export type CriKind = 'podns' | 'containerd';
export const CRI_KINDS: readonly CriKind[] = ['podns', 'containerd'];

export interface CriEndpoint {
  kind: CriKind;
  /** the CRI socket (a plain path) */
  socket: string;
  rt(rpc: string, req?: Msg): Promise<Msg>;
  img(rpc: string, req?: Msg): Promise<Msg>;
  /** the pods' subnet (A.B.C.0/24) and a regex of the IPs in it */
  subnet: string;
  ipPattern: RegExp;
  /** a directory for this endpoint's log directories and other files of the tests */
  work: string;
  /** a host port of this endpoint's own (base + 10000 for containerd: both may run at once) */
  hostPort(base: number): number;
  /** a sandbox config as kubelet sends one (with this endpoint's cgroup parent where it needs one) */
  sandboxConfig(name: string, extra?: Msg): Msg;
  containerConfig(name: string, cmd: string[], extra?: Msg): Msg;
  /** stops the server and starts it again on the same state; whileDown runs in between */
  restart(whileDown?: () => unknown): Promise<void>;
  /** podns only: its test env (state root, store) and the server's log lines */
  podns?: { env: TestEnv & { logDir: string; work: string }; server: () => CriServer; lines: string[] };
  /** containerd only */
  containerd?: Containerd;
}

export type CriImpl = (t: ExecutionContext, ep: CriEndpoint) => unknown;

function wanted(): Set<CriKind> {
  const v = process.env.PODNS_CRI_ENDPOINTS;
  if (v === undefined || v.trim() === '') return new Set(CRI_KINDS);
  const out = new Set<CriKind>();
  for (const k of v.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (!(CRI_KINDS as readonly string[]).includes(k)) throw new Error(`PODNS_CRI_ENDPOINTS: unknown endpoint "${k}" (use ${CRI_KINDS.join(', ')})`);
    out.add(k as CriKind);
  }
  return out;
}

/** docker.io/library/busybox:latest for busybox, busybox:latest, docker.io/busybox... (tag latest when none). */
export function normalizeImageRef(ref: string): string {
  let r = ref;
  const slash = r.indexOf('/');
  const first = slash < 0 ? '' : r.slice(0, slash);
  if (slash < 0 || !(first.includes('.') || first.includes(':') || first === 'localhost')) r = `docker.io/${r}`;
  if (/^docker\.io\/[^/]+$/.test(r.replace(/[:@].*$/, ''))) r = r.replace(/^docker\.io\//, 'docker.io/library/');
  if (!r.includes('@') && !/:[^/]+$/.test(r)) r = `${r}:latest`;
  return r;
}

function ipRegex(subnet: string): RegExp {
  const base = subnet.replace(/\.0\/24$/, '');
  return new RegExp(`^${base.replace(/\./g, '\\.')}\\.\\d+$`);
}

async function podnsEndpoint(tag: string, octet: number): Promise<CriEndpoint> {
  const e = await criEnv(tag, octet);
  const socket = join(e.work, 'cri.sock');
  const lines: string[] = [];
  let server: CriServer;
  let c: CriClient;
  const start = async () => {
    server = await serveCri({ root: e.root, store: e.store, bridge: e.bridge, subnet: e.subnet, listen: `unix://${socket}`, logLevel: 'debug', log: (l) => lines.push(l) });
    c = criClient(socket);
  };
  await start();
  return {
    kind: 'podns', socket,
    rt: (rpc, req) => c.rt(rpc, req),
    img: (rpc, req) => c.img(rpc, req),
    subnet: e.subnet, ipPattern: ipRegex(e.subnet), work: e.logDir,
    hostPort: (base) => base,
    sandboxConfig: (name, extra) => sandboxConfig(name, extra),
    containerConfig,
    restart: async (whileDown) => {
      c.close();
      await server.close();
      await whileDown?.();
      await start();
    },
    podns: { env: e, server: () => server, lines },
    close: async () => {
      c?.close();
      await server?.close();
      await e.cleanup();
    },
  } as CriEndpoint & { close(): Promise<void> };
}

async function containerdEndpoint(tag: string, octet: number, dir: string, images: string[]): Promise<CriEndpoint> {
  const subnet = `10.${octet}.128.0/24`;
  const cgroupParent = `/${process.env.PODNS_CGROUP_PARENT || 'podns-test'}/ctrd-${tag}`;
  const ct = await startContainerd({ dir: join(dir, 'containerd'), subnet, bridge: `ct${tag}`.slice(0, 15), cgroupParent, images });
  let c = criClient(ct.socket);
  const work = join(dir, 'containerd-work');
  mkdirSync(work, { recursive: true });
  return {
    kind: 'containerd', socket: ct.socket,
    rt: (rpc, req) => c.rt(rpc, req),
    img: (rpc, req) => c.img(rpc, req),
    subnet, ipPattern: ipRegex(subnet), work,
    hostPort: (base) => base + 10000,
    // kubelet always sends a cgroup parent; without one containerd puts the pod under /k8s.io of the machine
    sandboxConfig: (name, extra = {}) => {
      const cfg = sandboxConfig(name, extra);
      cfg.linux = { ...(cfg.linux ?? {}) };
      if (!cfg.linux.cgroup_parent) cfg.linux.cgroup_parent = cgroupParent;
      return cfg;
    },
    containerConfig,
    restart: async (whileDown) => {
      c.close();
      await ct.restart();
      await whileDown?.();
      c = criClient(ct.socket);
    },
    containerd: ct,
    close: async () => {
      c.close();
      await ct.stop();
    },
  } as CriEndpoint & { close(): Promise<void> };
}

/**
 * One test file's CRI suite: a before hook that starts the endpoints (podns's server with its own state root,
 * bridge 'pt'+tag and 10.OCTET.0.0/24; containerd with bridge 'ct'+tag and 10.OCTET.128.0/24, the busybox
 * image loaded in both), an after hook that stops and cleans them, and the function that registers a test for
 * each endpoint.
 */
export function criSuite(o: { tag: string; octet: number }): (title: string, impl: CriImpl, opts?: { only?: CriKind[] }) => void {
  const want = wanted();
  const eps = new Map<CriKind, CriEndpoint & { close(): Promise<void> }>();
  const failed = new Map<CriKind, unknown>();
  const base = skipReason();
  const ctrdMissing = containerdMissing();
  const runs = (k: CriKind) => base === undefined && busyboxAvailable() && want.has(k) && (k !== 'containerd' || ctrdMissing === undefined);

  test.before(async () => {
    if (!runs('podns') && !runs('containerd')) return;
    // podns's env first: it makes the busybox rootfs that containerd's image archive is packed from
    let pod: (CriEndpoint & { close(): Promise<void> }) | undefined;
    try {
      pod = (await podnsEndpoint(o.tag, o.octet)) as CriEndpoint & { close(): Promise<void> };
    } catch (err) {
      failed.set('podns', err);
      return;
    }
    if (runs('podns')) eps.set('podns', pod);
    if (runs('containerd')) {
      const work = pod.podns!.env.work;
      try {
        const archive = writeDockerArchive({ rootfs: join(work, 'rootfs'), work, archive: join(work, 'busybox.tar'), tags: ['busybox:latest'], config: { cmd: ['sh'] } });
        eps.set('containerd', (await containerdEndpoint(o.tag, o.octet, work, [archive])) as CriEndpoint & { close(): Promise<void> });
      } catch (err) {
        failed.set('containerd', err);
      }
    }
    // podns not asked for: its env was only the image's source, but the cleanup is the same
    if (!runs('podns')) eps.set('podns-env' as CriKind, pod);
  });
  test.after.always(async () => {
    // containerd first: its directory is inside the podns env's
    for (const k of ['containerd', 'podns', 'podns-env'] as CriKind[]) {
      const ep = eps.get(k);
      if (ep !== undefined) await ep.close();
    }
  });

  return (title, impl, opts = {}) => {
    for (const kind of CRI_KINDS) {
      if (opts.only !== undefined && !opts.only.includes(kind)) continue;
      const name = `[${kind}] ${title}`;
      let reason = base;
      if (reason === undefined && !busyboxAvailable()) reason = 'needs /bin/busybox (apt-get install busybox-static)';
      if (reason === undefined && !want.has(kind)) reason = `PODNS_CRI_ENDPOINTS=${process.env.PODNS_CRI_ENDPOINTS} leaves it out`;
      if (reason === undefined && kind === 'containerd' && ctrdMissing !== undefined) reason = ctrdMissing;
      const required = process.env.PODNS_REQUIRE_ROOT_TESTS === '1' && want.has(kind);
      if (reason !== undefined) {
        if (required) test.serial(name, (t) => t.fail(`could not run: ${reason} (PODNS_REQUIRE_ROOT_TESTS=1)`));
        else test.skip(`${name} [skipped: ${reason}]`, () => undefined);
        continue;
      }
      test.serial(name, async (t) => {
        const ep = eps.get(kind);
        if (ep === undefined) throw new Error(`the ${kind} endpoint did not start: ${String((failed.get(kind) as Error)?.message ?? failed.get(kind))}`);
        await impl(t, ep);
      });
    }
  };
}

/** A gRPC error's code, for t.throwsAsync results. */
export function codeOf(err: unknown): number | undefined {
  return (err as { code?: number } | undefined)?.code;
}

/** Stop of an unknown object: OK, or NOT_FOUND (containerd; kubelet takes NOT_FOUND as done). */
export async function stopUnknown(p: Promise<Msg>): Promise<boolean> {
  try {
    await p;
    return true;
  } catch (err) {
    return codeOf(err) === status.NOT_FOUND;
  }
}
