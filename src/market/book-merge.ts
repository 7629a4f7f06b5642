import type { WireBook, WireEntry } from '../core/tick.ts';
import { mergeLevels } from './book.ts';

/**
 * The net of consecutive book updates as one update: per price level the last size wins
 * (nothing is dropped), with the seq, times and checksum of the newest. Applied to the book as
 * of the update before the first, it gives the book as of the newest, so the checksum verifies.
 * It also holds for a client whose book is newer than the first update's predecessor (say, a
 * snapshot taken in between): a level changed since then gets its newest size, one that did not
 * change already has it.
 */
export function mergeBookUpdates(updates: readonly WireEntry[]): WireBook {
  const books = updates as readonly WireBook[];
  const newest = books[books.length - 1]!;
  return {
    seq: newest.seq,
    ts: newest.ts,
    gts: newest.gts,
    bids: mergeLevels(books.map((u) => u.bids)),
    asks: mergeLevels(books.map((u) => u.asks)),
    checksum: newest.checksum,
  };
}

/** Bars conflated: every closed bar in the range (a chart must not lose one), then the newest update. */
export function conflateBars(updates: readonly WireEntry[]): WireEntry[] {
  const out: WireEntry[] = [];
  const lastIndex = updates.length - 1;
  for (let i = 0; i < lastIndex; i++) {
    const u = updates[i]!;
    if ('final' in u && u.final) out.push(u);
  }
  if (lastIndex >= 0) out.push(updates[lastIndex]!);
  return out;
}
