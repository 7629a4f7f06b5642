import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { BenchServer, ExternalRunResult, ServerFactory } from './types.ts';
import type { RunSpec, TickSink } from './workload.ts';
import { BASELINE_DEFAULT_TICKS_PER_FRAME } from './types.ts';
import { CENTRIFUGE_VERSION } from './centrifuge-build.ts';

/**
 * Baseline (d): centrifuge 0.15, the Go engine of Centrifugo, as Debian packages it. The server
 * and its publisher run in a Go process (servers/centrifuge/main.go, built by the harness into
 * bench/.cache/ and handed over in TICKGATE_CENTRIFUGE_BIN); this module drives it over its
 * stdin/stdout and reports its CPU and memory, not this Node process's.
 */
export const start: ServerFactory = async ({ topics, maxTicksPerFrame: requested }) => {
  const bin = process.env.TICKGATE_CENTRIFUGE_BIN;
  if (!bin) throw new Error('TICKGATE_CENTRIFUGE_BIN is not set (the harness builds the centrifuge baseline first)');
  const maxTicksPerFrame = requested ?? BASELINE_DEFAULT_TICKS_PER_FRAME;
  const child = spawn(bin, ['-topics', String(topics.length), '-max-ticks-per-frame', String(maxTicksPerFrame)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const waiting: { resolve(v: Record<string, unknown>): void; reject(e: Error): void }[] = [];
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = `centrifuge process exited (${signal ?? code})`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
  });
  child.on('error', (err) => {
    exited = `centrifuge process failed: ${err.message}`;
    for (const w of waiting.splice(0)) w.reject(new Error(exited));
  });
  // One request at a time, answered in order: one JSON line out per line in.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const w = waiting.shift();
    if (!w) return;
    try {
      const msg = JSON.parse(line) as Record<string, unknown>;
      if (msg.op === 'error') w.reject(new Error(String(msg.error)));
      else w.resolve(msg);
    } catch (err) {
      w.reject(err as Error);
    }
  });
  const next = () =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      if (exited) reject(new Error(exited));
      else waiting.push({ resolve, reject });
    });
  const request = async <T>(msg: Record<string, unknown>): Promise<T> => {
    const answer = next();
    child.stdin!.write(`${JSON.stringify(msg)}\n`);
    return (await answer).result as T;
  };
  const ready = await next();
  let lastPublished: number[] = topics.map(() => 0);
  // The publisher lives in Go: the sink is never fed from here (server-main calls run() instead).
  const sink: TickSink = {
    publish() {
      throw new Error('centrifuge runs its own publisher');
    },
    endTurn() {},
    async flush() {},
    published: () => lastPublished.slice(),
  };
  const server: BenchServer = {
    port: ready.port as number,
    sink,
    maxTicksPerFrame,
    settings: {
      version: CENTRIFUGE_VERSION,
      protocol: 'JSON; up to 4 publications per WebSocket frame, newline-separated',
      clientQueueMaxSize: 64 * 1024 * 1024,
      pid: ready.pid,
    },
    async run(spec: RunSpec) {
      const r = await request<ExternalRunResult>({ op: 'run', spec });
      lastPublished = r.published;
      return r;
    },
    async prime() {
      const r = await request<{ published: number[] }>({ op: 'prime' });
      lastPublished = r.published;
      return r;
    },
    memory: (gc: boolean) => request<Record<string, number>>({ op: 'memory', gc }),
    stats: () => request<Record<string, unknown>>({ op: 'stats' }),
    async stop() {
      if (exited) return;
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
      await gone;
      clearTimeout(timer);
    },
  };
  return server;
};
