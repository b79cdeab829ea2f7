// Kubernetes v1 Pod manifests → what podns builds.
//
// The YAML is walked as nodes (not toJS()) so every problem carries the line it is on: "pod.yaml:7: ...".
// Problems are collected for the whole file, every document, before anything is created: a file with one
// bad pod creates none. Fields Kubernetes has but podns does not implement are warnings naming the field
// and line; fields Kubernetes does not have either are warnings as "unknown field" (kubectl's wording).
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Document, type Node, type Pair, type YAMLMap } from 'yaml';
import { PodnsError } from '../errors.js';
import { normalizeCapability, type SeccompMode } from '../container/privileges.js';
import { COMPUTE_RESOURCES, defaultRequests, normalizeQuantity, parseMemoryBytes, requestsOverLimits, type ComputeResource } from '../container/resources.js';
import { isPullPolicy, type PullPolicy } from '../image/pull-policy.js';
import { storeName } from '../image/records.js';
import { validateMountTarget, validateSubPath } from '../container/mounts.js';
import type { ContainerResources, MountPropagation, PortMapping, ResourceList } from '../pod/types.js';

export type RestartPolicy = 'Always' | 'OnFailure' | 'Never';

/** hostPath.type: what must be at the path when the pod is made (Kubernetes' HostPathType) */
export type HostPathType = '' | 'DirectoryOrCreate' | 'Directory' | 'FileOrCreate' | 'File' | 'Socket' | 'CharDevice' | 'BlockDevice';
export const HOST_PATH_TYPES: readonly HostPathType[] = ['', 'DirectoryOrCreate', 'Directory', 'FileOrCreate', 'File', 'Socket', 'CharDevice', 'BlockDevice'];

/** spec.volumes[]: a host path, or an emptyDir (a directory of the pod's own, under its state, removed with it;
 * medium Memory: a tmpfs mounted there, of sizeLimit bytes when given) */
export interface VolumeManifest {
  name: string;
  hostPath?: { path: string; type: HostPathType };
  emptyDir?: { medium?: 'Memory'; sizeLimit?: number };
}

/** containers[].volumeMounts[] */
export interface VolumeMountManifest {
  name: string;
  mountPath: string;
  readOnly?: boolean;
  subPath?: string;
  /** mountPropagation: None → absent, HostToContainer → rslave, Bidirectional → rshared */
  propagation?: MountPropagation;
}

export interface ContainerManifest {
  name: string;
  /** normalized "repo:tag" (or "repo@sha256:…") */
  image: string;
  /** as written; absent: Kubernetes' default (defaultPullPolicy of the image) */
  imagePullPolicy?: PullPolicy;
  command?: string[];
  args?: string[];
  /** in manifest order, $(VAR) references expanded as kubelet does */
  env: Record<string, string>;
  workingDir?: string;
  ports: Array<{ containerPort: number; hostPort?: number; protocol: 'TCP' | 'UDP'; name?: string }>;
  runAsUser?: number;
  runAsGroup?: number;
  /** securityContext (container over pod level where both exist) */
  runAsNonRoot?: boolean;
  privileged?: boolean;
  capAdd?: string[];
  capDrop?: string[];
  /** allowPrivilegeEscalation: false */
  noNewPrivileges?: boolean;
  readOnlyRootFilesystem?: boolean;
  seccomp?: SeccompMode;
  /** the pod's securityContext.supplementalGroups */
  supplementalGroups?: number[];
  /** resources.limits/requests for cpu and memory, normalised, requests defaulted from limits */
  resources?: ContainerResources;
  /** in mount order as written (runContainer sorts parents first) */
  volumeMounts?: VolumeMountManifest[];
  /** stdin open for attach sessions (stdinOnce: the first session's end of input ends it; without stdin ignored, as kubelet does), a tty */
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
}

export interface PodManifest {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  hostname?: string;
  shareProcessNamespace: boolean;
  restartPolicy: RestartPolicy;
  hostNetwork: boolean;
  containers: ContainerManifest[];
  /** hostPort mappings for createPod({ publish }) */
  publish: PortMapping[];
  /** spec.volumes (absent when there are none) */
  volumes?: VolumeManifest[];
}

/** Where each part was written, for errors found after parsing (an image missing from the store). */
export interface PodSource {
  file: string;
  line: number;
  containers: Array<{ line: number; imageLine: number }>;
}

export interface ParsedManifest {
  pods: PodManifest[];
  sources: PodSource[];
  /** "FILE:LINE: warning: ..." */
  warnings: string[];
}

export class ManifestError extends PodnsError {
  readonly problems: string[];
  constructor(problems: string[]) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    super('EMANIFEST', `${problems[0] ?? 'invalid manifest'}${more}`);
    this.name = 'ManifestError';
    this.problems = problems;
  }
}

// Field names Kubernetes knows (core/v1), so an unimplemented one is told apart from a typo.
const K8S_METADATA = ['name', 'generateName', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp',
  'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields', 'selfLink'];
const K8S_POD_SPEC = ['activeDeadlineSeconds', 'affinity', 'automountServiceAccountToken', 'containers', 'dnsConfig', 'dnsPolicy',
  'enableServiceLinks', 'ephemeralContainers', 'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID', 'hostUsers', 'hostname',
  'imagePullSecrets', 'initContainers', 'nodeName', 'nodeSelector', 'os', 'overhead', 'preemptionPolicy', 'priority',
  'priorityClassName', 'readinessGates', 'resourceClaims', 'resources', 'restartPolicy', 'runtimeClassName', 'schedulerName',
  'schedulingGates', 'securityContext', 'serviceAccount', 'serviceAccountName', 'setHostnameAsFQDN', 'shareProcessNamespace',
  'subdomain', 'terminationGracePeriodSeconds', 'tolerations', 'topologySpreadConstraints', 'volumes'];
const K8S_CONTAINER = ['args', 'command', 'env', 'envFrom', 'image', 'imagePullPolicy', 'lifecycle', 'livenessProbe', 'name',
  'ports', 'readinessProbe', 'resizePolicy', 'resources', 'restartPolicy', 'securityContext', 'startupProbe', 'stdin', 'stdinOnce',
  'terminationMessagePath', 'terminationMessagePolicy', 'tty', 'volumeDevices', 'volumeMounts', 'workingDir'];
