#!/usr/bin/env node
// Runs the CLI from the TypeScript sources (tsx; a source checkout with devDependencies). Tests and
// `npm run dev` use this; the published bin is bin/tickgate.js, which runs the compiled dist/.
import './dev-hooks.mjs';
import { runCli } from './run.mjs';

await runCli(new URL('../src/cli.ts', import.meta.url).href);
