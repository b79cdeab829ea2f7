// Name rules, checked before a name reaches a path or an interface name.
import { PodnsError } from '../errors.js';

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Kubernetes' DNS-1123 label: pods and containers. */
export function validateName(kind: 'pod' | 'container' | 'network', name: string): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PodnsError('EINVALIDNAME', `${kind} name is empty; give a lowercase name such as "web-1"`);
  }
  if (name.length > 63 || !DNS1123_LABEL.test(name)) {
    throw new PodnsError('EINVALIDNAME',
      `invalid ${kind} name "${name.length > 80 ? name.slice(0, 80) + '…' : name}": use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit (DNS-1123 label)`);
  }
  return name;
}