const K8S_PORT = ['containerPort', 'hostIP', 'hostPort', 'name', 'protocol'];
const K8S_ENV = ['name', 'value', 'valueFrom'];
const K8S_VOLUME_MOUNT = ['name', 'mountPath', 'readOnly', 'subPath', 'mountPropagation', 'subPathExpr', 'recursiveReadOnly'];
const K8S_HOST_PATH = ['path', 'type'];
const K8S_EMPTY_DIR = ['medium', 'sizeLimit'];
const K8S_SECURITY_CONTEXT = ['allowPrivilegeEscalation', 'appArmorProfile', 'capabilities', 'privileged', 'procMount',
  'readOnlyRootFilesystem', 'runAsGroup', 'runAsNonRoot', 'runAsUser', 'seLinuxOptions', 'seccompProfile', 'windowsOptions',
  // pod-level only
  'fsGroup', 'fsGroupChangePolicy', 'supplementalGroups', 'supplementalGroupsPolicy', 'sysctls', 'seLinuxChangePolicy'];

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** kubelet's $(VAR) expansion (third_party/forked/golang/expansion): $$ is a literal $, unknown names stay as written. */
export function expandVars(s: string, lookup: (name: string) => string | undefined): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c !== '$' || i + 1 >= s.length) {
      out += c;
      continue;
    }
    const next = s[i + 1]!;
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = s.indexOf(')', i + 2);
      if (close < 0) {
        out += s.slice(i);
        break;
      }
      const name = s.slice(i + 2, close);
      const v = name === '' ? undefined : lookup(name);
      out += v ?? `$(${name})`;
      i = close;
    } else {
      out += c;
    }
  }
  return out;
}

class Ctx {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  constructor(readonly file: string, readonly lc: LineCounter, public doc: Document.Parsed) {}

  line(node: Node | Pair | null | undefined): number {
    const range = node && 'range' in node ? node.range : node && 'key' in node ? (node.key as Node | null)?.range : undefined;
    const off = range?.[0];
    return off === undefined ? 1 : this.lc.linePos(off).line;
  }
  error(at: Node | Pair | null | undefined | number, msg: string): void {
    this.problems.push(`${this.file}:${typeof at === 'number' ? at : this.line(at)}: ${msg}`);
  }
  warn(at: Node | Pair | null | undefined | number, msg: string): void {
    this.warnings.push(`${this.file}:${typeof at === 'number' ? at : this.line(at)}: warning: ${msg}`);
  }
  resolve(node: unknown): Node | null {
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return (node as Node | null) ?? null;
  }
}

function typeName(node: Node | null): string {
  if (node === null) return 'nothing';
  if (isMap(node)) return 'a map';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'null';
    if (typeof v === 'number' || typeof v === 'bigint') return 'a number';
    if (typeof v === 'boolean') return 'a boolean';
    return 'a string';
  }
  return 'something else';
}

/** Absent, `key:` with nothing, or `key: null`. */
function isNullish(node: Node | null | undefined): boolean {
  return node === undefined || node === null || (isScalar(node) && node.value === null);
}

type Fields = Map<string, { pair: Pair; value: Node | null }>;

/** The keys of a map node, warning about the ones podns ignores. */
function fields(ctx: Ctx, node: YAMLMap, path: string, supported: string[], known: string[], why: Record<string, string> = {}): Fields {
  const out: Fields = new Map();
  for (const pair of node.items) {
    const keyNode = ctx.resolve(pair.key);
    if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
      ctx.error(keyNode ?? pair.value as Node, `${path}: keys must be strings`);
      continue;
    }
    const key = keyNode.value;
    const full = path === '' ? key : `${path}.${key}`;
    if (supported.includes(key)) {
      out.set(key, { pair, value: ctx.resolve(pair.value) });
    } else if (known.includes(key)) {
      ctx.warn(keyNode, `${full} is not supported by podns and is ignored${why[key] ? ` (${why[key]})` : ''}`);
    } else {
      ctx.warn(keyNode, `unknown field "${full}" (ignored)`);
    }
  }
  return out;
}

function getString(ctx: Ctx, f: Fields, key: string, path: string): string | undefined {
  const e = f.get(key);
  if (!e || isNullish(e.value)) return undefined;
  if (!isScalar(e.value) || typeof e.value.value !== 'string') {
    const hint = isScalar(e.value) ? `; quote it: ${key}: "${String(e.value.value)}"` : '';
    ctx.error(e.value, `${path}.${key} must be a string, not ${typeName(e.value)}${hint}`);
    return undefined;
  }
  return e.value.value;
}

function getBool(ctx: Ctx, f: Fields, key: string, path: string): boolean | undefined {
  const e = f.get(key);
  if (!e || isNullish(e.value)) return undefined;
  if (!isScalar(e.value) || typeof e.value.value !== 'boolean') {
    ctx.error(e.value, `${path}.${key} must be true or false, not ${typeName(e.value)}`);
    return undefined;
  }
  return e.value.value;
}

function getInt(ctx: Ctx, f: Fields, key: string, path: string, min: number, max: number): number | undefined {
  const e = f.get(key);
  if (!e || isNullish(e.value)) return undefined;
  const v = isScalar(e.value) ? e.value.value : undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    ctx.error(e.value, `${path}.${key} must be a whole number, not ${typeName(e.value)}${typeof v === 'string' ? ` ("${v}")` : ''}`);
    return undefined;
  }
  if (v < min || v > max) {
    ctx.error(e.value, `${path}.${key} must be between ${min} and ${max}, not ${v}`);
    return undefined;
  }
  return v;
}

function getMap(ctx: Ctx, f: Fields, key: string, path: string): YAMLMap | undefined {
  const e = f.get(key);
  if (!e || isNullish(e.value)) return undefined;
  if (!isMap(e.value)) {
    ctx.error(e.value, `${path}.${key} must be a map, not ${typeName(e.value)}`);
    return undefined;
  }
  return e.value;
}

function getSeq(ctx: Ctx, f: Fields, key: string, path: string): Node[] | undefined {
  const e = f.get(key);
  if (!e || isNullish(e.value)) return undefined;
  if (!isSeq(e.value)) {
    ctx.error(e.value, `${path}.${key} must be a list, not ${typeName(e.value)}`);
    return undefined;
  }
  return e.value.items.map((n) => ctx.resolve(n) as Node);
}

function getStringList(ctx: Ctx, f: Fields, key: string, path: string): string[] | undefined {
  const e = f.get(key);
  const items = getSeq(ctx, f, key, path);
  if (items === undefined) {
    if (e && isScalar(e.value) && typeof e.value.value === 'string') {
      // A common slip: command: "sleep 10". Kubernetes wants a list and never splits on spaces.
      ctx.problems[ctx.problems.length - 1] += `; write a list: ${key}: [${e.value.value.split(/\s+/).filter(Boolean).map((s) => JSON.stringify(s)).join(', ')}]`;
    }
    return undefined;
  }
  const out: string[] = [];
  items.forEach((n, i) => {
    if (!isScalar(n) || n.value === null || typeof n.value === 'object') {
      ctx.error(n, `${path}.${key}[${i}] must be a string, not ${typeName(n)}`);
    } else if (typeof n.value !== 'string') {
      ctx.error(n, `${path}.${key}[${i}] must be a string, not ${typeName(n)}; quote it: "${String(n.value)}"`);
    } else {
      out.push(n.value);
    }
  });
  return out;
}

function checkQualifiedKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) {
    return `prefix "${prefix}" must be a DNS subdomain (lowercase, like example.com)`;
  }
  if (name.length === 0 || name.length > 63 || !QUALIFIED_NAME.test(name)) {
    return 'a key is at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit (optionally prefix/ a DNS subdomain)';
  }
  return undefined;
}

function getStringMap(ctx: Ctx, f: Fields, key: string, path: string, isLabels: boolean): Record<string, string> {
  const m = getMap(ctx, f, key, path);
  const out: Record<string, string> = {};
  if (!m) return out;
  for (const pair of m.items) {
    const k = ctx.resolve(pair.key);
    const v = ctx.resolve(pair.value);
    if (!isScalar(k) || typeof k.value !== 'string') {
      ctx.error(k ?? m, `${path}.${key}: keys must be strings${isScalar(k) ? `; quote it: "${String(k.value)}"` : ''}`);
      continue;
    }
    const keyProblem = checkQualifiedKey(k.value);
    if (keyProblem) {
      ctx.error(k, `${path}.${key}: invalid key "${k.value}": ${keyProblem}`);
      continue;
    }
    let value: string;
    if (v === null || (isScalar(v) && v.value === null)) value = '';
    else if (isScalar(v) && typeof v.value === 'string') value = v.value;
    else {
      ctx.error(v, `${path}.${key}.${k.value} must be a string, not ${typeName(v)}${isScalar(v) ? `; quote it: "${String(v.value)}"` : ''}`);
      continue;
    }
    if (isLabels && value !== '' && (value.length > 63 || !QUALIFIED_NAME.test(value))) {
      ctx.error(v, `${path}.${key}.${k.value}: invalid label value "${value}": at most 63 letters, digits, "-", "_" and ".", starting and ending with a letter or digit`);
      continue;
    }
    out[k.value] = value;
  }
  return out;
}

function checkName(ctx: Ctx, at: Node | null, path: string, name: string | undefined, what: string): string | undefined {
  if (name === undefined || name === '') {
    ctx.error(at, `${path} is missing; every ${what} needs a name (lowercase letters, digits and '-')`);
    return undefined;
  }
  if (name.length > 63 || !DNS1123_LABEL.test(name)) {
    ctx.error(at, `${path}: invalid ${what} name "${name}": use at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`);
    return undefined;
  }
  return name;
}

function parseEnv(ctx: Ctx, f: Fields, path: string): Record<string, string> {
  const items = getSeq(ctx, f, 'env', path);
  const env: Record<string, string> = {};
  if (!items) return env;
  items.forEach((n, i) => {
    const p = `${path}.env[${i}]`;
    if (!isMap(n)) {
      ctx.error(n, `${p} must be a map with name and value, like {name: MODE, value: "debug"}, not ${typeName(n)}`);
      return;
    }
    const ef = fields(ctx, n, p, ['name', 'value', 'valueFrom'], K8S_ENV);
    const name = getString(ctx, ef, 'name', p);
    if (name === undefined || name === '') {
      if (name === '' || isNullish(ef.get('name')?.value)) ctx.error(n, `${p}.name is missing; each env entry needs a name`);
      return;
    }
    if (name.includes('=') || name.includes('\0')) {
      ctx.error(ef.get('name')!.value, `${p}.name: invalid environment variable name "${name}": it must not contain '='`);
      return;
    }
    const valueFrom = ef.get('valueFrom');
    const rawValue = ef.get('value');
    if (valueFrom && valueFrom.value !== null) {
      if (rawValue && isScalar(rawValue.value) && rawValue.value.value !== null && rawValue.value.value !== '') {
        ctx.error(valueFrom.pair.key as Node, `${p}: give value or valueFrom, not both`);
        return;
      }
      ctx.warn(valueFrom.pair.key as Node, `${p}.valueFrom is not supported by podns (no API server to read it from); ${name} is not set`);
      return;
    }
    const value = getString(ctx, ef, 'value', p);
    if (value === undefined && !isNullish(rawValue?.value)) return; // reported by getString
    // Like kubelet: a value may refer to variables defined above it.
    env[name] = expandVars(value ?? '', (k) => env[k]);
  });
  return env;
}

/** securityContext.seccompProfile: {type: RuntimeDefault | Unconfined}; Localhost names a file podns cannot load. */
function parseSeccompProfile(ctx: Ctx, f: Fields, path: string): SeccompMode | undefined {
  const m = getMap(ctx, f, 'seccompProfile', path);
  if (!m) return undefined;
  const p = `${path}.seccompProfile`;
  const sf = fields(ctx, m, p, ['type', 'localhostProfile'], []);
  const type = getString(ctx, sf, 'type', p);
  if (type === 'RuntimeDefault' || type === 'Unconfined') return type;
  if (type === 'Localhost') {
    ctx.error(sf.get('type')!.value, `${p}.type: Localhost profiles are not supported by podns; use RuntimeDefault (Docker's default filter) or Unconfined`);
  } else if (type === undefined) {
    if (!sf.has('type')) ctx.error(m, `${p}.type is missing; use RuntimeDefault or Unconfined`);
  } else {
    ctx.error(sf.get('type')!.value, `${p}.type: "${type}" is not one of RuntimeDefault, Unconfined, Localhost`);
  }
  return undefined;
}

/** securityContext.capabilities: {add: [...], drop: [...]}, names checked against capabilities(7). */
function parseCapabilities(ctx: Ctx, f: Fields, path: string): { add?: string[]; drop?: string[] } {
  const m = getMap(ctx, f, 'capabilities', path);
  if (!m) return {};
  const p = `${path}.capabilities`;
  const cf = fields(ctx, m, p, ['add', 'drop'], []);
  const out: { add?: string[]; drop?: string[] } = {};
  for (const key of ['add', 'drop'] as const) {
    const list = getStringList(ctx, cf, key, p);
    if (list === undefined) continue;
    const items = (cf.get(key)!.value as { items: unknown[] }).items.map((n) => ctx.resolve(n));
    const ok: string[] = [];
    list.forEach((name, i) => {
      try {
        ok.push(normalizeCapability(name, `capability in ${p}.${key}`));
      } catch (err) {
        ctx.error(items[i] ?? m, `${p}.${key}[${i}]: ${(err as Error).message}`);
      }
    });
    out[key] = ok;
  }
  return out;
}

