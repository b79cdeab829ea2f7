// Small conversions between the CRI's shapes and podns's: times, ids, names, filters, errors.
import { randomBytes } from 'node:crypto';
import { status, type ServiceError } from '@grpc/grpc-js';
import { NotFoundError, oneLine, PodnsError } from '../errors.js';

/** A new object id: 64 hex digits, as containerd and CRI-O make them. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}

/** Nanoseconds since the epoch, as the decimal string int64 fields carry (no double on the way). */
export function nowNs(): string {
  return (BigInt(Date.now()) * 1_000_000n + BigInt(process.hrtime.bigint() % 1_000_000n)).toString();
}

/** An ISO time (status.json, pod.json: milliseconds) as nanoseconds; 0 when absent. */
export function isoToNs(iso: string | null | undefined): string {
  if (iso === null || iso === undefined) return '0';
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? (BigInt(ms) * 1_000_000n).toString() : '0';
}

/** A DNS-1123 label from a Kubernetes name (which may hold dots and be longer), ending in `suffix`. */
export function podnsName(base: string, suffix: string): string {
  const room = 63 - suffix.length - 1;
  let head = base.toLowerCase().replace(/[^a-z0-9-]+/g, '-').slice(0, room).replace(/^-+|-+$/g, '');
  if (head === '') head = 'x';
  return `${head}-${suffix}`;
}

/** Every label of the selector is on the object with that value. */
export function matchLabels(labels: Record<string, string>, selector: Record<string, string> | undefined): boolean {
  for (const [k, v] of Object.entries(selector ?? {})) if (labels[k] !== v) return false;
  return true;
}

/** An id filter: the whole id or a unique-looking prefix of it (crictl takes prefixes). */
export function matchId(id: string, want: string | undefined): boolean {
  return want === undefined || want === '' || id.startsWith(want);
}

/** A gRPC error from a podns error: kinds map to codes, the message stays podns's one line. */
export function grpcError(err: unknown): Partial<ServiceError> {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof (err as { code: unknown }).code === 'number' && 'details' in err) {
    return err as Partial<ServiceError>;
  }
  let code = status.UNKNOWN;
  if (err instanceof NotFoundError) code = status.NOT_FOUND;
  else if (err instanceof PodnsError) {
    if (err.code === 'EUSAGE' || err.code === 'EINVAL' || err.code.startsWith('EINVALID')) code = status.INVALID_ARGUMENT;
    else if (err.code === 'EEXIST') code = status.ALREADY_EXISTS;
    else if (err.code === 'ENOTRUNNING' || err.code === 'EPODNOTREADY') code = status.FAILED_PRECONDITION;
  }
  return { code, details: oneLine(err), message: oneLine(err) };
}

/** A gRPC error with this code and message. */
export function criError(code: status, message: string): Partial<ServiceError> & Error {
  return Object.assign(new Error(message), { code, details: message });
}
