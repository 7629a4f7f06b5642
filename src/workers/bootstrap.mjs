// Worker-thread entry when the gateway runs from its TypeScript sources (tsx, vitest): loads the
// same hooks as bin/tickgate-dev.js. The compiled build starts worker-main.js directly.
import { workerData } from 'node:worker_threads';
import '../../bin/dev-hooks.mjs';

await import(workerData.entry);