/**
 * resources: {limits, requests} with Kubernetes quantities for cpu and memory (src/container/resources.ts).
 * Extended and other node resources are warned about; a name Kubernetes would refuse (a typo) is an error.
 */
function parseResources(ctx: Ctx, f: Fields, path: string): ContainerResources | undefined {
  const m = getMap(ctx, f, 'resources', path);
  if (!m) return undefined;
  const p = `${path}.resources`;
  const rf = fields(ctx, m, p, ['limits', 'requests'], ['claims'], { claims: 'there is no dynamic resource allocation' });
  const out: ContainerResources = {};
  const nodes: Partial<Record<'limits' | 'requests', Partial<Record<ComputeResource, Node>>>> = {};
  for (const part of ['limits', 'requests'] as const) {
    const lm = getMap(ctx, rf, part, p);
    if (!lm) continue;
    const list: ResourceList = {};
    nodes[part] = {};
    for (const pair of lm.items) {
      const k = ctx.resolve(pair.key);
      const v = ctx.resolve(pair.value);
      if (!isScalar(k) || typeof k.value !== 'string') {
        ctx.error(k ?? lm, `${p}.${part}: keys must be resource names such as cpu or memory`);
        continue;
      }
      const name = k.value;
      const fp = `${p}.${part}.${name}`;
      if (!(COMPUTE_RESOURCES as readonly string[]).includes(name)) {
        if (name === 'ephemeral-storage' || name.startsWith('hugepages-') || name.includes('/')) {
          ctx.warn(k, `${fp} is not supported by podns and is ignored (only cpu and memory are)`);
        } else {
          // The API server refuses a bare name it does not know: most often a typo (cpus, mem).
          ctx.error(k, `${fp}: unknown resource "${name}"; use cpu or memory (or a domain-qualified extended resource)`);
        }
        continue;
      }
      const res = name as ComputeResource;
      // Kubernetes takes a number or a string; a YAML number is read as written (0.10, 1e3), not re-printed.
      let text: string | undefined;
      if (isScalar(v) && typeof v.value === 'string') text = v.value;
      else if (isScalar(v) && typeof v.value === 'number') text = typeof v.source === 'string' && v.source !== '' ? v.source : String(v.value);
      if (text === undefined) {
        ctx.error(v ?? k, `${fp} must be a quantity such as ${res === 'cpu' ? '"500m" or 2' : '"128Mi" or "1G"'}, not ${typeName(v)}`);
        continue;
      }
      try {
        list[res] = normalizeQuantity(res, text);
        if (res === 'memory' && parseMemoryBytes(text).fractional) {
          // Kubernetes' own warning: the kubelet rounds the limit up to a whole byte.
          ctx.warn(v, `${fp}: fractional byte value "${text}" is invalid, must be an integer (rounded up to ${list[res]})`);
        }
        nodes[part]![res] = v!;
      } catch (err) {
        ctx.error(v, `${fp}: ${(err as Error).message}`);
      }
    }
    if (Object.keys(list).length > 0) out[part] = list;
  }
  for (const k of requestsOverLimits(out)) {
    ctx.error(nodes.requests?.[k] ?? m, `${p}.requests.${k}: ${out.requests![k]} is more than the ${k} limit ${out.limits![k]}; a request must be at most its limit`);
  }
  const defaulted = defaultRequests(out);
  return defaulted.limits === undefined && defaulted.requests === undefined ? undefined : defaulted;
}

/** emptyDir.sizeLimit: a memory quantity in whole bytes; a tmpfs's (medium Memory) at least one page. */
function emptyDirSize(ctx: Ctx, f: Fields, path: string, tmpfs: boolean): number | undefined {
  const e = f.get('sizeLimit');
  if (!e || isNullish(e.value)) return undefined;
  const v = e.value;
  let text: string | undefined;
  if (isScalar(v) && typeof v.value === 'string') text = v.value;
  else if (isScalar(v) && typeof v.value === 'number') text = typeof v.source === 'string' && v.source !== '' ? v.source : String(v.value);
  if (text === undefined) {
    ctx.error(v, `${path}.sizeLimit must be a quantity such as "64Mi", not ${typeName(v)}`);
    return undefined;
  }
  try {
    const { bytes } = parseMemoryBytes(text);
    if (tmpfs && bytes < 4096) {
      ctx.error(v, `${path}.sizeLimit: "${text}" is less than one 4 KiB page; give at least 4Ki`);
      return undefined;
    }
    return bytes;
  } catch (err) {
    ctx.error(v, `${path}.sizeLimit: ${(err as Error).message}`);
    return undefined;
  }
}

interface ParsedPod { pod: PodManifest; source: PodSource; nameNode: Node | null }

