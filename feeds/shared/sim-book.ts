import type { Random } from '../../src/core/random.ts';
import type { BookLevel, BookTick } from '../../src/core/tick.ts';

export interface SimBookOptions {
  /** Levels generated per side (the best one is the quote). */
  readonly depth: number;
  /** Price increments per unit (100: cents; 1e5: FX pipettes). Prices are integers of this grid. */
  readonly scale: number;
  /** Increments between deeper levels (1 cent for equities; 10 pipettes = 1 pip for FX). */
  readonly step: number;
  /** Size of one lot (100 shares, 1 000 000 of the base currency). */
  readonly lot: number;
  /** Mean extra lots at a deeper level (exponential, at least one lot); deeper levels grow by up to 2x. */
  readonly meanLots: number;
}

/**
 * A simulated order book for one instrument, kept consistent with its quotes: after each quote,
 * the best bid and ask (and their sizes) are the quote's; deeper levels sit on the `step` grid
 * behind them, a few empty (gaps), their sizes in whole lots. Resting sizes persist between
 * quotes with occasional changes, so consecutive books differ in a few levels, as real ones do.
 * `update` returns only what changed (new sizes; 0 for removed levels). Deterministic given
 * the Random it is handed.
 */
export class SimBook {
  /** Last emitted sizes by integer price. */
  private bids = new Map<number, number>();
  private asks = new Map<number, number>();

  constructor(
    private readonly options: SimBookOptions,
    private readonly rng: Random,
  ) {}

  /** The book after a quote (prices as integers of the grid, sizes in units), as changes. */
  update(topic: string, ts: number, bid: number, ask: number, bidSize: number, askSize: number): BookTick | null {
    const nextBids = this.side(this.bids, bid, bidSize, -1);
    const nextAsks = this.side(this.asks, ask, askSize, 1);
    const bidChanges = this.changes(this.bids, nextBids);
    const askChanges = this.changes(this.asks, nextAsks);
    this.bids = nextBids;
    this.asks = nextAsks;
    if (bidChanges.length === 0 && askChanges.length === 0) return null;
    return { topic, ts, kind: 'book', bids: bidChanges, asks: askChanges };
  }

  private side(previous: ReadonlyMap<number, number>, best: number, bestSize: number, direction: -1 | 1): Map<number, number> {
    const { depth, step, lot, meanLots } = this.options;
    const { rng } = this;
    const next = new Map<number, number>();
    if (bestSize > 0) next.set(best, bestSize);
    // Deeper levels start at the next grid line behind the best price.
    const first = direction < 0 ? Math.floor((best - 1) / step) * step : Math.ceil((best + 1) / step) * step;
    for (let k = 0; next.size < depth && k < depth * 2; k++) {
      const price = first + direction * k * step;
      if (price <= 0) break;
      const old = previous.get(price);
      if (old !== undefined && rng.next() < 0.85) {
        next.set(price, old);
        continue;
      }
      if (rng.next() < 0.1) continue; // a gap in the ladder
      const lots = 1 + Math.floor(-Math.log(1 - rng.next()) * meanLots * (1 + k / depth));
      next.set(price, lots * lot);
    }
    return next;
  }

  private changes(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): BookLevel[] {
    const { scale } = this.options;
    const out: BookLevel[] = [];
    for (const [p, s] of after) if (before.get(p) !== s) out.push([p / scale, s]);
    for (const p of before.keys()) if (!after.has(p)) out.push([p / scale, 0]);
    return out;
  }
}
