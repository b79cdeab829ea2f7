// Container logic that needs no kernel: container choice, CRI log parsing, argument checks.
import test from 'ava';
import { chooseContainer, defaultedMessage, LineAssembler, parseLog, parseUser, validateEnv } from '../../src/container/index.js';
import { execOptions } from '../../src/container/exec.js';
import { execArgv } from '../../src/native/helper.js';
import { statusText } from '../../src/container/status.js';
import { PodnsError } from '../../src/errors.js';
import type { PodRecord } from '../../src/pod/types.js';

function pod(containers: string[], annotations: Record<string, string> = {}): PodRecord {
  return {
    apiVersion: 'podns/v1', name: 'two-containers', uid: 'u', phase: 'ready', createdAt: '', labels: {}, annotations,
    hostname: 'two-containers', sharePid: false, networkMode: { kind: 'none' }, namespaces: [], ports: [], containers,
  };
}

test('chooseContainer: -c wins, then the default-container annotation, then the first (defaulted)', (t) => {
  const rec = pod(['client', 'www-server']);
  t.deepEqual(chooseContainer(rec, 'www-server'), { name: 'www-server', defaulted: false });
  t.deepEqual(chooseContainer(rec, undefined), { name: 'client', defaulted: true });
  t.is(defaultedMessage(rec, 'client'), 'Defaulted container "client" out of: client, www-server\n');
  const annotated = pod(['client', 'www-server'], { 'kubectl.kubernetes.io/default-container': 'www-server' });
  t.deepEqual(chooseContainer(annotated, undefined), { name: 'www-server', defaulted: false });
  t.deepEqual(chooseContainer(pod(['only']), undefined), { name: 'only', defaulted: false });
});

test('chooseContainer: an unknown name lists the choices; a pod without containers says how to add one', (t) => {
  const err = t.throws(() => chooseContainer(pod(['client', 'www-server']), 'nope'));
  t.is((err as PodnsError).code, 'ENOTFOUND');
  t.regex(err!.message, /container "nope" not found in pod "two-containers"; choose one of: client, www-server/);
  const none = t.throws(() => chooseContainer(pod([]), undefined));
  t.is((none as PodnsError).code, 'ENOCONTAINER');
  t.regex(none!.message, /podns run two-containers --name NAME/);
});

test('parseLog joins P pieces per stream and keeps stdout/stderr apart', (t) => {
  const text = [
    '2026-01-01T00:00:00.000000001Z stdout P hel',
    '2026-01-01T00:00:00.000000002Z stderr F oops',
    '2026-01-01T00:00:00.000000003Z stdout F lo world',
    '2026-01-01T00:00:00.000000004Z stdout F ',
    '2026-01-01T00:00:00.000000005Z stdout F with  two spaces',
    '',
  ].join('\n');
  t.deepEqual(parseLog(text), [
    { time: '2026-01-01T00:00:00.000000002Z', stream: 'stderr', text: 'oops' },
    { time: '2026-01-01T00:00:00.000000001Z', stream: 'stdout', text: 'hello world' },
    { time: '2026-01-01T00:00:00.000000004Z', stream: 'stdout', text: '' },
    { time: '2026-01-01T00:00:00.000000005Z', stream: 'stdout', text: 'with  two spaces' },
  ]);
  const a = new LineAssembler();
  t.is(a.push('garbage'), undefined);
  t.is(a.push('2026-01-01T00:00:00Z stdout P cut'), undefined);
  t.deepEqual(a.flush(), [{ time: '2026-01-01T00:00:00Z', stream: 'stdout', text: 'cut' }]);
});

test('parseUser and validateEnv refuse bad input with one line', (t) => {
  t.deepEqual(parseUser('1000'), { uid: 1000 });
  t.deepEqual(parseUser('1000:100'), { uid: 1000, gid: 100 });
  for (const bad of ['root', '1000:', ':1', '-1', '1:2:3', '99999999999']) {
    const err = t.throws(() => parseUser(bad), undefined, bad);
    t.is((err as PodnsError).code, 'EINVALIDUSER');
  }
  t.deepEqual(validateEnv({ A_B: '1', 'x.y-z': 'v=w' }), { A_B: '1', 'x.y-z': 'v=w' });
  for (const bad of ['1A', 'A=B', '', 'A B']) {
    const err = t.throws(() => validateEnv({ [bad]: 'x' }), undefined, bad);
    t.is((err as PodnsError).code, 'EINVALIDENV');
  }
});

test('exec options: pidfd on fd 3, argv after --, no environment values in argv', (t) => {
  t.deepEqual(execArgv(execOptions({ workingDir: '/app', uid: 7 }, ['sh', '-c', 'exit 3'], true)), [
    'exec', '--pidfd', '3', '--tty', '--uid', '7', '--cwd', '/app', '--', 'sh', '-c', 'exit 3',
  ]);
});

test('statusText reads like podman ps', (t) => {
  const base = { pid: 1, watcherPid: 2, startedAt: '', finishedAt: null, signal: null, restartCount: 0 };
  t.is(statusText(undefined), 'Created');
  t.is(statusText({ ...base, state: 'running', exitCode: null }), 'Running');
  t.is(statusText({ ...base, state: 'exited', exitCode: 3 }), 'Exited (3)');
  t.is(statusText({ ...base, state: 'restarting', exitCode: 1 }), 'Restarting');
  t.is(statusText({ ...base, state: 'exited', exitCode: null }), 'Exited (unknown)');
});
