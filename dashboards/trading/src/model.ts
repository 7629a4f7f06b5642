/**
 * The watchlist's state: one Row per instrument (`equity.AAPL`, `fx.EURUSD`), fed by ticks and
 * read by the view once per animation frame. Pure (no DOM): test/dashboard-model.test.ts.
 *
 * Incoming ticks only update numbers and mark the row dirty; the view paints dirty rows on the
 * next animation frame, so a burst of 1,000 ticks/s costs one DOM pass per frame.
 */
import type { WireTick } from '../../../src/core/tick.ts';
import { topicError, type ParsedTopic } from '../../../src/core/topic.ts';
import { PriceHistory } from './history.ts';
import { instrumentKey, priceDecimals, type WatchEntry } from './instruments.ts';

export type Direction = -1 | 0 | 1;

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

  get change(): number {
    return this.last - (this.lastIsTrade ? this.firstTrade : this.firstMid);
  }
  get changePct(): number {
    const ref = this.lastIsTrade ? this.firstTrade : this.firstMid;
    return (this.change / ref) * 100;
  }
  get spread(): number {
    return this.ask - this.bid;
  }
  get stale(): boolean {
    return this.staleTopics.size > 0;
  }
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
      for (const key of entry.instruments) if (!this.rows.has(key)) this.addRow(key);
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
      const matched = [...this.rows.values()].filter((r) => !entry.instruments.includes(r.key) && [...r.topics].some((t) => entry.matches(t)));
      matched.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const row of [...rows, ...matched]) {
        if (!seen.has(row)) {
          seen.add(row);
          order.push(row);
        }
      }
    }
    this.order = order;
    this.structureVersion++;
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
      } else {
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
