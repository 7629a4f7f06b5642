import { Packr } from 'msgpackr';

/**
 * The workload every server serves identically: the topics, the tick payload, the batching
 * rule, and the publisher that drives them (at max rate or on an open-loop schedule).
 */

export const clock = (): number => performance.timeOrigin + performance.now();

export function topicNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `equity.SYM${String(i).padStart(3, '0')}.quote`);
}

/** What a feed hands the gateway (tickgate's FeedTick for a quote). */
export interface QuoteTick {
  readonly topic: string;
  readonly kind: 'quote';
  readonly ts: number;
  readonly bid: number;
  readonly ask: number;
  readonly bidSize: number;
  readonly askSize: number;
}

/** A stamped tick as it goes on the wire, field order as tickgate's wire entries (src/core/tick.ts). */
export interface WireQuote {
  seq: number;
  ts: number;
  gts: number;
  bid: number;
  ask: number;
  bidSize: number;
  askSize: number;
}

/** Deterministic, valid (uncrossed, positive) quote; ~64 payload bytes once encoded. */
export function makeTick(topic: string, ts: number, n: number): QuoteTick {
  const bid = 100 + (n % 1000) / 100 + 0.003;
  return { topic, kind: 'quote', ts, bid, ask: bid + 0.01, bidSize: 100 + (n % 9) * 100, askSize: 200 + (n % 7) * 100 };
}

/** Where the publisher hands ticks: a server's ingest. */
export interface TickSink {
  publish(topicIndex: number, tick: QuoteTick): void;
  /** End of one publisher turn. Baselines flush their batches here; tickgate's bus flushes itself. */
  endTurn(): void;
  /** Delivers anything still pending (end of a run). */
  flush(): Promise<void>;
  /** Ticks accepted per topic index so far. */
  published(): number[];
}

export type FrameEmitter = (topicIndex: number, topic: string, bytes: Uint8Array, ticks: number) => void;

/**
 * Baseline batching, the same rule as tickgate's MemoryBus: ticks of one topic arriving in one
 * publisher turn share a frame, capped at `maxTicksPerFrame`; each frame is encoded once with
 * `new Packr({ useRecords: false })` and handed to `emit` (which must send or copy the bytes
 * before returning — they may point into msgpackr's reused buffer).
 */
export class FrameBatcher implements TickSink {
  private readonly seq: number[];
  private readonly pending: WireQuote[][];
  private readonly dirty: number[] = [];
  private readonly isDirty: boolean[];
  private readonly packr = new Packr({ useRecords: false });
  readonly epoch = Math.floor(clock());

  constructor(
    private readonly topics: readonly string[],
    private readonly maxTicksPerFrame: number,
    private readonly emit: FrameEmitter,
  ) {
    this.seq = topics.map(() => 0);
    this.pending = topics.map(() => []);
    this.isDirty = topics.map(() => false);
  }

  publish(i: number, tick: QuoteTick): void {
    const seq = ++this.seq[i]!;
    this.pending[i]!.push({ seq, ts: tick.ts, gts: clock(), bid: tick.bid, ask: tick.ask, bidSize: tick.bidSize, askSize: tick.askSize });
    if (!this.isDirty[i]) {
      this.isDirty[i] = true;
      this.dirty.push(i);
    }
  }

  endTurn(): void {
    const { dirty, maxTicksPerFrame: max, packr } = this;
    for (let d = 0; d < dirty.length; d++) {
      const i = dirty[d]!;
      this.isDirty[i] = false;
      const pending = this.pending[i]!;
      const topic = this.topics[i]!;
      for (let start = 0; start < pending.length; start += max) {
        const ticks = pending.length <= max ? pending : pending.slice(start, start + max);
        this.emit(i, topic, packr.pack({ t: 'ticks', topic, epoch: this.epoch, ticks }), ticks.length);
      }
      pending.length = 0;
    }
    dirty.length = 0;
  }

  async flush(): Promise<void> {
    this.endTurn();
  }

  published(): number[] {
    return this.seq.slice();
  }
}

export interface RunSpec {
  /** `max`: publish as fast as the server's event loop allows; `rate`: open loop at `rate` ticks/s. */
  mode: 'max' | 'rate';
  durationMs: number;
  /** max mode: ticks per topic per publisher turn (frames per turn per topic = this / maxTicksPerFrame). */
  ticksPerTopicPerTurn: number;
  /** rate mode: ticks per second across all topics, round-robin over topics. */
  rate: number;
  /**
   * max mode: at most this many turns per second (unset: unlimited). For smoke tests with a few
   * clients, where an unpaced publisher would outrun the clients rather than the server.
   */
  maxTurnsPerSec?: number;
}

export interface RunResult {
  startedAt: number;
  endedAt: number;
  turns: number;
  ticks: number;
  /** rate mode: how far the publisher fell behind its schedule at worst (ms). */
  maxLagMs: number;
}

/**
 * Drives a sink. Every turn yields to the event loop with setImmediate, so the server's I/O
 * runs between turns exactly as it would between feed callbacks.
 *
 * Rate mode is open loop: tick i is due at start + i/rate and carries that scheduled time as its
 * `ts` (its creation time at the feed), so a server that falls behind shows it in latency
 * instead of silently slowing the schedule. The pacer spins on setImmediate (timers are too
 * coarse at 0.1–0.5 ms spacing), so server CPU in rate mode is not meaningful.
 */
export function runPublisher(sink: TickSink, topics: readonly string[], spec: RunSpec): Promise<RunResult> {
  const n = topics.length;
  const startedAt = clock();
  const endAt = startedAt + spec.durationMs;
  let turns = 0;
  let ticks = 0;
  let maxLagMs = 0;
  return new Promise((resolve) => {
    const finish = () => {
      void sink.flush().then(() => resolve({ startedAt, endedAt: clock(), turns, ticks, maxLagMs }));
    };
    if (spec.mode === 'max') {
      const k = Math.max(1, spec.ticksPerTopicPerTurn);
      const pace = spec.maxTurnsPerSec ? 1000 / spec.maxTurnsPerSec : 0;
      const turn = () => {
        const now = clock();
        if (now >= endAt) return finish();
        for (let t = 0; t < n; t++) {
          const topic = topics[t]!;
          for (let j = 0; j < k; j++) sink.publish(t, makeTick(topic, now, ticks++));
        }
        sink.endTurn();
        turns++;
        const ahead = pace > 0 ? startedAt + turns * pace - clock() : 0;
        if (ahead > 1) setTimeout(turn, ahead);
        else setImmediate(turn);
      };
      setImmediate(turn);
      return;
    }
    const interval = 1000 / spec.rate;
    const total = Math.floor((spec.durationMs / 1000) * spec.rate);
    const turn = () => {
      const now = clock();
      let published = false;
      while (ticks < total) {
        const due = startedAt + ticks * interval;
        if (due > now) break;
        const t = ticks % n;
        sink.publish(t, makeTick(topics[t]!, due, ticks));
        ticks++;
        published = true;
        if (now - due > maxLagMs) maxLagMs = now - due;
      }
      if (published) {
        sink.endTurn();
        turns++;
      }
      if (ticks >= total) return finish();
      setImmediate(turn);
    };
    setImmediate(turn);
  });
}
