// OCI image spec and Docker image manifest v2 schema 2: media types, the shapes of manifests, indexes and
// configs, and strict validators for them. Everything here is hostile input (a registry, an archive): sizes are
// bounded, digests are checked by digest.ts before they reach a path, arrays are capped, and each refusal is one
// line naming the field. Callers get typed objects with only the fields podns uses (plus annotations/urls).
import { parseDigest } from './digest.js';
import { PodnsError } from '../errors.js';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNonDistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNonDistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNonDistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  /** Docker's schema 1 (signed): refused with a clear line, registries convert it on request */
  dockerManifestV1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerManifestV1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** Index (multi-platform) media types. */
export const INDEX_MEDIA_TYPES: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList];
/** Single-image manifest media types. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [MediaType.ociManifest, MediaType.dockerManifest];
/** The Accept list of a manifest GET/HEAD: everything podns can use, preferred first. */
export const MANIFEST_ACCEPT: readonly string[] = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest];
export const CONFIG_MEDIA_TYPES: readonly string[] = [MediaType.ociConfig, MediaType.dockerConfig];

/** Layer media types podns unpacks; compression is still detected by magic bytes when unpacking. */
export const LAYER_MEDIA_TYPES: readonly string[] = [
  MediaType.ociLayer, MediaType.ociLayerGzip, MediaType.ociLayerZstd,
  MediaType.ociLayerNonDistributable, MediaType.ociLayerNonDistributableGzip, MediaType.ociLayerNonDistributableZstd,
  MediaType.dockerLayerGzip, MediaType.dockerLayerForeignGzip,
];
/** Foreign (Docker) and non-distributable (OCI) layers: a registry may not hold them; `urls` says where they are. */
export const NON_DISTRIBUTABLE_MEDIA_TYPES: readonly string[] = [
  MediaType.dockerLayerForeignGzip, MediaType.ociLayerNonDistributable, MediaType.ociLayerNonDistributableGzip,
  MediaType.ociLayerNonDistributableZstd,
];

/** Caps for hostile documents. */
export const LIMITS = {
  /** bytes of a manifest or index (containerd and the distribution spec use 4 MiB) */
  manifestBytes: 4 << 20,
  /** bytes of an image config (real ones are a few KiB; long histories are tens of KiB) */
  configBytes: 8 << 20,
  /** layers in one image (overlay's lowerdir limit is far below: 500 in Linux's overlay) */
  layers: 500,
  /** manifests in one index */
  indexManifests: 1000,
  /** urls of a foreign layer */
  urls: 16,
  /** entries of annotations, env, labels, history... */
  entries: 10000,
  /** characters of one string field */
  string: 65536,
} as const;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The config fields podns reads (image-spec config.md); unknown fields are kept by the raw bytes in the store. */
export interface ImageConfigFile {
  architecture: string;
  os: string;
  variant?: string;
  created?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, object>;
    Volumes?: Record<string, object>;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; empty_layer?: boolean; comment?: string; author?: string }>;
}

function fail(what: string, why: string): never {
  throw new PodnsError('EBADIMAGE', `${what}: ${why}; the image or registry is broken`);
}

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, what: string, max: number = LIMITS.string): string {
  if (typeof v !== 'string') fail(what, `expected a string, got ${v === null ? 'null' : typeof v}`);
  if (v.length > max) fail(what, `longer than ${max} characters`);
  return v;
}

function optStr(v: unknown, what: string): string | undefined {
  return v === undefined ? undefined : str(v, what);
}

function arr(v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(what, 'expected a list');
  if (v.length > max) fail(what, `more than ${max} entries`);
  return v;
}

function strList(v: unknown, what: string): string[] {
  return arr(v, what, LIMITS.entries).map((e, i) => str(e, `${what}[${i}]`));
}

function strMap(v: unknown, what: string): Record<string, string> {
  if (!isObj(v)) fail(what, 'expected a map');
  const keys = Object.keys(v);
  if (keys.length > LIMITS.entries) fail(what, `more than ${LIMITS.entries} entries`);
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const k of keys) out[str(k, `${what} key`)] = str(v[k], `${what}["${k.slice(0, 40)}"]`);
  return { ...out };
}

function objMap(v: unknown, what: string): Record<string, object> {
  if (!isObj(v)) fail(what, 'expected a map');
  const keys = Object.keys(v);
  if (keys.length > LIMITS.entries) fail(what, `more than ${LIMITS.entries} entries`);
  for (const k of keys) {
    str(k, `${what} key`);
    if (!isObj(v[k])) fail(`${what}["${k.slice(0, 40)}"]`, 'expected an object');
  }
  return v as Record<string, object>;
}

/** A media type: type/subtype, bounded (image-spec descriptor.md: RFC 6838). */
function mediaType(v: unknown, what: string): string {
  const s = str(v, what, 255);
  if (!/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/.test(s)) fail(what, `"${s.slice(0, 80)}" is not a media type`);
  return s;
}

