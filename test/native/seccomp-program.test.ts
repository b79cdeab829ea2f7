// The helper's seccomp program (native/helper/seccomp.c) for both architectures, run by a classic-BPF
// interpreter (test/fixtures/seccomp-sim.c, which includes the helper's source as is): the aarch64 program is
// checked here on any host, and the capability-dependent allowances without a privileged container.
// test/container/privileges.test.ts checks the same filter in the kernel, from inside containers.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../pod/env.js';

const X86_64 = 'c000003e';
const AARCH64 = 'c00000b7';
const I386 = '40000003';
const SYS_ADMIN = 1n << 21n;
const SYS_BOOT = 1n << 22n;
const SYS_PTRACE = 1n << 19n;

let dir = '';
const sims: Record<string, string> = {};

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'podns-seccomp-sim-'));
  // the helper's own compiler when there (musl), else the system's
  const cc = (process.env.PATH ?? '/usr/bin').split(':').map((d) => join(d, 'musl-gcc')).find((p) => existsSync(p)) ?? 'cc';
  for (const [arch, defs] of [[X86_64, []], [AARCH64, ['-DSIM_AARCH64']]] as const) {
    const out = join(dir, `sim-${arch}`);
    const r = await execa(cc, ['-std=gnu11', '-Wall', '-Wextra', '-Werror', ...defs, '-o', out, join(packageRoot, 'test', 'fixtures', 'seccomp-sim.c')], { reject: false });
    if (r.exitCode === 0) sims[arch] = out;
    else throw new Error(`building the simulator for ${arch}: ${r.stderr}`);
  }
});

test.after.always(() => {
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** [syscall name or number, arg0 (hex), expected]; arch defaults to the program's own. */
type Query = [string, string, string, string?];

async function check(t: import('ava').ExecutionContext, arch: string, caps: bigint, queries: Query[]): Promise<void> {
  const argv = [caps.toString(16)];
  queries.forEach(([call, arg0, , a], i) => argv.push(a ?? arch, call, arg0, `q${i}`));
  const r = await execa(sims[arch]!, argv);
  const got = Object.fromEntries(r.stdout.split('\n').map((l) => l.split('=') as [string, string]));
  queries.forEach(([call, arg0, want, a], i) => t.is(got[`q${i}`], want, `${arch}${a !== undefined ? ` (as ${a})` : ''} caps ${caps.toString(16)}: ${call}(0x${arg0})`));
}

for (const arch of [X86_64, AARCH64]) {
  const name = arch === X86_64 ? 'x86_64' : 'aarch64';
  test(`${name}: the default set's program: allowlist, argument rules, EPERM, ENOSYS for unknown numbers, other ABIs killed`, async (t) => {
    await check(t, arch, 0x800405fbn, [
      ['read', '0', 'ALLOW'], ['openat', '0', 'ALLOW'], ['execve', '0', 'ALLOW'], ['futex', '0', 'ALLOW'], ['chroot', '0', 'ALLOW'],
      ['mount', '0', 'EPERM'], ['umount2', '0', 'EPERM'], ['unshare', '10000000', 'EPERM'], ['setns', '0', 'EPERM'],
      ['kexec_load', '0', 'EPERM'], ['init_module', '0', 'EPERM'], ['bpf', '0', 'EPERM'], ['keyctl', '0', 'EPERM'],
      ['add_key', '0', 'EPERM'], ['reboot', '0', 'EPERM'], ['ptrace', '0', 'ALLOW'], ['kcmp', '0', 'EPERM'],
      ['io_uring_setup', '0', 'EPERM'], ['userfaultfd', '0', 'EPERM'], ['pivot_root', '0', 'EPERM'],
      ['clone', '11', 'ALLOW'], ['clone', '3d0f00', 'ALLOW'], ['clone', '10000000', 'EPERM'], ['clone', '40000000', 'EPERM'], ['clone', '20000', 'EPERM'],
      ['clone3', '0', 'ENOSYS'],
      ['socket', '2', 'ALLOW'], ['socket', 'a', 'ALLOW'], ['socket', '26', 'EPERM'], ['socket', '28', 'EPERM'],
      ['personality', '0', 'ALLOW'], ['personality', 'ffffffff', 'ALLOW'], ['personality', '40000', 'EPERM'],
      ['1000', '0', 'ENOSYS'], ['451', '0', 'ENOSYS'],
      ['read', '0', 'KILL', I386], ['read', '0', 'KILL', arch === X86_64 ? AARCH64 : X86_64],
    ]);
    if (arch === X86_64) await check(t, arch, 0x800405fbn, [['0x40000000', '0', 'KILL'], ['0x40000027', '0', 'KILL'], ['400', '0', 'ENOSYS'], ['iopl', '0', 'EPERM']]);
  });

  test(`${name}: capability-dependent calls open with their capability only`, async (t) => {
    await check(t, arch, 0x800405fbn | SYS_ADMIN, [
      ['mount', '0', 'ALLOW'], ['unshare', '10000000', 'ALLOW'], ['setns', '0', 'ALLOW'], ['clone', '10000000', 'ALLOW'], ['clone3', '0', 'ALLOW'],
      ['reboot', '0', 'EPERM'], ['kexec_load', '0', 'EPERM'], ['keyctl', '0', 'EPERM'],
    ]);
    await check(t, arch, SYS_BOOT | SYS_PTRACE, [['reboot', '0', 'ALLOW'], ['kcmp', '0', 'ALLOW'], ['mount', '0', 'EPERM'], ['chroot', '0', 'EPERM']]);
  });
}
