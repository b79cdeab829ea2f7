// Polling a container's logs through the CLI until they show what a test waits for.
import { setTimeout as sleep } from 'node:timers/promises';
import type { TestEnv } from '../pod/env.js';

/** `podns logs POD -c C` until its stdout matches WANT (10 s at most); the last stdout either way. */
export async function logsOf(e: TestEnv, pod: string, c: string, want: RegExp): Promise<string> {
  let out = '';
  for (let i = 0; i < 100; i++) {
    out = (await e.cli(['logs', pod, '-c', c])).stdout;
    if (want.test(out)) return out;
    await sleep(100);
  }
  return out;
}
