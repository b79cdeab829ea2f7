// Trash (src/state/trash.ts): a directory renamed into ROOT/pods/.trash-* and removed on a pool thread
// (native removeTreeAsync), unmounting what is mounted inside and never descending into a mount; a crash
// between the rename and the removal leaves the trash, with the pod's pins still mounted, to gc.
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hierarchyMounts, hostCgroups } from '../../src/cgroups/index.js';
import { native } from '../../src/native/index.js';
import { gc } from '../../src/pod/index.js';
import { discardDir, settleTrash } from '../../src/state/trash.js';
import { makeEnv, packageRoot } from '../pod/env.js';
import { privilegedSerial } from '../helpers/root.js';

/** cgroups named PREFIX* one or two levels down in every hierarchy podns uses */
function podCgroups(prefix: string): string[] {
  const out: string[] = [];
  for (const m of hierarchyMounts(hostCgroups())) {
    for (const a of readdirSync(m, { withFileTypes: true }).filter((d) => d.isDirectory())) {
      if (a.name.startsWith(prefix)) out.push(join(m, a.name));
      for (const b of readdirSync(join(m, a.name), { withFileTypes: true })) if (b.isDirectory() && b.name.startsWith(prefix)) out.push(join(m, a.name, b.name));
    }
  }
  return out;
}

const mounted = (under: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4]?.startsWith(under));

privilegedSerial('removeTreeAsync unmounts what is mounted inside (pin, bind, stacked tmpfs) and never removes through a mount or a symlink', async (t) => {
  const base = mkdtempSync('/run/podns-test-rmtree-');
  const outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'keep'), 'precious');
  const tree = join(base, 'tree');
  mkdirSync(join(tree, 'a', 'b', 'c'), { recursive: true });
  writeFileSync(join(tree, 'a', 'b', 'c', 'f'), 'x');
  writeFileSync(join(tree, 'a', 'g'), 'y');
  // a namespace pin (an nsfs bind on a file), a bind of a directory outside the tree, two tmpfs on one dir
  mkdirSync(join(tree, 'ns'));
  native.nsPin('/proc/self/ns/uts', join(tree, 'ns', 'uts'));
  mkdirSync(join(tree, 'volumes', 'bound'), { recursive: true });
  native.mount(outside, join(tree, 'volumes', 'bound'), null, native.MS_BIND);
  mkdirSync(join(tree, 'volumes', 'mem'));
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(tree, 'volumes', 'mem')]);
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', join(tree, 'volumes', 'mem')]);
  writeFileSync(join(tree, 'volumes', 'mem', 'z'), 'z');
  symlinkSync(outside, join(tree, 'link'));
  t.is(mounted(tree).length, 4);
  try {
    await native.removeTreeAsync(tree);
    t.false(existsSync(tree));
    t.deepEqual(mounted(tree), [], 'every mount inside was detached');
    t.is(readFileSync(join(outside, 'keep'), 'utf8'), 'precious', 'nothing removed through the bind mount or the symlink');
    await native.removeTreeAsync(tree); // gone already: done
    await t.throwsAsync(native.removeTreeAsync(join(outside, 'keep')), { code: 'ENOTDIR' });
  } finally {
    for (const m of mounted(tree).reverse()) native.umount(m.split(' ')[4]!, native.MNT_DETACH);
    rmSync(base, { recursive: true, force: true });
  }
});