function parsePod(ctx: Ctx, top: Fields, topNode: YAMLMap): ParsedPod | undefined {
  const before = ctx.problems.length;
  const metaNode = getMap(ctx, top, 'metadata', '');
  if (!metaNode) {
    if (!top.has('metadata')) ctx.error(topNode, 'metadata is missing; a Pod needs metadata.name');
    return undefined;
  }
  const mf = fields(ctx, metaNode, 'metadata', ['name', 'labels', 'annotations', 'namespace'], K8S_METADATA, {
    generateName: 'give metadata.name instead',
  });
  const rawName = getString(ctx, mf, 'name', 'metadata');
  // A missing name is reported on the `metadata:` line, the place to add it.
  const nameNode = mf.get('name')?.value ?? (top.get('metadata')!.pair.key as Node);
  const name = checkName(ctx, nameNode, 'metadata.name', rawName, 'pod');
  const ns = getString(ctx, mf, 'namespace', 'metadata');
  if (ns !== undefined && ns !== 'default') ctx.warn(mf.get('namespace')!.value, `metadata.namespace "${ns}" is ignored: podns has no namespaces`);
  const labels = getStringMap(ctx, mf, 'labels', 'metadata', true);
  const annotations = getStringMap(ctx, mf, 'annotations', 'metadata', false);

  const specNode = getMap(ctx, top, 'spec', '');
  if (!specNode) {
    if (!top.has('spec')) ctx.error(topNode, 'spec is missing; a Pod needs spec.containers');
    return undefined;
  }
  const sf = fields(ctx, specNode, 'spec', ['containers', 'hostname', 'shareProcessNamespace', 'restartPolicy', 'hostNetwork', 'securityContext', 'volumes'],
    K8S_POD_SPEC, { initContainers: 'init containers do not run' });
  const volumes = parseVolumes(ctx, sf);
  const hostname = getString(ctx, sf, 'hostname', 'spec');
  if (hostname !== undefined && (hostname.length > 63 || !DNS1123_LABEL.test(hostname))) {
    ctx.error(sf.get('hostname')!.value, `spec.hostname: invalid hostname "${hostname}": use at most 63 lowercase letters, digits and '-'`);
  }
  const shareProcessNamespace = getBool(ctx, sf, 'shareProcessNamespace', 'spec') ?? false;
  const hostNetwork = getBool(ctx, sf, 'hostNetwork', 'spec') ?? false;
  let podHostname = hostname;
  if (hostNetwork && hostname !== undefined) {
    // The pod then lives in the host's UTS namespace: its hostname is the host's.
    ctx.warn(sf.get('hostname')!.pair.key as Node, `spec.hostname is ignored with hostNetwork: true (the pod has the host's hostname)`);
    podHostname = undefined;
  }
  const rp = getString(ctx, sf, 'restartPolicy', 'spec');
  let restartPolicy: RestartPolicy = 'Always';
  if (rp !== undefined) {
    if (rp === 'Always' || rp === 'OnFailure' || rp === 'Never') restartPolicy = rp;
    else ctx.error(sf.get('restartPolicy')!.value, `spec.restartPolicy: "${rp}" is not one of Always, OnFailure, Never`);
  }
  // Pod-level runAsUser/runAsGroup are defaults for every container, as in Kubernetes.
  let podUser: number | undefined;
  let podGroup: number | undefined;
  let podNonRoot: boolean | undefined;
  let podSeccomp: SeccompMode | undefined;
  let supplementalGroups: number[] | undefined;
  const psc = getMap(ctx, sf, 'securityContext', 'spec');
  if (psc) {
    const pf = fields(ctx, psc, 'spec.securityContext', ['runAsUser', 'runAsGroup', 'runAsNonRoot', 'supplementalGroups', 'seccompProfile'],
      K8S_SECURITY_CONTEXT, { fsGroup: 'there are no volumes', sysctls: 'net.ipv4.ping_group_range is set for every pod' });
    podUser = getInt(ctx, pf, 'runAsUser', 'spec.securityContext', 0, 2 ** 31 - 1);
    podGroup = getInt(ctx, pf, 'runAsGroup', 'spec.securityContext', 0, 2 ** 31 - 1);
    podNonRoot = getBool(ctx, pf, 'runAsNonRoot', 'spec.securityContext');
    podSeccomp = parseSeccompProfile(ctx, pf, 'spec.securityContext');
    const groups = getSeq(ctx, pf, 'supplementalGroups', 'spec.securityContext');
    if (groups !== undefined) {
      supplementalGroups = [];
      groups.forEach((g, i) => {
        const v = isScalar(g) ? g.value : undefined;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1) {
          ctx.error(g, `spec.securityContext.supplementalGroups[${i}] must be a group id from 0 to ${2 ** 31 - 1}, not ${typeName(g)}${v !== undefined ? ` (${String(v)})` : ''}`);
        } else {
          supplementalGroups!.push(v);
        }
      });
      if (supplementalGroups.length > 64) ctx.error(pf.get('supplementalGroups')!.value, 'spec.securityContext.supplementalGroups: at most 64 groups');
    }
  }

  const items = getSeq(ctx, sf, 'containers', 'spec');
  if (items === undefined && !sf.has('containers')) ctx.error(specNode, 'spec.containers is missing; a Pod needs at least one container');
  if (items !== undefined && items.length === 0) ctx.error(sf.get('containers')!.value, 'spec.containers is empty; a Pod needs at least one container');
  const containers: ContainerManifest[] = [];
  const csources: PodSource['containers'] = [];
  const seen = new Map<string, number>();
  const hostPorts = new Map<string, number>();
  const publish: PortMapping[] = [];
  (items ?? []).forEach((n, i) => {
    const p = `spec.containers[${i}]`;
    if (!isMap(n)) {
      ctx.error(n, `${p} must be a map (name, image, ...), not ${typeName(n)}`);
      return;
    }
    const cf = fields(ctx, n, p, ['name', 'image', 'command', 'args', 'env', 'workingDir', 'ports', 'securityContext', 'imagePullPolicy', 'resources', 'volumeMounts', 'stdin', 'stdinOnce', 'tty'],
      K8S_CONTAINER);
    const cNameNode = cf.get('name')?.value ?? n;
    const cname = checkName(ctx, cNameNode, `${p}.name`, getString(ctx, cf, 'name', p), 'container');
    if (cname !== undefined) {
      const prev = seen.get(cname);
      if (prev !== undefined) ctx.error(cNameNode, `${p}.name: duplicate container name "${cname}" (also on line ${prev}); give each container its own name`);
      else seen.set(cname, ctx.line(cNameNode));
    }
    const imageNode = cf.get('image')?.value ?? n;
    const rawImage = getString(ctx, cf, 'image', p);
    let image: string | undefined;
    if (rawImage === undefined || rawImage === '') {
      // (a non-string image was reported by getString already)
      if (rawImage === '' || isNullish(cf.get('image')?.value)) {
        ctx.error(imageNode, `${p}.image is missing; name an image from 'podns image ls'`);
      }
    } else {
      try {
        image = storeName(rawImage);
      } catch (err) {
        ctx.error(imageNode, `${p}.image: ${(err as Error).message}`);
      }
    }
    const pull = getString(ctx, cf, 'imagePullPolicy', p);
    if (pull !== undefined && !isPullPolicy(pull)) {
      ctx.error(cf.get('imagePullPolicy')!.value, `${p}.imagePullPolicy: "${pull}" is not one of Always, IfNotPresent, Never`);
    }
    const command = getStringList(ctx, cf, 'command', p);
    const args = getStringList(ctx, cf, 'args', p);
    const env = parseEnv(ctx, cf, p);
    const resources = parseResources(ctx, cf, p);
    const stdin = getBool(ctx, cf, 'stdin', p);
    const stdinOnce = getBool(ctx, cf, 'stdinOnce', p);
    const tty = getBool(ctx, cf, 'tty', p);
    const workingDir = getString(ctx, cf, 'workingDir', p);
    if (workingDir !== undefined && !workingDir.startsWith('/')) {
      ctx.error(cf.get('workingDir')!.value, `${p}.workingDir "${workingDir}" must be an absolute path such as /app`);
    }
    let runAsUser = podUser;
    let runAsGroup = podGroup;
    let nonRoot = podNonRoot;
    let seccomp = podSeccomp;
    let privileged: boolean | undefined;
    let allowEscalation: boolean | undefined;
    let readOnlyRootFilesystem: boolean | undefined;
    let caps: { add?: string[]; drop?: string[] } = {};
    const scNode = getMap(ctx, cf, 'securityContext', p);
    if (scNode) {
      const sp = `${p}.securityContext`;
      const scf = fields(ctx, scNode, sp, ['runAsUser', 'runAsGroup', 'runAsNonRoot', 'capabilities', 'privileged',
        'allowPrivilegeEscalation', 'readOnlyRootFilesystem', 'seccompProfile'], K8S_SECURITY_CONTEXT);
      runAsUser = getInt(ctx, scf, 'runAsUser', sp, 0, 2 ** 31 - 1) ?? runAsUser;
      runAsGroup = getInt(ctx, scf, 'runAsGroup', sp, 0, 2 ** 31 - 1) ?? runAsGroup;
      nonRoot = getBool(ctx, scf, 'runAsNonRoot', sp) ?? nonRoot;
      seccomp = parseSeccompProfile(ctx, scf, sp) ?? seccomp;
      privileged = getBool(ctx, scf, 'privileged', sp);
      allowEscalation = getBool(ctx, scf, 'allowPrivilegeEscalation', sp);
      readOnlyRootFilesystem = getBool(ctx, scf, 'readOnlyRootFilesystem', sp);
      caps = parseCapabilities(ctx, scf, sp);
      if (allowEscalation === false && privileged === true) {
        // the API server's own rule
        ctx.error(scf.get('allowPrivilegeEscalation')!.value, `${sp}: cannot set allowPrivilegeEscalation to false and privileged to true`);
      }
    }
    if (nonRoot === true && (runAsUser === undefined || runAsUser === 0)) {
      // kubelet refuses to start such a container; say so now rather than after the pod is made.
      ctx.error(scNode ?? psc ?? n, `${p}: runAsNonRoot is true but the container would run as root (uid ${runAsUser ?? '0, the default'}); set securityContext.runAsUser to a non-zero uid`);
    }
    const ports: ContainerManifest['ports'] = [];
    (getSeq(ctx, cf, 'ports', p) ?? []).forEach((pn, j) => {
      const pp = `${p}.ports[${j}]`;
      if (!isMap(pn)) {
        ctx.error(pn, `${pp} must be a map with containerPort, not ${typeName(pn)}`);
        return;
      }
      const pf = fields(ctx, pn, pp, ['containerPort', 'hostPort', 'protocol', 'name'], K8S_PORT, { hostIP: 'host ports listen on every address' });
      const containerPort = getInt(ctx, pf, 'containerPort', pp, 1, 65535);
      if (!pf.has('containerPort')) ctx.error(pn, `${pp}.containerPort is missing`);
      const hostPort = getInt(ctx, pf, 'hostPort', pp, 1, 65535);
      const proto = getString(ctx, pf, 'protocol', pp) ?? 'TCP';
      if (proto !== 'TCP' && proto !== 'UDP') {
        ctx.error(pf.get('protocol')?.value ?? pn, `${pp}.protocol: "${proto}" is not supported; use TCP or UDP`);
        return;
      }
      const portName = getString(ctx, pf, 'name', pp);
      if (containerPort === undefined) return;
      if (hostPort !== undefined) {
        if (hostNetwork && hostPort !== containerPort) {
          ctx.error(pf.get('hostPort')!.value, `${pp}.hostPort must equal containerPort (${containerPort}) with hostNetwork: true`);
          return;
        }
        const key = `${hostPort}/${proto}`;
        const prev = hostPorts.get(key);
        if (prev !== undefined) {
          ctx.error(pf.get('hostPort')!.value, `${pp}.hostPort ${key} is already used on line ${prev}; each host port can be published once`);
          return;
        }
        hostPorts.set(key, ctx.line(pf.get('hostPort')!.value));
        if (!hostNetwork) publish.push({ hostPort, containerPort, protocol: proto === 'TCP' ? 'tcp' : 'udp' });
      }
      ports.push({ containerPort, protocol: proto, ...(hostPort !== undefined ? { hostPort } : {}), ...(portName !== undefined ? { name: portName } : {}) });
    });
    const volumeMounts = parseVolumeMounts(ctx, cf, p, volumes, privileged === true);
    // kubelet expands $(VAR) in command and args from the container's own env.
    const expand = (list: string[] | undefined) => list?.map((s) => expandVars(s, (k) => env[k]));
    if (cname === undefined || image === undefined) return;
    containers.push({
      name: cname, image,
      ...(pull !== undefined && isPullPolicy(pull) ? { imagePullPolicy: pull } : {}),
      ...(command !== undefined ? { command: expand(command)! } : {}),
      ...(args !== undefined ? { args: expand(args)! } : {}),
      env,
      ...(workingDir !== undefined ? { workingDir } : {}),
      ports,
      ...(runAsUser !== undefined ? { runAsUser } : {}),
      ...(runAsGroup !== undefined ? { runAsGroup } : {}),
      ...(nonRoot === true ? { runAsNonRoot: true } : {}),
      ...(privileged === true ? { privileged: true } : {}),
      ...(caps.add !== undefined && caps.add.length > 0 ? { capAdd: caps.add } : {}),
      ...(caps.drop !== undefined && caps.drop.length > 0 ? { capDrop: caps.drop } : {}),
      ...(allowEscalation === false ? { noNewPrivileges: true } : {}),
      ...(readOnlyRootFilesystem === true ? { readOnlyRootFilesystem: true } : {}),
      ...(seccomp !== undefined ? { seccomp } : {}),
      ...(supplementalGroups !== undefined && supplementalGroups.length > 0 ? { supplementalGroups } : {}),
      ...(stdin === true ? { stdin: true, ...(stdinOnce === true ? { stdinOnce: true } : {}) } : {}),
      ...(tty === true ? { tty: true } : {}),
      ...(resources !== undefined ? { resources } : {}),
      ...(volumeMounts.length > 0 ? { volumeMounts } : {}),
    });
    csources.push({ line: ctx.line(n), imageLine: ctx.line(imageNode) });
  });
  if (ctx.problems.length > before || name === undefined) return undefined;
  return {
    pod: {
      name, labels, annotations,
      ...(podHostname !== undefined ? { hostname: podHostname } : {}),
      shareProcessNamespace, restartPolicy, hostNetwork, containers, publish,
      ...(volumes.size > 0 ? { volumes: [...volumes.values()] } : {}),
    },
    source: { file: ctx.file, line: ctx.line(topNode), containers: csources },
    nameNode,
  };
}

