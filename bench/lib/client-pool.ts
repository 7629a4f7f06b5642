import * as hdr from 'hdr-histogram-js';
import type { ClientInit, ClientProtocol, ClientReport, ConnectResult, ConnSpec } from '../client/load-client.ts';
import { spawnChild, type ChildHandle } from './ipc.ts';

export interface PoolOptions {
  port: number;
  protocol: ClientProtocol;
  topics: string[];
  conns: ConnSpec[];
  latency: boolean;
  verify: boolean;
  connectConcurrency?: number;
  startSeq?: number[];
  subscribeExtra?: Record<string, unknown>;
  sourceAddresses?: number;
}

/** Aggregate over the client processes: the per-process counters summed, CPU kept per process. */
export interface PoolReport extends Omit<ClientReport, 'cpuUserUs' | 'wallMs' | 'rssBytes' | 'histogram'> {
  processes: number;
  /** CPU time (user + system, µs) of each client process since `arm`. */
  cpuUsPerProcess: number[];
  /** System (kernel) part of the client CPU time, µs, all processes. */
  cpuSystemUs: number;
  framesPerRead: number;
  latency: LatencySummary | null;
}

/** Latency in milliseconds. */
export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/**
 * A set of load-client processes, kept alive across runs (loading tsx costs most of a second per
 * process); `setup` deals a run's connections round-robin over them, `reset` closes them all.
 */
export class ClientPool {
  private constructor(
    private readonly procs: ChildHandle[],
    readonly verbose: boolean,
  ) {}

  connCount = 0;

  get size(): number {
    return this.procs.length;
  }

  get alive(): boolean {
    return this.procs.every((p) => p.alive);
  }

