/**
 * Tick model shared by adapters, the bus and the wire protocol.
 *
 * Prices are decimal numbers in the instrument's quote currency; sizes are units
 * (shares for equities, base-currency units for FX). Timestamps are Unix epoch
 * milliseconds as float64, so sub-millisecond precision survives the wire.
 */

export interface QuoteFields {
  readonly bid: number;
  readonly ask: number;
  readonly bidSize: number;
  readonly askSize: number;
}

export interface TradeFields {
  readonly price: number;
  readonly size: number;
}

/** What an adapter emits: a plain object, owned by the bus once emitted. */
export type FeedTick =
  | ({ readonly topic: string; readonly ts: number; readonly kind: 'quote' } & QuoteFields)
  | ({ readonly topic: string; readonly ts: number; readonly kind: 'trade' } & TradeFields);

/**
 * One tick as it appears on the wire, after the bus stamped it.
 * Field order is fixed (seq, ts, gts, then the payload) so every entry has the same shape.
 */
export interface WireQuote extends QuoteFields {
  seq: number;
  ts: number;
  gts: number;
}
export interface WireTrade extends TradeFields {
  seq: number;
  ts: number;
  gts: number;
}
export type WireTick = WireQuote | WireTrade;

/** Reasons a tick is refused by the bus; each is a `reason` label on tickgate_ticks_rejected_total. */
export type TickRejectReason =
  | 'invalid_topic'
  | 'invalid_kind'
  | 'channel_mismatch'
  | 'invalid_timestamp'
  | 'invalid_price'
  | 'invalid_size'
  | 'crossed_quote'
  | 'bus_closed';

function isPositiveFinite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}
function isSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

/**
 * Checks a tick's payload. Topic syntax is checked by the caller (it caches
 * validated topics, so this stays cheap on the hot path).
 * Returns null when the tick is acceptable.
 */
export function checkTickPayload(tick: FeedTick, channel: string): TickRejectReason | null {
  if (typeof tick.ts !== 'number' || !Number.isFinite(tick.ts) || tick.ts <= 0) return 'invalid_timestamp';
  if (tick.kind === 'quote') {
    if (channel !== 'quote') return 'channel_mismatch';
    if (!isPositiveFinite(tick.bid) || !isPositiveFinite(tick.ask)) return 'invalid_price';
    if (!isSize(tick.bidSize) || !isSize(tick.askSize)) return 'invalid_size';
    if (tick.bid > tick.ask) return 'crossed_quote';
    return null;
  }
  if (tick.kind === 'trade') {
    if (channel !== 'trade') return 'channel_mismatch';
    if (!isPositiveFinite(tick.price)) return 'invalid_price';
    if (!isPositiveFinite(tick.size)) return 'invalid_size';
    return null;
  }
  return 'invalid_kind';
}

/** Builds the wire entry for a validated tick. One allocation per tick, always the same shape per kind. */
export function stampTick(tick: FeedTick, seq: number, gts: number): WireTick {
  if (tick.kind === 'quote') {
    return { seq, ts: tick.ts, gts, bid: tick.bid, ask: tick.ask, bidSize: tick.bidSize, askSize: tick.askSize };
  }
  return { seq, ts: tick.ts, gts, price: tick.price, size: tick.size };
}