/** spec.volumes: hostPath and emptyDir, by name (DNS-1123 labels, unique). Other volume types are errors. */
function parseVolumes(ctx: Ctx, sf: Fields): Map<string, VolumeManifest> {
  const out = new Map<string, VolumeManifest>();
  (getSeq(ctx, sf, 'volumes', 'spec') ?? []).forEach((n, i) => {
    const p = `spec.volumes[${i}]`;
    if (!isMap(n)) {
      ctx.error(n, `${p} must be a map (name, hostPath or emptyDir), not ${typeName(n)}`);
      return;
    }
    const types: string[] = [];
    for (const pair of n.items) {
      const k = ctx.resolve(pair.key);
      const key = isScalar(k) ? String(k.value) : '';
      if (key !== 'name') types.push(key);
    }
    const vf = fields(ctx, n, p, ['name', 'hostPath', 'emptyDir', ...types], []);
    const nameNode = vf.get('name')?.value ?? n;
    const name = getString(ctx, vf, 'name', p);
    if (name === undefined || name.length > 63 || !DNS1123_LABEL.test(name)) {
      ctx.error(nameNode, `${p}.name: ${name === undefined ? 'missing' : `"${name}" is not a DNS-1123 label`}; give the volume a name such as data`);
      return;
    }
    if (out.has(name)) {
      ctx.error(nameNode, `${p}.name: duplicate volume name "${name}"`);
      return;
    }
    const other = types.filter((t) => t !== 'hostPath' && t !== 'emptyDir');
    if (other.length > 0 || types.length !== 1) {
      ctx.error(n, `${p} (${name}): ${other.length > 0 ? `volume type ${other.join(', ')} is not supported by podns` : types.length === 0 ? 'no volume type given' : 'give one volume type'}; use hostPath or emptyDir`);
      return;
    }
    if (types[0] === 'hostPath') {
      const hn = getMap(ctx, vf, 'hostPath', p);
      if (!hn) return;
      const hf = fields(ctx, hn, `${p}.hostPath`, K8S_HOST_PATH, K8S_HOST_PATH);
      const path = getString(ctx, hf, 'path', `${p}.hostPath`);
      const type = getString(ctx, hf, 'type', `${p}.hostPath`) ?? '';
      if (path === undefined || !path.startsWith('/') || path.includes('\0')) {
        ctx.error(hf.get('path')?.value ?? hn, `${p}.hostPath.path must be an absolute path on the host, such as /srv/data`);
        return;
      }
      if (!(HOST_PATH_TYPES as readonly string[]).includes(type)) {
        ctx.error(hf.get('type')!.value, `${p}.hostPath.type: "${type}" is not one of ${HOST_PATH_TYPES.filter((x) => x !== '').join(', ')} (or empty)`);
        return;
      }
      out.set(name, { name, hostPath: { path, type: type as HostPathType } });
      return;
    }
    const en = vf.get('emptyDir')?.value;
    if (en !== null && en !== undefined && !isNullish(en)) {
      if (!isMap(en)) {
        ctx.error(en, `${p}.emptyDir must be a map ({} or medium/sizeLimit), not ${typeName(en)}`);
        return;
      }
      const ef = fields(ctx, en, `${p}.emptyDir`, K8S_EMPTY_DIR, K8S_EMPTY_DIR);
      const medium = getString(ctx, ef, 'medium', `${p}.emptyDir`);
      if (medium !== undefined && medium !== '' && medium !== 'Memory') ctx.error(ef.get('medium')!.value, `${p}.emptyDir.medium: "${medium}" is not "" or Memory`);
      const size = emptyDirSize(ctx, ef, `${p}.emptyDir`, medium === 'Memory');
      if (size !== undefined && medium !== 'Memory') {
        ctx.warn(ef.get('sizeLimit')!.pair.key as Node, `${p}.emptyDir.sizeLimit is not enforced by podns on disk (it is the size of a medium: Memory tmpfs)`);
      }
      if (medium === 'Memory') {
        out.set(name, { name, emptyDir: { medium: 'Memory', ...(size !== undefined ? { sizeLimit: size } : {}) } });
        return;
      }
    }
    out.set(name, { name, emptyDir: {} });
  });
  return out;
}

