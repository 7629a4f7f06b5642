import type { TopicBus } from '../bus/bus.ts';
import { conflateBars, mergeBookUpdates } from '../market/book-merge.ts';
import type { EntriesFrame, EntriesSnapshotFrame } from '../protocol/frames.ts';

/** Picks the tier for a requested rate: the fastest tier not above it, or the slowest tier. 0 stays 0. */
export function pickTier(tiers: readonly number[], requested: number): number {
  if (requested === 0) return 0;
  let chosen = tiers[0]!;
  for (const t of tiers) if (t <= requested && t > chosen) chosen = t;
  return chosen;
}

interface TierTopic {
  subscribers: number;
  /** Seq of the last tick this tier sent for the topic. */
  sentSeq: number;
}

interface Tier {
  readonly rate: number;
  readonly topics: Map<string, TierTopic>;
  timer: NodeJS.Timeout | null;
}

/**
 * Rate-limited delivery ("conflation"). Each configured rate is a tier with one timer; a tier
 * tracks only the topics that have subscribers at that rate. On each timer tick it sends, per
 * such topic that changed, one frame with the topic's latest value and how many ticks it stands
 * for. The frame is published once to the tier's own uWS topic, so the cost grows with
 * topics × tiers × rate, never with the raw tick rate or the number of subscribers.
 */
export class ConflationTiers {
  private readonly tiers = new Map<number, Tier>();

  constructor(
    readonly rates: readonly number[],
    private readonly bus: TopicBus,
    private readonly publish: (topic: string, rate: number, frame: EntriesFrame | EntriesSnapshotFrame) => void,
    /** A fresh snapshot of a book topic, for when its history no longer covers a tier's gap. */
    private readonly snapshot: (topic: string) => EntriesSnapshotFrame | undefined = () => undefined,
  ) {
    for (const rate of rates) this.tiers.set(rate, { rate, topics: new Map(), timer: null });
  }

  /** Subscribers of `topic` at `rate` changed by `delta` (from the subscription manager). */
  changed(topic: string, rate: number, delta: number): void {
    const tier = this.tiers.get(rate);
    if (tier === undefined) return;
    let entry = tier.topics.get(topic);
    if (entry === undefined) {
      if (delta <= 0) return;
      entry = { subscribers: 0, sentSeq: this.bus.topic(topic)?.last?.seq ?? 0 };
      tier.topics.set(topic, entry);
    }
    entry.subscribers += delta;
    if (entry.subscribers <= 0) tier.topics.delete(topic);
    if (tier.topics.size > 0 && tier.timer === null) {
      tier.timer = setInterval(() => this.emit(tier), 1000 / rate);
    } else if (tier.topics.size === 0 && tier.timer !== null) {
      clearInterval(tier.timer);
      tier.timer = null;
    }
  }

  private emit(tier: Tier): void {
    const epoch = this.bus.epoch;
    for (const [topic, entry] of tier.topics) {
      const view = this.bus.topic(topic);
      const last = view?.last;
      if (last === undefined || last.seq <= entry.sentSeq) continue;
      const conflated = last.seq - entry.sentSeq;
      const from = entry.sentSeq;
      entry.sentSeq = last.seq;
      // Book and bar topics cannot be sampled (a skipped level change corrupts a client's book, a
      // skipped final loses a bar): they get the net of what happened since the tier's last frame.
      const channel = view!.parsed.channel;
      if (conflated > 1 && (channel === 'book' || channel.startsWith('bar_'))) {
        this.emitNet(topic, tier.rate, from, conflated, channel === 'book');
        continue;
      }
      this.publish(topic, tier.rate, { t: 'ticks', topic, epoch, ticks: [last], conflated });
    }
  }

  private emitNet(topic: string, rate: number, from: number, conflated: number, book: boolean): void {
    const updates = this.bus.replayAfter(topic, from);
    if (updates === null || updates.length === 0) {
      // The history no longer holds them all: start the tier's subscribers over from a snapshot.
      const snapshot = this.snapshot(topic);
      if (snapshot !== undefined) this.publish(topic, rate, snapshot);
      return;
    }
    const ticks = book ? [mergeBookUpdates(updates)] : conflateBars(updates);
    this.publish(topic, rate, { t: 'ticks', topic, epoch: this.bus.epoch, ticks, conflated });
  }

  /** Topics with subscribers per tier, for tests and /v1/topics. */
  activeTopics(rate: number): number {
    return this.tiers.get(rate)?.topics.size ?? 0;
  }

  stop(): void {
    for (const tier of this.tiers.values()) {
      if (tier.timer) clearInterval(tier.timer);
      tier.timer = null;
    }
  }
}
