// The podns-helper command-line contract (src/native/helper.ts): what the builders spell and what the
// parsers accept. The helper's side of it is exercised by the shim, exec and sandbox tests.
import test from 'ava';
import { execArgv, isShimCmdline, parseHelperError, parseShimReady, sandboxArgv, shimArgv, shimDirOf } from '../../src/native/helper.js';

test('shimArgv: --dir first (watchers are recognised by it), unset options emit nothing, argv after --', (t) => {
  const a = shimArgv({
    dir: '/r/pods/p/containers/c', readyFd: 3, detached: true,
    namespaces: [{ type: 'net', path: '/r/pods/p/ns/net' }], pidNs: 'new',
    binds: [{ src: '/r/pods/p/etc/hosts', dst: '/etc/hosts' }], uid: 0, envFile: '/r/env', restart: 'Never',
    argv: ['sh', '-c', '--dir x'],
  });
  t.deepEqual(a, [
    'shim', '--dir', '/r/pods/p/containers/c', '--ready-fd', '3', '--detached', '--ns', 'net=/r/pods/p/ns/net',
    '--new-pid-ns', '--bind', '/r/pods/p/etc/hosts:/etc/hosts', '--uid', '0', '--env-file', '/r/env',
    '--restart', 'Never', '--', 'sh', '-c', '--dir x',
  ]);
  t.is(shimDirOf(['podns-helper', ...a]), '/r/pods/p/containers/c');
  t.true(isShimCmdline(['podns-helper', ...a]));
  t.deepEqual(shimArgv({ dir: '/d', readyFd: 4, pidNs: '/proc/9/ns/pid', argv: ['true'] }),
    ['shim', '--dir', '/d', '--ready-fd', '4', '--pid-ns', '/proc/9/ns/pid', '--', 'true']);
});

test('execArgv and sandboxArgv', (t) => {
  t.deepEqual(execArgv({ target: { ns: [{ type: 'net', path: '/n' }, { type: 'mnt', path: '/m' }] }, errFd: 4, clearEnv: true, env: { K: 'a=b' }, argv: ['ls'] }),
    ['exec', '--ns', 'net=/n', '--ns', 'mnt=/m', '--errfd', '4', '--clear-env', '--env', 'K=a=b', '--', 'ls']);
  t.deepEqual(sandboxArgv(['ip', 'link']), ['sandbox', '--', 'ip', 'link']);
});

test('shimDirOf: only a shim started with --dir', (t) => {
  t.is(shimDirOf(['podns-helper', 'exec', '--dir', '/x']), undefined);
  t.is(shimDirOf(['podns-helper', 'shim', '--ready-fd', '3']), undefined);
  t.false(isShimCmdline(['podns-helper', 'sandbox', '--', 'shim']));
  t.is(shimDirOf([]), undefined);
});

test('parseHelperError: the step ends at the first ": ", the message may hold more', (t) => {
  t.deepEqual(parseHelperError('error ENOENT exec: No such file or directory\n'), { code: 'ENOENT', step: 'exec', message: 'No such file or directory' });
  t.deepEqual(parseHelperError('error ESRCH setns net /run/netns/web: No such process'), { code: 'ESRCH', step: 'setns net /run/netns/web', message: 'No such process' });
  t.deepEqual(parseHelperError('error EINVAL args: --detached --new-pid-ns: not PID 1'), { code: 'EINVAL', step: 'args', message: '--detached --new-pid-ns: not PID 1' });
  for (const bad of ['', 'error', 'error ENOENT', 'error enoent exec: x', 'warning ENOENT exec: x', '12 13 2026-01-01T00:00:00.000Z', 'xerror ENOENT exec: x']) {
    t.is(parseHelperError(bad), undefined, bad);
  }
});

test('parseShimReady', (t) => {
  t.deepEqual(parseShimReady('12 13 2026-01-01T00:00:00.000Z\n'), { watcherPid: 12, workloadPid: 13, startedAt: '2026-01-01T00:00:00.000Z' });
  t.is(parseShimReady('error ENOENT exec: x'), undefined);
  t.is(parseShimReady('12 x 2026'), undefined);
});
