/**
 * The watchlist's state: one Row per instrument (`equity.AAPL`, `fx.EURUSD`), fed by ticks and
 * read by the view once per animation frame. Pure (no DOM): test/dashboard-model.test.ts.
 *
 * Incoming ticks only update numbers and mark the row dirty; the view paints dirty rows on the
 * next animation frame, so a burst of 1,000 ticks/s costs one DOM pass per frame.
 */
import type { DayStats, WireTick } from '@tickgate/client';
import { topicError, type ParsedTopic } from '../../../src/core/topic.ts';
import { PriceHistory } from './history.ts';
import { instrumentKey, priceDecimals, type WatchEntry } from './instruments.ts';

export type Direction = -1 | 0 | 1;

export interface Trade {
  ts: number;
  price: number;
  size: number;
  /** Against the previous trade: up, down, or unchanged. */
  dir: Direction;
}

/** Trades kept per row for the tape. */
export const TAPE_LENGTH = 40;

export class Row {
  bid = NaN;
  ask = NaN;
  bidSize = NaN;
  askSize = NaN;
  /** Last trade price, or the mid for instruments without trades (FX). */
  last = NaN;
  lastIsTrade = false;
  /** The session's first trade and first mid: the reference for change. */
  firstTrade = NaN;
  firstMid = NaN;
  updates = 0;
  /**
   * The instrument's day statistics (a snapshot's `stats`, docs/protocol.md §17.5), carried forward
   * by later prices of the same source (trades, or quote mids for `source: "mid"`): high, low,
   * volume. null until a snapshot brought them.
   */
  stats: DayStats | null = null;
  dayHigh = NaN;
  dayLow = NaN;
  /** Traded size today: the statistics' volume plus the trades since. */
  volume = NaN;
  /** Recent trades, newest last (the time-and-sales tape of the selected row). */
  readonly trades: Trade[] = [];
  /** Bumped with every trade, so the tape repaints only when it changed. */
  tradesVersion = 0;
  /** Exact topics the watchlist subscribes for this row, and those the gateway answered `pending` (never had data). */
  expectedTopics = 0;
  readonly pendingTopics = new Set<string>();
  /** Holes in the seqs of this instrument's topics seen this session. */
  gaps = 0;
  /** Gateway time of the newest live tick (snapshots excluded: their age says nothing of latency), epoch ms. */
  lastGts = 0;
  decimals = 2;
  /** Direction of the last change of each price, consumed (reset to 0) by the view when it flashes. */
  flashBid: Direction = 0;
  flashAsk: Direction = 0;
  flashLast: Direction = 0;
  readonly topics = new Set<ParsedTopic>();
  readonly staleTopics = new Set<string>();
  readonly history = new PriceHistory();

  constructor(
    readonly key: string,
    readonly assetClass: string,
    readonly symbol: string,
  ) {}

  /**
   * What change is measured against: the previous close from the day statistics, else today's
   * open, else (no statistics yet) the first price this page saw.
   */
  get reference(): number {
    const st = this.stats;
    if (st !== null) {
      const ref = st.prevClose ?? st.open;
      if (ref !== null) return ref;
    }
    return this.lastIsTrade ? this.firstTrade : this.firstMid;
  }
  get change(): number {
    return this.last - this.reference;
  }
  get changePct(): number {
    return (this.change / this.reference) * 100;
  }
  /** No data, and the gateway said `pending` for every topic subscribed for it: no such instrument there (yet). */
  get unknown(): boolean {
    return this.updates === 0 && this.expectedTopics > 0 && this.pendingTopics.size >= this.expectedTopics;
  }
  get spread(): number {
    return this.ask - this.bid;
  }
  get stale(): boolean {
    return this.staleTopics.size > 0;
  }
}

export const SORT_KEYS = [
  'symbol',
  'bidSize',
  'bid',
  'ask',
  'askSize',
  'last',
  'change',
  'changePct',
  'volume',
  'spread',
  'updates',
] as const;
export type SortKey = (typeof SORT_KEYS)[number];

function sortValue(row: Row, key: Exclude<SortKey, 'symbol'>): number {
  const v = row[key];
  return Number.isFinite(v) ? v : NaN;
}

function extendRange(row: Row, price: number): void {
  if (!(price <= row.dayHigh)) row.dayHigh = price;
  if (!(price >= row.dayLow)) row.dayLow = price;
}

function direction(before: number, after: number): Direction {
  if (!Number.isFinite(before) || after === before) return 0;
  return after > before ? 1 : -1;
}

