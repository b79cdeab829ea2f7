// Issue 10, point 8: `podns run` into a pod another process is creating waits for it. 30 runs at once into
// 10 new pods (3 containers each) all start, each pod gets one IP, and 10 deletes at once leave nothing;
// the same with the library in one process. Runs in a nested sandbox (see parallel-run.ts).
import { execa } from 'execa';
import { fileURLToPath } from 'node:url';
import { sandboxArgv } from '../../src/native/helper.js';
import { helperPath } from '../../src/native/index.js';
import { busyboxAvailable } from '../helpers/busybox.js';
import { privileged } from '../helpers/root.js';

const nothing = { pods: [], podDirs: [], pins: [], ips: [], veths: [], pauses: 0, watchers: 0, chains: [] };

if (busyboxAvailable()) {
  privileged('30 parallel runs into 10 new pods all start, one IP per pod; 10 parallel deletes leave nothing (CLI and library)', async (t) => {
    const script = fileURLToPath(new URL('./parallel-run.js', import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env, PODNS_ROOT: '/run/podns-par-root' };
    delete env.PODNS_NETNS_DIR;
    delete env.PODNS_NFT_TABLE;
    const r = await execa(helperPath, sandboxArgv([process.execPath, script]), { env, extendEnv: false, reject: false, timeout: 110_000 });
    t.is(r.exitCode, 0, r.stderr);
    const res = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, { failures: string[]; running: number; ipsPerPod: Record<string, number>; deleteFailures: string[]; left: unknown }>;
    for (const [how, prefix] of [['cli', 'par'], ['library', 'lib']] as const) {
      const x = res[how]!;
      t.deepEqual(x.failures, [], how);
      t.is(x.running, 30, how);
      t.deepEqual(x.ipsPerPod, Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`${prefix}${i}`, 1])), `${how}: one IP per pod`);
      t.deepEqual(x.deleteFailures, [], how);
      t.deepEqual(x.left, nothing, `${how}: nothing left`);
    }
  });
}
