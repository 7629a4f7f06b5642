/**
 * Tick model shared by adapters, the bus and the wire protocol.
 *
 * Prices are decimal numbers in the instrument's quote currency; sizes are units
 * (shares for equities, base-currency units for FX). Timestamps are Unix epoch
 * milliseconds as float64, so sub-millisecond precision survives the wire.
 *
 * ## What the bus accepts (every rule is a `reason` on tickgate_ticks_rejected_total)
 *
 * | rule | reason |
 * |---|---|
 * | the tick is an object | `invalid_tick` |
 * | `topic` is a valid topic name (src/core/topic.ts) | `invalid_topic` |
 * | `kind` is `quote`, `trade`, `book` or `bar` | `invalid_kind` |
 * | `kind` matches the topic's channel (quotes on `*.*.quote`, trades on `*.*.trade`, books on `*.*.book`, bars on `*.*.bar_<interval>`) | `channel_mismatch` |
 * | a book's `bids`/`asks` are arrays of at most MAX_BOOK_CHANGES `[price, size]` pairs | `invalid_levels` |
 * | `ts` is a number in [MIN_TS_MS, MAX_TS_MS): 2000-01-01 … 2200-01-01 | `invalid_timestamp` |
 * | `ts` is not older than the topic's last accepted `ts` (equal is fine) | `timestamp_backwards` |
 * | prices are finite and > 0 | `invalid_price` |
 * | prices are at most MAX_PRICE (1e9) | `absurd_price` |
 * | sizes are finite and ≥ 0 (quotes, book levels: 0 removes a level) or > 0 (trades) | `invalid_size` |
 * | sizes are at most MAX_SIZE (1e12) | `absurd_size` |
 * | equity sizes are whole shares | `fractional_size` |
 * | a quote's bid ≤ ask (locked is fine, crossed is not) | `crossed_quote` |
 * | the feed has created fewer than the bus's topic limit (default 50 000 per feed) | `topic_limit` |
 * | the bus is open | `bus_closed` |
 *
 * Why these bounds: they catch unit mistakes and garbage, not unusual markets. The timestamp
 * window rejects seconds (1.7e9) and micro-/nanoseconds (1.7e15 / 1.7e18) passed as
 * milliseconds, while replays of any recorded data from this century pass. 1e9 is above any
 * real price in any currency (BRK.A trades near 7e5 USD); 1e12 units is above any displayed size
 * (a huge FX quote is ~1e9 of the base currency) and far below 2^53, so sizes stay exact.
 * Per-topic timestamps must not go backwards: a feed merging several venues must order by topic
 * (or stamp its receive time); when two feeds publish one topic, the one lagging behind is refused.
 * Fractional sizes are fine outside equities (FX, crypto).
 *
 * Hot-path shape: the bus copies the adapter's fields once into the wire entry (`toWireTick`)
 * and validates that copy, so what is checked is exactly what is sent (a getter cannot change a
 * value between check and send) and the checks always see one object shape per kind.
 */

import type { BarFields, BookLevel, QuoteFields, TradeFields, WireBar, WireEntry, WireQuote, WireTrade } from '@tickgate/client/protocol';

// The wire shapes are protocol: defined once in the client package.
export type {
  BarFields,
  BookLevel,
  QuoteFields,
  TradeFields,
  WireBar,
  WireBook,
  WireEntry,
  WireQuote,
  WireTick,
  WireTrade,
} from '@tickgate/client/protocol';

/** Book changes from a feed: each listed level gets its new size (0 removes it); unlisted levels stay. */
export interface BookFields {
  readonly bids: readonly BookLevel[];
  readonly asks: readonly BookLevel[];
}

export type TickKind = 'quote' | 'trade' | 'book' | 'bar';

/** A quote or trade as an adapter emits it: a plain object, owned by the bus once emitted. */
export type FeedTick =
  | ({ readonly topic: string; readonly ts: number; readonly kind: 'quote' } & QuoteFields)
  | ({ readonly topic: string; readonly ts: number; readonly kind: 'trade' } & TradeFields);
export type BookTick = { readonly topic: string; readonly ts: number; readonly kind: 'book' } & BookFields;
export type BarTick = { readonly topic: string; readonly ts: number; readonly kind: 'bar' } & BarFields;
/**
 * Everything the bus accepts: ticks, book changes (from adapters that keep a book) and bars (from
 * the gateway's bar builder). Kept apart from FeedTick so code that handles only quotes and
 * trades (recording, replay, the dashboard) keeps its exhaustive two-way narrowing.
 */
