// When an image is pulled before a container runs: Kubernetes' imagePullPolicy (Always, IfNotPresent,
// Never) and `podns run --pull always|missing|never` (podman's words), one table. Kubernetes' default:
// Always when the tag is "latest" or there is no tag (and no digest), else IfNotPresent.
// An imported root filesystem (`image import`) is local: no registry has it, so it is never pulled, whatever
// the policy (as podman treats its localhost/ images); the name resolves to it as it is.
import { PodnsError } from '../errors.js';

export type PullPolicy = 'Always' | 'IfNotPresent' | 'Never';

export const PULL_POLICIES: readonly PullPolicy[] = ['Always', 'IfNotPresent', 'Never'];

export function isPullPolicy(v: unknown): v is PullPolicy {
  return typeof v === 'string' && (PULL_POLICIES as readonly string[]).includes(v);
}

export const RUN_PULL: Record<string, PullPolicy> = { always: 'Always', missing: 'IfNotPresent', never: 'Never' };

/** `--pull VALUE` → the policy; a usage error naming the three values otherwise. */
export function parseRunPull(v: string): PullPolicy {
  const p = Object.hasOwn(RUN_PULL, v) ? RUN_PULL[v] : undefined;
  if (p === undefined) throw new PodnsError('EUSAGE', `--pull "${v}" is not one of always, missing, never`);
  return p;
}

/** Kubernetes' default for a reference as written: Always for ":latest" or no tag (no digest), else IfNotPresent. */
export function defaultPullPolicy(ref: string): PullPolicy {
  if (ref.includes('@')) return 'IfNotPresent';
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const tag = colon > slash ? ref.slice(colon + 1) : undefined;
  return tag === undefined || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

/** Should a pull happen, given the policy and what the store has (kind: of the image the name points at)? */
export function needsPull(policy: PullPolicy, have: 'layers' | 'rootfs' | undefined): boolean {
  if (have === 'rootfs') return false;
  if (policy === 'Never') return false;
  if (policy === 'IfNotPresent') return have === undefined;
  return true;
}
