// Fault points for crash tests: PODNS_FAULT=<step> makes this process die with SIGKILL at that step,
// exactly as a `kill -9` would, so tests can prove `podns gc` finds what any step leaves behind.
export function faultPoint(step: string): void {
  const want = process.env.PODNS_FAULT;
  if (want !== undefined && want === step) process.kill(process.pid, 'SIGKILL');
}

/** PODNS_FAULT for a podns-helper this process starts (its fault points: native/helper/common.h), if set. */
export function faultEnv(): string[] {
  const want = process.env.PODNS_FAULT;
  return want === undefined ? [] : [`PODNS_FAULT=${want}`];
}
