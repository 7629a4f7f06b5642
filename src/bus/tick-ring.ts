import type { WireTick } from '../core/tick.ts';

/**
 * The recent ticks of one topic, bounded by count and age, for resume.
 * Seqs in the ring are consecutive (the bus assigns them without holes), so a lookup by seq is
 * index arithmetic. Fixed-size array, no shifting.
 */
export class TickRing {
  private readonly slots: (WireTick | undefined)[];
  private head = 0; // index of the next write
  private size = 0;

  constructor(
    readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {
    this.slots = new Array<WireTick | undefined>(capacity).fill(undefined);
  }

  push(tick: WireTick): void {
    this.slots[this.head] = tick;
    this.head = (this.head + 1) % this.capacity;
    if (this.size < this.capacity) this.size++;
  }

  private at(i: number): WireTick {
    // i = 0 is the oldest held tick
    return this.slots[(this.head - this.size + i + this.capacity * 2) % this.capacity]!;
  }

  /**
   * The held ticks with seq > afterSeq, oldest first, or null when tick afterSeq+1 is no longer
   * held (evicted by count or older than maxAgeMs at `now`) or afterSeq is beyond the newest seq.
   */
  after(afterSeq: number, now: number): WireTick[] | null {
    if (this.size === 0) return afterSeq === 0 ? [] : null;
    const newest = this.at(this.size - 1).seq;
    if (afterSeq > newest) return null;
    if (afterSeq === newest) return [];
    const oldest = this.at(0).seq;
    if (afterSeq + 1 < oldest) return null;
    const start = afterSeq + 1 - oldest;
    if (now - this.at(start).gts > this.maxAgeMs) return null;
    const out: WireTick[] = [];
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
