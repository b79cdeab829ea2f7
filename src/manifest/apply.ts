// `podns apply -f` and `podns delete -f`: Kubernetes v1 Pod manifests made real.
//
// Everything that can be checked is checked for the whole file first (syntax, schema, every image in the
// store, every container having a command, existing pods), so a bad file creates nothing. Then each pod is
// created and its containers run in order; if one does not start, the pod is deleted again: a pod exists
// complete or not at all, which is what `pod/NAME unchanged` relies on.
//
// Pods are immutable, as in Kubernetes (a pod's spec cannot be edited beyond a few fields): the spec that
// made a pod is kept in its annotation podns.io/last-applied-configuration, like kubectl's
// kubectl.kubernetes.io/last-applied-configuration; the same spec again is "unchanged", a different one is
// refused with the way out (delete first).
import { readFileSync } from 'node:fs';
import { isErrno, NotFoundError, oneLine, PodnsError } from '../errors.js';
import { resolveArgv } from '../image/argv.js';
import { findImage, resolveImage } from '../image/store.js';
import { ensureImage, type ImagePullEvent } from '../image/pull.js';
import { defaultPullPolicy, type PullPolicy } from '../image/pull-policy.js';
import { resolveStore } from '../state/store-root.js';
import { createPod, deletePod, readPod, type CreatePodOptions } from '../pod/index.js';
import { planCreate } from '../pod/validate.js';
import { runContainer } from '../container/run.js';
import type { PodRecord } from '../pod/types.js';
import { resolveRoot, type RootOption } from '../state/paths.js';
import { ManifestError, parseManifest, podNamesInManifest, type PodManifest } from './parse.js';
import { containerMounts, hostPathProblems, makeVolumes } from './volumes.js';

export const LAST_APPLIED = 'podns.io/last-applied-configuration';

export interface Writer {
  write(s: string): unknown;
}

export interface ApplyOptions {
  root?: string;
  /** the image store (absent: PODNS_STORE, else /var/lib/podns) */
  store?: string;
  /** a path, or '-' for stdin */
  file: string;
  /** the manifest text, instead of reading `file` (file still names it in messages) */
  text?: string;
  dryRun?: boolean;
  /** network options for every pod of the file (not for hostNetwork pods) */
  subnet?: string;
  bridge?: string;
  gateway?: string;
  out?: Writer;
  err?: Writer;
  /** print pod/NAME only (-o name) */
  nameOnly?: boolean;
  /** progress of the pulls the manifest's imagePullPolicy asks for */
  onPullProgress?: (e: ImagePullEvent) => void;
}

export interface ApplyResult {
  pod: string;
  action: 'created' | 'unchanged';
}

/** How the file is named in messages. */
export function displayName(file: string): string {
  return file === '-' ? 'stdin' : file;
}

export function readManifestInput(file: string): string {
  try {
    // fd 0 for '-': reads a pipe or a redirected file to its end.
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new PodnsError('ENOENT', `the path "${file}" does not exist; give a manifest file, or - for stdin`);
    if (isErrno(err, 'EISDIR')) throw new PodnsError('EISDIR', `"${file}" is a directory; give one manifest file`);
    if (isErrno(err, 'EAGAIN')) throw new PodnsError('EAGAIN', 'stdin is not readable (non-blocking terminal); pipe the manifest in: podns apply -f - < pod.yaml');
    throw err;
  }
}

/** The spec as it is compared between applies: the normalized manifest, keys in a fixed order. */
export function appliedConfiguration(pod: PodManifest): string {
  return JSON.stringify(pod);
}

function podMatches(rec: PodRecord, pod: PodManifest): { same: boolean; why?: string } {
  const applied = rec.annotations?.[LAST_APPLIED];
  if (applied === undefined) return { same: false, why: 'it was not created from a manifest' };
  if (applied !== appliedConfiguration(pod)) return { same: false, why: 'its spec differs from this manifest' };
  if (rec.phase !== 'ready') return { same: false, why: `it is in phase "${rec.phase}"` };
  const want = pod.containers.map((c) => c.name);
  const missing = want.filter((c) => !rec.containers.includes(c));
  if (missing.length > 0) return { same: false, why: `it was left incomplete (no container ${missing.join(', ')})` };
  return { same: true };
}