const PROPAGATION_MODES: Record<string, MountPropagation | undefined> = { None: undefined, HostToContainer: 'rslave', Bidirectional: 'rshared' };

/** containers[].volumeMounts: each names a volume of the pod, at an absolute mountPath without "..", once. */
function parseVolumeMounts(ctx: Ctx, cf: Fields, p: string, volumes: Map<string, VolumeManifest>, privileged: boolean): VolumeMountManifest[] {
  const out: VolumeMountManifest[] = [];
  const paths = new Set<string>();
  (getSeq(ctx, cf, 'volumeMounts', p) ?? []).forEach((n, j) => {
    const mp = `${p}.volumeMounts[${j}]`;
    if (!isMap(n)) {
      ctx.error(n, `${mp} must be a map (name, mountPath), not ${typeName(n)}`);
      return;
    }
    const f = fields(ctx, n, mp, ['name', 'mountPath', 'readOnly', 'subPath', 'mountPropagation'], K8S_VOLUME_MOUNT);
    const name = getString(ctx, f, 'name', mp);
    const mountPath = getString(ctx, f, 'mountPath', mp);
    const readOnly = getBool(ctx, f, 'readOnly', mp);
    const subPath = getString(ctx, f, 'subPath', mp);
    const prop = getString(ctx, f, 'mountPropagation', mp);
    if (name === undefined || !volumes.has(name)) {
      ctx.error(f.get('name')?.value ?? n, `${mp}.name: ${name === undefined ? 'missing' : `no volume "${name}" in spec.volumes`}; name one of: ${[...volumes.keys()].join(', ') || '(none: add spec.volumes)'}`);
      return;
    }
    let target: string;
    try {
      target = validateMountTarget(mountPath, `${mp}.mountPath`);
    } catch (err) {
      ctx.error(f.get('mountPath')?.value ?? n, (err as Error).message);
      return;
    }
    if (paths.has(target)) {
      ctx.error(f.get('mountPath')!.value, `${mp}.mountPath ${target} is mounted twice in this container`);
      return;
    }
    paths.add(target);
    let sub: string | undefined;
    try {
      sub = subPath !== undefined ? validateSubPath(subPath, target) : undefined;
    } catch (err) {
      ctx.error(f.get('subPath')!.value, `${mp}.subPath: ${(err as Error).message}`);
      return;
    }
    if (prop !== undefined && !(prop in PROPAGATION_MODES)) {
      ctx.error(f.get('mountPropagation')!.value, `${mp}.mountPropagation: "${prop}" is not one of None, HostToContainer, Bidirectional`);
      return;
    }
    const propagation = prop !== undefined ? PROPAGATION_MODES[prop] : undefined;
    if (propagation === 'rshared' && !privileged) {
      // the API server's own rule: mounts made in the container reach the host
      ctx.error(f.get('mountPropagation')!.value, `${mp}.mountPropagation: Bidirectional needs securityContext.privileged: true`);
      return;
    }
    out.push({ name, mountPath: target, ...(readOnly === true ? { readOnly: true } : {}), ...(sub !== undefined ? { subPath: sub } : {}), ...(propagation !== undefined ? { propagation } : {}) });
  });
  return out;
}

