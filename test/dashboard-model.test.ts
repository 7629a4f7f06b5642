/**
 * The trading dashboard's pure parts (no DOM, no browser): watchlist entry parsing, the market
 * model the views paint from, the chart's price history and candles, and saved settings.
 */
import { describe, expect, it } from 'vitest';
import type { DayStats } from '@tickgate/client';
import type { WireTick } from '../src/core/tick.ts';
import { PriceHistory } from '../dashboards/trading/src/history.ts';
import { DEFAULT_WATCHLIST, formatSpread, parseEntry, priceDecimals, type WatchEntry } from '../dashboards/trading/src/instruments.ts';
import { Market } from '../dashboards/trading/src/model.ts';
import { defaults, loadSaved, STORAGE_KEY } from '../dashboards/trading/src/storage.ts';

function entry(text: string): WatchEntry {
  const e = parseEntry(text);
  if (typeof e === 'string') throw new Error(e);
  return e;
}

let seq = 0;
const q = (bid: number, ask: number, ts = 1_764_000_000_000 + seq * 10): WireTick => ({
  seq: ++seq,
  ts,
  gts: ts + 0.5,
  bid,
  ask,
  bidSize: 100,
  askSize: 200,
});
const tr = (price: number, ts = 1_764_000_000_000 + seq * 10): WireTick => ({ seq: ++seq, ts, gts: ts + 0.5, price, size: 100 });

describe('watchlist entries', () => {
  it('turns symbols, FX pairs, topics and patterns into subscriptions', () => {
    expect(entry('aapl')).toMatchObject({
      text: 'AAPL',
      subscriptions: ['equity.AAPL.quote', 'equity.AAPL.trade'],
      instruments: ['equity.AAPL'],
    });
    expect(entry(' BRK-B ')).toMatchObject({ text: 'BRK-B', instruments: ['equity.BRK-B'] });
    expect(entry('eurusd')).toMatchObject({ text: 'EURUSD', subscriptions: ['fx.EURUSD.quote'], instruments: ['fx.EURUSD'] });
    expect(entry('fx.*.quote')).toMatchObject({ text: 'fx.*.quote', subscriptions: ['fx.*.quote'], instruments: [] });
    expect(entry('equity.MSFT.trade')).toMatchObject({ subscriptions: ['equity.MSFT.trade'], instruments: ['equity.MSFT'] });
    // Six letters that are not two currency codes are an equity.
    expect(entry('ABCDEF').subscriptions).toEqual(['equity.ABCDEF.quote', 'equity.ABCDEF.trade']);
  });

  it('matches concrete topics', () => {
    const t = (topic: string) => {
      const [assetClass, symbol, channel] = topic.split('.') as [string, string, string];
      return { topic, assetClass, symbol, channel };
    };
    expect(entry('AAPL').matches(t('equity.AAPL.trade'))).toBe(true);
    expect(entry('AAPL').matches(t('equity.AAPLX.quote'))).toBe(false);
    expect(entry('fx.*.quote').matches(t('fx.USDJPY.quote'))).toBe(true);
    expect(entry('fx.*.quote').matches(t('equity.USDJPY.quote'))).toBe(false);
  });

  it('explains what is wrong with bad input', () => {
    expect(parseEntry('')).toMatch(/type a symbol/);
    expect(parseEntry('a b')).toMatch(/not a valid symbol/);
    expect(parseEntry('fx.EURUSD')).toMatch(/three dot-separated segments/);
    expect(parseEntry('fx.eurusd.quote')).toMatch(/symbol "eurusd"/);
    expect(parseEntry('equity.A*.quote')).toMatch(/symbol/);
  });

  it('formats prices and spreads per asset class', () => {
    expect(priceDecimals('fx', 'EURUSD', 1.08)).toBe(5);
    expect(priceDecimals('fx', 'USDJPY', 150)).toBe(3);
    expect(priceDecimals('equity', 'AAPL', 228)).toBe(2);
    expect(priceDecimals('equity', 'PENNY', 0.5)).toBe(4);
    expect(formatSpread('fx', 'EURUSD', 0.00003, 5)).toBe('0.3 pip');
    expect(formatSpread('fx', 'USDJPY', 0.004, 3)).toBe('0.4 pip');
    expect(formatSpread('equity', 'AAPL', 0.01, 2)).toBe('0.01');
    expect(formatSpread('equity', 'AAPL', NaN, 2)).toBe('');
  });
});