export class Market {
  private entries: readonly WatchEntry[] = [];
  readonly rows = new Map<string, Row>();
  /** Rows in display order; recomputed when `structureVersion` changes. */
  order: Row[] = [];
  /** Rows in watchlist order (entries, then a pattern's topics by name): the order when not sorted. */
  private baseOrder: Row[] = [];
  /** Column the watchlist is sorted by (null: watchlist order), and the direction (1 ascending). */
  sortKey: SortKey | null = null;
  sortDir: 1 | -1 = 1;
  /** Bumped whenever rows are added, removed or reordered. */
  structureVersion = 0;
  readonly dirty = new Set<Row>();
  private readonly parsed = new Map<string, ParsedTopic | null>();
  /** Ticks applied (snapshots excluded), for ticks/s. */
  ticksApplied = 0;

  get watchEntries(): readonly WatchEntry[] {
    return this.entries;
  }

  /** Replaces the watchlist: adds rows for exact instruments, drops rows nothing covers any more. */
  setEntries(entries: readonly WatchEntry[]): void {
    this.entries = entries;
    for (const entry of entries) {
      for (const key of entry.instruments) {
        const row = this.rows.get(key) ?? this.addRow(key);
        row.expectedTopics = entry.subscriptions.filter((t) => !t.includes('*')).length;
      }
    }
    for (const [key, row] of this.rows) {
      const covered = entries.some((e) => e.instruments.includes(key) || [...row.topics].some((t) => e.matches(t)));
      if (!covered) {
        this.rows.delete(key);
        this.dirty.delete(row);
      }
    }
    this.reorder();
  }

  private addRow(key: string): Row {
    const dot = key.indexOf('.');
    const row = new Row(key, key.slice(0, dot), key.slice(dot + 1));
    this.rows.set(key, row);
    return row;
  }

