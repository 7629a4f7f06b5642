#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm run build`) with plain node.
import { existsSync } from 'node:fs';
import { runCli } from './run.mjs';

const entry = new URL('../dist/src/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('tickgate: not built: dist/src/cli.js is missing; run `npm run build` (a source checkout can use `npm run dev`)\n');
  process.exit(1);
}
await runCli(entry.href);
