#!/usr/bin/env node
// The same CLI as bin/podns.cjs (the package's `bin`), for callers that name this path.
import { createRequire } from 'node:module';

createRequire(import.meta.url)('./podns.cjs');
