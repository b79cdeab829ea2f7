#!/usr/bin/env node
// Thin launcher: the CLI lives in dist/ after `npm run build`.
import('../dist/src/cli/main.js').then((m) => m.main(process.argv.slice(2))).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`podns: ${err && err.message ? err.message : err}\n`); process.exitCode = 1; },
);
