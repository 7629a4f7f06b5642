import type { WireEntry } from '../core/tick.ts';
import type { EntriesFrame } from '../protocol/frames.ts';

interface Held {
  releaseAt: number;
  frame: EntriesFrame;
}

interface DelayQueue {
  readonly delayMs: number;
  /** Topic → delayed subscribers. */
  readonly topics: Map<string, number>;
  items: Held[];
  head: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Delayed tiers: identities entitled only to delayed data get every tick `delayMs` late, from
 * the same feed. Frames of topics that have delayed subscribers are held in one FIFO per delay
 * (release times only grow) and published, once per frame, to the tier's own uWS topics.
 * Nothing is held for topics without delayed subscribers.
 */
export class DelayedTiers {
  private readonly queues = new Map<number, DelayQueue>();

  constructor(private readonly publish: (topic: string, delayMs: number, frame: EntriesFrame) => void) {}

  changed(topic: string, delayMs: number, delta: number): void {
    let q = this.queues.get(delayMs);
    if (!q) {
      if (delta <= 0) return;
      q = { delayMs, topics: new Map(), items: [], head: 0, timer: null };
      this.queues.set(delayMs, q);
    }
    const n = (q.topics.get(topic) ?? 0) + delta;
    if (n > 0) q.topics.set(topic, n);
    else q.topics.delete(topic);
  }

  get active(): boolean {
    return this.queues.size > 0;
  }

  /** Called per published frame while any delayed tier exists. */
  hold(topic: string, epoch: number, ticks: readonly WireEntry[], now: number): void {
    for (const q of this.queues.values()) {
      if (!q.topics.has(topic)) continue;
      q.items.push({ releaseAt: now + q.delayMs, frame: { t: 'ticks', topic, epoch, ticks: ticks.slice() } });
      if (q.timer === null) this.arm(q, now);
    }
  }

  private arm(q: DelayQueue, now: number): void {
    const next = q.items[q.head];
    if (!next) return;
    q.timer = setTimeout(() => this.release(q), Math.max(0, next.releaseAt - now));
  }

  private release(q: DelayQueue): void {
    q.timer = null;
    const now = Date.now();
    while (q.head < q.items.length && q.items[q.head]!.releaseAt <= now) {
      const item = q.items[q.head++]!;
      if (q.topics.has(item.frame.topic)) this.publish(item.frame.topic, q.delayMs, item.frame);
    }
    if (q.head > 1024 && q.head * 2 > q.items.length) {
      q.items = q.items.slice(q.head);
      q.head = 0;
    }
    if (q.head < q.items.length) this.arm(q, now);
    else if (q.topics.size === 0) this.queues.delete(q.delayMs);
  }

  stop(): void {
    for (const q of this.queues.values()) if (q.timer) clearTimeout(q.timer);
    this.queues.clear();
  }
}
