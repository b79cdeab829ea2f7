// The CRI's protobuf definitions (api.proto beside this file; shipped in dist by the build) loaded with
// @grpc/proto-loader: field names as written (snake_case), int64 as decimal strings (nanosecond timestamps
// keep every digit), enums as their names, defaults filled in.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ServiceClientConstructor, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options, type PackageDefinition } from '@grpc/proto-loader';

export const LOADER_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

/** api.proto: beside this module (dist/src/cri/), or under src/cri/ beside the CLI bundle (dist/). */
export function protoPath(): string {
  for (const rel of ['./api.proto', './src/cri/api.proto']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error(`api.proto not found beside ${fileURLToPath(import.meta.url)}; rebuild (npm run build copies src/cri/api.proto to dist/src/cri/)`);
}

export interface CriServices {
  RuntimeService: ServiceClientConstructor;
  ImageService: ServiceClientConstructor;
}

let definition: PackageDefinition | undefined;

/** api.proto's package definition (services keyed 'runtime.v1.RuntimeService', each method's path and codec). */
export function criPackageDefinition(): PackageDefinition {
  definition ??= loadSync(protoPath(), LOADER_OPTIONS);
  return definition;
}

let loaded: CriServices | undefined;

export function criServices(): CriServices {
  if (loaded !== undefined) return loaded;
  const pkg = loadPackageDefinition(criPackageDefinition()) as unknown as { runtime: { v1: CriServices } };
  loaded = pkg.runtime.v1;
  return loaded;
}

export type { ServiceDefinition };
