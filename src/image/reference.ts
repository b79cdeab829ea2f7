// Image references as Docker writes them (github.com/distribution/reference):
//   [host[:port]/]path[:tag][@digest]   nginx, nginx:1.25, hwchiu/netutils, localhost:5000/team/app:v2, nginx@sha256:…
// The name is checked against Docker's grammar before any part of it reaches a path in the image store.
// Normalisation is Docker's: a name without a registry host is on docker.io, and a one-component path there is
// under library/ ("nginx" is docker.io/library/nginx:latest). `repository` is the familiar (short) form of that
// full name, the one `docker images` shows, so "nginx", "library/nginx" and "docker.io/library/nginx" are one image.
import { parseDigest } from './digest.js';
import { PodnsError } from '../errors.js';

/** A reference as parsed: the tag is absent when only a digest was given. */
export interface ImageReference {
  /** registry host[:port], "docker.io" for Docker Hub */
  domain: string;
  /** repository path on that registry: "library/nginx", "team/app" */
  path: string;
  /** full name: "docker.io/library/nginx", "localhost:5000/team/app" */
  name: string;
  /** familiar name: "nginx", "hwchiu/netutils", "localhost:5000/team/app" */
  repository: string;
  /** "latest" when neither a tag nor a digest was given */
  tag?: string;
  /** "sha256:…" when given with @ */
  digest?: string;
  /** familiar form of the whole reference: "nginx:latest", "nginx@sha256:…", "nginx:1.25@sha256:…" */
  ref: string;
}

/** A reference with a tag and no digest: the key of the local image store (parseReference). */
export interface ImageRef extends ImageReference {
  tag: string;
  digest?: undefined;
}

/** Docker Hub's canonical domain, the one a name without a host belongs to. */
export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainName = `${domainComponent}(?:\\.${domainComponent})*`;
const ipv6 = '\\[[a-fA-F0-9:]+\\]';
const host = `(?:${domainName}|${ipv6})`;
const domain = `${host}(?::[0-9]+)?`;

const PATH_COMPONENT = new RegExp(`^${pathComponent}$`);
const DOMAIN = new RegExp(`^${domain}$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const NAME_TOTAL_MAX = 255;

function bad(name: string, why: string): PodnsError {
  const shown = name.length > 80 ? name.slice(0, 80) + '…' : name;
  return new PodnsError('EINVALIDREF', `invalid image reference "${shown}": ${why}`);
}

/** Parses, validates and normalises any reference, with or without a tag and a digest. */
export function parseImageReference(name: string): ImageReference {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PodnsError('EINVALIDREF', 'image name is empty; give one such as "nginx" or "hwchiu/netutils:latest"');
  }
  let rest = name;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      digest = parseDigest(d).value;
    } catch {
      throw bad(name, `"${d.length > 80 ? d.slice(0, 80) + '…' : d}" after '@' is not a digest (sha256:<64 lowercase hex digits>)`);
    }
  }
  let tag: string | undefined;
  // The tag is after the last ':' that follows the last '/' (a ':' before it belongs to host:port).
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) {
      throw bad(name, `tag "${tag}" must be 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'`);
    }
  }
  if (rest.length === 0) throw bad(name, 'the repository name is empty');
  const parts = rest.split('/');
  // Docker's rule for "is the first component a registry host": it has a '.', a ':', is "localhost",
  // or has an uppercase letter (path components never do).
  const first = parts[0]!;
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  if (hasDomain && !DOMAIN.test(first)) throw bad(name, `"${first}" is not a valid registry host[:port]`);
  const pathParts = hasDomain ? parts.slice(1) : parts;
  for (const p of pathParts) {
    if (p !== p.toLowerCase() && PATH_COMPONENT.test(p.toLowerCase())) {
      throw bad(name, 'repository name must be lowercase');
    }
    if (!PATH_COMPONENT.test(p)) {
      throw bad(name, p === ''
        ? 'empty path component (check for a doubled or trailing "/")'
        : `path component "${p}" must be lowercase letters and digits, separated by '.', '_', '__' or '-'`);
    }
  }
  if (rest.length > NAME_TOTAL_MAX) throw bad(name, `repository name is longer than ${NAME_TOTAL_MAX} characters`);
  let dom = hasDomain ? first : DEFAULT_DOMAIN;
  if (dom === LEGACY_DEFAULT_DOMAIN) dom = DEFAULT_DOMAIN;
  let path = pathParts.join('/');
  if (dom === DEFAULT_DOMAIN && pathParts.length === 1) path = OFFICIAL_REPO_PREFIX + path;
  const full = `${dom}/${path}`;
  const repository = familiarName(dom, path);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref = `${repository}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  return { domain: dom, path, name: full, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}), ref };
}

/** The short name Docker shows: docker.io and its library/ prefix dropped. */
function familiarName(dom: string, path: string): string {
  if (dom !== DEFAULT_DOMAIN) return `${dom}/${path}`;
  if (path.startsWith(OFFICIAL_REPO_PREFIX) && !path.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
    return path.slice(OFFICIAL_REPO_PREFIX.length);
  }
  return path;
}

/** A reference for the local store (tag required): "nginx" is nginx:latest; digests are refused. */
export function parseReference(name: string): ImageRef {
  if (typeof name === 'string' && name.includes('@')) {
    throw bad(name, 'references by digest are not supported by the local store; use a tag, e.g. "nginx:1.25"');
  }
  return parseImageReference(name) as ImageRef;
}

/** The repository as one directory name in the store. '+' is outside the grammar, so the mapping is reversible,
 * and a repository such as "nginx/latest" cannot land inside the directory of the image nginx:latest. */
export function repositoryDir(repository: string): string {
  return repository.split('/').join('+');
}

export function repositoryFromDir(dir: string): string {
  return dir.split('+').join('/');
}
