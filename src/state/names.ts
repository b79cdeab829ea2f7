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

/** A hostname for the pod's UTS namespace: a DNS-1123 label, as Kubernetes requires of spec.hostname. */
export function validateHostname(name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 63 || !DNS1123_LABEL.test(name)) {
    throw new PodnsError('EINVALIDHOSTNAME',
      `invalid hostname "${String(name).slice(0, 80)}": use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`);
  }
  return name;
}

/** A Linux interface name (bridge): 1-15 characters, no '/', ':', whitespace; not "." or "..". */
export function validateIfname(kind: string, name: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > 15 || !/^[A-Za-z0-9_.-]+$/.test(name) ||
      name === '.' || name === '..') {
    throw new PodnsError('EINVALIDIFNAME',
      `invalid ${kind} name "${String(name).slice(0, 40)}": use 1-15 letters, digits, '_', '.', '-' (a Linux interface name)`);
  }
  return name;
}

const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Label and annotation keys: [prefix/]name as Kubernetes checks them (IsQualifiedName). */
export function validateKey(what: 'label' | 'annotation', key: string): string {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const ok = name.length > 0 && name.length <= 63 && QUALIFIED_NAME.test(name) &&
    (prefix === undefined || (prefix.length > 0 && prefix.length <= 253 && DNS1123_SUBDOMAIN.test(prefix)));
  if (!ok) {
    throw new PodnsError('EINVALIDLABEL',
      `invalid ${what} key "${key.slice(0, 80)}": use [prefix/]name, the name at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric (e.g. app.example.com/tier)`);
  }
  return key;
}

/** Label values: empty, or at most 63 characters of the qualified-name alphabet. */
export function validateLabels(labels: Record<string, string>): Record<string, string> {
  for (const [k, v] of Object.entries(labels)) {
    validateKey('label', k);
    if (typeof v !== 'string' || v.length > 63 || (v !== '' && !QUALIFIED_NAME.test(v))) {
      throw new PodnsError('EINVALIDLABEL',
        `invalid value for label "${k}": "${String(v).slice(0, 80)}"; use at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric`);
    }
  }
  return labels;
}

export function validateAnnotations(annotations: Record<string, string>): Record<string, string> {
  let size = 0;
  for (const [k, v] of Object.entries(annotations)) {
    validateKey('annotation', k);
    if (typeof v !== 'string') throw new PodnsError('EINVALIDLABEL', `annotation "${k}" must be a string`);
    size += k.length + v.length;
  }
  if (size > 256 * 1024) throw new PodnsError('EINVALIDLABEL', 'annotations are larger than 256 KiB in total; keep them small');
  return annotations;
}