export type BusTick = FeedTick | BookTick | BarTick;

/** Every reason a tick is refused by the bus; each is a `reason` label on tickgate_ticks_rejected_total. */
export const TICK_REJECT_REASONS = [
  'invalid_tick',
  'invalid_topic',
  'invalid_kind',
  'channel_mismatch',
  'invalid_timestamp',
  'timestamp_backwards',
  'invalid_price',
  'absurd_price',
  'invalid_size',
  'absurd_size',
  'fractional_size',
  'crossed_quote',
  'invalid_levels',
  'topic_limit',
  'bus_closed',
] as const;
export type TickRejectReason = (typeof TICK_REJECT_REASONS)[number];

/** 2000-01-01T00:00:00Z in ms: anything earlier is a unit mistake (seconds) or garbage. */
export const MIN_TS_MS = 946_684_800_000;
/** 2200-01-01T00:00:00Z in ms: anything later is a unit mistake (µs, ns) or garbage. */
export const MAX_TS_MS = 7_258_118_400_000;
/** Highest accepted price, in any currency. */
export const MAX_PRICE = 1e9;
/** Highest accepted size (units); well below 2^53, so sizes stay exact integers when they are. */
export const MAX_SIZE = 1e12;

/** Most level changes in one book tick, per side. */
export const MAX_BOOK_CHANGES = 1000;

/** Asset classes whose sizes are whole units (shares). */
const WHOLE_SIZE_ASSET_CLASSES: ReadonlySet<string> = new Set(['equity']);

/** Per-topic validation rules, derived once from the topic name (cold path). */
export interface TickRules {
  /** The tick kind the topic's channel carries, or null for channels that carry none. */
  readonly kind: TickKind | null;
  /** Sizes must be whole units. */
  readonly wholeSizes: boolean;
}

export function tickRules(assetClass: string, channel: string): TickRules {
  return {
    kind:
      channel === 'quote'
        ? 'quote'
        : channel === 'trade'
          ? 'trade'
          : channel === 'book'
            ? 'book'
            : channel.startsWith('bar_')
              ? 'bar'
              : null,
    wholeSizes: WHOLE_SIZE_ASSET_CLASSES.has(assetClass),
  };
}

// The checks below take `number` but are written for anything (NaN, strings, undefined from a
// garbage adapter): every comparison is arranged so that a non-number fails it.

function tsReason(ts: number): TickRejectReason | null {
  return typeof ts === 'number' && ts >= MIN_TS_MS && ts < MAX_TS_MS ? null : 'invalid_timestamp';
}

function priceReason(p: number): TickRejectReason | null {
  if (typeof p !== 'number' || !(p > 0) || p === Number.POSITIVE_INFINITY) return 'invalid_price';
  return p <= MAX_PRICE ? null : 'absurd_price';
}

function sizeReason(s: number, allowZero: boolean, whole: boolean): TickRejectReason | null {
  if (typeof s !== 'number' || !(allowZero ? s >= 0 : s > 0) || s === Number.POSITIVE_INFINITY) return 'invalid_size';
  if (s > MAX_SIZE) return 'absurd_size';
  return whole && Math.floor(s) !== s ? 'fractional_size' : null;
}

/** Checks a stamped quote (or anything with the quote fields); null when acceptable. */
export function quoteReason(q: QuoteFields & { readonly ts: number }, wholeSizes: boolean): TickRejectReason | null {
  return (
    tsReason(q.ts) ??
    priceReason(q.bid) ??
    priceReason(q.ask) ??
    sizeReason(q.bidSize, true, wholeSizes) ??
    sizeReason(q.askSize, true, wholeSizes) ??
    (q.bid > q.ask ? 'crossed_quote' : null)
  );
}

/** Checks a stamped trade (or anything with the trade fields); null when acceptable. */
export function tradeReason(t: TradeFields & { readonly ts: number }, wholeSizes: boolean): TickRejectReason | null {
  return tsReason(t.ts) ?? priceReason(t.price) ?? sizeReason(t.size, false, wholeSizes);
}

/** The wire entries written and held as flat rows of numbers (ticks-encoder, FlatTickRing). */
export type FlatEntryKind = 'quote' | 'trade';

/**
 * Keys of quote and trade wire entries, in wire order: the order `toWireTick` creates them in
 * (a test checks it), which the hand-written encoder writes and the history ring restores.
 */