/** A size: a non-negative safe integer (JSON numbers beyond 2^53 lose precision). */
function size(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(what, `size ${String(v).slice(0, 40)} is not a non-negative integer`);
  return v;
}

function platform(v: unknown, what: string): Platform {
  if (!isObj(v)) fail(what, 'expected a map');
  const p: Platform = { os: str(v.os, `${what}.os`, 64), architecture: str(v.architecture, `${what}.architecture`, 64) };
  const variant = optStr(v.variant, `${what}.variant`);
  if (variant !== undefined) p.variant = variant;
  const osv = optStr(v['os.version'], `${what}.os.version`);
  if (osv !== undefined) p['os.version'] = osv;
  if (v['os.features'] !== undefined) p['os.features'] = strList(v['os.features'], `${what}.os.features`);
  return p;
}

/** Validates one descriptor (image-spec descriptor.md). */
export function validateDescriptor(v: unknown, what: string): Descriptor {
  if (!isObj(v)) fail(what, 'expected a descriptor (mediaType, digest, size)');
  const d: Descriptor = {
    mediaType: mediaType(v.mediaType, `${what}.mediaType`),
    digest: parseDigest(v.digest, `${what}.digest`).value,
    size: size(v.size, `${what}.size`),
  };
  if (v.urls !== undefined) {
    d.urls = arr(v.urls, `${what}.urls`, LIMITS.urls).map((u, i) => {
      const s = str(u, `${what}.urls[${i}]`, 2048);
      if (!/^https?:\/\//.test(s)) fail(`${what}.urls[${i}]`, 'only http and https URLs are allowed');
      return s;
    });
  }
  if (v.annotations !== undefined) d.annotations = strMap(v.annotations, `${what}.annotations`);
  if (v.platform !== undefined) d.platform = platform(v.platform, `${what}.platform`);
  return d;
}

function parseJson(buf: Buffer, what: string, max: number): unknown {
  if (buf.length > max) fail(what, `${buf.length} bytes is more than the ${max} allowed`);
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (err) {
    return fail(what, `not JSON (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The mediaType of a manifest or index document: its field, else the HTTP Content-Type (Docker's old lists omit it). */
export function documentMediaType(doc: unknown, contentType?: string): string | undefined {
  if (isObj(doc) && typeof doc.mediaType === 'string') return doc.mediaType;
  if (isObj(doc) && Array.isArray(doc.manifests)) return contentType ?? MediaType.ociIndex;
  if (isObj(doc) && isObj(doc.config)) return contentType ?? MediaType.ociManifest;
  return contentType;
}

export type ManifestDocument = { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

/**
 * Parses a manifest or an index. CONTENT_TYPE (from the registry) must agree with the document's mediaType
 * when both are present: a registry may not serve one kind under the other's name.
 */
export function parseManifestDocument(buf: Buffer, what: string, contentType?: string): ManifestDocument {
  const doc = parseJson(buf, what, LIMITS.manifestBytes);
  if (!isObj(doc)) fail(what, 'expected a JSON object');
  const ct = contentType?.split(';')[0]?.trim().toLowerCase();
  if (doc.mediaType !== undefined) mediaType(doc.mediaType, `${what}.mediaType`);
  if (ct !== undefined && ct !== '' && typeof doc.mediaType === 'string' && doc.mediaType !== ct) {
    fail(what, `the registry sent Content-Type ${ct.slice(0, 100)} but the document says ${doc.mediaType}`);
  }
  const mt = documentMediaType(doc, ct === '' ? undefined : ct);
  if (mt === MediaType.dockerManifestV1 || mt === MediaType.dockerManifestV1Signed || doc.schemaVersion === 1) {
    fail(what, 'Docker schema 1 manifests are deprecated and not supported; push the image again with a current tool');
  }
  if (doc.schemaVersion !== 2) fail(what, `schemaVersion ${String(doc.schemaVersion).slice(0, 20)} is not 2`);
  if (mt !== undefined && INDEX_MEDIA_TYPES.includes(mt)) return { kind: 'index', index: validateIndex(doc, what, mt) };
  if (mt !== undefined && MANIFEST_MEDIA_TYPES.includes(mt)) return { kind: 'manifest', manifest: validateManifest(doc, what, mt) };
  return fail(what, `media type ${String(mt).slice(0, 100)} is not an image manifest or index`);
}

function validateIndex(doc: Record<string, unknown>, what: string, mt: string): ImageIndex {
  if (isObj(doc.config) || doc.layers !== undefined) fail(what, 'an index must not have config or layers');
  const manifests = arr(doc.manifests, `${what}.manifests`, LIMITS.indexManifests).map((m, i) => validateDescriptor(m, `${what}.manifests[${i}]`));
  const idx: ImageIndex = { schemaVersion: 2, mediaType: mt, manifests };
  if (doc.annotations !== undefined) idx.annotations = strMap(doc.annotations, `${what}.annotations`);
  return idx;
}

function validateManifest(doc: Record<string, unknown>, what: string, mt: string): ImageManifest {
  if (doc.manifests !== undefined) fail(what, 'an image manifest must not have manifests');
  const config = validateDescriptor(doc.config, `${what}.config`);
  const layers = arr(doc.layers, `${what}.layers`, LIMITS.layers).map((l, i) => validateDescriptor(l, `${what}.layers[${i}]`));
  if (config.size > LIMITS.configBytes) fail(`${what}.config`, `size ${config.size} is more than the ${LIMITS.configBytes} allowed`);
  const m: ImageManifest = { schemaVersion: 2, mediaType: mt, config, layers };
  if (doc.annotations !== undefined) m.annotations = strMap(doc.annotations, `${what}.annotations`);
  return m;
}

/** True when the layer's media type says a registry may not have it (foreign / non-distributable). */
export function isNonDistributable(d: Descriptor): boolean {
  return NON_DISTRIBUTABLE_MEDIA_TYPES.includes(d.mediaType);
}

/** Refuses a layer media type podns cannot unpack (e.g. a Helm chart or a signature pushed as an "image"). */
export function checkLayerMediaType(d: Descriptor, what: string): void {
  if (!LAYER_MEDIA_TYPES.includes(d.mediaType)) fail(what, `media type ${d.mediaType} is not an image layer podns can unpack`);
}

/** Parses an image config; its diff_ids must match the manifest's layer count when LAYERS is given. */
export function parseImageConfig(buf: Buffer, what: string, layers?: number): ImageConfigFile {
  const doc = parseJson(buf, what, LIMITS.configBytes);
  if (!isObj(doc)) fail(what, 'expected a JSON object');
  const rootfs = doc.rootfs;
  if (!isObj(rootfs)) fail(`${what}.rootfs`, 'missing');
  if (rootfs.type !== 'layers') fail(`${what}.rootfs.type`, `"${String(rootfs.type).slice(0, 40)}" is not "layers"`);
  const diffIds = arr(rootfs.diff_ids, `${what}.rootfs.diff_ids`, LIMITS.layers).map((d, i) => parseDigest(d, `${what}.rootfs.diff_ids[${i}]`).value);
  if (layers !== undefined && diffIds.length !== layers) {
    fail(what, `rootfs.diff_ids has ${diffIds.length} entries but the manifest has ${layers} layers`);
  }
  const out: ImageConfigFile = {
    architecture: str(doc.architecture, `${what}.architecture`, 64),
    os: str(doc.os, `${what}.os`, 64),
    rootfs: { type: 'layers', diff_ids: diffIds },
  };
  const variant = optStr(doc.variant, `${what}.variant`);
  if (variant !== undefined) out.variant = variant;
  const created = optStr(doc.created, `${what}.created`);
  if (created !== undefined) out.created = created;
  if (doc.config !== undefined && doc.config !== null) out.config = execConfig(doc.config, `${what}.config`);
  if (doc.history !== undefined && doc.history !== null) {
    out.history = arr(doc.history, `${what}.history`, LIMITS.entries).map((h, i) => {
      const w = `${what}.history[${i}]`;
      if (!isObj(h)) fail(w, 'expected a map');
      const e: NonNullable<ImageConfigFile['history']>[number] = {};
      for (const k of ['created', 'created_by', 'comment', 'author'] as const) {
        const s = optStr(h[k], `${w}.${k}`);
        if (s !== undefined) e[k] = s;
      }
      if (h.empty_layer !== undefined) {
        if (typeof h.empty_layer !== 'boolean') fail(`${w}.empty_layer`, 'expected true or false');
        e.empty_layer = h.empty_layer;
      }
      return e;
    });
  }
  return out;
}

function execConfig(v: unknown, what: string): NonNullable<ImageConfigFile['config']> {
  if (!isObj(v)) fail(what, 'expected a map');
  const c: NonNullable<ImageConfigFile['config']> = {};
  for (const k of ['User', 'WorkingDir', 'StopSignal'] as const) {
    const s = optStr(v[k], `${what}.${k}`);
    if (s !== undefined) c[k] = s;
  }
  if (v.Env !== undefined && v.Env !== null) c.Env = strList(v.Env, `${what}.Env`);
  for (const k of ['Entrypoint', 'Cmd'] as const) {
    if (v[k] === null) c[k] = null;
    else if (v[k] !== undefined) c[k] = strList(v[k], `${what}.${k}`);
  }
  if (v.Labels !== undefined && v.Labels !== null) c.Labels = strMap(v.Labels, `${what}.Labels`);
  if (v.ExposedPorts !== undefined && v.ExposedPorts !== null) c.ExposedPorts = objMap(v.ExposedPorts, `${what}.ExposedPorts`);
  if (v.Volumes !== undefined && v.Volumes !== null) c.Volumes = objMap(v.Volumes, `${what}.Volumes`);
  return c;
}
