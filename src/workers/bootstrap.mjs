// Worker-thread entry: loads tsx so the worker can run the TypeScript sources, like bin/tickgate.js.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