describe('market model', () => {
  it('measures change against the day statistics (previous close, else open) and carries range and volume forward', () => {
    const m = new Market();
    m.setEntries([entry('AAPL'), entry('EURUSD')]);
    const stats = (o: Partial<DayStats>): DayStats => ({
      day: '2026-12-06',
      source: 'trade',
      open: null,
      high: null,
      low: null,
      last: null,
      prevClose: null,
      volume: 0,
      vwap: null,
      change: null,
      changePct: null,
      ...o,
    });
    m.applyStats('equity.AAPL.trade', stats({ open: 99, high: 101, low: 98, last: 100, prevClose: 95, volume: 5000 }));
    m.applyTicks('equity.AAPL.trade', [tr(100)], true);
    const aapl = m.rows.get('equity.AAPL')!;
    expect(aapl.change).toBeCloseTo(5, 10);
    expect(aapl.changePct).toBeCloseTo((5 / 95) * 100, 10);
    m.applyTicks('equity.AAPL.trade', [tr(102)], false);
    expect([aapl.dayLow, aapl.dayHigh, aapl.volume]).toEqual([98, 102, 5100]);
    expect(aapl.trades.map((t) => [t.price, t.dir])).toEqual([[102, 0]]);
    m.applyTicks('equity.AAPL.trade', [tr(101.5)], false);
    expect(aapl.trades.at(-1)!.dir).toBe(-1);

    // FX: mids; no previous close yet (a fresh gateway), so against today's open, not 0.
    m.applyStats('fx.EURUSD.quote', stats({ source: 'mid', open: 1.08, high: 1.0805, low: 1.0795, last: 1.08 }));
    m.applyTicks('fx.EURUSD.quote', [q(1.081, 1.0812)], false);
    const eur = m.rows.get('fx.EURUSD')!;
    expect(eur.changePct).toBeCloseTo(((1.0811 - 1.08) / 1.08) * 100, 8);
    expect(eur.dayHigh).toBeCloseTo(1.0811, 10);
    expect(Number.isNaN(eur.volume)).toBe(true);
  });

  it('sorts by a column (descending, ascending, then watchlist order) and re-sorts as values move', () => {
    const m = new Market();
    m.setEntries([entry('AAPL'), entry('MSFT'), entry('EURUSD')]);
    m.applyTicks('equity.AAPL.quote', [q(228, 228.01)], true);
    m.applyTicks('equity.MSFT.quote', [q(415, 415.02)], true);
    m.applyTicks('fx.EURUSD.quote', [q(1.08, 1.0801)], true);
    const keys = () => m.order.map((r) => r.symbol);
    m.toggleSort('bid');
    expect(keys()).toEqual(['MSFT', 'AAPL', 'EURUSD']);
    m.applyTicks('equity.AAPL.quote', [q(500, 500.01)], false);
    const v = m.structureVersion;
    m.resort();
    expect(keys()).toEqual(['AAPL', 'MSFT', 'EURUSD']);
    expect(m.structureVersion).toBe(v + 1);
    m.resort();
    expect(m.structureVersion).toBe(v + 1);
    m.toggleSort('bid');
    expect(keys()).toEqual(['EURUSD', 'MSFT', 'AAPL']);
    m.toggleSort('bid');
    expect(m.sortKey).toBeNull();
    expect(keys()).toEqual(['AAPL', 'MSFT', 'EURUSD']);
    m.toggleSort('symbol');
    expect(keys()).toEqual(['AAPL', 'EURUSD', 'MSFT']);
  });

  it('marks a row unknown when the gateway answered pending for every topic of it, until data arrives', () => {
    const m = new Market();
    m.setEntries([entry('NOSUCH')]);
    const row = m.rows.get('equity.NOSUCH')!;
    m.notePending('equity.NOSUCH.quote');
    expect(row.unknown).toBe(false);
    m.notePending('equity.NOSUCH.trade');
    expect(row.unknown).toBe(true);
    m.applyTicks('equity.NOSUCH.quote', [q(10, 10.01)], false);
    expect(row.unknown).toBe(false);
  });

  it('keeps bid, ask, last, change since the first tick, updates, and flash directions', () => {
    const m = new Market();
    m.setEntries([entry('AAPL'), entry('EURUSD')]);
    expect(m.order.map((r) => r.key)).toEqual(['equity.AAPL', 'fx.EURUSD']);
    expect(m.applyTicks('equity.AAPL.quote', [q(100, 100.02)], true)).toBe(true);
    const aapl = m.rows.get('equity.AAPL')!;
    expect(aapl).toMatchObject({ bid: 100, ask: 100.02, updates: 1, decimals: 2, lastIsTrade: false });
    expect(aapl.last).toBeCloseTo(100.01, 10);
    expect(m.ticksApplied).toBe(0); // snapshots are not live ticks
    m.applyTicks('equity.AAPL.quote', [q(100.01, 100.03), q(100.05, 100.06)], false);
    expect(aapl.bid).toBe(100.05);
    expect(aapl.flashBid).toBe(1);
    expect(aapl.change).toBeCloseTo(0.045, 10);
    expect(aapl.spread).toBeCloseTo(0.01, 10);
    expect(m.ticksApplied).toBe(2);
    // The first trade switches last and change to trade prices.
    m.applyTicks('equity.AAPL.trade', [tr(100.04)], false);
    m.applyTicks('equity.AAPL.trade', [tr(99.04)], false);
    expect(aapl).toMatchObject({ last: 99.04, lastIsTrade: true, flashLast: -1, updates: 5 });
    expect(aapl.change).toBeCloseTo(-1, 10);
    expect(aapl.changePct).toBeCloseTo(-0.9996, 3);
    expect(m.dirty.has(aapl)).toBe(true);

    m.applyTicks('fx.EURUSD.quote', [q(1.08412, 1.08415)], true);
    expect(m.rows.get('fx.EURUSD')!.decimals).toBe(5);
  });

  it('ignores topics the watchlist does not cover (late frames after an unsubscribe)', () => {
    const m = new Market();
    m.setEntries([entry('AAPL')]);
    expect(m.applyTicks('equity.MSFT.quote', [q(1, 2)], false)).toBe(false);
    expect(m.rows.has('equity.MSFT')).toBe(false);
  });

  it('adds rows for pattern matches as topics appear, in order, and drops them when the pattern goes', () => {
    const m = new Market();
    m.setEntries([entry('AAPL'), entry('fx.*.quote')]);
    m.applyTicks('fx.USDJPY.quote', [q(150, 150.01)], false);
    m.applyTicks('fx.EURUSD.quote', [q(1.1, 1.1001)], false);
    expect(m.order.map((r) => r.key)).toEqual(['equity.AAPL', 'fx.EURUSD', 'fx.USDJPY']);
    const before = m.structureVersion;
    m.setEntries([entry('AAPL')]);
    expect(m.structureVersion).toBeGreaterThan(before);
    expect(m.order.map((r) => r.key)).toEqual(['equity.AAPL']);
    expect([...m.rows.keys()]).toEqual(['equity.AAPL']);
  });

  it('marks rows stale and counts gaps', () => {
    const m = new Market();
    m.setEntries([entry('AAPL')]);
    m.setTopicStatus('equity.AAPL.quote', true);
    const row = m.rows.get('equity.AAPL')!;
    expect(row.stale).toBe(true);
    m.setTopicStatus('equity.AAPL.quote', false);
    expect(row.stale).toBe(false);
    m.setTopicStatus('equity.AAPL.trade', true);
    m.clearStale();
    expect(row.stale).toBe(false);
    m.noteGap('equity.AAPL.quote');
    expect(row.gaps).toBe(1);
  });
});

