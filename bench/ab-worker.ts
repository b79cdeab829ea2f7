// One side of the run A/B (bench/run-ab.ts): a process that loads ONE build's library (from its dist/,
// with that build's addon, pause and podns-helper) and, for each "run" line on stdin, makes a bridge pod,
// times runContainer until the container has exec'd (as the library section does), deletes the pod, and
// answers with the milliseconds. One process per build: two copies of the library never share a process,
// a state root or a bridge.
//
//   node dist/bench/ab-worker.js PACKAGE_DIR STATE_ROOT BRIDGE SUBNET
import { createInterface } from 'node:readline';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { since } from './stats.js';
import { WORKLOAD } from './workload.js';

interface Lib {
  createPod(o: { root: string; name: string; bridge: string; subnet: string }): Promise<unknown>;
  runContainer(o: { root: string; pod: string; name: string; command: string[] }): Promise<unknown>;
  // (root, name, options) in the builds up to issue 10; one options object in later ones
  deletePod(...args: unknown[]): Promise<unknown>;
  listPods(...args: unknown[]): Array<{ name: string }>;
}

const [dir, root, bridge, subnet] = process.argv.slice(2) as [string, string, string, string];
process.env.PODNS_ROOT = root;
const lib = (await import(pathToFileURL(path.join(dir, 'dist', 'src', 'index.js')).href)) as Lib;

async function remove(name: string): Promise<void> {
  // sleep ends on SIGTERM at once (grace 10 is the normal path, as in the library section)
  if (lib.deletePod.length >= 2) await lib.deletePod(root, name, { grace: 10, force: true });
  else await lib.deletePod({ root, name, grace: 10, force: true });
}

let i = 0;
const out = (s: string) => process.stdout.write(s + '\n');
out('ready');
for await (const line of createInterface({ input: process.stdin })) {
  if (line !== 'run') break;
  const pod = `ab-${i++}`;
  try {
    await lib.createPod({ root, name: pod, bridge, subnet });
    const start = process.hrtime.bigint();
    await lib.runContainer({ root, pod, name: 'c', command: WORKLOAD });
    const ms = since(start);
    await remove(pod);
    out(String(ms));
  } catch (err) {
    out(`error ${String((err as Error)?.message ?? err).split('\n')[0]}`);
  }
}
// stdin closed (or "quit"): whatever is left goes
try {
  for (const p of lib.listPods.length >= 1 ? lib.listPods(root) : lib.listPods({ root })) await remove(p.name).catch(() => {});
} catch {
  /* no pods */
}
process.exit(0);