privilegedSerial('discardDir: the directory leaves its place at once and is removed in the background; kill -9 after the rename leaves the trash (pins mounted) to gc', async (t) => {
  const e = makeEnv('trash', 226);
  try {
    const root = e.root;
    // in this process: renamed away synchronously, gone once settled
    mkdirSync(join(root, 'pods'), { recursive: true });
    const dir = join(root, 'pods', 'x');
    mkdirSync(join(dir, 'ns'), { recursive: true });
    native.nsPin('/proc/self/ns/uts', join(dir, 'ns', 'uts'));
    discardDir(root, dir, 'x');
    t.false(existsSync(dir));
    await settleTrash();
    t.deepEqual(readdirSync(join(root, 'pods')), []);
    t.deepEqual(mounted(join(root, 'pods') + '/'), []);

    // a real pod, deleted with its directory left to the background by a process killed right after the rename
    const c = await e.cli(['create', 'trashpod', '--network', 'none']);
    t.is(c.exitCode, 0, c.stderr);
    const pins = mounted(join(root, 'pods', 'trashpod')).length;
    t.true(podCgroups('trashpod-').length > 0 || hostCgroups().driver === 'none', 'the pod has a cgroup');
    t.true(pins > 0, 'the pod has namespace pins');
    const script = `import(${JSON.stringify(join(packageRoot, 'dist', 'src', 'pod', 'index.js'))}).then((m) => m.deletePod({ name: 'trashpod', force: true, grace: 0, background: true }))`;
    const r = await execa('node', ['--input-type=module', '-e', script], { env: { ...e.env, PODNS_FAULT: 'trash-after-rename' }, reject: false });
    t.is(r.signal, 'SIGKILL', r.stderr);
    const trash = readdirSync(join(root, 'pods')).filter((n) => n.startsWith('.trash-trashpod-'));
    t.is(trash.length, 1, 'the pod directory is in the trash');
    t.is(mounted(join(root, 'pods', trash[0]!)).length, pins, 'its pins are still mounted there');
    const get = await e.cli(['get', '-o', 'name']);
    t.is(get.stdout.trim(), '', 'no pod is listed');
    const lines = await gc({ root });
    t.true(lines.some((l) => l.includes(trash[0]!)), lines.join('\n'));
    t.deepEqual(readdirSync(join(root, 'pods')), []);
    t.deepEqual(mounted(join(root, 'pods') + '/'), [], 'gc unmounted the pins');
    t.deepEqual(readdirSync(e.netnsDir), [], 'and the netns pin (the claim named it)');
    t.deepEqual(podCgroups('trashpod-'), [], 'and the pod\'s cgroup (the claim named it)');
  } finally {
    await e.cleanup();
  }
});

/** A chain of `depth` directories named `seg` under dir, made relative to the last one (no path ever long). */
function deepChain(dir: string, depth: number, seg: string): void {
  const script = `const fs = require('fs'); process.chdir(${JSON.stringify(dir)}); for (let i = 0; i < ${depth}; i++) { fs.mkdirSync(${JSON.stringify(seg)}); process.chdir(${JSON.stringify(seg)}); } fs.writeFileSync('bottom', 'b'); fs.symlinkSync(${JSON.stringify('/')}, 'root-link');`;
  const r = spawnSync(process.execPath, ['-e', script]);
  if (r.status !== 0) throw new Error(`deep chain: ${r.stderr.toString()}`);
}

privilegedSerial('removeTree(Async): a container\'s tree of any depth and path length is removed (hostile: 300 levels, paths of 30,000 bytes), by fd, never through its symlinks; gc removes such a trash too', async (t) => {
  const base = mkdtempSync('/run/podns-test-rmdeep-');
  const outside = join(base, 'outside');
  mkdirSync(outside);
  writeFileSync(join(outside, 'keep'), 'precious');
  try {
    // 300 levels of 100-byte names: ~30,000 bytes of path, beyond PATH_MAX (4096) and any recursion depth
    const tree = join(base, 'tree');
    mkdirSync(tree);
    deepChain(tree, 300, 'd'.repeat(100));
    symlinkSync(outside, join(tree, 'out'));
    await native.removeTreeAsync(tree);
    t.false(existsSync(tree), 'removed');
    t.is(readFileSync(join(outside, 'keep'), 'utf8'), 'precious');

    // the same tree left as trash by an interrupted delete: gc's removal (the synchronous one) takes it
    const e = makeEnv('trashdeep', 227);
    try {
      const trash = join(e.root, 'pods', '.trash-deep-00000000');
      mkdirSync(trash, { recursive: true });
      deepChain(trash, 300, 'e'.repeat(100));
      const lines = await gc({ root: e.root });
      t.true(lines.some((l) => l.includes('.trash-deep-')), lines.join('\n'));
      t.deepEqual(readdirSync(join(e.root, 'pods')), []);
    } finally {
      await e.cleanup();
    }
  } finally {
    spawnSync('rm', ['-rf', '--one-file-system', base]);
  }
});
