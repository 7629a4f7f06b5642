/**
 * Server process: starts one server (argv[2]: tickgate | uws | ws | socketio | centrifuge) when asked, then
 * runs the publisher on command and reports what it published and what it cost.
 * Driven by the harness over IPC (see lib/ipc.ts); never run by hand.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
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

/**
 * Bytes of live JavaScript objects: V8's used size summed over its heap spaces, leaving out
 * compiled code (code spaces: it grows as the JIT optimises whatever just ran, by hundreds of KB,
 * whatever the number of connections) and the read-only space (fixed at start-up).
 */
function liveObjectBytes(): number {
  let n = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (!/code|read_only/.test(s.space_name)) n += s.space_used_size;
  return n;
}

/**
 * What V8's heap holds besides live objects, for telling one-off growth from per-connection
 * growth: compiled code, and the young generation's reserved and resident size (it grows under a
 * high allocation rate, such as a connection storm, and only a memory-reducing GC shrinks it again).
 */
function heapOverheads(): { heapCode: number; heapNewSpace: number; heapNewSpacePhysical: number } {
  let heapCode = 0;
  let heapNewSpace = 0;
  let heapNewSpacePhysical = 0;
  for (const s of v8.getHeapSpaceStatistics()) {
    if (s.space_name.includes('code')) heapCode += s.space_used_size;
    if (s.space_name === 'new_space') {
      heapNewSpace = s.space_size;
      heapNewSpacePhysical = s.physical_space_size;
    }
  }
  return { heapCode, heapNewSpace, heapNewSpacePhysical };
}

/** How many forced full GCs a memory sample takes: the lowest live size among them counts. */
const GC_ROUNDS = 3;

const gcFn = (globalThis as { gc?: () => void }).gc;
/**
 * A full, synchronous mark-compact. Only the argument-less call does that in Node 20 (V8 11.3):
 * gc() with any options object — even { type: 'major', flavor: 'last-resort' }, which this used
 * to pass — runs a Scavenge of the young generation only (see `--trace-gc`), so "after a forced
 * GC" figures counted whatever garbage the old generation held. V8's memory reducer is off in
 * the memory scenarios (--no-memory-reducer), so RSS does not drop on its own later either.
 */
const gc = gcFn && (() => gcFn());

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
      let heapObjects = liveObjectBytes();
      if (msg.gc && gc) {
        // One full GC can leave floating garbage (objects that died while it marked) and starts
        // from whatever the last turn allocated: several, a turn apart, and the lowest figure.
        heapObjects = Infinity;
        for (let i = 0; i < GC_ROUNDS; i++) {
          gc();
          heapObjects = Math.min(heapObjects, liveObjectBytes());
          await new Promise((r) => setTimeout(r, 25));
        }
        gc();
        heapObjects = Math.min(heapObjects, liveObjectBytes());
      }
      return { ...memory(), heapObjects, ...heapOverheads(), gcAvailable: gc !== undefined };
    },
    /** Writes a V8 heap snapshot of the server (BENCH_HEAP_SNAPSHOT_DIR in S3); returns its path. */
    heapSnapshot(msg) {
      gc?.();
      return { file: v8.writeHeapSnapshot(path.join(String(msg.dir), `${name}-${String(msg.label)}-${process.pid}.heapsnapshot`)) };
    },
    stats: async () => ({ ...((await server?.stats()) ?? {}), memory: memory() }),
    // A server that runs in a process of its own (centrifuge) is not measured by this one's CPU time.
    cpu: () => ({ ...process.cpuUsage(), external: server?.memory !== undefined }),
  },
  async () => {
    await server?.stop();
  },
);
emit('ready', { pid: process.pid });