export const FLAT_ENTRY_KEYS: { readonly [K in FlatEntryKind]: readonly string[] } = {
  quote: ['seq', 'ts', 'gts', 'bid', 'ask', 'bidSize', 'askSize'],
  trade: ['seq', 'ts', 'gts', 'price', 'size'],
};

/**
 * Reads the adapter's tick once into its wire entry (one allocation, the same shape per kind)
 * and validates the entry. Returns the entry, or why the tick is refused. The per-topic
 * `timestamp_backwards` rule needs the topic's state and is the caller's (the bus's).
 */
export function toWireTick(tick: BusTick, rules: TickRules, seq: number, gts: number): WireEntry | TickRejectReason {
  const kind = tick.kind;
  if (kind !== rules.kind)
    return kind === 'quote' || kind === 'trade' || kind === 'book' || kind === 'bar' ? 'channel_mismatch' : 'invalid_kind';
  if (kind === 'quote') {
    const q: WireQuote = { seq, ts: tick.ts, gts, bid: tick.bid, ask: tick.ask, bidSize: tick.bidSize, askSize: tick.askSize };
    return quoteReason(q, rules.wholeSizes) ?? q;
  }
  if (kind === 'trade') {
    const t: WireTrade = { seq, ts: tick.ts, gts, price: tick.price, size: tick.size };
    return tradeReason(t, rules.wholeSizes) ?? t;
  }
  if (kind === 'bar') return toWireBar(tick, seq, gts);
  // A book update's wire form depends on the topic's book (what is visible, its checksum):
  // buses that keep one read the changes with `toBookChanges` instead.
  return 'invalid_kind';
}

function toWireBar(b: BarFields & { readonly ts: number }, seq: number, gts: number): WireBar | TickRejectReason {
  const w: WireBar = {
    seq,
    ts: b.ts,
    gts,
    start: b.start,
    end: b.end,
    open: b.open,
    high: b.high,
    low: b.low,
    close: b.close,
    volume: b.volume,
    count: b.count,
    vwap: b.vwap,
    final: b.final === true,
  };
  return (
    tsReason(w.ts) ??
    tsReason(w.start) ??
    (w.end > w.start ? null : 'invalid_timestamp') ??
    priceReason(w.open) ??
    priceReason(w.high) ??
    priceReason(w.low) ??
    priceReason(w.close) ??
    priceReason(w.vwap) ??
    sizeReason(w.volume, true, false) ??
    sizeReason(w.count, false, true) ??
    w
  );
}

/**
 * Reads a book tick's level changes once into fresh arrays and validates them (`ts` too).
 * Returns the copies, or why the tick is refused.
 */
export function toBookChanges(tick: BusTick, rules: TickRules): { bids: BookLevel[]; asks: BookLevel[] } | TickRejectReason {
  if (tick.kind !== 'book')
    return tick.kind === 'quote' || tick.kind === 'trade' || tick.kind === 'bar' ? 'channel_mismatch' : 'invalid_kind';
  const reason = tsReason(tick.ts);
  if (reason !== null) return reason;
  const bids = readLevels(tick.bids, rules.wholeSizes);
  if (typeof bids === 'string') return bids;
  const asks = readLevels(tick.asks, rules.wholeSizes);
  if (typeof asks === 'string') return asks;
  return { bids, asks };
}

function readLevels(levels: unknown, wholeSizes: boolean): BookLevel[] | TickRejectReason {
  if (!Array.isArray(levels) || levels.length > MAX_BOOK_CHANGES) return 'invalid_levels';
  const out: BookLevel[] = new Array<BookLevel>(levels.length);
  for (let i = 0; i < levels.length; i++) {
    const level: unknown = levels[i];
    if (!Array.isArray(level) || level.length !== 2) return 'invalid_levels';
    const price = level[0] as number;
    const size = level[1] as number;
    const reason = priceReason(price) ?? sizeReason(size, true, wholeSizes);
    if (reason !== null) return reason;
    out[i] = [price, size];
  }
  return out;
}

/**
 * Checks a tick's payload against a channel (for adapters and tools that want to pre-validate;
 * the bus uses `toWireTick`). Topic syntax and the per-topic timestamp order are not checked.
 * Returns null when the tick is acceptable.
 */
export function checkTickPayload(tick: FeedTick, channel: string, assetClass = ''): TickRejectReason | null {
  const result = toWireTick(tick, tickRules(assetClass, channel), 0, 0);
  return typeof result === 'string' ? result : null;
}
