import type { RunResult, RunSpec, TickSink } from './workload.ts';

export interface ServerOptions {
  topics: readonly string[];
  /** Most ticks of one topic per frame (tickgate: bus.maxTicksPerFrame); null: the server's own default (tickgate only). */
  maxTicksPerFrame: number | null;
  /**
   * Per-connection send-buffer limit for the raw uWS baseline. tickgate always runs with its own
   * configured defaults (send-buffer limit and slow-consumer steps), which it reports in `settings`.
   */
  maxBackpressureBytes: number;
}

/** One server under test, running in its own process (server-main.ts drives it). */
export interface BenchServer {
  readonly port: number;
  readonly sink: TickSink;
  /** The frame cap in effect. */
  readonly maxTicksPerFrame: number;
  /** Settings that matter for interpreting results (limits, policies), for the report. */
  readonly settings: Record<string, unknown>;
  /** Server-side counters for the report (connections, drops, buffered bytes...). */
  stats(): Record<string, unknown> | Promise<Record<string, unknown>>;
  stop(): Promise<void>;
  /**
   * A server whose publisher runs in another process (centrifuge, in Go) runs the workload itself
   * and reports that process's CPU, memory and counters; server-main then skips its own publisher.
   */
  run?(spec: RunSpec): Promise<ExternalRunResult>;
  prime?(): Promise<{ published: number[] }>;
  /** That process's memory (after a full GC when asked); heapUsed is its language runtime's live heap. */
  memory?(gc: boolean): Promise<Record<string, number>>;
}

/** What an external publisher's run reports: the workload result plus its own process's numbers. */
export type ExternalRunResult = RunResult & {
  published: number[];
  cpuUserUs: number;
  cpuSystemUs: number;
  memory: Record<string, number>;
  stats: Record<string, unknown>;
};

export type ServerFactory = (options: ServerOptions) => Promise<BenchServer>;

/** The subscribe request every server accepts: `{"op":"subscribe","id":1,"topics":[...]}`. */
export interface SubscribeRequest {
  op: string;
  id: number | string;
  topics: string[];
}

export function parseSubscribe(text: string): SubscribeRequest | null {
  try {
    const req = JSON.parse(text) as SubscribeRequest;
    if (req && req.op === 'subscribe' && Array.isArray(req.topics)) return req;
  } catch {
    // not a request
  }
  return null;
}

/** Baselines have no default of their own: they use tickgate's documented default (64). */
export const BASELINE_DEFAULT_TICKS_PER_FRAME = 64;
