import os from 'node:os';
import type { ClientProtocol, ConnSpec } from '../client/load-client.ts';
import { ensureCentrifugeBinary } from '../servers/centrifuge-build.ts';
import type { RunResult, RunSpec } from '../servers/workload.ts';
import { clock, topicNames } from '../servers/workload.ts';
import { warmPool, type ClientPool, type LatencySummary, type PoolReport } from './client-pool.ts';
import { spawnChild, type ChildHandle } from './ipc.ts';
import { cpuMeter, type CpuShare } from './machine.ts';

export const SERVER_NAMES = ['tickgate', 'uws', 'ws', 'socketio', 'centrifuge'] as const;
/** Baselines that run only when --servers names them (they need more than npm ci: centrifuge needs Go). */
export const OPTIONAL_SERVERS: readonly ServerName[] = ['centrifuge'];
export type ServerName = (typeof SERVER_NAMES)[number];
export const SERVER_LABELS: Record<ServerName, string> = {
  tickgate: 'tickgate',
  uws: 'raw uWS',
  ws: 'ws',
  socketio: 'Socket.IO',
  centrifuge: 'centrifuge 0.15',
};

/** The load-client dialect each server speaks. */
export function protocolOf(server: ServerName): ClientProtocol {
  return server === 'socketio' ? 'socketio' : server === 'centrifuge' ? 'centrifuge' : 'tickgate';
}

export interface ServerStartOptions {
  topicCount: number;
  /** null: the server's own default (tickgate's config default). */
  maxTicksPerFrame: number | null;
  maxBackpressureBytes: number;
  /** Open-file limit for the server process. */
  nofile?: number;
  exposeGc?: boolean;
  /** Extra Node flags for the server process. */
  nodeFlags?: string[];
  verbose?: boolean;
}

export interface ServerRun extends RunResult {
  published: number[];
  cpuUserUs: number;
  cpuSystemUs: number;
  memory: Record<string, number>;
  stats: Record<string, number>;
}

