// A manifest's volumes made real: hostPath checked against its type before anything is made (a bad one
// stops the whole file), then at create the "...OrCreate" paths and the emptyDirs (directories of the
// pod's state, removed with the pod; medium Memory: a tmpfs mounted there) are made, and each container's
// volumeMounts become its mounts.
import { chmodSync, closeSync, mkdirSync, openSync, statSync, type Stats } from 'node:fs';
import { dirname } from 'node:path';
import { isErrno } from '../errors.js';
import { native } from '../native/index.js';
import type { VolumeMount } from '../pod/types.js';
import { paths } from '../state/paths.js';
import type { ContainerManifest, HostPathType, PodManifest, VolumeManifest } from './parse.js';

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    if (isErrno(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

const KIND: Partial<Record<HostPathType, [string, (s: Stats) => boolean]>> = {
  Directory: ['a directory', (s) => s.isDirectory()],
  DirectoryOrCreate: ['a directory', (s) => s.isDirectory()],
  File: ['a file', (s) => s.isFile()],
  FileOrCreate: ['a file', (s) => s.isFile()],
  Socket: ['a unix socket', (s) => s.isSocket()],
  CharDevice: ['a character device', (s) => s.isCharacterDevice()],
  BlockDevice: ['a block device', (s) => s.isBlockDevice()],
};

/** What is wrong with the pod's hostPath volumes on this host (kubelet's HostPathType checks), one line each. */
export function hostPathProblems(pod: PodManifest): string[] {
  const out: string[] = [];
  for (const v of pod.volumes ?? []) {
    if (v.hostPath === undefined) continue;
    const { path, type } = v.hostPath;
    const st = statOrUndefined(path);
    const kind = KIND[type];
    if (st === undefined) {
      if (type === 'FileOrCreate' && statOrUndefined(dirname(path))?.isDirectory() !== true) {
        out.push(`volume "${v.name}": hostPath ${path}: its directory ${dirname(path)} does not exist (FileOrCreate makes the file only); create it first`);
      } else if (type !== '' && type !== 'DirectoryOrCreate' && type !== 'FileOrCreate') {
        out.push(`volume "${v.name}": hostPath ${path} does not exist (type ${type}); create it first or use ${type === 'File' ? 'FileOrCreate' : 'DirectoryOrCreate'}`);
      }
    } else if (kind !== undefined && !kind[1](st)) {
      out.push(`volume "${v.name}": hostPath ${path} is not ${kind[0]} (type ${type}); fix the path or the type`);
    }
  }
  return out;
}

function volumeSource(root: string, pod: string, v: VolumeManifest): string {
  return v.hostPath !== undefined ? v.hostPath.path : paths.podVolume(root, pod, v.name);
}

/** The tmpfs options of a medium: Memory emptyDir: world-writable as kubelet's emptyDir, sizeLimit as its size
 * (none: the kernel's default, half of RAM). */
export function memoryEmptyDirOptions(sizeLimit: number | undefined): string {
  return `mode=0777${sizeLimit !== undefined ? `,size=${sizeLimit}` : ''}`;
}

/**
 * Makes what the pod's volumes need (after the pod exists: the emptyDirs go with its state): emptyDirs
 * 0777 as kubelet makes them (medium Memory: a tmpfs mounted on that directory, nosuid and nodev, in the
 * mount namespace podns runs in, as kubelet mounts its own; removePodDir and gc unmount it before the state
 * goes), a missing hostPath of type "" or DirectoryOrCreate as a directory (0755), FileOrCreate as an empty
 * file (0644).
 */
export function makeVolumes(root: string, pod: PodManifest): void {
  for (const v of pod.volumes ?? []) {
    const src = volumeSource(root, pod.name, v);
    if (v.emptyDir !== undefined) {
      mkdirSync(dirname(src), { recursive: true, mode: 0o700 });
      mkdirSync(src);
      // mkdir's mode passes through the umask: chmod, world-writable as kubelet makes an emptyDir
      chmodSync(src, 0o777);
      if (v.emptyDir.medium === 'Memory') {
        native.mount('tmpfs', src, 'tmpfs', native.MS_NOSUID | native.MS_NODEV, memoryEmptyDirOptions(v.emptyDir.sizeLimit));
      }
      continue;
    }
    if (statOrUndefined(src) !== undefined) continue;
    if (v.hostPath!.type === 'FileOrCreate') closeSync(openSync(src, 'wx', 0o644));
    else mkdirSync(src, { recursive: true, mode: 0o755 });
  }
}

/** A container's volumeMounts as runContainer's mounts. */
export function containerMounts(root: string, pod: PodManifest, c: ContainerManifest): VolumeMount[] {
  const byName = new Map((pod.volumes ?? []).map((v) => [v.name, v]));
  return (c.volumeMounts ?? []).map((m) => ({
    source: volumeSource(root, pod.name, byName.get(m.name)!),
    target: m.mountPath,
    ...(m.subPath !== undefined ? { subPath: m.subPath } : {}),
    ...(m.readOnly === true ? { readOnly: true } : {}),
    ...(m.propagation !== undefined ? { propagation: m.propagation } : {}),
  }));
}
