// A pod's QoS class, computed on read from its containers' recorded resources (one fact: the configs).
import { podQosClass, type QosClass } from '../container/resources.js';
import { QuantityError } from '../util/units.js';
import { readContainerConfig } from '../container/status.js';
import type { PodRecord } from './types.js';

/**
 * BestEffort for a pod without containers, as Kubernetes would say of a pod with no requests or limits.
 * null when a recorded quantity does not parse (a hand-edited config.json): shown as unknown, not guessed.
 */
export function podQos(o: { root: string; record: PodRecord }): QosClass | null {
  // a container whose config.json is not written yet (a run in progress) counts as having none
  const resources = o.record.containers.map((c) => readContainerConfig({ root: o.root, pod: o.record.name, name: c })?.resources);
  try {
    return podQosClass(resources);
  } catch (err) {
    if (err instanceof QuantityError) return null;
    throw err;
  }
}