function parseObject(ctx: Ctx, node: Node | null, out: ParsedPod[], inList: string): void {
  if (!isMap(node)) {
    ctx.error(node, `${inList}expected a Kubernetes object (a map with apiVersion, kind, metadata, spec), not ${typeName(node)}`);
    return;
  }
  const top = fields(ctx, node, '', ['apiVersion', 'kind', 'metadata', 'spec', 'items', 'status'], []);
  const kind = getString(ctx, top, 'kind', '');
  const apiVersion = getString(ctx, top, 'apiVersion', '');
  if (kind === undefined) {
    if (!top.has('kind')) ctx.error(node, `${inList}kind is missing; this file must hold Kubernetes objects of kind: Pod (apiVersion: v1)`);
    return;
  }
  if (kind === 'List' && inList === '') {
    if (apiVersion !== 'v1') ctx.error(top.get('apiVersion')?.value ?? node, `apiVersion of a List must be v1`);
    const items = getSeq(ctx, top, 'items', '') ?? [];
    items.forEach((item, i) => parseObject(ctx, item, out, `items[${i}]: `));
    return;
  }
  if (top.has('items')) ctx.warn(top.get('items')!.pair.key as Node, `${inList}unknown field "items" (ignored)`);
  if (kind !== 'Pod') {
    ctx.error(top.get('kind')!.value, `${inList}kind "${kind}" is not supported: podns applies only Pods (apiVersion: v1, kind: Pod)`);
    return;
  }
  if (apiVersion !== 'v1') {
    if (apiVersion === undefined && !top.has('apiVersion')) ctx.error(node, `${inList}apiVersion is missing; a Pod is apiVersion: v1`);
    else if (apiVersion !== undefined) ctx.error(top.get('apiVersion')!.value, `${inList}apiVersion "${apiVersion}" is not right for a Pod; use apiVersion: v1`);
    return;
  }
  if (top.has('status')) ctx.warn(top.get('status')!.pair.key as Node, `${inList}status is ignored: it is written by the system, not applied`);
  const p = parsePod(ctx, top, node);
  if (p) out.push(p);
}

/** Sorts "FILE:LINE: ..." messages by line (stable: same-line messages keep their order). */
function byLine(list: string[]): void {
  const line = (m: string) => Number(/:(\d+): /.exec(m)?.[1] ?? 0);
  list.sort((a, b) => line(a) - line(b));
}

/** Parses every document of a manifest. Throws ManifestError listing every problem; warnings are returned. */
export function parseManifest(text: string, file: string): ParsedManifest {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const problems: string[] = [];
  const warnings: string[] = [];
  const parsed: ParsedPod[] = [];
  const list = Array.isArray(docs) ? docs : [];
  if (!Array.isArray(docs)) {
    // EmptyStream: only comments or whitespace; its errors are YAML errors too.
    for (const e of (docs as { errors?: Array<{ message: string; linePos?: Array<{ line: number }> }> }).errors ?? []) {
      problems.push(`${file}:${e.linePos?.[0]?.line ?? 1}: YAML: ${e.message.split('\n')[0]}`);
    }
  }
  for (const doc of list) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line;
        problems.push(`${file}:${line}: YAML: ${e.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
      }
      continue;
    }
    const ctx = new Ctx(file, lc, doc);
    const contents = ctx.resolve(doc.contents);
    if (contents === null || (isScalar(contents) && contents.value === null)) continue; // an empty document (a trailing ---)
    parseObject(ctx, contents, parsed, '');
    problems.push(...ctx.problems);
    warnings.push(...ctx.warnings);
  }
  // A pod name once per file: two documents making the same pod is a mistake, not an update.
  const names = new Map<string, number>();
  for (const p of parsed) {
    const prev = names.get(p.pod.name);
    if (prev !== undefined) problems.push(`${file}:${p.source.line}: pod "${p.pod.name}" is defined twice (also on line ${prev}); pod names must be unique`);
    else names.set(p.pod.name, p.source.line);
  }
  if (problems.length === 0 && parsed.length === 0) {
    problems.push(`${file}:1: no Kubernetes objects found; write a Pod (apiVersion: v1, kind: Pod, metadata.name, spec.containers)`);
  }
  byLine(problems);
  byLine(warnings);
  if (problems.length > 0) {
    const err = new ManifestError(problems);
    (err as ManifestError & { warnings?: string[] }).warnings = warnings;
    throw err;
  }
  return { pods: parsed.map((p) => p.pod), sources: parsed.map((p) => p.source), warnings };
}

/**
 * Just the pod names, for `podns delete -f`: like kubectl delete, only kind and name matter there,
 * so a manifest that would not apply any more can still delete what it made.
 */
export function podNamesInManifest(text: string, file: string): Array<{ name: string; line: number }> {
  const lc = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lc, prettyErrors: false });
  const out: Array<{ name: string; line: number }> = [];
  const problems: string[] = [];
  if (!Array.isArray(docs)) return out;
  const visit = (node: unknown, doc: Document.Parsed, inList: string) => {
    const ctx = new Ctx(file, lc, doc);
    const n = ctx.resolve(node);
    if (n === null || (isScalar(n) && n.value === null)) return;
    if (!isMap(n)) {
      problems.push(`${file}:${ctx.line(n)}: ${inList}expected a Kubernetes object, not ${typeName(n)}`);
      return;
    }
    const js = n.toJSON() as { kind?: unknown; metadata?: { name?: unknown }; items?: unknown };
    if (js.kind === 'List' && inList === '') {
      const items = ctx.resolve(n.get('items', true));
      if (isSeq(items)) items.items.forEach((it, i) => visit(it, doc, `items[${i}]: `));
      return;
    }
    if (js.kind !== 'Pod') {
      problems.push(`${file}:${ctx.line(n)}: ${inList}kind ${JSON.stringify(js.kind ?? null)} is not supported: podns manages only Pods`);
      return;
    }
    const name = js.metadata?.name;
    if (typeof name !== 'string' || name.length > 63 || !DNS1123_LABEL.test(name)) {
      problems.push(`${file}:${ctx.line(n)}: ${inList}metadata.name is missing or invalid`);
      return;
    }
    out.push({ name, line: ctx.line(n) });
  };
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) problems.push(`${file}:${e.linePos?.[0]?.line ?? lc.linePos(e.pos[0]).line}: YAML: ${e.message.split('\n')[0]}`);
      continue;
    }
    visit(doc.contents, doc, '');
  }
  if (problems.length > 0) throw new ManifestError(problems);
  if (out.length === 0) throw new ManifestError([`${file}:1: no Pods found in the file`]);
  return out;
}
