// The hooks every container test file shares (an ava module: test files only, not the scripts that
// run in nested sandboxes, which import ../pod/env.ts).
import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPod, type CreatePodOptions } from '../../src/pod/create.js';
import { deletePod } from '../../src/pod/delete.js';
import { listPods } from '../../src/pod/store.js';
import { busyboxAvailable, makeBusyboxRootfs } from '../helpers/busybox.js';
import { skipReason } from '../helpers/root.js';
import { makeEnv, type TestEnv } from '../pod/env.js';

/**
 * The hooks of a test file that runs containers. Before: an env of its own (makeEnv), a work dir beside its
 * state root, then `setup`. After: every pod deleted through the library first (cleanup() goes through the
 * CLI, which any broken module elsewhere stops), the env cleaned up, the work dir removed. Nothing is made
 * when the privileged tests cannot run here, or when `busybox` is asked for and /bin/busybox is missing.
 */
export function useContainerEnv(
  tag: string, octet: number,
  setup: (env: TestEnv, work: string) => void | Promise<void>,
  o: { busybox?: boolean } = { busybox: true },
): void {
  let env: TestEnv | undefined;
  let work = '';
  test.before(async () => {
    if (skipReason() !== undefined || (o.busybox === true && !busyboxAvailable())) return;
    env = makeEnv(tag, octet);
    work = mkdtempSync(join(env.root, '..', 'work-'));
    await setup(env, work);
  });
  test.after.always(async () => {
    if (env === undefined) return;
    for (const rec of listPods({ root: env.root })) await deletePod({ root: env.root, name: rec.name, grace: 0, force: true }).catch(() => undefined);
    await env.cleanup();
    rmSync(work, { recursive: true, force: true });
  });
}

/** A pod on the env's own bridge and subnet. */
export async function createTestPod(env: TestEnv, name: string, o: Omit<CreatePodOptions, 'root' | 'name' | 'bridge' | 'subnet'> = {}): Promise<void> {
  await createPod({ root: env.root, name, bridge: env.bridge, subnet: env.subnet, ...o });
}

/** A container's makings: a busybox rootfs, and a host directory (a volume's source, or what an image's links
 * aim at) beside it holding one file, "keep". */
export interface HostFixture { rootfs: string; host: string; name: string }

/** WORK/NAME/rootfs (busybox) and WORK/NAME/host (with "keep", "host\n"); the container is NAME. */
export function hostFixture(work: string, name: string): HostFixture {
  const base = join(work, name);
  const host = join(base, 'host');
  mkdirSync(host, { recursive: true });
  writeFileSync(join(host, 'keep'), 'host\n');
  return { rootfs: makeBusyboxRootfs(join(base, 'rootfs')), host, name };
}
