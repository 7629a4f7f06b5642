import type { Clock } from '../core/clock.ts';
import {
  tickRules,
  toBookChanges,
  toWireTick,
  type BusTick,
  type FlatEntryKind,
  type TickRejectReason,
  type TickRules,
  type WireEntry,
} from '../core/tick.ts';
import { parseTopic, topicError, type ParsedTopic } from '../core/topic.ts';
import { packFrame } from '../protocol/codec.ts';
import { TicksFrameEncoder, ticksFramePrefix } from '../protocol/ticks-encoder.ts';
import type { EntriesFrame } from '../protocol/frames.ts';
import { BookWindow, DEFAULT_BOOK_DEPTH } from '../market/book.ts';
import { FlatTickRing, TickRing } from './tick-ring.ts';
import type { BusObserver, BusSink, PublishResult, TopicBus, TopicView } from './bus.ts';

export interface MemoryBusOptions {
  clock: Clock;
  /** Largest number of ticks of one topic carried by one frame. 1 disables batching. */
  maxTicksPerFrame: number;
  observer?: BusObserver;
  /** Resume history per topic: at most this many ticks ... */
  historyMaxTicks?: number;
  /** ... and none older than this (gateway time). */
  historyMaxAgeMs?: number;
  /** Overrides the epoch (tests); by default the bus's start time in ms, so it changes on restart. */
  epoch?: number;
  /**
   * Most topics one feed may create (default DEFAULT_MAX_TOPICS_PER_FEED). Topics are never
   * dropped, so without a bound a feed emitting garbage symbols would grow memory, and the
   * per-topic timers' work, without limit; further new topics from that feed are refused with
   * `topic_limit`, while its existing topics and other feeds are unaffected.
   */
  maxTopicsPerFeed?: number;
  /** Levels per side of every book topic (`*.*.book`) the bus keeps and sends; default DEFAULT_BOOK_DEPTH. */
  bookDepth?: number;
}

/** Far above a real universe (all US equities with quote and trade channels is ~25 000 topics). */
export const DEFAULT_MAX_TOPICS_PER_FEED = 50_000;

/** Mutable per-topic state. Every field is set in the constructor so all instances share one shape. */
class TopicState implements TopicView {
  readonly parsed: ParsedTopic;
  readonly rules: TickRules;
  last: WireEntry | undefined = undefined;
  /** `ts` of the newest accepted tick: per topic, timestamps must not go backwards. */
  lastTs = 0;
  lastUpdate = 0;
  feedId: string;
  seq = 0;
  /** Ticks stamped but not yet flushed. Reused across flushes (length reset) to avoid reallocation. */
  readonly pending: WireEntry[] = [];
  /** Reused frame object: only `ticks` changes between encodes (kinds the TicksFrameEncoder does not write). */
  readonly frame: EntriesFrame;
  /** Quotes and trades: the kind and the topic's encoded frame start (TicksFrameEncoder); null for other kinds. */
  readonly flatKind: FlatEntryKind | null;
  readonly prefix: Uint8Array | null;
  queued = false;
  readonly history: TickRing | FlatTickRing;
  /** Book topics only: the feed's book, cut to the visible depth, as of the newest stamped update. */
  readonly book: BookWindow | null;

  constructor(
    parsed: ParsedTopic,
    rules: TickRules,
    feedId: string,
    epoch: number,
    history: TickRing | FlatTickRing,
    book: BookWindow | null,
  ) {
    this.parsed = parsed;
    this.rules = rules;
    this.book = book;
    this.feedId = feedId;
    this.frame = { t: 'ticks', topic: parsed.topic, epoch, ticks: this.pending };
    this.history = history;
    this.flatKind = rules.kind === 'quote' || rules.kind === 'trade' ? rules.kind : null;
    // The bus's epoch is fixed once a topic exists (continueFrom runs before any), so this is final.
    this.prefix = this.flatKind === null ? null : ticksFramePrefix(parsed.topic, epoch);
  }
}

const noopObserver: BusObserver = { accepted() {}, rejected() {}, published() {} };
const noopSink: BusSink = { onTopic() {}, onBatch() {} };

let lastEpoch = 0;
function nextEpoch(clock: Clock): number {
  // Strictly increasing within the process too, so two buses started in the same ms differ.
  lastEpoch = Math.max(Math.floor(clock.now()), lastEpoch + 1);
  return lastEpoch;
}

/**
 * The in-process bus (the embedded default).
 *
 * Hot path: `publish` copies the tick once into its wire entry (seq, gateway time), validates that
 * copy (topic syntax once per topic, payload and per-topic timestamp order per tick; the rules are
 * listed in src/core/tick.ts), and appends it to the topic's pending list. One `setImmediate` per event-loop turn
 * flushes every dirty topic: one msgpack encode per frame, one `onBatch` call per frame.
 */
