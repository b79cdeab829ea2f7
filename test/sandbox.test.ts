// The suite itself runs in the sandbox that `npm test` makes (test/sandbox-run.ts): its own network
// and mount namespaces, so nothing a test does reaches the machine.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { privileged } from './helpers/root.js';
import { sandboxArgv } from '../src/native/helper.js';
import { helperPath } from '../src/native/index.js';
import { nsIdentities, sameNamespace } from '../src/namespaces/identities.js';
import { nsExec } from '../src/namespaces/spawn.js';

function parentOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

/** The nearest ancestor in another network namespace: the sandbox-run process outside the sandbox. */
function outsideAncestor(): number | undefined {
  const self = nsIdentities('self');
  for (let pid = parentOf(process.pid); pid > 1; pid = parentOf(pid)) {
    if (!sameNamespace(nsIdentities(pid).net, self.net)) return pid;
  }
  return undefined;
}

function macs(ipLinkOutput: string): string[] {
  return [...ipLinkOutput.matchAll(/link\/ether ([0-9a-f:]{17})/g)].map((m) => m[1]!);
}

privileged('the test process lives in the sandbox: own netns and mount ns, empty /run, lo up', async (t) => {
  t.is(process.env.PODNS_SANDBOX, '1');
  const outside = outsideAncestor();
  t.not(outside, undefined, 'an ancestor (sandbox-run) is outside our network namespace');
  const self = nsIdentities('self');
  const out = nsIdentities(outside!);
  t.false(sameNamespace(self.net, out.net));
  t.false(sameNamespace(self.mnt, out.mnt));

  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' '));
  const run = mounts.filter((f) => f[4] === '/run').at(-1);
  t.is(run?.[run.indexOf('-') + 1], 'tmpfs', '/run is a tmpfs of our own');
  t.is(Number(readFileSync('/sys/class/net/lo/flags', 'utf8')) & 1, 1, 'lo is up');

  // None of the machine's interfaces is visible here (read-only look into the outside netns).
  const host = await nsExec({ target: { nsPaths: { net: `/proc/${outside!}/ns/net` } }, argv: ['ip', '-o', 'link', 'show'], stdio: ['ignore', 'pipe', 'pipe'] });
  t.is(host.code, 0, host.stderr);
  const here = spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout;
  for (const mac of macs(host.stdout!).filter((m) => m !== '00:00:00:00:00:00')) t.false(here.includes(mac), `host link ${mac} visible in the sandbox`);
});

privileged('a fresh sandbox has exactly one link, lo, and it is up', (t) => {
  const r = spawnSync(helperPath, sandboxArgv(['ip', '-o', 'link', 'show']), { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  t.is(lines.length, 1, r.stdout);
  t.regex(lines[0]!, /^1: lo: <LOOPBACK,UP,LOWER_UP>/);
  const env = spawnSync(helperPath, sandboxArgv(['sh', '-c', 'echo $PODNS_SANDBOX; ls -A /run; ls /sys/class/net']), { encoding: 'utf8' });
  t.is(env.stdout, '1\nlo\n', 'PODNS_SANDBOX=1, /run empty, sysfs shows only lo');
});
