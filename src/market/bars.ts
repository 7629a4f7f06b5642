import type { BarFields } from '../core/tick.ts';

/** Bar intervals a gateway can build, by the name used in the topic (`<class>.<SYM>.bar_<name>`). */
export const BAR_INTERVALS: Readonly<Record<string, number>> = {
  '1s': 1_000,
  '5s': 5_000,
  '1m': 60_000,
  '5m': 300_000,
  '15m': 900_000,
  '1h': 3_600_000,
};

export function barChannel(name: string): string {
  return `bar_${name}`;
}

/**
 * The open bar of one instrument at one interval. Bars are aligned to multiples of the interval
 * since the Unix epoch, in gateway time (the injected clock). An interval without prices has no
 * bar. Pure: the caller feeds prices with their gateway time and publishes what comes back.
 */
export class BarBuilder {
  private start = Number.NaN;
  private open = 0;
  private high = 0;
  private low = 0;
  private close = 0;
  private volume = 0;
  private count = 0;
  private weighted = 0;

  /** `mid`: prices are quote mids (no volume; vwap is the mean). */
  constructor(
    readonly intervalMs: number,
    readonly mid: boolean,
  ) {}

  /** True while a bar is open. */
  get isOpen(): boolean {
    return !Number.isNaN(this.start);
  }

  /** End (exclusive) of the open bar; NaN when none. */
  get end(): number {
    return this.start + this.intervalMs;
  }

  /**
   * Folds a price in at gateway time `now`. Returns the bar it closed first (when `now` is past the
   * open bar's end), and the updated open bar.
   */
  add(price: number, size: number, now: number): { closed: BarFields | null; current: BarFields } {
    const closed = this.isOpen && now >= this.end ? this.close_() : null;
    if (!this.isOpen) {
      this.start = Math.floor(now / this.intervalMs) * this.intervalMs;
      this.open = this.high = this.low = price;
      this.volume = this.count = this.weighted = 0;
    }
    if (price > this.high) this.high = price;
    if (price < this.low) this.low = price;
    this.close = price;
    this.count++;
    if (this.mid) {
      this.weighted += price;
    } else {
      this.volume += size;
      this.weighted += price * size;
    }
    return { closed, current: this.fields(false) };
  }

  /** Closes the open bar if `now` is at or past its end; returns the final bar. */
  closeIfDue(now: number): BarFields | null {
    return this.isOpen && now >= this.end ? this.close_() : null;
  }

  private close_(): BarFields {
    const bar = this.fields(true);
    this.start = Number.NaN;
    return bar;
  }

  private fields(final: boolean): BarFields {
    const weight = this.mid ? this.count : this.volume;
    return {
      start: this.start,
      end: this.start + this.intervalMs,
      open: this.open,
      high: this.high,
      low: this.low,
      close: this.close,
      volume: this.volume,
      count: this.count,
      vwap: weight > 0 ? this.weighted / weight : this.close,
      final,
    };
  }
}
