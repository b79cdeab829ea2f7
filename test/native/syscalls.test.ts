// native/helper/syscalls.h (the seccomp filter's numbers) against the kernel's own uapi headers: x86_64 from
// <asm/unistd_64.h>, aarch64 from <asm-generic/unistd.h> with arm64's __ARCH_WANT_* settings, expanded by the
// C preprocessor. A wrong or missing number here would allow or deny the wrong call.
import test from 'ava';
import { execa } from 'execa';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../pod/env.js';

const TABLE = join(packageRoot, 'native', 'helper', 'syscalls.h');
const X64 = ['/usr/include/x86_64-linux-gnu/asm/unistd_64.h', '/usr/include/asm/unistd_64.h'].find((p) => existsSync(p));
const GENERIC = '/usr/include/asm-generic/unistd.h';

function table(): Map<string, { x64: number; a64: number }> {
  const out = new Map<string, { x64: number; a64: number }>();
  for (const m of readFileSync(TABLE, 'utf8').matchAll(/X\(P, (\w+), (-?\d+), (-?\d+)\)/g)) out.set(m[1]!, { x64: Number(m[2]), a64: Number(m[3]) });
  return out;
}

async function defines(header: string, pre: string[]): Promise<Map<string, number>> {
  // the preprocessor resolves __NR3264_* aliases: print each __NR_ name's value through it
  const names = (await execa('cc', ['-E', '-dM', ...pre.map((d) => `-D${d}`), '-include', header, '-x', 'c', '/dev/null'])).stdout
    .split('\n').map((l) => /^#define __NR_(\w+) /.exec(l)?.[1]).filter((n): n is string => n !== undefined && n !== 'syscalls' && n !== 'arch_specific_syscall');
  const src = names.map((n) => `podns_nr ${n} __NR_${n}`).join('\n');
  const r = await execa('cc', ['-E', '-P', ...pre.map((d) => `-D${d}`), '-include', header, '-x', 'c', '-'], { input: src });
  const out = new Map<string, number>();
  for (const line of r.stdout.split('\n')) {
    const m = /^podns_nr (\w+) \(?([^)]*)\)?$/.exec(line.trim());
    if (m) out.set(m[1]!, Number(m[2]!.trim())); // "223" or "(223)" (an alias is expanded by the preprocessor)
  }
  return out;
}

test('every x86_64 and aarch64 number in syscalls.h is the kernel headers\' number, and none is missing', async (t) => {
  if (X64 === undefined || !existsSync(GENERIC)) return t.pass('kernel headers not installed (linux-libc-dev): nothing to compare with');
  const tab = table();
  const x64 = await defines(X64, []);
  const a64 = await defines(GENERIC, ['__ARCH_WANT_RENAMEAT', '__ARCH_WANT_NEW_STAT', '__ARCH_WANT_SET_GET_RLIMIT',
    '__ARCH_WANT_TIME32_SYSCALLS', '__ARCH_WANT_SYS_CLONE3', '__ARCH_WANT_MEMFD_SECRET']);
  t.true(x64.size > 300 && a64.size > 250);
  for (const [name, nr] of [...x64, ...a64]) t.true(Number.isInteger(nr), `${name} = ${nr}`);
  for (const [name, nr] of x64) if (nr <= 450) t.is(tab.get(name)?.x64, nr, `x86_64 ${name}`);
  for (const [name, nr] of a64) if (nr <= 450) t.is(tab.get(name)?.a64, nr, `aarch64 ${name}`);
  for (const [name, v] of tab) {
    t.is(v.x64, x64.get(name) ?? -1, `x86_64 ${name} in the table`);
    t.is(v.a64, a64.get(name) ?? -1, `aarch64 ${name} in the table`);
  }
});