export async function applyManifest(o: ApplyOptions): Promise<ApplyResult[]> {
  const root = resolveRoot(o.root);
  const out = o.out ?? process.stdout;
  const errOut = o.err ?? process.stderr;
  const shown = displayName(o.file);
  const text = o.text ?? readManifestInput(o.file);

  let parsed;
  try {
    parsed = parseManifest(text, shown);
  } catch (err) {
    if (err instanceof ManifestError) for (const w of (err as ManifestError & { warnings?: string[] }).warnings ?? []) errOut.write(`${w}\n`);
    throw err;
  }
  for (const w of parsed.warnings) errOut.write(`${w}\n`);

  // Images first: pulled as each container's imagePullPolicy says (Kubernetes' default: Always for :latest or
  // no tag), once per image, for the pods this file will create; a failed pull is a problem of the file.
  const pullErrors = o.dryRun === true ? new Map<string, unknown>() : await pullImages(root, parsed.pods, o);

  // Everything the store and the state root can tell us, before anything is made.
  const problems: string[] = [];
  const plan: Array<{ pod: PodManifest; action: 'create' | 'unchanged' }> = [];
  const hostPorts = new Map<string, string>();
  parsed.pods.forEach((pod, i) => {
    const src = parsed.sources[i]!;
    pod.containers.forEach((c, j) => {
      const where = src.containers[j]!;
      try {
        if (pullErrors.has(c.image)) throw pullErrors.get(c.image);
        if (o.dryRun === true && findImage(resolveStore(o.store), c.image) === undefined && (c.imagePullPolicy ?? defaultPullPolicy(c.image)) !== 'Never') return;
        const img = resolveImage({ store: o.store, name: c.image });
        resolveArgv(img.config, c.command, c.args, img.ref);
      } catch (err) {
        const line = err instanceof NotFoundError || pullErrors.has(c.image) ? where.imageLine : where.line;
        problems.push(`${src.file}:${line}: spec.containers[${j}] (${c.name}): ${oneLine(err)}`);
      }
    });
    let existing: PodRecord | undefined;
    try {
      existing = readPod({ root, name: pod.name });
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (existing === undefined) {
      for (const p of hostPathProblems(pod)) problems.push(`${src.file}:${src.line}: pod "${pod.name}": ${p}`);
      // createPod's own checks (network, subnet, ports against other pods), made now so they stop the whole file.
      try {
        planCreate(createOptions(root, pod, o));
      } catch (err) {
        if (!(err instanceof PodnsError)) throw err;
        problems.push(`${src.file}:${src.line}: pod "${pod.name}": ${oneLine(err)}`);
      }
      for (const m of pod.publish) {
        const key = `${m.hostPort}/${m.protocol}`;
        const other = hostPorts.get(key);
        if (other !== undefined) problems.push(`${src.file}:${src.line}: pod "${pod.name}": host port ${key} is also published by pod "${other}" in this file; publish each host port once`);
        else hostPorts.set(key, pod.name);
      }
      plan.push({ pod, action: 'create' });
      return;
    }
    const m = podMatches(existing, pod);
    if (m.same) plan.push({ pod, action: 'unchanged' });
    else {
      const fix = o.file === '-' ? `podns delete pod ${pod.name}` : `podns delete -f ${o.file}`;
      problems.push(`${src.file}:${src.line}: pod "${pod.name}" already exists and ${m.why}; pods cannot be changed in place: delete it first (${fix}), then apply again`);
    }
  });
  if (problems.length > 0) throw new ManifestError(problems);

  const results: ApplyResult[] = [];
  const say = (name: string, action: string) => out.write(o.nameOnly ? `pod/${name}\n` : `pod/${name} ${action}${o.dryRun ? ' (dry run)' : ''}\n`);
  for (const { pod, action } of plan) {
    if (action === 'unchanged') {
      say(pod.name, 'unchanged');
      results.push({ pod: pod.name, action });
      continue;
    }
    if (!o.dryRun) await createOne(root, pod, o);
    say(pod.name, 'created');
    results.push({ pod: pod.name, action: 'created' });
  }
  return results;
}

/** Policies by strength: one image named by several containers is pulled once, as its strongest policy says. */
const STRENGTH: Record<PullPolicy, number> = { Never: 0, IfNotPresent: 1, Always: 2 };

/** Pulls the images of the pods that do not exist yet, as their policies say; image → the error of its pull. */
async function pullImages(root: string, pods: PodManifest[], o: ApplyOptions): Promise<Map<string, unknown>> {
  const want = new Map<string, PullPolicy>();
  for (const pod of pods) {
    try {
      readPod({ root, name: pod.name });
      continue;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    for (const c of pod.containers) {
      const p = c.imagePullPolicy ?? defaultPullPolicy(c.image);
      const had = want.get(c.image);
      if (had === undefined || STRENGTH[p] > STRENGTH[had]) want.set(c.image, p);
    }
  }
  const errors = new Map<string, unknown>();
  const errOut = o.err ?? process.stderr;
  await Promise.all([...want].map(async ([image, policy]) => {
    try {
      await ensureImage({
        ...(o.store !== undefined ? { store: o.store } : {}), name: image, policy,
        ...(o.onPullProgress !== undefined ? { onProgress: o.onPullProgress } : {}),
        onWarning: (line) => errOut.write(`warning: ${line}\n`),
      });
    } catch (err) {
      errors.set(image, err);
    }
  }));
  return errors;
}

function createOptions(root: string, pod: PodManifest, o: ApplyOptions): CreatePodOptions {
  const network = pod.hostNetwork ? { network: 'host' } : {
    ...(o.subnet !== undefined ? { subnet: o.subnet } : {}),
    ...(o.bridge !== undefined ? { bridge: o.bridge } : {}),
    ...(o.gateway !== undefined ? { gateway: o.gateway } : {}),
  };
  return {
    root,
    name: pod.name,
    labels: pod.labels,
    annotations: { ...pod.annotations, [LAST_APPLIED]: appliedConfiguration(pod) },
    ...(pod.hostname !== undefined ? { hostname: pod.hostname } : {}),
    sharePid: pod.shareProcessNamespace,
    ...(pod.publish.length > 0 ? { publish: pod.publish } : {}),
    restartPolicy: pod.restartPolicy,
    ...network,
  };
}

async function createOne(root: string, pod: PodManifest, o: ApplyOptions): Promise<void> {
  try {
    await createPod(createOptions(root, pod, o));
  } catch (err) {
    throw new PodnsError(err instanceof PodnsError ? err.code : (err as { code?: string }).code ?? 'EAPPLY',
      `pod/${pod.name}: ${oneLine(err)}`, { cause: err });
  }
  for (const c of pod.containers) {
    try {
      if (c === pod.containers[0]) makeVolumes(root, pod);
      const mounts = containerMounts(root, pod, c);
      await runContainer({
        root,
        ...(o.store !== undefined ? { store: o.store } : {}),
        pod: pod.name,
        name: c.name,
        image: c.image,
        ...(c.command !== undefined ? { command: c.command } : {}),
        ...(c.args !== undefined ? { args: c.args } : {}),
        env: c.env,
        ...(c.workingDir !== undefined ? { workingDir: c.workingDir } : {}),
        ...(c.runAsUser !== undefined ? { uid: c.runAsUser } : {}),
        ...(c.runAsGroup !== undefined ? { gid: c.runAsGroup } : {}),
        ...(c.runAsNonRoot === true ? { runAsNonRoot: true } : {}),
        ...(c.privileged === true ? { privileged: true } : {}),
        ...(c.capAdd !== undefined ? { capAdd: c.capAdd } : {}),
        ...(c.capDrop !== undefined ? { capDrop: c.capDrop } : {}),
        ...(c.noNewPrivileges === true ? { noNewPrivileges: true } : {}),
        ...(c.readOnlyRootFilesystem === true ? { readOnlyRootFilesystem: true } : {}),
        ...(c.seccomp !== undefined ? { seccomp: c.seccomp } : {}),
        ...(c.supplementalGroups !== undefined ? { supplementalGroups: c.supplementalGroups } : {}),
        ...(c.resources !== undefined ? { resources: c.resources } : {}),
        ...(mounts.length > 0 ? { mounts } : {}),
        ...(c.stdin === true ? { stdin: true, ...(c.stdinOnce === true ? { stdinOnce: true } : {}) } : {}),
        ...(c.tty === true ? { tty: true } : {}),
        restartPolicy: pod.restartPolicy,
      });
    } catch (err) {
      // Nothing half-made: the pod goes again, with the containers that did start.
      let cleanup = 'the pod was deleted again';
      try {
        await deletePod({ root, name: pod.name, force: true, grace: 0 });
      } catch (delErr) {
        cleanup = `deleting the pod failed too (${oneLine(delErr)}); run podns gc`;
      }
      throw new PodnsError(err instanceof PodnsError ? err.code : (err as { code?: string }).code ?? 'EAPPLY',
        `pod/${pod.name}: container "${c.name}" did not start: ${oneLine(err)}; ${cleanup}`, { cause: err });
    }
  }
}

export interface DeleteFromManifestOptions extends RootOption {
  /** a path, or '-' for stdin */
  file: string;
  /** seconds between SIGTERM and SIGKILL (deletePod's default when absent) */
  grace?: number;
  force?: boolean;
  /** a pod of the file that does not exist is not an error (kubectl delete --ignore-not-found) */
  ignoreNotFound?: boolean;
  out?: Writer;
  err?: Writer;
}

/**
 * `podns delete -f FILE|-`: deletes each pod the file names, printing `pod "NAME" deleted`.
 * Every pod is tried; when one is missing or fails, the others are still deleted, the earlier failures
 * are printed and the last one is thrown (so the CLI exits non-zero whatever it does with the result).
 * Returns 0 when all went.
 */
export async function deleteFromManifest(o: DeleteFromManifestOptions): Promise<number> {
  const root = resolveRoot(o.root);
  const file = o.file;
  const out = o.out ?? process.stdout;
  const errOut = o.err ?? process.stderr;
  let names;
  try {
    names = podNamesInManifest(readManifestInput(file), displayName(file));
  } catch (err) {
    if (err instanceof ManifestError && err.problems.length > 1) {
      for (const p of err.problems.slice(0, -1)) errOut.write(`podns delete: ${p}\n`);
      throw new PodnsError('EMANIFEST', `${err.problems.at(-1)!} (nothing was deleted)`);
    }
    throw err;
  }
  const failures: PodnsError[] = [];
  for (const { name } of names) {
    try {
      readPod({ root, name });
    } catch (err) {
      if (err instanceof NotFoundError) {
        if (!o.ignoreNotFound) failures.push(new NotFoundError('pod', name));
        continue;
      }
      throw err;
    }
    try {
      await deletePod({ root, name, ...(o.grace !== undefined ? { grace: o.grace } : {}), ...(o.force !== undefined ? { force: o.force } : {}) });
      out.write(`pod "${name}" deleted\n`);
    } catch (err) {
      if (err instanceof NotFoundError) {
        if (!o.ignoreNotFound) failures.push(err);
        continue;
      }
      failures.push(err instanceof PodnsError ? err : new PodnsError((err as { code?: string }).code ?? 'EDELETE', `pod "${name}": ${oneLine(err)}`, { cause: err }));
    }
  }
  if (failures.length === 0) return 0;
  for (const f of failures.slice(0, -1)) errOut.write(`podns delete: ${f.message}\n`);
  throw failures.at(-1)!;
}
