// Why this file is over 400 lines: NatsBus is one state machine. The live subscription, the
// stream fills that hold a topic's live frames back while its history is read (snapshot, resume,
// warm-up, resync after a reconnect), and the release in seq order share the per-topic state and
// must change together; split apart they would need that state passed around. What has no share
// in it already lives beside it: the connection (link.ts), stream reads (stream.ts), subject
// names (subjects.ts), the per-topic store (relay-bus.ts).
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import type { FeedTick, WireEntry } from '../../core/tick.ts';
import { isPattern, parseTopic, topicError, TopicPattern } from '../../core/topic.ts';
import { unpackFrame } from '../../protocol/codec.ts';
import type { ResumePosition } from '../../protocol/frames.ts';
import type { BusSink, EncodedBatch, PublishResult, TopicView } from '../bus.ts';
import { RelayBus } from '../relay-bus.ts';
import type { WarmableBus } from '../warmable.ts';
import { NatsLink, type NatsLinkOptions } from './link.ts';
import { FEED_HEADER } from './ingest-publisher.ts';
import { decodeTicks, newestStreamEpoch, TickStreamReader, type StoredFrame } from './stream.ts';
import { Subjects } from './subjects.ts';

/** Stream reads in flight at once after a reconnect (each holds its topic's live frames). */
const RESYNC_CONCURRENCY = 8;
/** After a reconnect, topics whose read has not started within this long are not read back. */
const RESYNC_BUDGET_MS = 5_000;

/** The feed id of topics whose frames carry no feed header. */
export const NATS_FEED_ID = 'nats';

export type StreamReadKind = 'snapshot' | 'history' | 'resync';
export type StreamReadResult = 'ok' | 'empty' | 'error' | 'timeout';

/** Observability and state hooks, so the bus stays free of metric-library details. */
export interface NatsBusHooks {
  /**
   * The NATS connection came up (`reconnected`: after a loss) or went down. `feeds`: the ids of
   * the feeds whose topics this gateway serves (their topics are stale while NATS is down).
   */
  connection(up: boolean, reconnected: boolean, feeds: ReadonlySet<string>): void;
  streamRead(kind: StreamReadKind, result: StreamReadResult): void;
}

export interface NatsBusOptions {
  clock: Clock;
  historyMaxTicks: number;
  historyMaxAgeMs: number;
  link: Omit<NatsLinkOptions, 'name'>;
  subjectPrefix: string;
  /** JetStream stream name when snapshots and resume may be read from the stream; null: core NATS only. */
  stream: string | null;
  logger: Logger;
  hooks: NatsBusHooks;
  /** Plain per-frame counter, read at scrape time. */
  counters: { framesIn: number };
  /** Longest a subscribe waits for stream reads before it is answered with what is there. */
  warmTimeoutMs?: number;
  /** How long a topic fetched for a subscribe stays subscribed on NATS after the fetch. */
  warmLingerMs?: number;
}

interface Held {
  count: number;
  sub: Subscription | null;
  pattern: TopicPattern | null;
}

/** A topic being filled from the stream: live frames wait in `buffer` until the stream part is in. */
interface Fill {
  readonly kind: StreamReadKind;
  /** The seq the reader needs ticks after (a resume position, or the relay's last seq), or null. */
  after: number | null;
  readonly buffer: { data: Uint8Array; feedId: string | null }[];
  done: Promise<void>;
  stopped: boolean;
}

const noopSink: BusSink = { onTopic() {}, onBatch() {} };

/**
 * The serve side of the NATS bus: a RelayBus fed by NATS subscriptions that follow client
 * interest. Ticks were validated, stamped (seq, epoch, gateway time) and encoded once by the
 * ingest process; this relays those exact bytes, so every gateway serves identical seqs.
 *
 * - Interest: `interest(entry, interested)` (the transport's hook, topics and patterns) holds a
 *   NATS subscription per entry, `<prefix>.<entry>` (a pattern's `*` is NATS's token wildcard),
 *   unsubscribed when the last holder lets go. Overlapping entries (a pattern and a topic it
 *   matches) deliver a frame twice; the RelayBus drops the second copy by seq.
 * - NATS down: clients stay connected; `hooks.connection(false)` lets the composition root mark
 *   topics stale at once; nats.js reconnects forever with backoff and jitter and resubscribes.
 * - JetStream mode (`stream` set): a subscribe for a topic with no live state here first reads
 *   the topic's last frame (snapshot) or its recent frames (resume) from the stream (`warm`), and
 *   after a reconnect the frames missed meanwhile are read back and delivered in order (resync).
 *
 * `publish` is refused: ticks enter at the ingest process.
 */