export class MemoryBus implements TopicBus {
  private currentEpoch: number;
  private readonly clock: Clock;
  private readonly maxTicksPerFrame: number;
  private readonly observer: BusObserver;
  private sink: BusSink = noopSink;
  private readonly byTopic = new Map<string, TopicState>();
  /** Topics with pending ticks, in first-dirty order. */
  private readonly dirty: TopicState[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly flushBound = () => this.flush();
  private readonly historyMaxTicks: number;
  private readonly historyMaxAgeMs: number;
  private readonly maxTopicsPerFeed: number;
  /** Topics created per feed id, for maxTopicsPerFeed (cold path: only on a topic's first tick). */
  private readonly topicsCreated = new Map<string, number>();

  private readonly bookDepth: number;
  private readonly encoder = new TicksFrameEncoder();
  /** Handed to every onBatch call; valid only during the call, as EncodedBatch says. */
  private readonly batch: { topic: TopicView; epoch: number; ticks: readonly WireEntry[]; packed: Uint8Array } = {
    topic: null as unknown as TopicView,
    epoch: 0,
    ticks: [],
    packed: new Uint8Array(0),
  };

  constructor(options: MemoryBusOptions) {
    this.bookDepth = Math.max(1, Math.floor(options.bookDepth ?? DEFAULT_BOOK_DEPTH));
    this.clock = options.clock;
    this.maxTicksPerFrame = Math.max(1, Math.floor(options.maxTicksPerFrame));
    this.observer = options.observer ?? noopObserver;
    this.currentEpoch = options.epoch ?? nextEpoch(options.clock);
    this.historyMaxTicks = Math.max(1, options.historyMaxTicks ?? 1000);
    this.historyMaxAgeMs = options.historyMaxAgeMs ?? 60_000;
    this.maxTopicsPerFeed = options.maxTopicsPerFeed ?? DEFAULT_MAX_TOPICS_PER_FEED;
  }

  setSink(sink: BusSink): void {
    this.sink = sink;
  }

  get epoch(): number {
    return this.currentEpoch;
  }

  /**
   * Continues an earlier run's sequences instead of starting a new epoch (the NATS ingest after a
   * restart or failover, from the stream's last frame per topic): the epoch becomes `epoch` and
   * each topic's next tick gets seq `last.seq + 1` (and must not have a `ts` before `last.ts`).
   * Only before the first publish: seqs already handed out cannot be renumbered.
   */
  continueFrom(epoch: number, topics: Iterable<{ topic: string; feedId: string; last: WireEntry }>): void {
    if (this.byTopic.size !== 0) throw new Error('MemoryBus.continueFrom: topics exist already');
    this.currentEpoch = epoch;
    lastEpoch = Math.max(lastEpoch, epoch);
    for (const { topic, feedId, last } of topics) {
      if (topicError(topic) !== null) continue;
      const parsed = parseTopic(topic);
      const rules = tickRules(parsed.assetClass, parsed.channel);
      // A book restarts empty: its first update lists every level, and holders whose book then
      // fails the checksum resubscribe for a snapshot (src/market/market-data.ts applyVerified).
      const book = rules.kind === 'book' ? new BookWindow(this.bookDepth) : null;
      const state = new TopicState(parsed, rules, feedId, epoch, this.newHistory(rules), book);
      state.seq = last.seq;
      state.lastTs = last.ts;
      state.last = last;
      state.lastUpdate = last.gts;
      state.history.push(last);
      this.topicsCreated.set(feedId, (this.topicsCreated.get(feedId) ?? 0) + 1);
      this.byTopic.set(topic, state);
      this.sink.onTopic(state);
    }
  }

  /** Quotes and trades are held as numbers (FlatTickRing: no long-lived object per tick); books and bars as objects. */
  private newHistory(rules: TickRules): TickRing | FlatTickRing {
    return rules.kind === 'quote' || rules.kind === 'trade'
      ? new FlatTickRing(rules.kind, this.historyMaxTicks, this.historyMaxAgeMs)
      : new TickRing(this.historyMaxTicks, this.historyMaxAgeMs);
  }

  get topicCount(): number {
    return this.byTopic.size;
  }

  topic(topic: string): TopicView | undefined {
    return this.byTopic.get(topic);
  }

  topics(): IterableIterator<TopicView> {
    return this.byTopic.values();
  }

  publish(tick: BusTick, feedId: string): PublishResult {
    if (this.closed) return this.reject(feedId, 'bus_closed');
    if (typeof tick !== 'object' || tick === null) return this.reject(feedId, 'invalid_tick');
    const topic = tick.topic;
    const state = this.byTopic.get(topic);
    if (state === undefined) return this.publishNewTopic(tick, topic, feedId);
    if (state.book !== null) return this.publishBook(state, tick, feedId);
    const seq = state.seq + 1;
    const wire = toWireTick(tick, state.rules, seq, this.clock.now());
    if (typeof wire === 'string') return this.reject(feedId, wire);
    if (wire.ts < state.lastTs) return this.reject(feedId, 'timestamp_backwards');
    this.accept(state, wire, feedId);
    return { ok: true, seq };
  }

  /** A topic's first tick (cold path): the topic is created only if the tick is valid. */
  private publishNewTopic(tick: BusTick, topic: string, feedId: string): PublishResult {
    if (topicError(topic) !== null) return this.reject(feedId, 'invalid_topic');
    const parsed = parseTopic(topic);
    const rules = tickRules(parsed.assetClass, parsed.channel);
    const isBook = rules.kind === 'book';
    const wire = isBook ? toBookChanges(tick, rules) : toWireTick(tick, rules, 1, this.clock.now());
    if (typeof wire === 'string') return this.reject(feedId, wire);
    const created = this.topicsCreated.get(feedId) ?? 0;
    if (created >= this.maxTopicsPerFeed) return this.reject(feedId, 'topic_limit');
    this.topicsCreated.set(feedId, created + 1);
    const state = new TopicState(parsed, rules, feedId, this.epoch, this.newHistory(rules), isBook ? new BookWindow(this.bookDepth) : null);
    this.byTopic.set(parsed.topic, state);
    this.sink.onTopic(state);
    if (isBook) return this.publishBook(state, tick, feedId);
    this.accept(state, wire as WireEntry, feedId);
    return { ok: true, seq: 1 };
  }

  /**
   * Book topics: the feed's level changes go through the topic's BookWindow, and what changed in
   * the visible top levels is stamped and sent with the checksum of the result. A change that
   * leaves the visible levels as they were is accepted but produces no update (and no seq).
   */
  private publishBook(state: TopicState, tick: BusTick, feedId: string): PublishResult {
    const changes = toBookChanges(tick, state.rules);
    if (typeof changes === 'string') return this.reject(feedId, changes);
    if (tick.ts < state.lastTs) return this.reject(feedId, 'timestamp_backwards');
    const delta = state.book!.update(changes.bids, changes.asks);
    if (delta === null) {
      state.lastTs = tick.ts;
      this.observer.accepted(feedId);
      return { ok: true, seq: state.seq };
    }
    const seq = state.seq + 1;
    this.accept(state, { seq, ts: tick.ts, gts: this.clock.now(), bids: delta.bids, asks: delta.asks, checksum: delta.checksum }, feedId);
    return { ok: true, seq };
  }

  private accept(state: TopicState, wire: WireEntry, feedId: string): void {
    state.feedId = feedId;
    state.seq = wire.seq;
    state.lastTs = wire.ts;
    state.pending.push(wire);
    if (!state.queued) {
      state.queued = true;
      this.dirty.push(state);
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flushBound);
    }
    this.observer.accepted(feedId);
  }

