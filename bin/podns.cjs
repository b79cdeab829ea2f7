#!/usr/bin/env node
'use strict';
// Launcher. `npm run build` bundles the CLI into one CommonJS file, dist/podns-cli.cjs, and this
// compiles it with a V8 code cache beside it: without the cache, parsing the bundle costs more than a
// pod create does. There is one cache per command (dist/podns-cli.cjs.COMMAND.cache), written after the
// command's first run, so it holds the bytecode of exactly the functions that command runs: a cache made
// by another command would leave them to be compiled lazily on every run. A cache that V8 rejects
// (another Node version, a rebuilt bundle) is written again.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const Module = require('node:module');

const file = path.join(__dirname, '..', 'dist', 'podns-cli.cjs');
const command = /^[a-z]{1,16}$/.test(process.argv[2] ?? '') ? process.argv[2] : 'other';
const cacheFile = `${file}.${command}.cache`;

function load() {
  let source;
  try {
    // latin1: the bundle is ASCII (esbuild escapes everything else), so this is the same string, made
    // by a copy instead of UTF-8 decoding
    source = fs.readFileSync(file, 'latin1');
  } catch {
    process.stderr.write(`podns: ${file} is missing; run \`npm run build\` in ${path.dirname(__dirname)}\n`);
    process.exit(1);
  }
  let cachedData;
  try { cachedData = fs.readFileSync(cacheFile); } catch { /* first run */ }
  const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  return { exports: mod.exports, script, stale: cachedData === undefined || script.cachedDataRejected === true };
}

function saveCache(script) {
  // after the run, so the functions that ran are in it; written atomically, racing runs are harmless
  try {
    const tmp = `${cacheFile}.${process.pid}`;
    fs.writeFileSync(tmp, script.createCachedData());
    fs.renameSync(tmp, cacheFile);
  } catch { /* read-only install: run without a cache */ }
}

const { exports: cli, script, stale } = load();
cli.main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`podns: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
).finally(() => { if (stale) saveCache(script); });
