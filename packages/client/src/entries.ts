/**
 * Typed views of the ticks a handler receives from book and bar topics (docs/protocol.md §17).
 * A handler gets `Tick`s whatever the channel; these guards narrow one to its book or bar shape.
 */
import type { Tick } from './client.ts';
import type { WireBar, WireBook } from './protocol.ts';

/** A book entry (snapshot: the whole top N; update: the changed levels) as handed to handlers. */
export type BookTick = Tick & WireBook;
/** A bar entry (`final: false` the open bar, `true` its last value) as handed to handlers. */
export type BarTick = Tick & WireBar;

export function isBookTick(tick: Tick): tick is BookTick {
  return 'checksum' in tick && 'bids' in tick;
}

export function isBarTick(tick: Tick): tick is BarTick {
  return 'final' in tick && 'open' in tick;
}
