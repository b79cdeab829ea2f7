// Run by parallel-run.test.ts inside a nested `podns-helper sandbox` (a network namespace of its own, so
// `podns run` may make the default network podns0 as a user's first run does). Prints one JSON line.
//   cli:     30 `podns run` processes at once into 10 new pods, 3 containers each; then 10 deletes at once
//   library: the same with runContainer / deletePod in this one process (Promise.all)
// After each: what is left (pods, pins, IPs, veths, nft chains, pause and watcher processes).
import { execa } from 'execa';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { listWatchers } from '../../src/container/watchers.js';
import { deletePod, gc, importImage, listPods, readContainerStatus, runContainer } from '../../src/index.js';
import { listAllocations, listHostVeths } from '../../src/network/index.js';
import { makeBusyboxRootfs } from '../helpers/busybox.js';
import { bin, nftRules, pausesOf } from './env.js';

const root = process.env.PODNS_ROOT!;
const PODS = 10;
const PER_POD = 3;

interface Round {
  failures: string[];
  running: number;
  ipsPerPod: Record<string, number>;
  deleteFailures: string[];
  left: Record<string, unknown>;
}

function leftovers(prefix: string): Record<string, unknown> {
  const mine = (n: string) => n.startsWith(prefix);
  const podsDir = join(root, 'pods');
  return {
    pods: listPods().map((p) => p.name).filter(mine),
    podDirs: existsSync(podsDir) ? readdirSync(podsDir).filter(mine) : [],
    pins: existsSync('/run/netns') ? readdirSync('/run/netns').filter(mine) : [],
    ips: listAllocations(root, 'podns').filter((a) => mine(a.owner)).map((a) => a.ip),
    veths: listHostVeths(),
    pauses: pausesOf(root).length,
    watchers: listWatchers().filter((w) => w.root === root).length,
  };
}

async function round(prefix: string, run: (pod: string, name: string) => Promise<string | undefined>, del: (pod: string) => Promise<string | undefined>): Promise<Round> {
  const pods = Array.from({ length: PODS }, (_, i) => `${prefix}${i}`);
  const jobs = pods.flatMap((pod) => Array.from({ length: PER_POD }, (_, j) => ({ pod, name: `c${j}` })));
  const failures = (await Promise.all(jobs.map((j) => run(j.pod, j.name)))).filter((f): f is string => f !== undefined);
  let running = 0;
  for (const j of jobs) if (readContainerStatus({ pod: j.pod, name: j.name })?.state === 'running') running++;
  const ipsPerPod: Record<string, number> = {};
  for (const a of listAllocations(root, 'podns')) if (a.owner.startsWith(prefix)) ipsPerPod[a.owner] = (ipsPerPod[a.owner] ?? 0) + 1;
  const deleteFailures = (await Promise.all(pods.map(del))).filter((f): f is string => f !== undefined);
  const left = leftovers(prefix);
  const chains = (await nftRules('podns')).split('\n').filter((l) => /chain pod-/.test(l) && l.includes(prefix));
  return { failures, running, ipsPerPod, deleteFailures, left: { ...left, chains } };
}

const PATH = (process.env.PATH ?? '').split(':').filter((d) => !d.includes('node_modules')).join(':');
const cliEnv = { ...process.env, PATH };
const cli = (args: string[]) => execa('node', [bin, ...args], { env: cliEnv, reject: false, stdin: 'ignore' });

const work = mkdtempSync('/run/podns-par-');
await importImage({ name: 'bb', source: makeBusyboxRootfs(join(work, 'bb')), config: { cmd: ['sleep', '600'] } });
const result: Record<string, Round> = {};
try {
  result.cli = await round('par', async (pod, name) => {
    const r = await cli(['run', pod, '--name', name, '--image', 'bb']);
    return r.exitCode === 0 ? undefined : `${pod}/${name}: ${r.stderr.trim()}`;
  }, async (pod) => {
    const r = await cli(['delete', pod, '--grace', '0']);
    return r.exitCode === 0 ? undefined : `${pod}: ${r.stderr.trim()}`;
  });
  result.library = await round('lib', async (pod, name) => {
    try {
      await runContainer({ pod, name, image: 'bb' });
      return undefined;
    } catch (err) {
      return `${pod}/${name}: ${(err as Error).message}`;
    }
  }, async (pod) => {
    try {
      await deletePod({ name: pod, grace: 0 });
      return undefined;
    } catch (err) {
      return `${pod}: ${(err as Error).message}`;
    }
  });
} finally {
  // whatever a failure left: nothing may outlive this sandbox
  for (const p of listPods()) await deletePod({ name: p.name, grace: 0, force: true }).catch(() => undefined);
  await gc();
}
process.stdout.write(JSON.stringify(result) + '\n');
