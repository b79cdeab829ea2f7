// Numbers for the bench table: medians and 95th percentiles of wall-clock samples, kept in milliseconds.

export interface Summary {
  n: number;
  /** milliseconds */
  median: number;
  p95: number;
  min: number;
  max: number;
  mean: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  // nearest-rank on the sorted samples, the way most bench tools report p95
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

export function summarize(ms: number[]): Summary {
  const s = [...ms].sort((a, b) => a - b);
  return {
    n: s.length,
    median: median(s),
    p95: quantile(s, 0.95),
    min: s[0] ?? NaN,
    max: s[s.length - 1] ?? NaN,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN,
  };
}

export function nsToMs(ns: number[]): number[] {
  return ns.map((x) => x / 1e6);
}

/** Milliseconds since `start` (from process.hrtime.bigint()). */
export function since(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Least-squares slope of ys against their index: how much each sample adds over the previous one. */
export function slope(ys: number[]): number {
  const n = ys.length;
  if (n < 2) return 0;
  const mx = (n - 1) / 2;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (i - mx) * (ys[i]! - my);
    den += (i - mx) * (i - mx);
  }
  return num / den;
}

/** Median of the first and of the last tenth of a series (at least one sample each). */
export function tenths(ys: number[]): { first: number; last: number; ratio: number } {
  const k = Math.max(1, Math.floor(ys.length / 10));
  const first = median(ys.slice(0, k));
  const last = median(ys.slice(-k));
  return { first, last, ratio: last / first };
}

export function fmtMs(x: number): string {
  if (!Number.isFinite(x)) return '-';
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  if (x >= 100) return `${x.toFixed(0)} ms`;
  if (x >= 10) return `${x.toFixed(1)} ms`;
  return `${x.toFixed(2)} ms`;
}

export function fmtRatio(x: number): string {
  if (!Number.isFinite(x)) return '-';
  // 10.6x, not 11x: a ratio near a 10x target must not round across it
  return x >= 100 ? `${x.toFixed(0)}x` : x >= 10 ? `${x.toFixed(1)}x` : `${x.toFixed(2)}x`;
}

export function fmtKiB(bytes: number): string {
  if (!Number.isFinite(bytes)) return '-';
  return `${(bytes / 1024).toFixed(0)} KiB`;
}
