// One podns pull, in a process of its own (bench/image.ts spawns it once per iteration, so that each pull
// starts cold, pays for its process like skopeo and podman do, and has a peak RSS of its own to report).
//
//   node dist/bench/image-pull-worker.js STORE REF
//
// Prints one JSON line: {"ms": the pull call, "rssBeforeKiB": RSS once loaded, "hwmKiB": peak RSS during the
// pull (VmHWM, reset before it through /proc/self/clear_refs)} or {"error": "..."}.
import { readFileSync, writeFileSync } from 'node:fs';
import { pullImage } from '../src/image/index.js';
import { since } from './stats.js';

const [store, ref] = process.argv.slice(2) as [string, string];

function statusKiB(key: string): number {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

try {
  // "5": reset the peak RSS to the current RSS (Linux >= 4.0), so that VmHWM is the pull's
  writeFileSync('/proc/self/clear_refs', '5');
  const rssBeforeKiB = statusKiB('VmRSS');
  const t0 = process.hrtime.bigint();
  await pullImage({ ref, store });
  const ms = since(t0);
  process.stdout.write(JSON.stringify({ ms, rssBeforeKiB, hwmKiB: statusKiB('VmHWM') }) + '\n');
} catch (err) {
  process.stdout.write(JSON.stringify({ error: String((err as Error)?.message ?? err).split('\n')[0] }) + '\n');
  process.exitCode = 1;
}