/** The server process could not start (e.g. tickgate's src/ does not load yet). */
export class ServerStartError extends Error {
  constructor(
    readonly server: ServerName,
    cause: unknown,
  ) {
    super(`${server} did not start: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** One server under test in its own process. */
export class ServerProc {
  private constructor(
    readonly name: ServerName,
    readonly child: ChildHandle,
    readonly port: number,
    /** The frame cap the server actually uses. */
    readonly maxTicksPerFrame: number,
    /** Limits and policies the server runs with (for the report). */
    readonly settings: Record<string, unknown>,
  ) {}

  static async start(name: ServerName, o: ServerStartOptions): Promise<ServerProc> {
    let env: Record<string, string> = {};
    if (name === 'centrifuge') {
      try {
        env = { TICKGATE_CENTRIFUGE_BIN: await ensureCentrifugeBinary() };
      } catch (err) {
        throw new ServerStartError(name, err);
      }
    }
    const child = spawnChild({
      env,
      script: 'servers/server-main.ts',
      args: [name],
      label: `server:${name}`,
      nofile: o.nofile ?? 4096,
      nodeFlags: [...(o.exposeGc ? ['--expose-gc'] : []), ...(o.nodeFlags ?? [])],
      verbose: o.verbose,
    });
    try {
      await child.waitEvent('ready', 20_000);
      const { port, maxTicksPerFrame, settings } = await child.request<{
        port: number;
        maxTicksPerFrame: number;
        settings: Record<string, unknown>;
      }>('start', {
        options: { topicCount: o.topicCount, maxTicksPerFrame: o.maxTicksPerFrame, maxBackpressureBytes: o.maxBackpressureBytes },
      });
      return new ServerProc(name, child, port, maxTicksPerFrame, settings);
    } catch (err) {
      await child.stop(1000);
      throw new ServerStartError(name, err);
    }
  }

  run(spec: RunSpec): Promise<ServerRun> {
    return this.child.request<ServerRun>('run', { spec }, spec.durationMs + 120_000);
  }

  prime(): Promise<{ published: number[] }> {
    return this.child.request('prime');
  }

  /** heapObjects: live JavaScript objects, code spaces left out, the lowest of several forced GCs (server-main.ts). */
  memory(gc: boolean): Promise<{ rss: number; heapUsed: number; heapObjects?: number; gcAvailable: boolean }> {
    return this.child.request('memory', { gc });
  }

  /** The server process's CPU time so far (process.cpuUsage, µs). */
  cpu(): Promise<{ user: number; system: number; external?: boolean }> {
    return this.child.request('cpu');
  }

  /** Writes a heap snapshot of the server into `dir` (a slow, bounded diagnostic); resolves with its path. */
  heapSnapshot(dir: string, label: string): Promise<{ file: string }> {
    return this.child.request('heapSnapshot', { dir, label }, 120_000);
  }

  stats(): Promise<Record<string, unknown>> {
    return this.child.request('stats');
  }

  stop(): Promise<void> {
    return this.child.stop(8000);
  }
}

export interface WorkloadOptions {
  server: ServerName;
  clients: number;
  topicCount: number;
  maxTicksPerFrame: number | null;
  spec: RunSpec;
  latency: boolean;
  warmupMs: number;
  clientProcs: number;
  verify: boolean;
  /** Extra connections subscribed to every topic that stop reading after their ack (S4). */
  slowConsumers?: number;
  maxBackpressureBytes: number;
  verbose?: boolean;
  /** Drain: give up when the missing count has not changed for this long. */
  drainStallMs?: number;
  /** The connections to open, instead of `clients` connections on one topic each (S6 watchlists). */
  conns?: ConnSpec[];
  /** Publish one tick on every topic before the clients connect, so every topic exists (and patterns expand) at subscribe time. */
  prime?: boolean;
  /** Extra fields of tickgate's subscribe request. */
  subscribeExtra?: Record<string, unknown>;
  /**
   * Sample the server's memory (after a full GC) before the clients connect, no earlier than this
   * long after the server started, and again once every subscription is acknowledged.
   */
  memorySettleMs?: number;
}

export interface MemoryFigures {
  rss: number;
  rssAnon: number;
  heapUsed: number;
}

export interface Correctness {
  /** Σ over connections of ticks published on their topic. */
  expected: number;
  delivered: number;
  missing: number;
  gaps: number;
  dups: number;
  decodeErrors: number;
  verifyErrors: number;
  errorFrames: number;
  closedByServer: number;
  /** Every published tick counted exactly once on every (non-slow) connection, and nothing else went wrong. */
  exact: boolean;
}

export interface WorkloadResult {
  server: ServerName;
  clients: number;
  maxTicksPerFrame: number;
  connectMs: number;
  publishedTicks: number;
  windowMs: number;
  ticksPerSec: number;
  framesPerSec: number;
  bytesPerSec: number;
  /** Average ticks per delivered frame. */
  ticksPerFrame: number;
  serverCpuPct: number;
  /** Kernel share of serverCpuPct (on loopback the sender's syscalls also run the receiver's TCP stack). */
  serverSysPct: number;
  clientCpuPct: number;
  clientSysPct: number;
  clientCpuMaxPct: number;
  framesPerRead: number;
  latency: LatencySummary | null;
  correctness: Correctness;
  /** Server counters when publishing ended. */
  serverStats: Record<string, unknown>;
  /** Server counters after slow consumers read again (S4 only). */
  serverStatsAfter: Record<string, unknown> | null;
  serverSettings: Record<string, unknown>;
  serverRssBytes: number;
  publisherTurns: number;
  publisherMaxLagMs: number;
  machine: CpuShare | null;
  /** Machine CPU (% of one core) used during the run by processes other than this benchmark's: a noise flag. */
  otherLoadPct: number;
  slow: PoolReport['slow'];
  closeCodes: Record<string, number>;
  firstErrorFrame: string | null;
  /** Wall time of each phase of the run (spawn, connect, run, drain, teardown), ms. */
  phases: Record<string, number>;
  /** Subscriptions the clients hold (Σ topics over connections, patterns expanded). */
  subscriptions: number;
  /** With memorySettleMs: the server's memory before the clients connected and after they subscribed. */
  memoryBefore: MemoryFigures | null;
  memoryAfter: MemoryFigures | null;
}

/**
 * One measured run: a fresh server process, `clients` connections (client i on topic i mod
 * topics) in `clientProcs` processes, the publisher for `spec.durationMs`, then a drain until
 * every connection has every published tick (or progress stalls), then the reports.
 */
export async function runWorkload(o: WorkloadOptions): Promise<WorkloadResult> {
  const topics = topicNames(o.topicCount);
  const conns: ConnSpec[] = o.conns ? [...o.conns] : Array.from({ length: o.clients }, (_, i) => ({ topics: [i % o.topicCount] }));
  for (let s = 0; s < (o.slowConsumers ?? 0); s++) conns.push({ topics: topics.map((_, i) => i), slow: true });
  const phases: Record<string, number> = {};
  let mark = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    phases[name] = now - mark;
    mark = now;
  };
  const poolReady = warmPool(o.clientProcs, o.verbose);
  const server = await ServerProc.start(o.server, {
    topicCount: o.topicCount,
    maxTicksPerFrame: o.maxTicksPerFrame,
    maxBackpressureBytes: o.maxBackpressureBytes,
    nofile: conns.length + 1024,
    verbose: o.verbose,
    ...(o.memorySettleMs !== undefined ? { exposeGc: true, nodeFlags: ['--no-memory-reducer'] } : {}),
  });
  const serverStartedAt = Date.now();
  let pool: ClientPool | null = null;
  let startSeq: number[] | undefined;
  let memoryBefore: MemoryFigures | null = null;
  let memoryAfter: MemoryFigures | null = null;
  const sampleMemory = async (): Promise<MemoryFigures> => {
    const a = (await server.memory(true)) as unknown as MemoryFigures;
    const b = (await server.memory(true)) as unknown as MemoryFigures;
    return { rss: Math.min(a.rss, b.rss), rssAnon: Math.min(a.rssAnon, b.rssAnon), heapUsed: Math.min(a.heapUsed, b.heapUsed) };
  };
  try {
    if (o.prime) startSeq = (await server.prime()).published;
    if (o.memorySettleMs !== undefined) {
      const wait = serverStartedAt + o.memorySettleMs - Date.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      memoryBefore = await sampleMemory();
    }
    pool = await poolReady;
    await pool.setup({
      port: server.port,
      protocol: protocolOf(o.server),
      topics,
      conns,
      latency: o.latency,
      verify: o.verify,
      ...(startSeq ? { startSeq } : {}),
      ...(o.subscribeExtra ? { subscribeExtra: o.subscribeExtra } : {}),
    });
    phase('spawnMs');
    const connected = await pool.connect();
    phase('connectMs');
    if (connected.failed > 0) {
      throw new Error(`${o.server}: ${connected.failed} of ${conns.length} connections failed (${connected.firstError})`);
    }
    if (o.memorySettleMs !== undefined) memoryAfter = await sampleMemory();
    const meter = cpuMeter();
    const harnessCpu0 = process.cpuUsage();
    const meterStart = clock();
    await pool.arm(clock() + o.warmupMs);
    const run = await server.run(o.spec);
    phase('runMs');
    await pool.drain(run.published, o.drainStallMs ?? 2000, Math.max(10_000, o.spec.durationMs * 3));
    phase('drainMs');
    if ((o.slowConsumers ?? 0) > 0) await pool.releaseSlow(run.published, 3000);
    const machine = meter.stop();
    const meterMs = clock() - meterStart;
    const harnessCpu = process.cpuUsage(harnessCpu0);
    const rep = await pool.report(run.published);
    const serverStats: Record<string, unknown> = run.stats;
    let serverStatsAfter: Record<string, unknown> | null = null;
    if ((o.slowConsumers ?? 0) > 0) {
      serverStatsAfter = await server.stats();
      delete serverStatsAfter.memory;
    }

    const publishedTicks = run.published.reduce((a, b) => a + b, 0) - (startSeq ?? []).reduce((a, b) => a + b, 0);
    let expected = 0;
    for (const c of conns) if (!c.slow) for (const t of c.topics) expected += (run.published[t] ?? 0) - (startSeq?.[t] ?? 0);
    const delivered = rep.ticks;
    const end = Math.max(rep.lastTickAt, run.endedAt);
    const windowMs = Math.max(1, end - run.startedAt);
    const cpuUs = rep.cpuUsPerProcess;
    // CPU used on the machine during the run that none of our processes account for: someone else's load.
    const ourCoreMs = (run.cpuUserUs + run.cpuSystemUs + cpuUs.reduce((a, b) => a + b, 0) + harnessCpu.user + harnessCpu.system) / 1000;
    const otherLoadPct = machine ? Math.max(0, (machine.busyPct / 100) * os.cpus().length * 100 - (ourCoreMs / meterMs) * 100) : 0;
    const correctness: Correctness = {
      expected,
      delivered,
      missing: rep.missing,
      gaps: rep.gaps,
      dups: rep.dups,
      decodeErrors: rep.decodeErrors,
      verifyErrors: rep.verifyErrors,
      errorFrames: rep.errorFrames,
      closedByServer: rep.closedByServer,
      exact: false,
    };
    correctness.exact =
      delivered === expected &&
      rep.missing === 0 &&
      rep.gaps === 0 &&
      rep.dups === 0 &&
      rep.decodeErrors === 0 &&
      rep.verifyErrors === 0 &&
      rep.errorFrames === 0 &&
      correctness.closedByServer === 0;
    return {
      server: o.server,
      clients: o.clients,
      maxTicksPerFrame: server.maxTicksPerFrame,
      connectMs: connected.ms,
      publishedTicks,
      windowMs,
      ticksPerSec: (delivered / windowMs) * 1000,
      framesPerSec: (rep.tickFrames / windowMs) * 1000,
      bytesPerSec: (rep.bytes / windowMs) * 1000,
      ticksPerFrame: rep.tickFrames > 0 ? rep.ticks / rep.tickFrames : 0,
      serverCpuPct: ((run.cpuUserUs + run.cpuSystemUs) / 1000 / Math.max(1, run.endedAt - run.startedAt)) * 100,
      serverSysPct: (run.cpuSystemUs / 1000 / Math.max(1, run.endedAt - run.startedAt)) * 100,
      clientCpuPct: (cpuUs.reduce((a, b) => a + b, 0) / 1000 / windowMs) * 100,
      clientSysPct: (rep.cpuSystemUs / 1000 / windowMs) * 100,
      clientCpuMaxPct: (Math.max(0, ...cpuUs) / 1000 / windowMs) * 100,
      framesPerRead: rep.framesPerRead,
      latency: rep.latency,
      correctness,
      serverStats,
      serverStatsAfter,
      serverSettings: server.settings,
      serverRssBytes: run.memory.rss ?? 0,
      publisherTurns: run.turns,
      publisherMaxLagMs: run.maxLagMs,
      machine,
      otherLoadPct,
      slow: rep.slow,
      closeCodes: rep.closeCodes,
      firstErrorFrame: rep.firstErrorFrame,
      phases,
      subscriptions: conns.reduce((n, c) => n + c.topics.length, 0),
      memoryBefore,
      memoryAfter,
    };
  } finally {
    await pool?.reset().catch(() => {});
    await server.stop();
    phase('teardownMs');
    if (o.verbose) console.log(`    phases: ${JSON.stringify(phases)}`);
  }
}