describe('price history', () => {
  it('builds 1-second candles from tick mids', () => {
    const h = new PriceHistory(5, 3);
    const t0 = 1_764_000_000_000;
    h.add(t0 + 100, 10);
    h.add(t0 + 200, 12);
    h.add(t0 + 900, 9);
    expect(h.current).toEqual({ time: t0 / 1000, open: 10, high: 12, low: 9, close: 9 });
    expect(h.completedCandles).toBe(0);
    h.add(t0 + 1000, 11);
    expect(h.completedCandles).toBe(1);
    expect(h.completedAfter(0)).toEqual([{ time: t0 / 1000, open: 10, high: 12, low: 9, close: 9 }]);
    // A tick stamped before the candle in progress joins it (times never go backwards).
    h.add(t0 + 500, 8);
    expect(h.current).toEqual({ time: t0 / 1000 + 1, open: 11, high: 11, low: 8, close: 8 });
  });

  it('keeps the last N points and candles in rings', () => {
    const h = new PriceHistory(3, 2);
    const t0 = 1_764_000_000_000;
    for (let i = 0; i < 5; i++) h.add(t0 + i * 1000, i);
    expect(h.count).toBe(5);
    expect(h.firstIndex).toBe(3);
    expect(h.pointsAfter(0).map((p) => [p.index, p.value])).toEqual([
      [3, 2],
      [4, 3],
      [5, 4],
    ]);
    expect(h.pointsAfter(4).map((p) => p.index)).toEqual([5]);
    expect(h.tsOf(4)).toBe(t0 + 3000);
    expect(h.tsOf(2)).toBeUndefined();
    expect(h.completedCandles).toBe(4);
    expect(h.completedAfter(0).map((c) => c.open)).toEqual([2, 3]);
    expect(h.completedAfter(3).map((c) => c.open)).toEqual([3]);
  });
});

describe('saved settings', () => {
  const store = (value: string | null) => ({ getItem: (k: string) => (k === STORAGE_KEY ? value : null) });

  it('falls back to the defaults for missing or unreadable data', () => {
    expect(loadSaved(null)).toEqual(defaults());
    expect(loadSaved(store(null)).watchlist).toEqual(DEFAULT_WATCHLIST);
    expect(loadSaved(store('{nope')).watchlist).toEqual(DEFAULT_WATCHLIST);
    expect(
      loadSaved({
        getItem: () => {
          throw new Error('SecurityError');
        },
      }),
    ).toEqual(defaults());
  });

  it('keeps valid entries and drops invalid ones', () => {
    const saved = loadSaved(
      store(JSON.stringify({ watchlist: ['META', 'fx.*.quote', 'bad topic!', 3], maxRate: 4, selected: 'equity.META' })),
    );
    expect(saved).toEqual({ watchlist: ['META', 'fx.*.quote'], maxRate: 4, selected: 'equity.META' });
  });
});
