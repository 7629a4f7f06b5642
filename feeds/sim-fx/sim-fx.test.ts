import { describe, expect, it } from 'vitest';
import { systemClock } from '../../src/core/clock.ts';
import type { FeedTick } from '../../src/core/tick.ts';
import { isValidTopic, parseTopic } from '../../src/core/topic.ts';
import { collectingContext, correlation, onGrid, stddev, take } from '../shared/testing.ts';
import { createFxModel, DEFAULT_FX_PAIRS, simFxFeed, simFxOptionsSchema, type FxModel } from './index.ts';

const defaults = simFxOptionsSchema.parse({});

/** Log-returns of each pair's continuous mid over `steps` model events. */
function logReturns(model: FxModel, pairs: readonly string[], steps: number): number[][] {
  const out = pairs.map(() => [] as number[]);
  let prev = pairs.map((p) => model.mid(p));
  for (let i = 0; i < steps; i++) {
    model.next(1);
    const mids = pairs.map((p) => model.mid(p));
    mids.forEach((m, j) => {
      out[j]!.push(Math.log(m / prev[j]!));
    });
    prev = mids;
  }
  return out;
}

describe('sim-fx model', () => {
  it('has about 20 majors and crosses with valid topics', () => {
    expect(DEFAULT_FX_PAIRS.length).toBeGreaterThanOrEqual(18);
    expect(DEFAULT_FX_PAIRS.length).toBeLessThanOrEqual(30);
    expect(new Set(DEFAULT_FX_PAIRS).size).toBe(DEFAULT_FX_PAIRS.length);
    expect(DEFAULT_FX_PAIRS).toEqual(
      expect.arrayContaining([
        'EURUSD',
        'GBPUSD',
        'USDJPY',
        'USDCHF',
        'AUDUSD',
        'USDCAD',
        'NZDUSD',
        'EURGBP',
        'EURJPY',
        'GBPJPY',
        'EURCHF',
        'AUDJPY',
        'EURAUD',
        'CHFJPY',
        'EURCAD',
        'GBPCHF',
        'AUDNZD',
        'CADJPY',
        'NZDJPY',
        'GBPAUD',
      ]),
    );
    const model = createFxModel(defaults);
    expect(model.topics).toEqual(DEFAULT_FX_PAIRS.flatMap((p) => [`fx.${p}.quote`, `fx.${p}.book`]));
    for (const topic of model.topics) expect(isValidTopic(topic), topic).toBe(true);
  });

  it('starts near real levels', () => {
    const model = createFxModel(defaults);
    expect(model.mid('EURUSD')).toBeCloseTo(1.085, 6);
    expect(model.mid('USDJPY')).toBeCloseTo(150, 6);
    expect(model.mid('EURJPY')).toBeCloseTo(1.085 * 150, 6);
  });

  it('is deterministic for a seed and independent of timestamps', () => {
    const a = take(createFxModel(defaults), 5000);
    expect(take(createFxModel(defaults), 5000)).toEqual(a);
    const model = createFxModel(defaults);
    const c = a.map((_, i) => model.next(5_000 + i * 2.5));
    expect(c.map(({ ts: _ts, ...rest }) => rest)).toEqual(a.map(({ ts: _ts, ...rest }) => rest));
    const other = take(createFxModel({ ...defaults, seed: 8 }), 5000);
    expect(other).not.toEqual(a);
    const same = other.filter((t, i) => JSON.stringify(t) === JSON.stringify(a[i])).length;
    expect(same).toBeLessThan(500);
  });

  it('quotes positive prices with 5 decimals (3 for JPY), bid < ask, sizes in millions', () => {
    const model = createFxModel(defaults);
    const ticks = take(model, 50_000);
    const bad: [string, FeedTick][] = [];
    const spreadsPips = new Map<string, number[]>();
    for (const t of ticks) {
      if (t.kind !== 'quote' || !isValidTopic(t.topic) || parseTopic(t.topic).channel !== 'quote') {
        bad.push(['kind/topic', t]);
        continue;
      }
      const pair = parseTopic(t.topic).symbol;
      const jpy = pair.endsWith('JPY');
      const decimals = jpy ? 3 : 5;
      if (!(t.bid > 0) || !onGrid(t.bid, decimals) || !onGrid(t.ask, decimals)) bad.push(['grid', t]);
      if (!(t.bid < t.ask)) bad.push(['crossed', t]);
      if (t.bidSize % 1_000_000 !== 0 || t.askSize % 1_000_000 !== 0 || t.bidSize < 1_000_000 || t.askSize < 1_000_000)
        bad.push(['size', t]);
      const pips = (t.ask - t.bid) / (jpy ? 0.01 : 0.0001);
      const list = spreadsPips.get(pair) ?? [];
      list.push(pips);
      spreadsPips.set(pair, list);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    // Every pair is quoted, with spreads between a tenth of a pip and a few pips.
    expect([...spreadsPips.keys()].sort()).toEqual([...DEFAULT_FX_PAIRS].sort());
    for (const [pair, s] of spreadsPips) {
      expect(Math.min(...s), pair).toBeGreaterThanOrEqual(0.1 - 1e-9);
      expect(Math.max(...s), pair).toBeLessThanOrEqual(6);
    }
    // JPY pairs really use 3 decimals and the others really use 5 (not a coarser grid).
    const eurusd = ticks.filter((t) => t.topic === 'fx.EURUSD.quote');
    expect(eurusd.some((t) => t.kind === 'quote' && !onGrid(t.bid, 4))).toBe(true);
    const usdjpy = ticks.filter((t) => t.topic === 'fx.USDJPY.quote');
    expect(usdjpy.some((t) => t.kind === 'quote' && !onGrid(t.bid, 2))).toBe(true);
  });

  it('moves EURUSD and GBPUSD together (shared USD leg and European factor)', () => {
    const pairs = ['EURUSD', 'GBPUSD', 'AUDUSD', 'NZDUSD', 'EURCHF'];
    const [eurusd, gbpusd, audusd, nzdusd, eurchf] = logReturns(createFxModel(defaults), pairs, 20_000);
    // Independently walking pairs would give about 0; the model's loadings give about 0.8.
    const eurGbp = correlation(eurusd!, gbpusd!);
    expect(eurGbp).toBeGreaterThan(0.65);
    expect(correlation(audusd!, nzdusd!)).toBeGreaterThan(0.65);
    // EURUSD/AUDUSD share only the USD leg (about 0.4): the European factor adds clearly more.
    expect(eurGbp - correlation(eurusd!, audusd!)).toBeGreaterThan(0.2);
    // A cross of two European currencies is not just another USD pair.
    expect(Math.abs(correlation(eurusd!, eurchf!))).toBeLessThan(0.3);
  });

  it('keeps crosses consistent with the majors', () => {
    const model = createFxModel(defaults);
    take(model, 10_000);
    const rel = (a: number, b: number): number => Math.abs(a / b - 1);
    expect(rel(model.mid('EURJPY'), model.mid('EURUSD') * model.mid('USDJPY'))).toBeLessThan(1e-12);
    expect(rel(model.mid('EURGBP'), model.mid('EURUSD') / model.mid('GBPUSD'))).toBeLessThan(1e-12);
    expect(rel(model.mid('AUDNZD'), model.mid('AUDUSD') / model.mid('NZDUSD'))).toBeLessThan(1e-12);
    expect(rel(model.mid('CHFJPY'), model.mid('USDJPY') / model.mid('USDCHF'))).toBeLessThan(1e-12);
  });

  it('gives EURUSD a realistic annualized volatility over a fixed per-event dt', () => {
    const ticksPerSecond = 400;
    const [eurusd] = logReturns(createFxModel({ seed: 11, ticksPerSecond }), ['EURUSD'], 20_000);
    const annualized = stddev(eurusd!) * Math.sqrt(ticksPerSecond * 260 * 24 * 3600);
    expect(annualized).toBeGreaterThan(0.06);
    expect(annualized).toBeLessThan(0.09);
  });

  it('takes a custom pair list and refuses unknown currencies', () => {
    const model = createFxModel({ ...defaults, pairs: ['USDEUR', 'CADCHF'] });
    expect(model.topics).toEqual(['fx.USDEUR.quote', 'fx.USDEUR.book', 'fx.CADCHF.quote', 'fx.CADCHF.book']);
    expect(model.mid('USDEUR')).toBeCloseTo(1 / 1.085, 9);
    expect(new Set(take(model, 200).map((t) => t.topic))).toEqual(new Set(model.topics.filter((t) => t.endsWith('.quote'))));
    expect(() => createFxModel({ ...defaults, pairs: ['EURXXX'] })).toThrow(/must be two of USD, EUR/);
    expect(() => createFxModel({ ...defaults, pairs: ['EUREUR'] })).toThrow(/against itself/);
  });
});

describe('sim-fx options', () => {
  it('defaults to seed 7, 400 ticks/s', () => {
    expect(defaults).toEqual({ seed: 7, ticksPerSecond: 400, bookDepth: 20 });
  });

  it.each([
    [{ ticksPerSecond: -1 }, 'ticksPerSecond', /at least 1/],
    [{ ticksPerSecond: '400' }, 'ticksPerSecond', /expected number/],
    [{ seed: 'x' }, 'seed', /expected number, received string/],
    [{ pairs: ['eurusd'] }, 'pairs.0', /e\.g\. "EURUSD"/],
    [{ pairs: ['EURUSD', 'EURUSD'] }, 'pairs', /repeat/],
    [{ pairs: [] }, 'pairs', /at least one/],
    [{ pair: ['EURUSD'] }, '', /pair/],
  ])('rejects %j with a readable error', (options, path, message) => {
    const result = simFxOptionsSchema.safeParse(options);
    expect(result.success).toBe(false);
    const issue = result.error!.issues[0]!;
    expect(issue.path.join('.')).toBe(path);
    expect(issue.message).toMatch(message);
  });
});

describe('sim-fx adapter', () => {
  it('is registered as sim-fx', () => {
    expect(simFxFeed.name).toBe('sim-fx');
  });

  it('emits at about the configured rate in real time and nothing after stop()', async () => {
    const ticksPerSecond = 400;
    const adapter = simFxFeed.create(simFxOptionsSchema.parse({}));
    const ctx = collectingContext(systemClock);
    const t0 = systemClock.now();
    await adapter.start(ctx);
    await new Promise((r) => setTimeout(r, 300));
    await adapter.stop();
    const elapsed = systemClock.now() - t0;
    const count = ctx.ticks.length;
    expect(count).toBeGreaterThan(0.7 * elapsed * (ticksPerSecond / 1000));
    expect(count).toBeLessThanOrEqual(elapsed * (ticksPerSecond / 1000) + 1);
    expect(ctx.ticks.every((t) => t.ts >= t0 && t.ts <= t0 + elapsed)).toBe(true);
    expect(ctx.failures).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(ctx.ticks.length).toBe(count);
  });
});

describe('sim-fx order books', () => {
  it('best bid/ask equal the quote; deeper levels whole pips behind, sizes in millions; quotes unchanged by books', async () => {
    const { createFxModel } = await import('./model.ts');
    const { Book } = await import('../../src/market/book.ts');
    const model = createFxModel({ seed: 5, ticksPerSecond: 400, pairs: ['EURUSD', 'USDJPY'], bookDepth: 10 });
    const plain = createFxModel({ seed: 5, ticksPerSecond: 400, pairs: ['EURUSD', 'USDJPY'] });
    expect(model.topics).toEqual(['fx.EURUSD.quote', 'fx.EURUSD.book', 'fx.USDJPY.quote', 'fx.USDJPY.book']);
    const books = new Map<string, InstanceType<typeof Book>>();
    for (let i = 0; i < 1000; i++) {
      const q = model.next(1_767_364_200_000 + i);
      expect(plain.next(1_767_364_200_000 + i)).toEqual(q);
      if (q.kind !== 'quote') throw new Error('fx emits quotes only');
      const b = model.followUp(); // null: the quote left the book as it was
      const topic = q.topic.replace('.quote', '.book');
      const book = books.get(topic) ?? new Book();
      books.set(topic, book);
      if (b !== null) book.apply(b.bids, b.asks);
      expect(book.bids.top(1)).toEqual([[q.bid, q.bidSize]]);
      expect(book.asks.top(1)).toEqual([[q.ask, q.askSize]]);
      const pip = q.bid > 20 ? 0.01 : 0.0001;
      for (const [p, s] of book.bids.top(10).slice(1)) {
        expect(Math.abs(p / pip - Math.round(p / pip))).toBeLessThan(1e-6);
        expect(s % 1_000_000).toBe(0);
      }
    }
  });
});
