// Where everything lives under the state root (see docs/DESIGN.md). Names reaching these functions
// must already be validated (src/state/names.ts): a path is never built from an unchecked string.
import { join, resolve } from 'node:path';
import { PodnsError } from '../errors.js';

/** The state root option every library function takes (absent: PODNS_ROOT, else DEFAULT_ROOT). */
export interface RootOption {
  root?: string;
}

/** The state root when neither an option (--root, `root`) nor PODNS_ROOT names one. */
export const DEFAULT_ROOT = '/run/podns';

/**
 * The state root every entry point uses: the option (CLI --root, the library's `root`), else PODNS_ROOT,
 * else DEFAULT_ROOT, made absolute (a relative root would name another directory once a process chdirs,
 * and the shim and pause get it in their environment). An empty PODNS_ROOT counts as unset.
 */
export function resolveRoot(root?: string): string {
  if (root === '') throw new PodnsError('EUSAGE', 'the state root is empty: give a directory with --root (or the root option), or leave it out for PODNS_ROOT or /run/podns');
  const env = process.env.PODNS_ROOT;
  return resolve(root ?? (env !== undefined && env !== '' ? env : DEFAULT_ROOT));
}
export const DEFAULT_NETNS_DIR = '/run/netns';

export function netnsDir(): string {
  return process.env.PODNS_NETNS_DIR ?? DEFAULT_NETNS_DIR;
}

export const paths = {
  lock: (root: string) => join(root, 'lock'),
  pods: (root: string) => join(root, 'pods'),
  pod: (root: string, pod: string) => join(root, 'pods', pod),
  podRecord: (root: string, pod: string) => join(root, 'pods', pod, 'pod.json'),
  podNsDir: (root: string, pod: string) => join(root, 'pods', pod, 'ns'),
  podNs: (root: string, pod: string, type: string) => join(root, 'pods', pod, 'ns', type),
  podEtc: (root: string, pod: string) => join(root, 'pods', pod, 'etc'),
  /** a manifest's emptyDir volume: a directory of the pod's state, removed with it */
  podVolume: (root: string, pod: string, volume: string) => join(root, 'pods', pod, 'volumes', volume),
  containers: (root: string, pod: string) => join(root, 'pods', pod, 'containers'),
  container: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c),
  containerConfig: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c, 'config.json'),
  containerStatus: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c, 'status.json'),
  containerLog: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c, 'current.log'),
  containerPreviousLog: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c, 'previous.log'),
  /** the watcher's attach socket (only for a container with stdin or a tty; native/helper/shim_attach.c) */
  containerAttach: (root: string, pod: string, c: string) => join(root, 'pods', pod, 'containers', c, 'attach'),
  networks: (root: string) => join(root, 'networks'),
  network: (root: string, net: string) => join(root, 'networks', net),
  networkConfig: (root: string, net: string) => join(root, 'networks', net, 'network.json'),
  networkIps: (root: string, net: string) => join(root, 'networks', net, 'ips'),
  images: (root: string) => join(root, 'images'),
  image: (root: string, repo: string, tag: string) => join(root, 'images', repo, tag),
  netnsPin: (pod: string) => join(netnsDir(), pod),
};
