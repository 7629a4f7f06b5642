/**
 * Server process: starts one server (argv[2]: tickgate | uws | ws | socketio | centrifuge) when asked, then
 * runs the publisher on command and reports what it published and what it cost.
 * Driven by the harness over IPC (see lib/ipc.ts); never run by hand.
 */
import { readFileSync } from 'node:fs';
import { emit, serveIpc } from '../lib/ipc.ts';
import type { BenchServer, ServerFactory, ServerOptions } from './types.ts';
import { clock, makeTick, runPublisher, topicNames, type RunSpec } from './workload.ts';

const name = process.argv[2] ?? '';
const modules: Record<string, string> = {
  tickgate: './tickgate.ts',
  uws: './uws-raw.ts',
  ws: './ws-gateway.ts',
  socketio: './socketio-rooms.ts',
  centrifuge: './centrifuge.ts',
};

let server: BenchServer | null = null;
let topics: string[] = [];

/** Linux: the anonymous (heap, malloc, stacks) and file-backed (code, mapped files) parts of RSS, in bytes. */
function rssParts(): { rssAnon: number; rssFile: number } {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile') };
  } catch {
    return { rssAnon: NaN, rssFile: NaN };
  }
}

function memory(): Record<string, number> {
  const m = process.memoryUsage();
  return { rss: m.rss, ...rssParts(), heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers };
}

const gcFn = (globalThis as { gc?: (options?: Record<string, string>) => void }).gc;
/**
 * A full collection that also gives memory back to the OS (V8's "last resort" flavour, as under
 * memory pressure), so RSS does not drop on its own a few seconds later when V8's memory reducer
 * would otherwise run and confuse a before/after comparison.
 */
const gc = gcFn && (() => gcFn({ type: 'major', execution: 'sync', flavor: 'last-resort' }));

serveIpc(
  {
    async start(msg) {
      const file = modules[name];
      if (!file) throw new Error(`unknown server "${name}"; known: ${Object.keys(modules).join(', ')}`);
      const options = msg.options as Omit<ServerOptions, 'topics'> & { topicCount: number };
      topics = topicNames(options.topicCount);
      const { start } = (await import(file)) as { start: ServerFactory };
      server = await start({ ...options, topics });
      return { port: server.port, pid: process.pid, maxTicksPerFrame: server.maxTicksPerFrame, settings: server.settings };
    },
    async run(msg) {
      if (!server) throw new Error('not started');
      const spec = msg.spec as RunSpec;
      if (server.run) return server.run(spec);
      const cpu0 = process.cpuUsage();
      const result = await runPublisher(server.sink, topics, spec);
      const cpu = process.cpuUsage(cpu0);
      return {
        ...result,
        published: server.sink.published(),
        cpuUserUs: cpu.user,
        cpuSystemUs: cpu.system,
        memory: memory(),
        stats: await server.stats(),
      };
    },
    /** One tick per topic, flushed: gives every topic a last value (snapshots, /v1/snapshot). */
    async prime() {
      if (!server) throw new Error('not started');
      if (server.prime) return server.prime();
      const now = clock();
      topics.forEach((t, i) => {
        server!.sink.publish(i, makeTick(t, now, i));
      });
      server.sink.endTurn();
      await server.sink.flush();
      return { published: server.sink.published() };
    },
    async memory(msg) {
      if (server?.memory) return { ...(await server.memory(msg.gc === true)), gcAvailable: true };
      if (msg.gc && gc) {
        gc();
        await new Promise((r) => setTimeout(r, 50));
        gc();
      }
      return { ...memory(), gcAvailable: gc !== undefined };
    },
    stats: async () => ({ ...((await server?.stats()) ?? {}), memory: memory() }),
    cpu: () => process.cpuUsage(),
  },
  async () => {
    await server?.stop();
  },
);
emit('ready', { pid: process.pid });
