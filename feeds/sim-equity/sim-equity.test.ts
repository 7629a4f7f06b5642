import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import type { FeedTick } from '../../src/core/tick.ts';
import { isValidTopic, parseTopic } from '../../src/core/topic.ts';
import { collectingContext, onGrid, stddev, take } from '../shared/testing.ts';
import { createEquityModel, DEFAULT_EQUITIES, simEquityFeed, simEquityOptionsSchema } from './index.ts';

const defaults = simEquityOptionsSchema.parse({});

describe('sim-equity model', () => {
  it('has a universe of about 50 real US tickers with valid topics', () => {
    const symbols = DEFAULT_EQUITIES.map((e) => e.symbol);
    expect(symbols.length).toBeGreaterThanOrEqual(45);
    expect(symbols.length).toBeLessThanOrEqual(60);
    expect(new Set(symbols).size).toBe(symbols.length);
    expect(symbols).toEqual(expect.arrayContaining(['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'BRK-B']));
    for (const e of DEFAULT_EQUITIES) {
      expect(e.price).toBeGreaterThan(1);
      expect(e.vol).toBeGreaterThan(0.05);
      expect(e.vol).toBeLessThan(1.5);
    }
    const model = createEquityModel(defaults);
    expect(model.topics).toHaveLength(3 * symbols.length); // quote, trade, book
    for (const topic of model.topics) expect(isValidTopic(topic), topic).toBe(true);
  });

  it('is deterministic for a seed and independent of timestamps', () => {
    const a = take(createEquityModel(defaults), 5000);
    const b = take(createEquityModel(defaults), 5000);
    expect(b).toEqual(a);
    const model = createEquityModel(defaults);
    const c = a.map((_, i) => model.next(1_000 + i * 0.37));
    expect(c.map(({ ts: _ts, ...rest }) => rest)).toEqual(a.map(({ ts: _ts, ...rest }) => rest));
    const other = take(createEquityModel({ ...defaults, seed: 43 }), 5000);
    expect(other).not.toEqual(a);
    // Not merely shifted: most ticks differ.
    const same = other.filter((t, i) => JSON.stringify(t) === JSON.stringify(a[i])).length;
    expect(same).toBeLessThan(500);
  });

  it('quotes positive cent prices with bid < ask and round-lot sizes; trades print at or inside the quote', () => {
    const model = createEquityModel(defaults);
    const ticks = take(model, 50_000);
    const topics = new Set(model.topics);
    const lastQuote = new Map<string, { bid: number; ask: number }>();
    // Checked in plain code and asserted once: 50k expect() calls would take seconds.
    const bad: [string, FeedTick][] = [];
    let trades = 0;
    let oddLots = 0;
    let tradesInside = 0;
    for (const t of ticks) {
      if (!topics.has(t.topic) || parseTopic(t.topic).channel !== t.kind) bad.push(['topic', t]);
      const { symbol } = parseTopic(t.topic);
      if (t.kind === 'quote') {
        if (!(t.bid > 0) || !onGrid(t.bid, 2) || !onGrid(t.ask, 2)) bad.push(['price', t]);
        if (!(t.ask - t.bid >= 0.01 - 1e-9)) bad.push(['spread', t]);
        if (t.bidSize % 100 !== 0 || t.askSize % 100 !== 0 || t.bidSize < 100 || t.askSize < 100) bad.push(['size', t]);
        lastQuote.set(symbol, t);
      } else {
        trades++;
        if (!(t.price > 0) || !onGrid(t.price, 2)) bad.push(['price', t]);
        if (!Number.isInteger(t.size) || t.size <= 0) bad.push(['size', t]);
        if (t.size % 100 !== 0) {
          oddLots++;
          if (t.size >= 100) bad.push(['odd lot', t]);
        }
        const q = lastQuote.get(symbol);
        if (q && (t.price < q.bid || t.price > q.ask)) bad.push(['outside quote', t]);
        if (q && t.price > q.bid && t.price < q.ask) tradesInside++;
      }
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(trades / ticks.length).toBeGreaterThan(0.13);
    expect(trades / ticks.length).toBeLessThan(0.17);
    expect(oddLots / trades).toBeGreaterThan(0.05);
    expect(oddLots / trades).toBeLessThan(0.15);
    expect(tradesInside).toBeGreaterThan(0);
    // Every symbol gets quoted and traded.
    expect(new Set(ticks.map((t) => t.topic)).size).toBe(model.topics.filter((t) => !t.endsWith('.book')).length);
  });

  it('moves the mid with the configured annualized volatility over a fixed per-event dt', () => {
    const ticksPerSecond = 500;
    const model = createEquityModel({ seed: 5, ticksPerSecond, tradeProbability: 0, universe: [{ symbol: 'XYZ', price: 50, vol: 0.4 }] });
    const returns: number[] = [];
    let prev = model.mid('XYZ');
    for (let i = 0; i < 20_000; i++) {
      model.next(1);
      const mid = model.mid('XYZ');
      returns.push(Math.log(mid / prev));
      prev = mid;
    }
    // One symbol, no trades: dt = 1 / ticksPerSecond seconds of a 252 × 6.5 h trading year.
    const annualized = stddev(returns) * Math.sqrt(ticksPerSecond * 252 * 6.5 * 3600);
    expect(annualized).toBeGreaterThan(0.38);
    expect(annualized).toBeLessThan(0.42);
  });

  it('takes a custom universe, filling price and vol from the defaults or 100 / 30 %', () => {
    const model = createEquityModel({ ...defaults, universe: ['AAPL', { symbol: 'ZZZ9' }, { symbol: 'MSFT', price: 10 }] });
    expect(model.symbols).toEqual(['AAPL', 'ZZZ9', 'MSFT']);
    expect(model.mid('AAPL')).toBe(DEFAULT_EQUITIES.find((e) => e.symbol === 'AAPL')!.price);
    expect(model.mid('ZZZ9')).toBe(100);
    expect(model.mid('MSFT')).toBe(10);
    const seen = new Set(take(model, 1000).map((t) => parseTopic(t.topic).symbol));
    expect([...seen].sort()).toEqual(['AAPL', 'MSFT', 'ZZZ9']);
    expect(() => createEquityModel({ ...defaults, universe: ['brk.b'] })).toThrow(/invalid equity symbol/);
    expect(() => createEquityModel({ ...defaults, universe: ['A', 'A'] })).toThrow(/duplicate/);
  });

  it('never quotes below one cent, even for a penny stock', () => {
    const ticks = take(
      createEquityModel({ seed: 3, ticksPerSecond: 1, tradeProbability: 0.2, universe: [{ symbol: 'PNY', price: 0.02, vol: 3 }] }),
      20_000,
    );
    const bad = ticks.filter((t) => (t.kind === 'quote' ? !(t.bid >= 0.01 && t.ask > t.bid) : !(t.price >= 0.01)));
    expect(bad).toEqual([]);
    // The walk really went down to the floor, so the guard was exercised.
    expect(ticks.some((t) => t.kind === 'quote' && t.bid === 0.01)).toBe(true);
  });
});

describe('sim-equity options', () => {
  it('defaults to seed 42, 1000 ticks/s, 15 % trades', () => {
    expect(defaults).toEqual({ seed: 42, ticksPerSecond: 1000, tradeProbability: 0.15, bookDepth: 20 });
  });

  it.each([
    [{ ticksPerSecond: -1 }, 'ticksPerSecond', /at least 1/],
    [{ ticksPerSecond: 2_000_000 }, 'ticksPerSecond', /at most 1000000/],
    [{ seed: 1.5 }, 'seed', /int/],
    [{ tradeProbability: 1 }, 'tradeProbability', /at most 0.9/],
    [{ universe: ['aapl'] }, 'universe.0', /uppercase/],
    [{ universe: [] }, 'universe', /at least one/],
    [{ universe: ['AAPL', { symbol: 'AAPL' }] }, 'universe.1', /duplicate symbol "AAPL"/],
    [{ universe: [{ symbol: 'AAPL', price: -5 }] }, 'universe.0.price', /positive/],
    [{ tickPerSecond: 5 }, '', /tickPerSecond/],
  ])('rejects %j with a readable error', (options, path, message) => {
    const result = simEquityOptionsSchema.safeParse(options);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(path);
    expect(issue.message).toMatch(message);
  });
});

describe('sim-equity adapter', () => {
  it('is registered as sim-equity', () => {
    expect(simEquityFeed.name).toBe('sim-equity');
  });

  it('emits at about the configured rate in real time and nothing after stop()', async () => {
    const ticksPerSecond = 1000;
    const adapter = simEquityFeed.create(simEquityOptionsSchema.parse({ ticksPerSecond }));
    const ctx = collectingContext(systemClock);
    const t0 = systemClock.now();
    await adapter.start(ctx);
    await new Promise((r) => setTimeout(r, 300));
    await adapter.stop();
    const elapsed = systemClock.now() - t0;
    const count = ctx.ticks.length;
    // Timer granularity costs at most one 10 ms period at either end; allow for a slow CI box.
    expect(count).toBeGreaterThan(0.7 * elapsed * (ticksPerSecond / 1000));
    expect(count).toBeLessThanOrEqual(elapsed * (ticksPerSecond / 1000) + 1);
    for (const t of ctx.ticks) {
      expect(t.ts).toBeGreaterThanOrEqual(t0);
      expect(t.ts).toBeLessThanOrEqual(t0 + elapsed);
    }
    expect(ctx.failures).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(ctx.ticks.length).toBe(count);
  });

  it('stops emitting when ctx.signal aborts', async () => {
    const adapter = simEquityFeed.create(simEquityOptionsSchema.parse({ ticksPerSecond: 5000 }));
    const ctx = collectingContext(systemClock);
    await adapter.start(ctx);
    await new Promise((r) => setTimeout(r, 50));
    ctx.controller.abort();
    const count = ctx.ticks.length;
    expect(count).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(ctx.ticks.length).toBe(count);
    await adapter.stop();
  });
});

describe('sim-equity order books', () => {
  it('best bid/ask and sizes equal each quote; levels on the cent grid in round lots; deterministic; quotes unchanged by books', async () => {
    const { createEquityModel } = await import('./model.ts');
    const { Book } = await import('../../src/market/book.ts');
    const withBooks = createEquityModel({
      seed: 3,
      ticksPerSecond: 1000,
      tradeProbability: 0.15,
      universe: ['AAPL', 'MSFT'],
      bookDepth: 20,
    });
    const again = createEquityModel({ seed: 3, ticksPerSecond: 1000, tradeProbability: 0.15, universe: ['AAPL', 'MSFT'], bookDepth: 20 });
    const plain = createEquityModel({ seed: 3, ticksPerSecond: 1000, tradeProbability: 0.15, universe: ['AAPL', 'MSFT'] });
    expect(withBooks.topics).toContain('equity.AAPL.book');
    const books = new Map<string, InstanceType<typeof Book>>();
    let quotes = 0;
    for (let i = 0; i < 3000; i++) {
      const t = withBooks.next(1_767_364_200_000 + i);
      expect(again.next(1_767_364_200_000 + i)).toEqual(t);
      expect(plain.next(1_767_364_200_000 + i)).toEqual(t);
      const b = withBooks.followUp();
      expect(again.followUp()).toEqual(b);
      if (t.kind !== 'quote') {
        expect(b).toBeNull();
        continue;
      }
      quotes++;
      expect(b).not.toBeNull();
      const book = books.get(b!.topic) ?? new Book();
      books.set(b!.topic, book);
      book.apply(b!.bids, b!.asks);
      expect(book.bids.top(1)).toEqual([[t.bid, t.bidSize]]);
      expect(book.asks.top(1)).toEqual([[t.ask, t.askSize]]);
      expect(book.bids.length).toBeLessThanOrEqual(20);
      for (const [p, s] of [...book.bids.top(20), ...book.asks.top(20)]) {
        expect(Math.abs(p * 100 - Math.round(p * 100))).toBeLessThan(1e-6);
        expect(s % 100).toBe(0);
      }
    }
    expect(quotes).toBeGreaterThan(2000);
    expect(books.get('equity.AAPL.book')!.bids.length).toBeGreaterThan(12);
  });
});
