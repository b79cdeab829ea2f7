// The one place that loads the native addon and knows where the built executables are.
//
// The addon is loaded on first use, not at import: commands that never touch the kernel (help, version,
// argument errors) keep working on a checkout whose native part has not been built yet, and the ones that
// do need it fail with one line that says how to build it.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PodnsError } from '../errors.js';
import type { NsType } from '../../native/podns-native.js';

export type { NsId, NsType, SpawnOptions, WaitStatus } from '../../native/podns-native.js';
export type Native = typeof import('../../native/podns-native.js');

/** The package root: the nearest directory above this file that holds binding.gyp. */
function findPackageRoot(): string {
  // Compiled, this file is dist/src/native/index.js; run from source (a TS loader) it is src/native/index.ts.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'binding.gyp')) && existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
    dir = up;
  }
}

export const packageRoot = findPackageRoot();
const releaseDir = path.join(packageRoot, 'build', 'Release');

export const addonPath = path.join(releaseDir, 'podns_native.node');
export const pausePath = path.join(releaseDir, 'pause');
export const helperPath = path.join(releaseDir, 'podns-helper');
export const floorPath = path.join(releaseDir, 'podns-floor');
/** a datagram-socket ping for the test and tour images (busybox's needs NET_RAW; see native/ping/ping.c) */
export const pingPath = path.join(releaseDir, 'podns-ping');

const buildHint = 'run `npm ci` (or `npx node-gyp rebuild`) in ' + packageRoot;

let loaded: Native | undefined;

/** The addon itself; throws a one-line PodnsError (code ENATIVE) when it has not been built. */
export function loadNative(): Native {
  if (loaded !== undefined) return loaded;
  if (!existsSync(addonPath)) {
    throw new PodnsError('ENATIVE', `native addon not built: ${addonPath} is missing; ${buildHint}`);
  }
  const require = createRequire(import.meta.url);
  try {
    loaded = require(addonPath) as Native;
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    throw new PodnsError('ENATIVE', `native addon ${addonPath} cannot be loaded (${why}); ${buildHint}`, { cause: err });
  }
  return loaded;
}

/** Path of a built executable; throws the same one-line PodnsError when it is missing. */
export function executable(file: string): string {
  if (!existsSync(file)) throw new PodnsError('ENATIVE', `${path.basename(file)} not built: ${file} is missing; ${buildHint}`);
  return file;
}

/**
 * The addon (see native/podns-native.d.ts), loaded on first property access.
 * `native.spawn(...)`, `native.CLONE_NEWNET`, ...
 */
export const native: Native = new Proxy({} as Native, {
  get: (_target, prop) => Reflect.get(loadNative(), prop),
  has: (_target, prop) => Reflect.has(loadNative(), prop),
  ownKeys: () => Reflect.ownKeys(loadNative()),
  getOwnPropertyDescriptor: (_target, prop) => {
    const d = Reflect.getOwnPropertyDescriptor(loadNative(), prop);
    // The proxy target is an empty extensible object: report properties as configurable, or the
    // Proxy invariants make Object.keys(native) throw.
    return d === undefined ? undefined : { ...d, configurable: true };
  },
});

export default native;

const nsFlagNames: Record<NsType, keyof Native> = {
  net: 'CLONE_NEWNET',
  ipc: 'CLONE_NEWIPC',
  uts: 'CLONE_NEWUTS',
  pid: 'CLONE_NEWPID',
  mnt: 'CLONE_NEWNS',
  cgroup: 'CLONE_NEWCGROUP',
  user: 'CLONE_NEWUSER',
  time: 'CLONE_NEWTIME',
};

/** The CLONE_NEW* flag of a namespace type (the nstype of setns, a bit of unshare/clone flags). */
export function nsTypeFlag(type: NsType): number {
  if (!Object.hasOwn(nsFlagNames, type)) throw new TypeError(`unknown namespace type '${String(type)}'`);
  return native[nsFlagNames[type]] as number;
}
