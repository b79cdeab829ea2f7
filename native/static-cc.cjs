// Prints the C compiler for the static helpers (pause, podns-helper); binding.gyp asks it once per
// configure. musl when it is there (Debian: musl-tools): a static glibc program probes the CPU with
// dozens of cpuid instructions before main (cache sizes, ifunc selection), and under a hypervisor every
// cpuid is a VM exit: measured here, fork+exec of a static program until its first write took 1.1 ms
// with glibc and 0.37 ms with musl, and a pause is exec'd per pod, a podns-helper per container and
// per exec. Without musl the same sources build against glibc (-static), only slower to start.
// PODNS_STATIC_CC names another compiler.
'use strict';
const { accessSync, constants } = require('node:fs');
const { delimiter, join } = require('node:path');

function onPath(name) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch { /* next */ }
  }
  return undefined;
}

process.stdout.write(process.env.PODNS_STATIC_CC || onPath('musl-gcc') || 'cc');
