import type { DayStats } from '../protocol/frames.ts';

export const DAY_MS = 86_400_000;

/** UTC day number of an epoch-ms time: the trading day rolls at 00:00 UTC (docs/protocol.md §17). */
export function dayOf(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/**
 * One instrument's statistics for the current trading day, from trades (size-weighted) or from
 * quote mids (FX, where there are no trades: each mid weighs the same and volume stays 0).
 * The day rolls lazily on the first `add` or `view` at or after 00:00 UTC, by the injected
 * clock's time: the last price seen before the roll becomes `prevClose`.
 */
export class DayStatsState {
  private day = Number.NaN;
  private open = Number.NaN;
  private high = Number.NaN;
  private low = Number.NaN;
  private last = Number.NaN;
  private prevClose = Number.NaN;
  private volume = 0;
  /** Σ price × size (trades) or Σ price (mids). */
  private weighted = 0;
  private count = 0;

  constructor(readonly source: 'trade' | 'mid') {}

  add(price: number, size: number, now: number): void {
    this.roll(now);
    if (this.count === 0) {
      this.open = price;
      this.high = price;
      this.low = price;
    } else {
      if (price > this.high) this.high = price;
      if (price < this.low) this.low = price;
    }
    this.last = price;
    this.count++;
    if (this.source === 'trade') {
      this.volume += size;
      this.weighted += price * size;
    } else {
      this.weighted += price;
    }
  }

  private roll(now: number): void {
    const day = dayOf(now);
    if (day === this.day) return;
    if (day < this.day) return; // a clock going back does not reopen a day
    if (!Number.isNaN(this.last)) this.prevClose = this.last;
    this.day = day;
    this.open = this.high = this.low = this.last = Number.NaN;
    this.volume = 0;
    this.weighted = 0;
    this.count = 0;
  }

  view(now: number): DayStats {
    this.roll(now);
    const orNull = (v: number) => (Number.isNaN(v) ? null : v);
    const hasChange = this.count > 0 && !Number.isNaN(this.prevClose);
    const change = hasChange ? this.last - this.prevClose : null;
    const weight = this.source === 'trade' ? this.volume : this.count;
    return {
      day: new Date(this.day * DAY_MS).toISOString().slice(0, 10),
      source: this.source,
      open: orNull(this.open),
      high: orNull(this.high),
      low: orNull(this.low),
      last: orNull(this.last),
      prevClose: orNull(this.prevClose),
      volume: this.volume,
      vwap: weight > 0 ? this.weighted / weight : null,
      change,
      changePct: change === null ? null : (change / this.prevClose) * 100,
    };
  }
}
