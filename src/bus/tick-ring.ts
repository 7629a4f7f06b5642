import type { WireEntry } from '../core/tick.ts';

/**
 * The recent ticks of one topic, bounded by count and age, for resume.
 * Seqs in the ring are consecutive (the bus assigns them without holes), so a lookup by seq is
 * index arithmetic. Fixed-size array, no shifting.
 */
export class TickRing {
  private readonly slots: (WireEntry | undefined)[];
  private head = 0; // index of the next write
  private size = 0;
  /** Gateway time after which the oldest held tick is past maxAgeMs (a lower bound; -∞ when empty). */
  private evictAfter = Number.NEGATIVE_INFINITY;

  constructor(
    readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {
    this.slots = new Array<WireEntry | undefined>(capacity).fill(undefined);
  }

  /**
   * Adds the newest tick. Ticks older than maxAgeMs (by gateway time, relative to this one) can
   * never be replayed, so they are dropped rather than held until the count bound overwrites
   * them: the memory a quiet topic holds follows the age bound too (a topic with 3 ticks/s holds
   * ~180, not 1000), and the history stops growing once the gateway has run for maxAgeMs.
   * Hot path: one comparison per push; the oldest tick is only looked at once `evictAfter` (the
   * time at which the oldest held tick ages out) has passed.
   */
  push(tick: WireEntry): void {
    this.slots[this.head] = tick;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
    if (tick.gts > this.evictAfter) this.evict(tick.gts);
  }

  private evict(now: number): void {
    for (;;) {
      let oldest = this.head - this.size;
      if (oldest < 0) oldest += this.capacity;
      const gts = this.slots[oldest]!.gts;
      if (this.size === 1 || now - gts <= this.maxAgeMs) {
        this.evictAfter = gts + this.maxAgeMs;
        return;
      }
      this.slots[oldest] = undefined;
      this.size--;
    }
  }

  private at(i: number): WireEntry {
    // i = 0 is the oldest held tick
    return this.slots[(this.head - this.size + i + this.capacity * 2) % this.capacity]!;
  }

  /**
   * The held ticks with seq > afterSeq, oldest first, or null when tick afterSeq+1 is no longer
   * held (evicted by count or older than maxAgeMs at `now`) or afterSeq is beyond the newest seq.
   */
  after(afterSeq: number, now: number): WireEntry[] | null {
    if (this.size === 0) return afterSeq === 0 ? [] : null;
    const newest = this.at(this.size - 1).seq;
    if (afterSeq > newest) return null;
    if (afterSeq === newest) return [];
    const oldest = this.at(0).seq;
    if (afterSeq + 1 < oldest) return null;
    const start = afterSeq + 1 - oldest;
    if (now - this.at(start).gts > this.maxAgeMs) return null;
    const out: WireEntry[] = [];
    for (let i = start; i < this.size; i++) out.push(this.at(i));
    return out;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.size = 0;
  }

  /** Seq of the oldest tick still usable for resume at `now`, or 0 when none. */
  oldestSeq(now: number): number {
    for (let i = 0; i < this.size; i++) {
      const t = this.at(i);
      if (now - t.gts <= this.maxAgeMs) return t.seq;
    }
    return 0;
  }
}
