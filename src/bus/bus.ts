import type { BusTick, TickRejectReason, WireEntry } from '../core/tick.ts';
import type { ParsedTopic } from '../core/topic.ts';

/** Per-topic state the bus exposes read-only to the transport and HTTP API. */
export interface TopicView {
  readonly parsed: ParsedTopic;
  /** Last tick published to subscribers (not one still waiting in a batch); undefined before the first flush. */
  readonly last: WireEntry | undefined;
  /** Gateway time (epoch ms) of `last`, 0 before the first flush. */
  readonly lastUpdate: number;
  /** The feed that last published on this topic. */
  readonly feedId: string;
}

/**
 * One frame's worth of ticks for one topic, already encoded.
 * `packed` is valid only during the `onBatch` call (it may point into a reused encode buffer):
 * the receiver sends it right away or copies it.
 */
export interface EncodedBatch {
  readonly topic: TopicView;
  readonly epoch: number;
  /** The ticks, oldest first, seqs consecutive. Valid only during the call. */
  readonly ticks: readonly WireEntry[];
  /** The MessagePack `ticks` frame: `{t, topic, epoch, ticks}`. */
  readonly packed: Uint8Array;
}

/**
 * Where the bus delivers. Registered once, at start, by the composition root.
 * Calls happen on the event loop, never re-entrantly.
 */
export interface BusSink {
  /** A topic was seen for the first time; called before its first `onBatch`. */
  onTopic(topic: TopicView): void;
  /** A frame of ticks for one topic, in seq order; frames of one topic arrive in seq order. */
  onBatch(batch: EncodedBatch): void;
  /**
   * Optional (relaying buses only): seqs `from`..`to` of the topic were lost upstream and will
   * never be delivered; called right before the `onBatch` that jumps over them.
   */
  onGap?(topic: TopicView, from: number, to: number): void;
  /**
   * Optional (relaying buses only): the topic's seqs start over in `epoch` (upstream restarted
   * without continuing its sequence); called right before the first `onBatch` of the new epoch.
   */
  onReset?(topic: TopicView, epoch: number): void;
  /** Optional (relaying buses only): the bus's epoch changed (called before the resets it causes). */
  onEpoch?(epoch: number): void;
}

export type PublishResult = { readonly ok: true; readonly seq: number } | { readonly ok: false; readonly reason: TickRejectReason };

/** Observability hooks, so the bus stays free of metric-library details. */
export interface BusObserver {
  accepted(feedId: string): void;
  rejected(feedId: string, reason: TickRejectReason): void;
  /** Called once per flushed tick with ingest→publish latency in seconds. */
  published(latencySeconds: number): void;
}

/**
 * The topic bus.
 *
 * Required guarantees of every implementation (checked by bus.conformance.ts):
 * - `publish` validates the tick (the rules and reasons are listed in src/core/tick.ts), reading
 *   each field of the adapter's object once and delivering exactly the values it validated; a
 *   rejected tick gets no seq, creates no topic and is never delivered.
 * - Per topic, the `ts` of accepted ticks never decreases (`timestamp_backwards`).
 * - One feed creates at most `maxTopicsPerFeed` topics (`topic_limit`); other feeds are unaffected.
 * - Per topic, seqs start at 1 and increase by exactly 1 per accepted tick within an epoch.
 * - `epoch` is fixed for the bus's lifetime and differs between two bus instances.
 * - Every accepted tick reaches the sink exactly once, in seq order, inside an `EncodedBatch`
 *   of at most `maxTicksPerFrame` ticks, by the end of the event-loop turn after `publish`
 *   (or at `flush()`).
 * - `onTopic` precedes a topic's first `onBatch`.
 * - `topic(t).last` is the newest tick already handed to the sink.
 * - `replayAfter` returns exactly the consecutive ticks after a seq, or null, never a partial list.
 */
export interface TopicBus {
  readonly epoch: number;
  setSink(sink: BusSink): void;
  publish(tick: BusTick, feedId: string): PublishResult;
  /** Delivers every pending batch now. */
  flush(): void;
  topic(topic: string): TopicView | undefined;
  topics(): IterableIterator<TopicView>;
  readonly topicCount: number;
  /**
   * For resume: the ticks of `topic` already handed to the sink with seq > afterSeq, oldest
   * first ([] when the caller is up to date), or null when some of them are no longer held
   * (history is bounded by count and age) or afterSeq is not a seq this bus issued.
   */
  replayAfter(topic: string, afterSeq: number): WireEntry[] | null;
  /** Flushes pending ticks and stops accepting new ones. */
  close(): Promise<void>;
}