export class NatsBus implements WarmableBus {
  readonly subjects: Subjects;
  private readonly relay: RelayBus;
  private sink: BusSink = noopSink;
  /** The topic whose stream frames are being relayed as history (not handed to onBatch). */
  private muted: string | null = null;
  private readonly held = new Map<string, Held>();
  private readonly fills = new Map<string, Fill>();
  private readonly link: NatsLink;
  private reader: TickStreamReader | null = null;
  private readonly lingerTimers = new Set<NodeJS.Timeout>();
  /** Feed ids seen in frame headers (cold path: read only for a topic's first frame). */
  private readonly feeds = new Set<string>([NATS_FEED_ID]);
  private readonly warmTimeoutMs: number;
  private readonly warmLingerMs: number;
  private closed = false;
  private resolveEpochAsked: (p: Promise<void>) => void = () => {};
  private readonly epochAsked = new Promise<void>((resolve) => {
    this.resolveEpochAsked = (p) => void p.then(resolve, resolve);
  });
  /** False while a finished fill relays the frames it held (see repair()). */
  private repairing = true;
  private readonly onMessageBound = (err: Error | null, msg: Msg) => this.onMessage(err, msg);

  constructor(private readonly options: NatsBusOptions) {
    this.subjects = new Subjects(options.subjectPrefix);
    this.relay = new RelayBus({
      clock: options.clock,
      historyMaxTicks: options.historyMaxTicks,
      historyMaxAgeMs: options.historyMaxAgeMs,
      ...(options.stream === null
        ? {}
        : { hole: (topic: string, packed: Uint8Array, feedId: string) => this.repair(topic, packed, feedId) }),
    });
    this.relay.setSink({
      onTopic: (view) => this.sink.onTopic(view),
      onBatch: (batch: EncodedBatch) => {
        if (batch.topic.parsed.topic !== this.muted) this.sink.onBatch(batch);
      },
      onGap: (view, from, to) => {
        if (view.parsed.topic !== this.muted) this.sink.onGap?.(view, from, to);
      },
      onReset: (view, epoch) => this.sink.onReset?.(view, epoch),
      onEpoch: (epoch) => this.sink.onEpoch?.(epoch),
    });
    this.warmTimeoutMs = options.warmTimeoutMs ?? 2_000;
    this.warmLingerMs = options.warmLingerMs ?? 5_000;
    this.link = new NatsLink(
      { ...options.link, name: 'tickgate-serve' },
      { up: (nc, again) => this.onUp(nc, again), down: () => this.onDown() },
      options.logger,
    );
  }

  // ---- TopicBus: state comes from the RelayBus ------------------------------------------------

  get epoch(): number {
    return this.relay.epoch;
  }

  get topicCount(): number {
    return this.relay.topicCount;
  }

  get connected(): boolean {
    return this.link.connected;
  }

  setSink(sink: BusSink): void {
    this.sink = sink;
  }

  publish(tick: FeedTick, feedId: string): PublishResult {
    return this.relay.publish(tick, feedId);
  }

  flush(): void {}

  topic(topic: string): TopicView | undefined {
    return this.relay.topic(topic);
  }

  topics(): IterableIterator<TopicView> {
    return this.relay.topics();
  }

  replayAfter(topic: string, afterSeq: number): WireEntry[] | null {
    return this.relay.replayAfter(topic, afterSeq);
  }

  /** Every tick of `topic` held for resume, oldest first (handing a topic's state to a worker thread). */
  heldTicks(topic: string): WireEntry[] {
    return this.relay.held(topic);
  }

  // ---- lifecycle -----------------------------------------------------------------------------

  /** Starts connecting in the background: the gateway serves (topics pending) until NATS is up. */
  start(): void {
    this.link.start();
  }