  static async create(processes: number, verbose = false): Promise<ClientPool> {
    const procs = Array.from({ length: Math.max(1, processes) }, (_, i) =>
      // Enough descriptors for S3's default 10,000 connections on one process, with room.
      spawnChild({ script: 'client/load-client.ts', label: `client#${i}`, nofile: 65536, verbose }),
    );
    const pool = new ClientPool(procs, verbose);
    try {
      await Promise.all(procs.map((p) => p.waitEvent('ready', 30_000)));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  /** Hands every process its share of the connections (not yet opened). Closes any left from a previous run. */
  async setup(o: PoolOptions): Promise<void> {
    const n = this.procs.length;
    const shares: ConnSpec[][] = Array.from({ length: n }, () => []);
    o.conns.forEach((c, i) => {
      shares[i % n]!.push(c);
    });
    this.connCount = o.conns.length;
    await Promise.all(
      this.procs.map((p, i) => {
        const init: ClientInit = {
          host: '127.0.0.1',
          port: o.port,
          protocol: o.protocol,
          topics: o.topics,
          conns: shares[i]!,
          latency: o.latency,
          verify: o.verify,
          connectConcurrency: o.connectConcurrency ?? 256,
          ...(o.startSeq ? { startSeq: o.startSeq } : {}),
          ...(o.sourceAddresses ? { sourceAddresses: o.sourceAddresses } : {}),
          ...(o.subscribeExtra ? { subscribeExtra: o.subscribeExtra } : {}),
        };
        return p.request('init', { init });
      }),
    );
  }

  /** Closes every connection; the processes stay for the next run. */
  async reset(): Promise<void> {
    await Promise.all(this.procs.filter((p) => p.alive).map((p) => p.request('closeAll', {}, 30_000)));
    this.connCount = 0;
  }

  /** Opens every connection and waits for every subscription ack. */
  async connect(timeoutMs = 120_000): Promise<ConnectResult> {
    const t0 = performance.now();
    const results = await Promise.all(this.procs.map((p) => p.request<ConnectResult>('connect', {}, timeoutMs)));
    return {
      opened: results.reduce((s, r) => s + r.opened, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      ms: performance.now() - t0,
      firstError: results.find((r) => r.firstError)?.firstError ?? null,
    };
  }

  /** Resets counters and CPU baselines; ticks with ts before `latencyFrom` are counted but not timed. */
  async arm(latencyFrom = Infinity): Promise<void> {
    await Promise.all(this.procs.map((p) => p.request('arm', { latencyFrom })));
  }

  async drain(published: number[], stallMs: number, maxMs: number): Promise<void> {
    await Promise.all(this.procs.map((p) => p.request('drain', { published, stallMs, maxMs }, maxMs + 10_000)));
  }

  async releaseSlow(published: number[], waitMs: number): Promise<void> {
    await Promise.all(this.procs.map((p) => p.request('releaseSlow', { published, waitMs }, waitMs + 10_000)));
  }

  async report(published: number[] | null): Promise<PoolReport> {
    const rs = await Promise.all(this.procs.map((p) => p.request<ClientReport>('report', { published: published ?? undefined })));
    const sum = (f: (r: ClientReport) => number) => rs.reduce((s, r) => s + f(r), 0);
    const closeCodes: Record<string, number> = {};
    for (const r of rs) for (const [k, v] of Object.entries(r.closeCodes)) closeCodes[k] = (closeCodes[k] ?? 0) + v;
    let latency: LatencySummary | null = null;
    const hists = rs.filter((r) => r.histogram !== null).map((r) => hdr.decodeFromCompressedBase64(r.histogram!));
    if (hists.length > 0) {
      const h = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
      for (const x of hists) h.add(x);
      latency = {
        count: h.totalCount,
        p50: h.getValueAtPercentile(50) / 1000,
        p90: h.getValueAtPercentile(90) / 1000,
        p99: h.getValueAtPercentile(99) / 1000,
        p999: h.getValueAtPercentile(99.9) / 1000,
        max: h.maxValue / 1000,
        mean: h.mean / 1000,
      };
    }
    const reads = sum((r) => r.reads);
    const tickFramesAndOthers = sum((r) => r.frames);
    const firsts = rs.map((r) => r.firstTickAt).filter((t) => t > 0);
    return {
      processes: rs.length,
      conns: sum((r) => r.conns),
      ticks: sum((r) => r.ticks),
      tickFrames: sum((r) => r.tickFrames),
      frames: tickFramesAndOthers,
      bytes: sum((r) => r.bytes),
      reads,
      gaps: sum((r) => r.gaps),
      dups: sum((r) => r.dups),
      decodeErrors: sum((r) => r.decodeErrors),
      verifyErrors: sum((r) => r.verifyErrors),
      errorFrames: sum((r) => r.errorFrames),
      firstErrorFrame: rs.find((r) => r.firstErrorFrame)?.firstErrorFrame ?? null,
      missing: sum((r) => r.missing),
      incomplete: sum((r) => r.incomplete),
      closedByServer: sum((r) => r.closedByServer),
      closeCodes,
      firstTickAt: firsts.length ? Math.min(...firsts) : 0,
      lastTickAt: Math.max(0, ...rs.map((r) => r.lastTickAt)),
      cpuUsPerProcess: rs.map((r) => r.cpuUserUs + r.cpuSystemUs),
      cpuSystemUs: sum((r) => r.cpuSystemUs),
      framesPerRead: reads > 0 ? tickFramesAndOthers / reads : 0,
      negativeLatencies: sum((r) => r.negativeLatencies),
      latency,
      slow: rs.flatMap((r) => r.slow),
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.stop()));
  }
}

let shared: ClientPool | null = null;
let creating: Promise<ClientPool> | null = null;

/** The harness-wide pool of `processes` load clients, created on first use and replaced if one died or the size changed. */
export async function sharedPool(processes: number, verbose = false): Promise<ClientPool> {
  if (creating) await creating.catch(() => null);
  if (shared?.alive && shared.size === processes) return shared;
  const old = shared;
  shared = null;
  await old?.stop();
  creating = ClientPool.create(processes, verbose);
  try {
    shared = await creating;
  } finally {
    creating = null;
  }
  return shared;
}

/** Starts the shared pool without waiting (overlaps its start-up with a server's). */
export function warmPool(processes: number, verbose = false): Promise<ClientPool> {
  const p = sharedPool(processes, verbose);
  p.catch(() => {});
  return p;
}

export async function stopSharedPool(): Promise<void> {
  const p = shared;
  shared = null;
  await p?.stop();
}
