// The netlink socket for podns's own network namespace (where bridges and host veths live), opened once
// per process, and the bridge ifindex cache the pod set-up path uses for IFLA_MASTER.
import { NetlinkHandle } from './netlink/handle.js';

let handle: NetlinkHandle | undefined;

export function hostHandle(): NetlinkHandle {
  handle ??= NetlinkHandle.open();
  return handle;
}

const bridgeIndexes = new Map<string, number>();

/**
 * The bridge's ifindex, from the cache when we looked before. A cached index can be stale when the
 * bridge was deleted and re-made by another process: callers that get an error using it call
 * forgetBridge and try once more.
 */
export function bridgeIndex(bridge: string): number | undefined {
  let idx = bridgeIndexes.get(bridge);
  if (idx === undefined) {
    const l = hostHandle().linkGet(bridge, { stats: false });
    if (l === undefined || l.kind !== 'bridge') return undefined;
    idx = l.index;
    bridgeIndexes.set(bridge, idx);
  }
  return idx;
}

/** What ensureNetwork just saw: saves the pod set-up that follows a lookup. */
export function rememberBridge(bridge: string, index: number): void {
  bridgeIndexes.set(bridge, index);
}

export function forgetBridge(bridge: string): void {
  bridgeIndexes.delete(bridge);
}
