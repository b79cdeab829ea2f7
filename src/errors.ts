// Errors that podns shows to people and that callers can switch on.
//
// PodnsError: one line, naming the problem and the fix; `code` is a stable string.
// Errors from the kernel keep Node's shape (code = errno name, errno, syscall, path),
// the way fs errors and node_netlink's ErrnoException do, so `switch (err.code)` works.
// NotFoundError is the typed "already gone" (like CNI's NSPathNotExistErr): delete and gc
// treat it as success, which makes them idempotent.

import { constants } from 'node:os';

export class PodnsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PodnsError';
    this.code = code;
  }
}

export class NotFoundError extends PodnsError {
  readonly kind: string;
  readonly ref: string;
  constructor(kind: string, ref: string, message?: string) {
    super('ENOTFOUND', message ?? `${kind} "${ref}" not found`);
    this.name = 'NotFoundError';
    this.kind = kind;
    this.ref = ref;
  }
}

export interface ErrnoError extends Error {
  code: string;
  errno: number;
  syscall?: string;
  path?: string;
}

const errnoNames: Record<string, number> = constants.errno as unknown as Record<string, number>;

export function errnoError(code: string, syscall: string, message?: string, path?: string): ErrnoError {
  const err = new Error(`${syscall}${path ? ` ${path}` : ''}: ${code}${message ? ` (${message})` : ''}`) as ErrnoError;
  err.code = code;
  err.errno = errnoNames[code] ?? 0;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

export function isErrno(err: unknown, ...codes: string[]): err is ErrnoError {
  return typeof err === 'object' && err !== null && typeof (err as ErrnoError).code === 'string' &&
    (codes.length === 0 || codes.includes((err as ErrnoError).code));
}

/** The one line a CLI prints for an error. */
export function oneLine(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0] ?? String(err);
  return String(err);
}
