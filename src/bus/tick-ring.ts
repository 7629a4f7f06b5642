import { FLAT_ENTRY_KEYS, type WireEntry } from '../core/tick.ts';

/** Slots allocated at first; a ring doubles up to its capacity as ticks arrive. */
const INITIAL_SLOTS = 16;

/**
 * The recent ticks of one topic, bounded by count and age, for resume.
 * Seqs in the ring are consecutive (the bus assigns them without holes), so a lookup by seq is
 * index arithmetic. Storage grows by doubling up to `capacity` (a quiet topic never pays for a
 * full ring), then wraps; nothing shifts. Subclasses say how a tick is kept in a slot.
 */
abstract class Ring {
  /** Slots allocated now (≤ capacity). */
  protected slots = 0;
  private head = 0; // index of the next write
  private size = 0;
  /** Gateway time after which the oldest held tick is past maxAgeMs (a lower bound; -∞ when empty). */
  private evictAfter = Number.NEGATIVE_INFINITY;

  constructor(
    readonly capacity: number,
    private readonly maxAgeMs: number,
  ) {}

  protected abstract store(slot: number, tick: WireEntry): void;
  protected abstract load(slot: number): WireEntry;
  protected abstract seqAt(slot: number): number;
  protected abstract gtsAt(slot: number): number;
  /** Lets go of a slot's tick (object storage frees the reference). */
  protected abstract release(slot: number): void;
  /** Reallocates to `slots` slots, keeping the `count` held ticks that start at `oldest`, now at slots 0…count-1. */
  protected abstract resize(slots: number, oldest: number, count: number): void;

  /**
   * Adds the newest tick. Ticks older than maxAgeMs (by gateway time, relative to this one) can
   * never be replayed, so they are dropped rather than held until the count bound overwrites
   * them: the memory a quiet topic holds follows the age bound too (a topic with 3 ticks/s holds
   * ~180, not 1000), and the history stops growing once the gateway has run for maxAgeMs.
   * Hot path: one comparison per push; the oldest tick is only looked at once `evictAfter` (the
   * time at which the oldest held tick ages out) has passed.
   */
  push(tick: WireEntry): void {
    if (this.size === this.slots && this.slots < this.capacity) this.grow();
    this.store(this.head, tick);
    this.head = this.head + 1 === this.slots ? 0 : this.head + 1;
    if (this.size < this.slots) this.size++;
    if (tick.gts > this.evictAfter) this.evict(tick.gts);
  }

  private grow(): void {
    const slots = Math.min(this.capacity, Math.max(INITIAL_SLOTS, this.slots * 2));
    this.resize(slots, this.slot(0), this.size);
    this.slots = slots;
    this.head = this.size === slots ? 0 : this.size;
  }

  private evict(now: number): void {
    for (;;) {
      const oldest = this.slot(0);
      const gts = this.gtsAt(oldest);
      if (this.size === 1 || now - gts <= this.maxAgeMs) {
        this.evictAfter = gts + this.maxAgeMs;
        return;
      }
      this.release(oldest);
      this.size--;
    }
  }

  /** The slot of the i-th held tick (i = 0: the oldest). */
  private slot(i: number): number {
    return (this.head - this.size + i + this.slots * 2) % (this.slots || 1);
  }

  /**
   * The held ticks with seq > afterSeq, oldest first, or null when tick afterSeq+1 is no longer
   * held (evicted by count or older than maxAgeMs at `now`) or afterSeq is beyond the newest seq.
   */
  after(afterSeq: number, now: number): WireEntry[] | null {
    if (this.size === 0) return afterSeq === 0 ? [] : null;
    const newest = this.seqAt(this.slot(this.size - 1));
    if (afterSeq > newest) return null;
    if (afterSeq === newest) return [];
    const oldest = this.seqAt(this.slot(0));
    if (afterSeq + 1 < oldest) return null;
    const start = afterSeq + 1 - oldest;
    if (now - this.gtsAt(this.slot(start)) > this.maxAgeMs) return null;
    const out: WireEntry[] = [];
    for (let i = start; i < this.size; i++) out.push(this.load(this.slot(i)));
    return out;
  }