  flush(): void {
    this.flushScheduled = false;
    const dirty = this.dirty;
    const now = this.clock.now();
    for (let i = 0; i < dirty.length; i++) {
      const state = dirty[i]!;
      state.queued = false;
      this.flushTopic(state, now);
    }
    dirty.length = 0;
  }

  private flushTopic(state: TopicState, now: number): void {
    const pending = state.pending;
    const total = pending.length;
    if (total === 0) return;
    const observer = this.observer;
    for (let i = 0; i < total; i++) observer.published((now - pending[i]!.gts) / 1000);
    const max = this.maxTicksPerFrame;
    if (total <= max) {
      this.emitFrame(state, pending, 0, total);
    } else {
      // A slice per frame: cheaper than refilling one reused array (`length = 0` is a runtime call).
      for (let start = 0; start < total; start += max) {
        const end = Math.min(total, start + max);
        this.emitFrame(state, pending.slice(start, end), start, end);
      }
    }
    for (let i = 0; i < total; i++) state.history.push(pending[i]!);
    state.last = pending[total - 1];
    state.lastUpdate = now;
    pending.length = 0;
  }

  replayAfter(topic: string, afterSeq: number): WireEntry[] | null {
    const state = this.byTopic.get(topic);
    if (state === undefined) return afterSeq === 0 ? [] : null;
    return state.history.after(afterSeq, this.clock.now());
  }

  /** One frame: `ticks` is pending[from, to) (the whole pending list, or a slice of it). */
  private emitFrame(state: TopicState, ticks: readonly WireEntry[], from: number, to: number): void {
    let packed: Uint8Array;
    if (state.flatKind !== null) {
      packed = this.encoder.encode(state.prefix!, state.flatKind, state.pending, from, to);
    } else {
      const frame = state.frame;
      frame.ticks = ticks as WireEntry[];
      packed = packFrame(frame);
      frame.ticks = state.pending;
    }
    const batch = this.batch;
    batch.topic = state;
    batch.epoch = this.epoch;
    batch.ticks = ticks;
    batch.packed = packed;
    this.sink.onBatch(batch);
  }

  private reject(feedId: string, reason: TickRejectReason): PublishResult {
    this.observer.rejected(feedId, reason);
    return { ok: false, reason };
  }

  async close(): Promise<void> {
    this.flush();
    this.closed = true;
  }
}
