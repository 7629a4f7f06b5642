/**
 * Order-book model shared by the gateway (its own book per topic) and tests.
 *
 * A level is `[price, size]`. A change list says the new absolute size of each listed level;
 * size 0 removes it. Applying the same list twice gives the same book, and merging lists per
 * price (the last size wins) gives the same book as applying them one by one — which is what
 * makes book-aware conflation correct (src/market/book-merge.ts).
 *
 * The checksum covers the top `depth` levels of each side, over the string form specified in
 * docs/protocol.md §17 ("Book checksum"):
 *   bids best first, then `|`, then asks best first; each level `price:size`, levels joined by
 *   `,`; numbers in their shortest round-trip decimal form (ECMAScript Number#toString);
 *   CRC-32 (IEEE) of the UTF-8 bytes, as an unsigned 32-bit integer.
 */
import { crc32String } from './crc32.ts';

import type { BookLevel } from '../core/tick.ts';

export type Level = BookLevel;

/** Levels per side a book topic carries unless configured otherwise. */
export const DEFAULT_BOOK_DEPTH = 10;

/** One side, kept sorted best first (bids descending, asks ascending) in two parallel arrays. */
export class BookSide {
  readonly prices: number[] = [];
  readonly sizes: number[] = [];
  constructor(readonly descending: boolean) {}

  get length(): number {
    return this.prices.length;
  }

  /** Index of `price`, or -(insertion point) - 1 when absent. */
  private find(price: number): number {
    const { prices, descending } = this;
    let lo = 0;
    let hi = prices.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const p = prices[mid]!;
      if (p === price) return mid;
      if (descending ? p > price : p < price) lo = mid + 1;
      else hi = mid - 1;
    }
    return -lo - 1;
  }

  set(price: number, size: number): void {
    const i = this.find(price);
    if (i >= 0) {
      if (size === 0) {
        this.prices.splice(i, 1);
        this.sizes.splice(i, 1);
      } else {
        this.sizes[i] = size;
      }
    } else if (size !== 0) {
      const at = -i - 1;
      this.prices.splice(at, 0, price);
      this.sizes.splice(at, 0, size);
    }
  }

  sizeAt(price: number): number {
    const i = this.find(price);
    return i >= 0 ? this.sizes[i]! : 0;
  }

  /** The best `n` levels, best first (fresh arrays). */
  top(n: number): Level[] {
    const count = Math.min(n, this.prices.length);
    const out: Level[] = new Array<Level>(count);
    for (let i = 0; i < count; i++) out[i] = [this.prices[i]!, this.sizes[i]!];
    return out;
  }

  /** Keeps only the best `n` levels. */
  truncate(n: number): void {
    if (this.prices.length > n) {
      this.prices.length = n;
      this.sizes.length = n;
    }
  }

  clear(): void {
    this.prices.length = 0;
    this.sizes.length = 0;
  }
}

export class Book {
  readonly bids = new BookSide(true);
  readonly asks = new BookSide(false);

  apply(bids: readonly Level[], asks: readonly Level[]): void {
    for (const [p, s] of bids) this.bids.set(p, s);
    for (const [p, s] of asks) this.asks.set(p, s);
  }

  clear(): void {
    this.bids.clear();
    this.asks.clear();
  }

  checksum(depth: number): number {
    return bookChecksum(this.bids.top(depth), this.asks.top(depth));
  }
}

/** The checksum's input string for levels already cut to the checksum depth, best first. */
export function checksumString(bids: readonly Level[], asks: readonly Level[]): string {
  const side = (levels: readonly Level[]) => levels.map(([p, s]) => `${p}:${s}`).join(',');
  return `${side(bids)}|${side(asks)}`;
}

export function bookChecksum(bids: readonly Level[], asks: readonly Level[]): number {
  return crc32String(checksumString(bids, asks));
}

/** The visible change of one book update: levels whose size in the top `depth` changed. */
export interface BookDelta {
  readonly bids: Level[];
  readonly asks: Level[];
  readonly checksum: number;
}

/**
 * The gateway's view of a feed's book, cut to `depth` levels per side. The feed may send a
 * deeper book; clients see only the top `depth`: a level leaving the window (pushed down by a
 * better one) is sent as removed (size 0), one entering it (a better level removed) is sent with
 * its size, so a client that applies every update holds exactly the top `depth` levels and never
 * needs to truncate.
 */
export class BookWindow {
  private readonly book = new Book();
  constructor(readonly depth: number) {}

  /** Applies the feed's changes; returns what changed in the visible top levels, or null if nothing did. */
  update(bids: readonly Level[], asks: readonly Level[]): BookDelta | null {
    const { depth } = this;
    const bidsBefore = this.book.bids.top(depth);
    const asksBefore = this.book.asks.top(depth);
    this.book.apply(bids, asks);
    const bidsAfter = this.book.bids.top(depth);
    const asksAfter = this.book.asks.top(depth);
    const bidChanges = diffLevels(bidsBefore, bidsAfter);
    const askChanges = diffLevels(asksBefore, asksAfter);
    if (bidChanges.length === 0 && askChanges.length === 0) return null;
    return { bids: bidChanges, asks: askChanges, checksum: bookChecksum(bidsAfter, asksAfter) };
  }

  top(): { bids: Level[]; asks: Level[] } {
    return { bids: this.book.bids.top(this.depth), asks: this.book.asks.top(this.depth) };
  }
}

/** Levels of `after` that differ from `before`, then levels of `before` gone from `after` (size 0). */
export function diffLevels(before: readonly Level[], after: readonly Level[]): Level[] {
  const out: Level[] = [];
  for (const [p, s] of after) {
    const old = before.find((l) => l[0] === p);
    if (old === undefined || old[1] !== s) out.push([p, s]);
  }
  for (const [p] of before) if (!after.some((l) => l[0] === p)) out.push([p, 0]);
  return out;
}

/**
 * Net change of several consecutive change lists, per price level (the last size wins), in
 * first-touched order. Applied to the book before the first list, it gives the book after the last.
 */
export function mergeLevels(lists: readonly (readonly Level[])[]): Level[] {
  const merged = new Map<number, number>();
  for (const list of lists) for (const [p, s] of list) merged.set(p, s);
  return [...merged];
}
