import type { WireBar } from '../core/tick.ts';
import type { DayStats, EntriesSnapshotFrame } from '../protocol/frames.ts';

/**
 * What the transport and the HTTP API read from the market-data layer (src/market/market-data.ts).
 * Every answer reflects what has already been handed to subscribers (the bus's flushed state),
 * never a value still waiting in a batch, so a snapshot and the updates after it line up by seq.
 */
export interface MarketView {
  /**
   * The snapshot frame of a topic: a book topic's whole top N as one entry, a bar topic's last K
   * bars, a tick topic's last value; each with the instrument's day statistics. Undefined when
   * the topic has no value yet.
   */
  snapshotFrame(topic: string, epoch: number): EntriesSnapshotFrame | undefined;
  /** Day statistics of the instrument a topic belongs to, or undefined before its first price. */
  stats(topic: string): DayStats | undefined;
  /** Bars of a bar topic with from ≤ start < to, oldest first, at most `limit` (the newest); undefined for an unknown topic. */
  bars(topic: string, from: number, to: number, limit: number): WireBar[] | undefined;
}