  clear(): void {
    for (let i = 0; i < this.size; i++) this.release(this.slot(i));
    this.head = 0;
    this.size = 0;
  }

  /** Seq of the oldest tick still usable for resume at `now`, or 0 when none. */
  oldestSeq(now: number): number {
    for (let i = 0; i < this.size; i++) {
      const slot = this.slot(i);
      if (now - this.gtsAt(slot) <= this.maxAgeMs) return this.seqAt(slot);
    }
    return 0;
  }
}

/** A ring of any entries (books, bars, whatever a relay receives), held as the objects themselves. */
export class TickRing extends Ring {
  private entries: (WireEntry | undefined)[] = [];

  protected store(slot: number, tick: WireEntry): void {
    this.entries[slot] = tick;
  }
  protected load(slot: number): WireEntry {
    return this.entries[slot]!;
  }
  protected seqAt(slot: number): number {
    return this.entries[slot]!.seq;
  }
  protected gtsAt(slot: number): number {
    return this.entries[slot]!.gts;
  }
  protected release(slot: number): void {
    this.entries[slot] = undefined;
  }
  protected resize(slots: number, oldest: number, count: number): void {
    const next = new Array<WireEntry | undefined>(slots).fill(undefined);
    for (let i = 0; i < count; i++) next[i] = this.entries[(oldest + i) % this.slots];
    this.entries = next;
  }
}

/**
 * A ring of quotes or trades held as numbers in one Float64Array (a row per tick), not as
 * objects. Why: a held object outlives several young-generation collections, so V8 copies it,
 * promotes it, and later marks and compacts it in the old generation; with 1,000 ticks held per
 * topic that was a quarter of the bus's CPU per tick, plus GC threads competing for the cores.
 * Here a tick's object dies young, right after its frame is sent.
 * `after` (resume, a cold path) builds the objects again, with the same keys in the same order.
 */
export class FlatTickRing extends Ring {
  private rows = new Float64Array(0);
  private readonly width: number;

  constructor(
    private readonly kind: 'quote' | 'trade',
    capacity: number,
    maxAgeMs: number,
  ) {
    super(capacity, maxAgeMs);
    this.width = FLAT_ENTRY_KEYS[kind].length;
  }

  protected store(slot: number, tick: WireEntry): void {
    const r = this.rows;
    const o = slot * this.width;
    const t = tick as {
      seq: number;
      ts: number;
      gts: number;
      bid: number;
      ask: number;
      bidSize: number;
      askSize: number;
      price: number;
      size: number;
    };
    r[o] = t.seq;
    r[o + 1] = t.ts;
    r[o + 2] = t.gts;
    if (this.kind === 'quote') {
      r[o + 3] = t.bid;
      r[o + 4] = t.ask;
      r[o + 5] = t.bidSize;
      r[o + 6] = t.askSize;
    } else {
      r[o + 3] = t.price;
      r[o + 4] = t.size;
    }
  }
  protected load(slot: number): WireEntry {
    const r = this.rows;
    const o = slot * this.width;
    if (this.kind === 'quote')
      return { seq: r[o]!, ts: r[o + 1]!, gts: r[o + 2]!, bid: r[o + 3]!, ask: r[o + 4]!, bidSize: r[o + 5]!, askSize: r[o + 6]! };
    return { seq: r[o]!, ts: r[o + 1]!, gts: r[o + 2]!, price: r[o + 3]!, size: r[o + 4]! };
  }
  protected seqAt(slot: number): number {
    return this.rows[slot * this.width]!;
  }
  protected gtsAt(slot: number): number {
    return this.rows[slot * this.width + 2]!;
  }
  protected release(): void {}
  protected resize(slots: number, oldest: number, count: number): void {
    const w = this.width;
    const next = new Float64Array(slots * w);
    for (let i = 0; i < count; i++) {
      const from = ((oldest + i) % this.slots) * w;
      next.set(this.rows.subarray(from, from + w), i * w);
    }
    this.rows = next;
  }
}
