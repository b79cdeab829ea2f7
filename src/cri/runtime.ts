// RuntimeService: what the runtime is and whether it is ready.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/index.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Msg = any;

/** kubelet refuses a runtime whose API version is not "v1"; its own version is informational. */
export const CRI_VERSION = '0.1.0';
export const CRI_API_VERSION = 'v1';
export const RUNTIME_NAME = 'podns';

let cachedVersion: string | undefined;

/** podns's own version (package.json), read once: Version is polled (kubelet, crictl) and the file does not change under a running server. */
function podnsVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  const p = join(packageRoot, 'package.json');
  cachedVersion = existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version : '0.0.0';
  return cachedVersion;
}

export function version(): Msg {
  return { version: CRI_VERSION, runtime_name: RUNTIME_NAME, runtime_version: podnsVersion(), runtime_api_version: CRI_API_VERSION };
}

export function runtimeStatus(req: Msg): Msg {
  return {
    status: {
      conditions: [
        { type: 'RuntimeReady', status: true, reason: '', message: '' },
        // podns is its own network plugin (the bridge and IPAM are built in): ready whenever the runtime is
        { type: 'NetworkReady', status: true, reason: '', message: '' },
      ],
    },
    info: req.verbose ? { podns: JSON.stringify({ version: podnsVersion() }) } : {},
    runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: false, user_namespaces: false } }],
    features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
  };
}

/** podns writes cgroup files itself (src/cgroups), on v1 and v2 alike: the cgroupfs driver. */
export function runtimeConfig(): Msg {
  return { linux: { cgroup_driver: 'CGROUPFS' } };
}
