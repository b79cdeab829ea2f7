// Privileged tests run only as root, inside the sandbox that `npm test` makes (test/sandbox-run.ts).
// Not root: skipped with a visible reason. PODNS_REQUIRE_ROOT_TESTS=1 (set by .ci/run): a skip is a failure.
import test, { type ExecutionContext } from 'ava';

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const inSandbox = process.env.PODNS_SANDBOX === '1';
const required = process.env.PODNS_REQUIRE_ROOT_TESTS === '1';

export function skipReason(): string | undefined {
  if (!isRoot) return 'needs root (run npm test as root)';
  if (!inSandbox) return 'needs the test sandbox (run through npm test, which makes a fresh net+mount namespace)';
  return undefined;
}

type Impl = (t: ExecutionContext) => unknown;

/** A test that needs root and the sandbox. */
export function privileged(title: string, impl: Impl): void {
  const reason = skipReason();
  if (reason === undefined) {
    test(title, impl);
  } else if (required) {
    test(title, (t) => t.fail(`privileged test could not run: ${reason} (PODNS_REQUIRE_ROOT_TESTS=1)`));
  } else {
    test.skip(`${title} [skipped: ${reason}]`, impl);
  }
}

/** The same, serial (for tests sharing a bridge or the state root). */
export function privilegedSerial(title: string, impl: Impl): void {
  const reason = skipReason();
  if (reason === undefined) test.serial(title, impl);
  else if (required) test.serial(title, (t) => t.fail(`privileged test could not run: ${reason} (PODNS_REQUIRE_ROOT_TESTS=1)`));
  else test.skip(`${title} [skipped: ${reason}]`, impl);
}
