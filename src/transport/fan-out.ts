import type { Logger } from 'pino';
import type { EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import type { Clock } from '../core/clock.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { jsonFrame, packFrame } from '../protocol/codec.ts';
import type { EntriesFrame, EntriesSnapshotFrame, GatewayFrame, StatusFrame, WireFormat } from '../protocol/frames.ts';
import type { DelayedTiers } from './delayed.ts';
import { wireTopic } from './wire-topics.ts';

/** The part of a uWS app fan-out needs: its native publish to every socket on a uWS topic. */
export interface Publisher {
  publish(topic: string, message: Uint8Array | string, isBinary: boolean): boolean;
}

export interface FanOutDeps {
  /** Publishes natively (the uWS app). */
  app: Publisher;
  /** Subscribed sockets per uWS topic (the subscription manager's count). */
  wireSubscribers: ReadonlyMap<string, number>;
  /** New topics: the subscription manager expands patterns onto them. */
  subscriptions: { onTopic(view: TopicView): void };
  delayed: Pick<DelayedTiers, 'active' | 'hold'>;
  liveness: { readonly staleCount: number };
  bus: Pick<TopicBus, 'topicCount'>;
  metrics: Pick<Metrics, 'hot' | 'topics' | 'conflatedFrames' | 'staleTopics'>;
  logger: Pick<Logger, 'info' | 'warn'>;
  rateTiers: readonly number[];
  clock: Clock;
}

const FORMATS: readonly WireFormat[] = ['msgpack', 'json'];

/**
 * The bus sink's work: each encoded frame goes out with one native uWS publish per delivery
 * variant that has subscribers. No per-subscriber JavaScript: counters grow by the subscriber
 * count read from a Map, and JSON/conflated/delayed variants are encoded only when subscribed.
 */
export class FanOut {
  private readonly app: Publisher;
  private readonly wireSubscribers: ReadonlyMap<string, number>;
  private readonly delayed: FanOutDeps['delayed'];
  /** Open JSON connections: while 0, the tick path skips JSON encoding entirely. */
  private jsonSessions = 0;

  constructor(private readonly deps: FanOutDeps) {
    this.app = deps.app;
    this.wireSubscribers = deps.wireSubscribers;
    this.delayed = deps.delayed;
  }

  /** A connection of `format` opened (+1) or closed (-1). */
  formatCount(format: WireFormat, delta: 1 | -1): void {
    if (format === 'json') this.jsonSessions += delta;
  }

  onTopic(view: TopicView): void {
    this.deps.subscriptions.onTopic(view);
    this.deps.metrics.topics.set(this.deps.bus.topicCount);
  }

  onBatch(batch: EncodedBatch): void {
    const hot = this.deps.metrics.hot;
    const topic = batch.topic.parsed.topic;
    hot.framesPublished++;
    const subscribers = this.wireSubscribers.get(topic) ?? 0;
    if (subscribers > 0) {
      this.app.publish(topic, batch.packed, true);
      hot.framesOut += subscribers;
      hot.bytesOut += subscribers * batch.packed.byteLength;
      hot.ticksOut += subscribers * batch.ticks.length;
    }
    if (this.jsonSessions > 0) {
      this.publishEncoded(
        wireTopic(topic, 'json'),
        'json',
        { t: 'ticks', topic, epoch: batch.epoch, ticks: batch.ticks.slice() },
        batch.ticks.length,
      );
    }
    if (this.delayed.active) this.delayed.hold(topic, batch.epoch, batch.ticks, this.deps.clock.now());
  }

  /** Encodes a frame for one uWS topic only if it has subscribers; returns whether it was sent. */
  publishEncoded(uwsTopic: string, format: WireFormat, frame: GatewayFrame, ticks: number): boolean {
    const subscribers = this.wireSubscribers.get(uwsTopic) ?? 0;
    if (subscribers === 0) return false;
    const hot = this.deps.metrics.hot;
    if (format === 'json') {
      const text = jsonFrame(frame);
      this.app.publish(uwsTopic, text, false);
      hot.bytesOut += subscribers * Buffer.byteLength(text);
    } else {
      const bytes = packFrame(frame);
      this.app.publish(uwsTopic, bytes, true);
      hot.bytesOut += subscribers * bytes.byteLength;
    }
    hot.framesOut += subscribers;
    hot.ticksOut += subscribers * ticks;
    return true;
  }

  /** A delayed tier released a frame: once per format, to that tier's uWS topics. */
  publishDelayed(topic: string, delayMs: number, frame: EntriesFrame): void {
    for (const format of FORMATS) this.publishEncoded(wireTopic(topic, format, 0, delayMs), format, frame, frame.ticks.length);
  }

  /** A rate tier's frame: one sampled tick, a book's net update or bars (several entries), or a fresh snapshot. */
  publishConflated(topic: string, rate: number, frame: EntriesFrame | EntriesSnapshotFrame): void {
    let sent = false;
    for (const format of FORMATS) sent = this.publishEncoded(wireTopic(topic, format, rate), format, frame, frame.ticks.length) || sent;
    if (sent) this.deps.metrics.conflatedFrames.inc();
  }

  /** A status change reaches every subscriber of the topic, whatever its format and rate. */
  publishStatus(view: TopicView, frame: StatusFrame): void {
    const topic = view.parsed.topic;
    this.deps.metrics.staleTopics.set(this.deps.liveness.staleCount);
    this.deps.logger.info({ topic, status: frame.status, reason: frame.reason }, 'topic status changed');
    this.publishNotice(topic, frame);
  }

  /** Upstream lost seqs `from`..`to` of the topic for good: every holder is told before the jump (protocol §6.9). */
  onGap(view: TopicView, from: number, to: number): void {
    const topic = view.parsed.topic;
    this.deps.logger.warn({ topic, from, to }, 'ticks lost upstream; clients told');
    this.publishNotice(topic, { t: 'status', topic, status: 'gap', reason: 'lost', from, to, lastUpdate: Math.round(view.lastUpdate) });
  }

  /** The topic's seqs start over in a new epoch: every holder is told before its first frame (protocol §6.9). */
  onReset(view: TopicView, epoch: number): void {
    const topic = view.parsed.topic;
    this.publishNotice(topic, {
      t: 'status',
      topic,
      status: 'reset',
      reason: 'epoch_changed',
      epoch,
      lastUpdate: Math.round(view.lastUpdate),
    });
  }

  /**
   * A status frame to every real-time variant of the topic (each format, every tick and each rate
   * tier). Delayed tiers get none: their ticks come `delayMs` later, so a notice now would not sit
   * next to the frames it is about (protocol §6.9 says what such a client sees instead).
   */
  private publishNotice(topic: string, frame: GatewayFrame): void {
    for (const format of FORMATS) {
      this.publishEncoded(wireTopic(topic, format), format, frame, 0);
      for (const rate of this.deps.rateTiers) this.publishEncoded(wireTopic(topic, format, rate), format, frame, 0);
    }
  }
}