  private reorder(): void {
    const seen = new Set<Row>();
    const order: Row[] = [];
    for (const entry of this.entries) {
      const rows: Row[] = [];
      for (const key of entry.instruments) {
        const row = this.rows.get(key);
        if (row) rows.push(row);
      }
      const matched = [...this.rows.values()].filter(
        (r) => !entry.instruments.includes(r.key) && [...r.topics].some((t) => entry.matches(t)),
      );
      matched.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const row of [...rows, ...matched]) {
        if (!seen.has(row)) {
          seen.add(row);
          order.push(row);
        }
      }
    }
    this.baseOrder = order;
    this.order = this.sorted();
    this.structureVersion++;
  }

  /** Sorts by `key`: a second call on the same key reverses the direction, a third restores watchlist order. */
  toggleSort(key: SortKey): void {
    if (this.sortKey !== key) {
      this.sortKey = key;
      this.sortDir = key === 'symbol' ? 1 : -1;
    } else if (this.sortDir === (key === 'symbol' ? 1 : -1)) this.sortDir = this.sortDir === 1 ? -1 : 1;
    else this.sortKey = null;
    this.order = this.sorted();
    this.structureVersion++;
  }

  /** Re-sorts by the current values (prices move); bumps structureVersion only when the order changed. */
  resort(): void {
    if (this.sortKey === null) return;
    const next = this.sorted();
    if (next.some((row, i) => row !== this.order[i])) {
      this.order = next;
      this.structureVersion++;
    }
  }

  private sorted(): Row[] {
    const key = this.sortKey;
    if (key === null) return this.baseOrder;
    const dir = this.sortDir;
    const rank = new Map(this.baseOrder.map((r, i) => [r, i]));
    return [...this.baseOrder].sort((a, b) => {
      if (key === 'symbol') return dir * (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0) || rank.get(a)! - rank.get(b)!;
      const va = sortValue(a, key);
      const vb = sortValue(b, key);
      // Rows without a value go last, whatever the direction.
      if (Number.isNaN(va) || Number.isNaN(vb)) return Number.isNaN(va) ? (Number.isNaN(vb) ? rank.get(a)! - rank.get(b)! : 1) : -1;
      return dir * (va - vb) || rank.get(a)! - rank.get(b)!;
    });
  }

  private parse(topic: string): ParsedTopic | null {
    let p = this.parsed.get(topic);
    if (p === undefined) {
      if (topicError(topic) === null) {
        const [assetClass, symbol, channel] = topic.split('.') as [string, string, string];
        p = { topic, assetClass, symbol, channel };
      } else p = null;
      this.parsed.set(topic, p);
    }
    return p;
  }

  /** The row a topic belongs to, if the watchlist covers it (creating the row on its first tick). */
  rowFor(topic: string): Row | undefined {
    const parsed = this.parse(topic);
    if (parsed === null) return undefined;
    const key = instrumentKey(parsed);
    let row = this.rows.get(key);
    if (row === undefined || !row.topics.has(parsed)) {
      if (!this.entries.some((e) => e.matches(parsed))) return undefined;
      row ??= this.addRow(key);
      row.topics.add(parsed);
      this.reorder();
    }
    return row;
  }

  /** Applies a snapshot or ticks frame. Returns false if the watchlist does not cover the topic (a late frame). */
  applyTicks(topic: string, ticks: readonly WireTick[], snapshot: boolean): boolean {
    const row = this.rowFor(topic);
    if (row === undefined || ticks.length === 0) return false;
    const bid = row.bid;
    const ask = row.ask;
    const last = row.last;
    row.pendingTopics.delete(topic);
    const midStats = row.stats?.source === 'mid';
    for (const t of ticks) {
      if ('bid' in t) {
        row.bid = t.bid;
        row.ask = t.ask;
        row.bidSize = t.bidSize;
        row.askSize = t.askSize;
        const mid = (t.bid + t.ask) / 2;
        if (Number.isNaN(row.firstMid)) {
          row.firstMid = mid;
          row.decimals = priceDecimals(row.assetClass, row.symbol, mid);
        }
        if (!row.lastIsTrade) row.last = mid;
        row.history.add(t.ts, mid);
        if (midStats && !snapshot) extendRange(row, mid);
      } else {
        if (!snapshot) {
          const prev = row.trades.at(-1);
          row.trades.push({ ts: t.ts, price: t.price, size: t.size, dir: prev === undefined ? 0 : direction(prev.price, t.price) });
          if (row.trades.length > TAPE_LENGTH) row.trades.splice(0, row.trades.length - TAPE_LENGTH);
          row.tradesVersion++;
          if (row.stats !== null && !midStats) {
            extendRange(row, t.price);
            row.volume += t.size;
          }
        }
        if (Number.isNaN(row.firstTrade)) row.firstTrade = t.price;
        if (Number.isNaN(row.firstMid)) row.decimals = priceDecimals(row.assetClass, row.symbol, t.price);
        row.last = t.price;
        row.lastIsTrade = true;
      }
      if (!snapshot && t.gts > row.lastGts) row.lastGts = t.gts;
    }
    row.updates += ticks.length;
    if (!snapshot) this.ticksApplied += ticks.length;
    const db = direction(bid, row.bid);
    const da = direction(ask, row.ask);
    const dl = direction(last, row.last);
    if (db !== 0) row.flashBid = db;
    if (da !== 0) row.flashAsk = da;
    if (dl !== 0) row.flashLast = dl;
    this.dirty.add(row);
    return true;
  }

  /** Day statistics from a snapshot of one of the row's topics: they replace what the row had. */
  applyStats(topic: string, stats: DayStats): void {
    const row = this.rowFor(topic);
    if (row === undefined) return;
    row.stats = stats;
    row.dayHigh = stats.high ?? NaN;
    row.dayLow = stats.low ?? NaN;
    row.volume = stats.source === 'trade' ? stats.volume : NaN;
    this.dirty.add(row);
  }

  /** The gateway answered `pending` for a topic: it has never had data. */
  notePending(topic: string): void {
    const row = this.rowFor(topic);
    if (row === undefined || row.updates > 0) return;
    row.pendingTopics.add(topic);
    this.dirty.add(row);
  }

  /** A topic went stale or live again (server `status` frame). */
  setTopicStatus(topic: string, stale: boolean): void {
    const row = this.rowFor(topic);
    if (row === undefined) return;
    if (stale) row.staleTopics.add(topic);
    else row.staleTopics.delete(topic);
    this.dirty.add(row);
  }

  /** A hole in a topic's seqs (reported by the stream client). */
  noteGap(topic: string): void {
    const row = this.rowFor(topic);
    if (row === undefined) return;
    row.gaps++;
    this.dirty.add(row);
  }

  /** After a reconnect the server re-sends status; forget what the old connection said. */
  clearStale(): void {
    for (const row of this.rows.values()) {
      if (row.staleTopics.size > 0) {
        row.staleTopics.clear();
        this.dirty.add(row);
      }
    }
  }
}
