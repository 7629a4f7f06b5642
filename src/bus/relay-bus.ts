import type { Clock } from '../core/clock.ts';
import type { FeedTick, WireEntry } from '../core/tick.ts';
import { parseTopic, topicError, type ParsedTopic } from '../core/topic.ts';
import { unpackFrame } from '../protocol/codec.ts';
import type { BusSink, EncodedBatch, PublishResult, TopicBus, TopicView } from './bus.ts';
import { TickRing } from './tick-ring.ts';

class RelayTopic implements TopicView {
  last: WireEntry | undefined = undefined;
  lastUpdate = 0;
  readonly history: TickRing;
  constructor(
    readonly parsed: ParsedTopic,
    public feedId: string,
    maxTicks: number,
    maxAgeMs: number,
  ) {
    this.history = new TickRing(maxTicks, maxAgeMs);
  }
}

export interface RelayBusOptions {
  clock: Clock;
  historyMaxTicks: number;
  historyMaxAgeMs: number;
  /** The upstream epoch when known at start (worker threads get the main bus's). */
  epoch?: number;
  /**
   * Called for a frame that does not follow its topic's last seq (a hole) before it is relayed.
   * Returning true takes the frame (the NATS bus holds it while it reads the hole back from the
   * JetStream stream and relays it again afterwards); false relays it now, reporting the hole.
   */
  hole?: (topic: string, packed: Uint8Array, feedId: string) => boolean;
}

/**
 * A bus that does not stamp ticks itself: it relays frames that were stamped and encoded once
 * elsewhere (the main thread for worker transports; the ingest process over NATS). It keeps the
 * same per-topic state as the MemoryBus (last value, resume history) from the decoded frames and
 * hands the sink the original bytes, so nothing is re-encoded. `publish` is refused.
 */
export class RelayBus implements TopicBus {
  /** The epoch of the newest frame (the ingest side's; changes when it restarts). */
  epoch = 0;
  private sink: BusSink = { onTopic() {}, onBatch() {} };
  private readonly byTopic = new Map<string, RelayTopic>();

  constructor(private readonly options: RelayBusOptions) {
    this.epoch = options.epoch ?? 0;
  }

  setSink(sink: BusSink): void {
    this.sink = sink;
  }

  publish(_tick: FeedTick, _feedId: string): PublishResult {
    return { ok: false, reason: 'bus_closed' };
  }

  /**
   * One encoded `ticks` frame from upstream. Frames of a topic must arrive in seq order; a frame
   * whose first seq is not after the topic's last one is dropped (a duplicate).
   */
  relay(packed: Uint8Array, feedId = 'relay'): void {
    const frame = unpackFrame(packed) as { t?: unknown; topic?: unknown; epoch?: unknown; ticks?: unknown };
    if (frame.t !== 'ticks' || typeof frame.topic !== 'string' || typeof frame.epoch !== 'number' || !Array.isArray(frame.ticks)) return;
    const ticks = frame.ticks as WireEntry[];
    const epoch = frame.epoch;
    if (epoch !== this.epoch) {
      // An older epoch's frame (a stream read-back from before a restart) means nothing now.
      if (epoch < this.epoch) return;
      this.newEpoch(epoch);
    }
    let state = this.byTopic.get(frame.topic);
    if (state === undefined) {
      if (topicError(frame.topic) !== null) return;
      state = new RelayTopic(parseTopic(frame.topic), feedId, this.options.historyMaxTicks, this.options.historyMaxAgeMs);
      this.byTopic.set(frame.topic, state);
      this.sink.onTopic(state);
    }
    // Upstream may deliver a frame twice (NATS: overlapping subscriptions, a stream read-back,
    // a republish after an outage): drop what is already held.
    const newest = state.last?.seq ?? 0;
    const first = ticks[0];
    if (first === undefined || first.seq <= newest) return;
    if (newest !== 0 && first.seq !== newest + 1) {
      // A hole: the owner may repair it first; otherwise the ticks are lost for good, holders are
      // told the exact range, and the history restarts (replayAfter relies on consecutive seqs).
      if (this.options.hole?.(frame.topic, packed, feedId) === true) return;
      state.history.clear();
      this.sink.onGap?.(state, newest + 1, first.seq - 1);
    }
    const batch: EncodedBatch = { topic: state, epoch, ticks, packed };
    this.sink.onBatch(batch);
    for (const t of ticks) state.history.push(t);
    state.last = ticks[ticks.length - 1] ?? state.last;
    state.lastUpdate = this.options.clock.now();
  }

  /**
   * The upstream epoch learned out of band (asked at connect, or from the main thread): a newer
   * one is taken as if a frame of it had arrived; an older or equal one changes nothing.
   */
  adoptEpoch(epoch: number): void {
    if (epoch > this.epoch) this.newEpoch(epoch);
  }

  /**
   * Upstream restarted without continuing its sequences (the ingest could not read them back):
   * seqs start over at 1, old history means nothing, and every holder of a topic with a value is
   * told now (a `reset` status), before any frame of the new epoch. Quiet topics go `pending`.
   */
  private newEpoch(epoch: number): void {
    this.epoch = epoch;
    this.sink.onEpoch?.(epoch);
    for (const t of this.byTopic.values()) {
      t.history.clear();
      if (t.last !== undefined) this.sink.onReset?.(t, epoch);
      t.last = undefined;
    }
  }

  flush(): void {}

  topic(topic: string): TopicView | undefined {
    return this.byTopic.get(topic);
  }

  topics(): IterableIterator<TopicView> {
    return this.byTopic.values();
  }

  get topicCount(): number {
    return this.byTopic.size;
  }

  replayAfter(topic: string, afterSeq: number): WireEntry[] | null {
    const state = this.byTopic.get(topic);
    if (state === undefined) return afterSeq === 0 ? [] : null;
    return state.history.after(afterSeq, this.options.clock.now());
  }

  /** Every tick of `topic` still held for resume, oldest first. */
  held(topic: string): WireEntry[] {
    const state = this.byTopic.get(topic);
    if (state === undefined) return [];
    const now = this.options.clock.now();
    const oldest = state.history.oldestSeq(now);
    return (oldest === 0 ? null : state.history.after(oldest - 1, now)) ?? (state.last === undefined ? [] : [state.last]);
  }

  /**
   * Takes a topic's state from elsewhere (a worker thread gets the main thread's after a stream
   * read there): its held ticks become this topic's history and last value. Not handed to the
   * sink (history, not news). Frames of the topic relayed before are older or the same (one
   * ordered channel); should `ticks` end after them, the holders are told of the difference.
   */
  prime(topic: string, feedId: string, epoch: number, ticks: readonly WireEntry[]): void {
    const tail = ticks[ticks.length - 1];
    if (tail === undefined || topicError(topic) !== null) return;
    if (epoch !== this.epoch) {
      if (epoch < this.epoch) return;
      this.newEpoch(epoch);
    }
    let state = this.byTopic.get(topic);
    if (state === undefined) {
      state = new RelayTopic(parseTopic(topic), feedId, this.options.historyMaxTicks, this.options.historyMaxAgeMs);
      this.byTopic.set(topic, state);
      this.sink.onTopic(state);
    }
    const newest = state.last?.seq ?? 0;
    if (tail.seq < newest) return;
    if (newest !== 0 && tail.seq > newest) this.sink.onGap?.(state, newest + 1, tail.seq);
    state.history.clear();
    for (const t of ticks) state.history.push(t);
    state.last = tail;
    state.lastUpdate = this.options.clock.now();
  }

  async close(): Promise<void> {}
}
