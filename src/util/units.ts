// Units, one copy each: Kubernetes quantities (resources, exact), the byte sizes of the log flags (the
// same suffixes, whole bytes, an optional B), and Docker's memory sizes (b, k, m, g: 1024-based).
import { PodnsError } from '../errors.js';

// ---- Kubernetes quantities ----
// k8s.io/apimachinery's resource.Quantity: <sign><digits>[.<digits>]<suffix>, where the suffix is a binary
// one (Ki Mi Gi Ti Pi Ei), a decimal one (n u m "" k M G T P E) or an exponent (e3, E-2). The value is exact
// (BigInt, never a float): Kubernetes keeps it as a fixed-point decimal and rounds anything finer than a
// nano-unit away from zero.

const DECIMAL_SUFFIX: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const BINARY_SUFFIX: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

/** An exact non-negative rational: num / 10^scale10. */
export interface Quantity {
  /** the value times 10^scale */
  num: bigint;
  scale: number;
  /** which suffix family it was written in (the canonical form keeps it, as Kubernetes does) */
  binary: boolean;
}

export class QuantityError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'QuantityError';
  }
}

const NUMBER_RE = /^([+-]?)(\d*)(?:\.(\d*))?(.*)$/;

/**
 * Parses a quantity as Kubernetes does. Throws QuantityError with the reason (the caller names the field).
 * Negative values are refused here: no cpu or memory amount can be below zero.
 */
export function parseQuantity(text: string): Quantity {
  const m = NUMBER_RE.exec(text);
  const fix = 'write a number with an optional suffix, like 500m, 0.5 or 2 (cpu), 128Mi or 1G (memory)';
  if (text.length > 64) throw new QuantityError(`"${text.slice(0, 20)}..." is too long for a quantity; ${fix}`);
  if (text === '' || m === null) throw new QuantityError(`"${text}" is not a quantity; ${fix}`);
  const [, sign, int = '', frac = '', suffix = ''] = m;
  if (int === '' && frac === '') throw new QuantityError(`"${text}" is not a quantity; ${fix}`);
  let exp10 = 0;
  let exp2 = 0;
  let binary = false;
  if (suffix in DECIMAL_SUFFIX) {
    exp10 = DECIMAL_SUFFIX[suffix]!;
  } else if (suffix in BINARY_SUFFIX) {
    exp2 = BINARY_SUFFIX[suffix]!;
    binary = true;
  } else if (/^[eE][+-]?\d+$/.test(suffix)) {
    const e = Number(suffix.slice(1));
    if (Math.abs(e) > 30) throw new QuantityError(`"${text}": the exponent ${suffix} is out of range`);
    exp10 = e;
  } else {
    const hint = suffix === 'K' ? ' (kilo is a lowercase k: 1k = 1000; or Ki = 1024)'
      : /^[KMGTPE]i?B$|^[kmgtpe]b$|^[KMGTPE]$/i.test(suffix) ? ' (Kubernetes writes Ki Mi Gi Ti Pi Ei or k M G T P E, no B)' : '';
    throw new QuantityError(`"${text}" has an unknown suffix "${suffix}"${hint}; ${fix}`);
  }
  let num = BigInt((int + frac).replace(/^0+(?=\d)/, '') || '0');
  let scale = frac.length - exp10;
  if (exp2 > 0) num <<= BigInt(exp2);
  if (scale < 0) {
    num *= 10n ** BigInt(-scale);
    scale = 0;
  }
  // Finer than a nano-unit rounds away from zero (apimachinery: "if you want some, you get some").
  if (scale > 9) {
    const d = 10n ** BigInt(scale - 9);
    num = (num + d - 1n) / d;
    scale = 9;
  }
  if (sign === '-' && num !== 0n) throw new QuantityError(`"${text}" is negative; a cpu or memory amount is 0 or more`);
  return { num, scale, binary };
}

export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}

/** resource.Quantity.MilliValue(): thousandths, rounded up. */
export function milliValue(q: Quantity): bigint {
  return q.scale <= 3 ? q.num * 10n ** BigInt(3 - q.scale) : ceilDiv(q.num, 10n ** BigInt(q.scale - 3));
}

/** resource.Quantity.Value(): whole units, rounded up. */
export function value(q: Quantity): bigint {
  return ceilDiv(q.num, 10n ** BigInt(q.scale));
}

/** Is the value a whole number of units? (Kubernetes warns about fractional bytes.) */
export function isWhole(q: Quantity): boolean {
  return q.num % 10n ** BigInt(q.scale) === 0n;
}


// ---- byte sizes of the log flags (--log-max-size) ----

/**
 * A size in bytes: a whole number with an optional unit as Kubernetes quantities write them (k/K, M, G, T
 * decimal; Ki, Mi, Gi, Ti binary) and an optional B: "10Mi", "10MiB", "512Ki", "1M" (10^6), "65536".
 * undefined when malformed.
 */
export function parseSize(text: string): number | undefined {
  const m = /^(\d+)(k|K|M|G|T|Ki|Mi|Gi|Ti)?B?$/.exec(text);
  if (!m) return undefined;
  const suffix = m[2] === 'K' ? 'k' : m[2] ?? '';
  const n = BigInt(m[1]!) * (suffix in BINARY_SUFFIX ? 1n << BigInt(BINARY_SUFFIX[suffix]!) : 10n ** BigInt(DECIMAL_SUFFIX[suffix]!));
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

// ---- Docker's memory sizes (run --memory, --memory-swap) ----

const DOCKER_SIZE = /^([0-9]+(?:\.[0-9]+)?)([bkmg]?)$/i;
const DOCKER_UNIT: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Docker's memory sizes: a number with an optional b, k, m or g (1024-based; "32m" = 33554432). */
export function parseMemorySize(text: string, flag = '--memory'): number {
  const m = DOCKER_SIZE.exec(String(text).trim());
  const bytes = m === null ? NaN : Math.floor(Number(m[1]) * DOCKER_UNIT[m[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new PodnsError('EINVALIDLIMIT', `invalid ${flag} "${String(text).slice(0, 40)}": give a size such as 512m or 1g (units b, k, m, g; 1024-based)`);
  }
  return bytes;
}
