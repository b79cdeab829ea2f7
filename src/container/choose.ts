// Which container a command means when it names a pod, as kubectl decides it.
import { NotFoundError, PodnsError } from '../errors.js';
import type { PodRecord } from '../pod/types.js';

export const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/**
 * -c NAME when given; else the pod's kubectl.kubernetes.io/default-container annotation; else the first
 * container. `defaulted` is true when the pod has more than one and none was named: kubectl then tells
 * which one it took (see defaultedMessage).
 */
export function chooseContainer(rec: PodRecord, requested: string | undefined): { name: string; defaulted: boolean } {
  const names = rec.containers;
  if (requested !== undefined) {
    if (names.includes(requested)) return { name: requested, defaulted: false };
    const choices = names.length > 0 ? `; choose one of: ${names.join(', ')}` : `; it has none (start one with podns run ${rec.name} --name NAME -- CMD)`;
    throw new NotFoundError('container', requested, `container "${requested}" not found in pod "${rec.name}"${choices}`);
  }
  if (names.length === 0) {
    throw new PodnsError('ENOCONTAINER', `pod "${rec.name}" has no containers; start one with: podns run ${rec.name} --name NAME -- CMD`);
  }
  const annotated = rec.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated !== undefined && names.includes(annotated)) return { name: annotated, defaulted: false };
  return { name: names[0]!, defaulted: names.length > 1 };
}

/** kubectl's words on stderr when it picked the container itself. */
export function defaultedMessage(rec: PodRecord, name: string): string {
  return `Defaulted container "${name}" out of: ${rec.containers.join(', ')}\n`;
}