  /** Resolves once connected and every held subscription has reached the server (tests, ops). */
  async settled(): Promise<void> {
    const nc = await this.link.ready();
    if (!this.closed && !nc.isClosed()) await nc.flush();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.lingerTimers) clearTimeout(t);
    this.lingerTimers.clear();
    for (const fill of this.fills.values()) fill.stopped = true;
    await this.link.close();
    await this.relay.close();
  }

  /**
   * Resolves once the upstream epoch is known (asked at the first connection) or after
   * `timeoutMs`, whichever comes first: the gateway's welcome and /healthz then carry it.
   */
  epochKnown(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      timer.unref();
      void this.epochAsked.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Asks the active ingest for its epoch (request/reply), or, with none answering, reads the
   * stream's newest frame. Bounded; a failure leaves the epoch to the first frame.
   */
  private async askEpoch(nc: NatsConnection): Promise<void> {
    let epoch: number | null = null;
    try {
      const reply = await nc.request(this.subjects.epochRequest, '', { timeout: 1_000 });
      const body = reply.json<{ epoch?: unknown }>();
      if (typeof body.epoch === 'number') epoch = body.epoch;
    } catch {
      // no ingest answering (not started yet, or an older version)
    }
    if (epoch === null && this.options.stream !== null) epoch = await newestStreamEpoch(nc, this.options.stream).catch(() => null);
    if (epoch !== null && !this.closed) this.relay.adoptEpoch(epoch);
  }

  private onUp(nc: NatsConnection, reconnected: boolean): void {
    if (this.options.stream !== null && this.reader === null) this.reader = new TickStreamReader(nc, this.subjects, this.options.stream);
    if (!reconnected) this.resolveEpochAsked(this.askEpoch(nc));
    // Entries held before the first connection; later, nats.js resubscribes by itself.
    for (const [entry, held] of this.held)
      if (held.sub === null) held.sub = nc.subscribe(this.subjects.of(entry), { callback: this.onMessageBound });
    this.options.hooks.connection(true, reconnected, this.feeds);
    if (reconnected && this.reader !== null) void this.resync();
  }

  private onDown(): void {
    this.options.hooks.connection(false, false, this.feeds);
  }

  // ---- interest → subscriptions ----------------------------------------------------------------

  /** The transport's interest hook: the first holder of a topic or pattern subscribes, the last unsubscribes. */
  interest(entry: string, interested: boolean): void {
    const held = this.held.get(entry);
    if (interested) {
      if (held !== undefined) {
        held.count++;
        return;
      }
      const fresh: Held = { count: 1, sub: null, pattern: isPattern(entry) ? new TopicPattern(entry) : null };
      this.held.set(entry, fresh);
      const nc = this.link.connection;
      // While reconnecting nats.js queues the SUB; before the first connection onUp subscribes.
      if (nc !== null && !nc.isClosed()) fresh.sub = nc.subscribe(this.subjects.of(entry), { callback: this.onMessageBound });
      return;
    }
    if (held === undefined) return;
    if (--held.count > 0) return;
    this.held.delete(entry);
    held.sub?.unsubscribe();
  }

  /** Entries (topics and patterns) with a NATS subscription, for tests and /healthz-style reports. */
  subscribedEntries(): string[] {
    return [...this.held.keys()];
  }

  private covered(topic: string): boolean {
    if (this.held.has(topic)) return true;
    const parsed = this.relay.topic(topic)?.parsed ?? parseTopic(topic);
    for (const held of this.held.values()) if (held.pattern?.matches(parsed)) return true;
    return false;
  }

  // ---- the frame path ----------------------------------------------------------------------------

  private onMessage(err: Error | null, msg: Msg): void {
    if (err !== null) {
      this.options.logger.error({ err }, 'NATS subscription error');
      return;
    }
    this.options.counters.framesIn++;
    if (this.fills.size !== 0) {
      const fill = this.fills.get(this.subjects.topicOf(msg.subject));
      if (fill !== undefined) {
        // Only while this topic is being read from the stream (cold path): keep a copy, in order.
        fill.buffer.push({ data: msg.data.slice(), feedId: msg.headers?.get(FEED_HEADER) || null });
        return;
      }
    }
    try {
      this.relay.relay(
        msg.data,
        this.relay.topic(this.subjects.topicOf(msg.subject)) === undefined ? this.feedOf(msg.headers?.get(FEED_HEADER)) : NATS_FEED_ID,
      );
    } catch (e) {
      this.options.logger.error({ err: e, subject: msg.subject }, 'relaying a NATS frame failed');
    }
  }

  private feedOf(header: string | null | undefined): string {
    if (!header) return NATS_FEED_ID;
    this.feeds.add(header);
    return header;
  }

  // ---- JetStream: snapshot, resume and resync from the stream ----------------------------------------

  warm(topics: readonly string[], resume: ReadonlyMap<string, ResumePosition>, snapshot: boolean): Promise<void> | null {
    if (this.reader === null || !this.link.connected || this.closed) return null;
    let waits: Promise<void>[] | null = null;
    for (const topic of warmCandidates(topics, resume)) {
      const inFlight = this.fills.get(topic);
      if (inFlight !== undefined) {
        (waits ??= []).push(inFlight.done);
        continue;
      }
      // Live here already: local state is current; resume is served from local history.
      if (this.covered(topic) && this.relay.topic(topic)?.last !== undefined) continue;
      const position = resume.get(topic);
      if (position === undefined && !snapshot) continue;
      const kind: StreamReadKind = position === undefined ? 'snapshot' : 'history';
      const fill = this.holdLive(topic, kind);
      if (position !== undefined && position.epoch === this.relay.epoch) fill.after = position.seq;
      (waits ??= []).push(this.runFill(topic, fill, this.options.clock.now() - this.options.historyMaxAgeMs, true));
    }
    if (waits === null) return null;
    const all = Promise.all(waits).then(() => undefined);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        for (const topic of topics) {
          const fill = this.fills.get(topic);
          if (fill !== undefined) fill.stopped = true;
        }
        resolve();
      }, this.warmTimeoutMs);
      void all.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** From now on, live frames of `topic` wait in a fill (synchronous: no frame slips past). */
  private holdLive(topic: string, kind: StreamReadKind): Fill {
    const fill: Fill = { kind, after: this.relay.topic(topic)?.last?.seq ?? null, buffer: [], done: Promise.resolve(), stopped: false };
    this.fills.set(topic, fill);
    return fill;
  }

  private runFill(topic: string, fill: Fill, startTime: number, muted: boolean): Promise<void> {
    const { kind } = fill;
    const temporary = kind !== 'resync';
    if (temporary) this.interest(topic, true);
    // Bounded: while a cluster elects a stream leader, reads go unanswered, and this topic's live
    // frames wait meanwhile. After the bound they are relayed (a hole, if any, is reported).
    const read = this.readStream(topic, kind, startTime, muted, fill);
    read.catch(() => undefined); // settles after the bound: not an unhandled rejection
    let timer: NodeJS.Timeout | undefined;
    const bounded = Promise.race([
      read,
      new Promise<StreamReadResult>((resolve) => {
        timer = setTimeout(() => {
          fill.stopped = true;
          resolve('timeout');
        }, this.warmTimeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    fill.done = bounded
      .then(
        (result) => this.options.hooks.streamRead(kind, fill.stopped && result === 'ok' ? 'timeout' : result),
        (err: unknown) => {
          this.options.hooks.streamRead(kind, 'error');
          this.options.logger.warn(
            { err: (err as Error).message, topic, kind },
            'reading the JetStream stream failed; serving what is held',
          );
        },
      )
      .finally(() => {
        this.release(topic, fill);
        if (!temporary) return;
        // Held a little longer: the subscribe that asked takes its own hold right after this
        // resolves, and a client moving between gateways often asks again soon.
        const timer = setTimeout(() => {
          this.lingerTimers.delete(timer);
          if (!this.closed) this.interest(topic, false);
        }, this.warmLingerMs);
        timer.unref();
        this.lingerTimers.add(timer);
      });
    return fill.done;
  }

  /** Ends a fill: the live frames it held are relayed, in order. */
  private release(topic: string, fill: Fill): void {
    fill.stopped = true;
    if (this.fills.get(topic) === fill) this.fills.delete(topic);
    // What the stream could not fill is lost for good: the relay reports it (a `gap` status)
    // instead of asking for another read.
    this.repairing = false;
    try {
      for (const { data, feedId } of fill.buffer) this.relay.relay(data, this.feedOf(feedId));
    } finally {
      this.repairing = true;
    }
  }

  /**
   * The relay's hole hook: a live frame that does not follow its topic's last seq. In JetStream
   * mode the missing frames are usually in the stream (published while this gateway was cut off,
   * or before nats.js had resubscribed): hold this frame and later ones, read the hole back, then
   * relay them. Returns false (report the hole) without a stream, inside a fill, or while
   * relaying what a fill held.
   */
  private repair(topic: string, packed: Uint8Array, feedId: string): boolean {
    if (!this.repairing || this.reader === null || this.closed || this.fills.has(topic) || !this.link.connected) return false;
    const view = this.relay.topic(topic);
    if (view === undefined) return false;
    const fill = this.holdLive(topic, 'resync');
    fill.buffer.push({ data: packed.slice(), feedId });
    void this.runFill(topic, fill, this.resyncStart(view), false);
    return true;
  }

  /** Where a read-back starts: a little before the last frame held (local vs server clock); what is held is dropped by seq. */
  private resyncStart(view: TopicView): number {
    return Math.max(view.lastUpdate - 2_000, this.options.clock.now() - this.options.historyMaxAgeMs);
  }

  private async readStream(topic: string, kind: StreamReadKind, startTime: number, muted: boolean, fill: Fill): Promise<StreamReadResult> {
    const reader = this.reader!;
    const nc = this.link.connection;
    if (nc === null) return 'error';
    await nc.flush(); // our SUB is at the server from here on
    const last = await reader.last(topic);
    if (last === null) return 'empty';
    const epoch = frameEpoch(last.data);
    // A topic not published since the ingest process restarted: relaying its old frames would
    // take the whole bus back to the old epoch.
    if (epoch === null || (this.relay.epoch !== 0 && epoch < this.relay.epoch)) return 'empty';
    const relay = ({ data, feedId }: StoredFrame) => {
      // Past the bound the fill's held frames were relayed already: older ones are history now.
      if (fill.stopped || frameEpoch(data) !== epoch) return;
      this.muted = muted ? topic : null;
      try {
        this.relay.relay(data, this.feedOf(feedId));
      } finally {
        this.muted = null;
      }
    };
    if (kind !== 'snapshot' && last.storedAt >= startTime) {
      const from = await this.narrowStart(topic, startTime, fill.after, epoch);
      for await (const frame of reader.range(topic, from, last.streamSeq, () => fill.stopped || this.closed)) relay(frame);
    }
    relay(last); // dropped as a duplicate when the range already ended with it
    return 'ok';
  }

  /**
   * A resume usually needs only the last seconds of a topic, but the read starts by time and the
   * full window (`historyMaxAgeMs`) of a busy topic can take longer than the read's bound — cut
   * short, it would leave a hole right before the live frames. So: when the ticks needed start
   * after `afterSeq`, try a short window first (one peek at its first frame) and use it when it
   * reaches back far enough.
   */
  private async narrowStart(topic: string, startTime: number, afterSeq: number | null, epoch: number): Promise<number> {
    if (afterSeq === null || this.reader === null) return startTime;
    const now = this.options.clock.now();
    for (const windowMs of [5_000, 20_000]) {
      const candidate = now - windowMs;
      if (candidate <= startTime) return startTime;
      const first = await this.reader.first(topic, candidate).catch(() => null);
      if (first === null) continue;
      const frame = decodeTicks(first.data);
      if (frame !== null && frame.epoch === epoch && frame.ticks[0]!.seq <= afterSeq + 1) return candidate;
    }
    return startTime;
  }

  /**
   * After a reconnect: reads back what each live topic missed, a few topics at a time. Every
   * topic's live frames are held from this moment on (not only once its read starts): a frame
   * relayed before the read would make the relay drop the stream's older frames as duplicates.
   */
  private async resync(): Promise<void> {
    const queue: { topic: string; fill: Fill; since: number }[] = [];
    for (const view of this.relay.topics()) {
      const topic = view.parsed.topic;
      if (view.last !== undefined && this.covered(topic) && !this.fills.has(topic)) {
        queue.push({ topic, since: this.resyncStart(view), fill: this.holdLive(topic, 'resync') });
      }
    }
    let i = 0;
    const deadline = this.options.clock.now() + RESYNC_BUDGET_MS;
    const worker = async () => {
      while (i < queue.length) {
        const next = queue[i++]!;
        if (this.closed || this.options.clock.now() > deadline) {
          // Thousands of topics, or a stream that does not answer: the rest go live at once.
          this.release(next.topic, next.fill);
          this.options.hooks.streamRead('resync', 'timeout');
          continue;
        }
        await this.runFill(next.topic, next.fill, next.since, false);
      }
    };
    await Promise.all(Array.from({ length: RESYNC_CONCURRENCY }, worker));
  }
}

/**
 * The concrete topics a subscribe may need from the stream: its exact topics, and the topics of
 * its resume positions that one of its patterns matches (a client resuming `fx.*.quote` on a
 * gateway that has not seen those topics yet).
 */
function warmCandidates(entries: readonly string[], resume: ReadonlyMap<string, ResumePosition>): string[] {
  const out: string[] = [];
  const patterns: TopicPattern[] = [];
  for (const entry of entries) {
    if (isPattern(entry)) {
      if (topicError(entry, true) === null) patterns.push(new TopicPattern(entry));
    } else if (topicError(entry) === null) out.push(entry);
  }
  if (patterns.length === 0) return out;
  for (const topic of resume.keys()) {
    if (out.includes(topic) || topicError(topic) !== null) continue;
    const parsed = parseTopic(topic);
    if (patterns.some((p) => p.matches(parsed))) out.push(topic);
  }
  return out;
}

/** The epoch of an encoded ticks frame (cold path: stream reads only). */
function frameEpoch(data: Uint8Array): number | null {
  try {
    const frame = unpackFrame(data) as { epoch?: unknown };
    return typeof frame.epoch === 'number' ? frame.epoch : null;
  } catch {
    return null;
  }
}
