/**
 * Bounded price history per instrument, for the chart: the last N tick mids (a tick chart) and
 * 1-second OHLC candles built from the same mids. Fixed-size typed-array rings: no allocation
 * per tick, no Array.shift(). Pure (no DOM), tested in test/dashboard-model.test.ts.
 */

export interface Candle {
  /** Unix seconds (the candle covers [time, time + 1)). */
  time: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

export interface Point {
  /** 1, 2, 3, … for this instrument since the page loaded: the tick chart's x coordinate. */
  index: number;
  /** Event time of the tick, epoch ms. */
  ts: number;
  value: number;
}

export class PriceHistory {
  private readonly ts: Float64Array;
  private readonly values: Float64Array;
  /** Points added so far; the newest has index `count`. */
  count = 0;
  private readonly candles: Candle[] = [];
  private candleStart = 0;
  /** Completed candles so far (the one in progress excluded). */
  completedCandles = 0;
  current: Candle | null = null;

  constructor(
    readonly maxPoints = 600,
    readonly maxCandles = 600,
  ) {
    this.ts = new Float64Array(maxPoints);
    this.values = new Float64Array(maxPoints);
  }

  add(ts: number, value: number): void {
    const slot = this.count % this.maxPoints;
    this.ts[slot] = ts;
    this.values[slot] = value;
    this.count++;
    this.addToCandle(ts, value);
  }

  private addToCandle(ts: number, value: number): void {
    const second = Math.floor(ts / 1000);
    const c = this.current;
    // A tick stamped earlier than the candle in progress (feeds do not promise monotonic ts) joins it.
    if (c !== null && second <= c.time) {
      if (value > c.high) c.high = value;
      if (value < c.low) c.low = value;
      c.close = value;
      return;
    }
    if (c !== null) {
      if (this.candles.length < this.maxCandles) this.candles.push(c);
      else {
        this.candles[this.candleStart] = c;
        this.candleStart = (this.candleStart + 1) % this.maxCandles;
      }
      this.completedCandles++;
    }
    this.current = { time: second, open: value, high: value, low: value, close: value };
  }

  /** Oldest index still held. */
  get firstIndex(): number {
    return Math.max(1, this.count - this.maxPoints + 1);
  }

  /** Points with index > `after` that are still held, oldest first. */
  pointsAfter(after: number): Point[] {
    const out: Point[] = [];
    for (let i = Math.max(after + 1, this.firstIndex); i <= this.count; i++) {
      const slot = (i - 1) % this.maxPoints;
      out.push({ index: i, ts: this.ts[slot]!, value: this.values[slot]! });
    }
    return out;
  }

  /** Event time of the point with this index, if still held. */
  tsOf(index: number): number | undefined {
    if (index < this.firstIndex || index > this.count || !Number.isInteger(index)) return undefined;
    return this.ts[(index - 1) % this.maxPoints];
  }

  /** Completed candles number `after`+1 … onwards that are still held (by completion count), oldest first. */
  completedAfter(after: number): Candle[] {
    const held = this.candles.length;
    const firstHeld = this.completedCandles - held; // completion number of the oldest held, minus one
    const out: Candle[] = [];
    for (let n = Math.max(after, firstHeld); n < this.completedCandles; n++) {
      out.push(this.candles[(this.candleStart + (n - firstHeld)) % held]!);
    }
    return out;
  }
}
