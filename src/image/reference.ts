// Image references as Docker writes them (github.com/distribution/reference):
//   [host[:port]/]path[:tag]     nginx, nginx:1.25, hwchiu/netutils, localhost:5000/team/app:v2
// The name is checked against Docker's grammar before any part of it reaches a path in the image store.
// Unlike Docker, a name is not expanded to docker.io/library/...: the store is local, and what the user
// typed is what `podns image ls` shows.
import { PodnsError } from '../errors.js';

export interface ImageRef {
  /** "hwchiu/netutils", "localhost:5000/app" */
  repository: string;
  /** "latest" when none was given */
  tag: string;
  /** "repository:tag" */
  ref: string;
}

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

/** Parses and validates a reference; "nginx" is nginx:latest. Digests are refused. */
export function parseReference(name: string): ImageRef {
  if (typeof name !== 'string' || name.length === 0) {
    throw new PodnsError('EINVALIDREF', 'image name is empty; give one such as "nginx" or "hwchiu/netutils:latest"');
  }
  if (name.includes('@')) {
    throw bad(name, 'references by digest are not supported by the local store; use a tag, e.g. "nginx:1.25"');
  }
  let rest = name;
  let tag = 'latest';
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
  return { repository: rest, tag, ref: `${rest}:${tag}` };
}

/** The repository as one directory name in the store. '+' is outside the grammar, so the mapping is reversible,
 * and a repository such as "nginx/latest" cannot land inside the directory of the image nginx:latest. */
export function repositoryDir(repository: string): string {
  return repository.split('/').join('+');
}

export function repositoryFromDir(dir: string): string {
  return dir.split('+').join('/');
}
