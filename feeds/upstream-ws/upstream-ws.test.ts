import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock, systemClock, type Clock } from '../../src/core/clock.ts';
import { collectingContext, type CollectingContext } from '../shared/testing.ts';
import {
  compileMapping,
  PRESETS,
  reconnectDelay,
  resolveMapping,
  upstreamWsFeed,
  upstreamWsOptionsSchema,
  UpstreamWsAdapter,
  type UpstreamWsAdapterOptions,
} from './index.ts';
import { templateMessages } from './mapping.ts';
import { FakeBinance } from './testing.ts';

const binanceMsgs = JSON.parse(readFileSync(new URL('./fixtures/binance.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const coinbaseMsgs = JSON.parse(readFileSync(new URL('./fixtures/coinbase.json', import.meta.url), 'utf8')) as Record<string, unknown>;

describe('upstream-ws mapping (pure, on fixtures)', () => {
  it('binance preset: bookTicker → quote stamped on arrival, trade → trade at T, combined streams unwrapped', () => {
    const p = compileMapping(PRESETS.binance);
    expect(p.map(binanceMsgs.bookTicker)).toEqual([
      { symbol: 'BTCUSDT', kind: 'quote', bid: 42000.1, ask: 42000.2, bidSize: 1.5, askSize: 2.25 },
    ]);
    expect(p.map(binanceMsgs.trade)).toEqual([{ symbol: 'BTCUSDT', kind: 'trade', ts: 1_767_364_200_000, price: 42000.15, size: 0.012 }]);
    expect(p.map(binanceMsgs.combinedTrade)).toEqual([
      { symbol: 'ETHUSDT', kind: 'trade', ts: 1_767_364_200_100, price: 2300.5, size: 0.5 },
    ]);
    expect(p.map(binanceMsgs.subscribeAck)).toBeNull();
    expect(p.error!(binanceMsgs.error)).toMatch(/Invalid request/);
    expect(p.error!(binanceMsgs.trade)).toBeNull();
    expect(() => p.map(binanceMsgs.badPrice)).toThrow(/field "b" is not a number \("n\/a"\)/);
    expect(() => p.map(binanceMsgs.unknown)).toThrow(/matches no rule/);
    expect(p.stream!('BTCUSDT', 'quote')).toBe('btcusdt@bookTicker');
    let id = 0;
    expect(p.subscribe!(['btcusdt@bookTicker', 'btcusdt@trade'], () => ++id)).toEqual([
      { method: 'SUBSCRIBE', params: ['btcusdt@bookTicker', 'btcusdt@trade'], id: 1 },
    ]);
    expect(p.unsubscribe!(['btcusdt@trade'], () => ++id)).toEqual([{ method: 'UNSUBSCRIBE', params: ['btcusdt@trade'], id: 2 }]);
  });

  it('coinbase preset: one ticker gives a quote and a trade with the ISO time; heartbeats are control messages', () => {
    const p = compileMapping(PRESETS.coinbase);
    const ts = Date.parse('2026-01-02T14:30:00.123Z');
    expect(p.map(coinbaseMsgs.ticker)).toEqual([
      { symbol: 'BTC-USD', kind: 'quote', ts, bid: 42000.1, ask: 42000.2, bidSize: 0.25, askSize: 0.5 },
      { symbol: 'BTC-USD', kind: 'trade', ts, price: 42000.15, size: 0.0012 },
    ]);
    expect(p.map(coinbaseMsgs.heartbeat)).toBeNull();
    expect(p.map(coinbaseMsgs.subscriptions)).toBeNull();
    expect(p.error!(coinbaseMsgs.error)).toMatch(/not a valid product/);
    // Quote and trade of a product share one stream (the product id).
    expect([p.stream!('BTC-USD', 'quote'), p.stream!('BTC-USD', 'trade')]).toEqual(['BTC-USD', 'BTC-USD']);
    expect(p.subscribe!(['BTC-USD', 'ETH-USD'], () => 1)).toEqual([
      { type: 'subscribe', product_ids: ['BTC-USD', 'ETH-USD'], channels: ['ticker', 'heartbeat'] },
    ]);
  });

  it('scales prices and sizes, converts time units, chunks or splits subscribe messages', () => {
    const p = compileMapping({
      messages: [
        {
          kind: 'trade',
          match: { ch: 'px' },
          symbol: 'd.sym',
          ts: 'd.t',
          tsUnit: 'us',
          price: 'd.p',
          size: 'd.q',
          priceScale: 1e-8,
          sizeScale: 1e-3,
        },
      ],
    });
    expect(p.map({ ch: 'px', d: { sym: 'btc', t: 1_767_364_200_000_500, p: 4_200_015_000_000, q: 1500 } })).toEqual([
      { symbol: 'BTC', kind: 'trade', ts: 1_767_364_200_000.5, price: 42000.15, size: 1.5 },
    ]);
    expect(() => p.map({ ch: 'px', d: { sym: 'btc', p: 1, q: 1 } })).toThrow(/ts field "d.t" is missing/);
    expect(p.stream).toBeUndefined(); // no subscribe spec: nothing to subscribe, every tick is emitted
    let id = 0;
    const next = () => ++id;
    expect(templateMessages({ op: 'sub', args: '$streams', req: '$id' }, ['a', 'b', 'c'], 2, next)).toEqual([
      { op: 'sub', args: ['a', 'b'], req: 1 },
      { op: 'sub', args: ['c'], req: 2 },
    ]);
    expect(templateMessages({ type: 'subscribe', symbol: '$stream' }, ['a', 'b'], 100, next)).toEqual([
      { type: 'subscribe', symbol: 'a' },
      { type: 'subscribe', symbol: 'b' },
    ]);
  });

  it('options: a preset or a mapping is required, a mapping overrides preset keys, static entries stay in the asset class', () => {
    const bad = upstreamWsOptionsSchema.safeParse({ url: 'ws://x' });
    expect(bad.error?.issues[0]).toMatchObject({ path: ['mapping'], message: expect.stringMatching(/give a "preset"/) });
    expect(upstreamWsOptionsSchema.safeParse({ url: 'http://x', preset: 'binance' }).error?.issues[0]?.message).toMatch(
      /ws:\/\/ or wss:\/\//,
    );
    expect(
      upstreamWsOptionsSchema.safeParse({ url: 'ws://x', preset: 'binance', static: ['equity.AAPL.quote'] }).error?.issues[0]?.message,
    ).toMatch(/not in this feed's asset class "crypto"/);
    expect(upstreamWsOptionsSchema.safeParse({ url: 'ws://x', preset: 'binance', symbols: ['btcusdt'] }).error?.issues[0]?.message).toMatch(
      /not a topic symbol/,
    );
    const o = upstreamWsOptionsSchema.parse({
      url: 'wss://example.test/ws',
      preset: 'binance',
      mapping: { subscribe: { streams: { quote: '{lower}@depth5' }, message: { op: 'SUB', args: '$streams' } } },
    });
    const m = resolveMapping(o);
    expect(m.messages).toBe(PRESETS.binance.messages);
    expect(compileMapping(m).stream!('BTCUSDT', 'quote')).toBe('btcusdt@depth5');
    expect(compileMapping(m).stream!('BTCUSDT', 'trade')).toBeNull();
    expect(o).toMatchObject({ assetClass: 'crypto', static: [], heartbeatTimeoutMs: 30_000, reconnect: { initialMs: 500, maxMs: 30_000 } });
    expect(upstreamWsFeed.create(o)).toBeInstanceOf(UpstreamWsAdapter);
  });

  it('reconnect delays back off exponentially with jitter in [cap/2, cap]', () => {
    const opts = { initialMs: 100, maxMs: 3000 };
    const caps = [100, 200, 400, 800, 1600, 3000, 3000];
    caps.forEach((cap, attempt) => {
      expect(reconnectDelay(attempt, opts, () => 0)).toBe(cap / 2);
      expect(reconnectDelay(attempt, opts, () => 0.999999)).toBe(cap);
      const d = reconnectDelay(attempt, opts);
      expect(d).toBeGreaterThanOrEqual(cap / 2);
      expect(d).toBeLessThanOrEqual(cap);
    });
  });
});

/** A collecting context whose warnings/errors/failures can be awaited. */
interface Ctx extends CollectingContext {
  errors: object[];
  until(pred: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
}

function context(clock: Clock): Ctx {
  const base = collectingContext(clock);
  const errors: object[] = [];
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  return {
    ...base,
    errors,
    logger: {
      ...base.logger,
      warn: (obj) => {
        base.warnings.push(obj);
        wake();
      },
      error: (obj) => {
        errors.push(obj);
        wake();
      },
    },
    emit(tick) {
      if (tick.kind === 'quote' || tick.kind === 'trade') base.ticks.push(tick);
      wake();
      return true;
    },
    fail(err) {
      base.failures.push(err);
      wake();
    },
    async until(pred, timeoutMs = 5000, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`timed out waiting for ${what}`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

describe('upstream-ws adapter against a fake Binance-like upstream', () => {
  let fake: FakeBinance;
  let adapter: UpstreamWsAdapter | null = null;
  beforeEach(async () => {
    fake = await FakeBinance.start();
  });
  afterEach(async () => {
    await adapter?.stop();
    adapter = null;
    await fake.close();
  });

  function make(overrides: Partial<UpstreamWsAdapterOptions> = {}): UpstreamWsAdapter {
    adapter = new UpstreamWsAdapter({
      url: fake.url,
      protocol: compileMapping(PRESETS.binance),
      assetClass: 'crypto',
      symbols: ['BTCUSDT', 'ETHUSDT', 'SOLUSDT'],
      static: [],
      heartbeatTimeoutMs: 10_000,
      pingIntervalMs: 0,
      connectTimeoutMs: 2000,
      reconnect: { initialMs: 20, maxMs: 200 },
      ...overrides,
    });
    return adapter;
  }

  const subscribes = (method: string) => fake.received.filter((r) => r.msg.method === method).map((r) => r.msg.params);

  it('subscribes the static list at connect, then follows interest: first subscribes, last unsubscribes', async () => {
    const clock = new ManualClock();
    const ctx = context(clock);
    const a = make({ static: ['crypto.SOLUSDT.trade'] });
    await a.start(ctx);
    await fake.until(() => fake.streams().has('solusdt@trade'), 5000, 'static subscribe');

    // One turn of interest changes → one SUBSCRIBE; other asset classes and unknown channels are ignored.
    a.interestChanged('crypto.BTCUSDT.quote', true);
    a.interestChanged('equity.AAPL.quote', true);
    a.interestChanged('crypto.*.quote', true);
    a.interestChanged('crypto.BTCUSDT.book', true);
    await fake.until(() => subscribes('SUBSCRIBE').length === 2, 5000, 'interest subscribe');
    expect(subscribes('SUBSCRIBE')).toEqual([['solusdt@trade'], ['btcusdt@bookTicker', 'ethusdt@bookTicker', 'solusdt@bookTicker']]);

    expect(fake.bookTicker('BTCUSDT', '42000.10', '42000.20')).toBe(1);
    expect(fake.trade('SOLUSDT', '150.25', '3', 1_767_364_200_000)).toBe(1);
    await ctx.until(() => ctx.ticks.length === 2, 5000, 'two ticks');
    expect(ctx.ticks).toEqual([
      { topic: 'crypto.BTCUSDT.quote', ts: clock.now(), kind: 'quote', bid: 42000.1, ask: 42000.2, bidSize: 1.5, askSize: 2.25 },
      { topic: 'crypto.SOLUSDT.trade', ts: 1_767_364_200_000, kind: 'trade', price: 150.25, size: 3 },
    ]);

    // The pattern goes; BTC stays wanted through its exact topic.
    a.interestChanged('crypto.*.quote', false);
    await fake.until(() => subscribes('UNSUBSCRIBE').length === 1, 5000, 'unsubscribe');
    expect(subscribes('UNSUBSCRIBE')).toEqual([['ethusdt@bookTicker', 'solusdt@bookTicker']]);
    a.interestChanged('crypto.BTCUSDT.quote', false);
    await fake.until(() => subscribes('UNSUBSCRIBE').length === 2, 5000, 'last unsubscribe');
    expect(subscribes('UNSUBSCRIBE')[1]).toEqual(['btcusdt@bookTicker']);
    expect([...fake.streams()]).toEqual(['solusdt@trade']);

    // A late tick for a topic nobody wants any more is dropped, not emitted. (Four acks: two SUBSCRIBEs, two UNSUBSCRIBEs.)
    fake.raw(JSON.stringify({ u: 1, s: 'ETHUSDT', b: '1', B: '1', a: '2', A: '1' }));
    fake.trade('SOLUSDT', '150.30', '1', 1_767_364_200_500);
    // An upstream time older than the topic's last one is raised to it.
    fake.trade('SOLUSDT', '150.20', '1', 1_767_364_200_400);
    await ctx.until(() => ctx.ticks.length === 4, 5000, 'fourth tick');
    expect(ctx.ticks.slice(2).map((t) => t.ts)).toEqual([1_767_364_200_500, 1_767_364_200_500]);
    expect(a.stats()).toMatchObject({
      ticks: 4,
      unsolicited: 1,
      tsClamped: 1,
      control: 4,
      malformed: 0,
      subscribedStreams: 1,
      connects: 1,
    });

    await a.stop();
    await fake.until(() => fake.connectionCount === 0, 5000, 'disconnect on stop');
  });

  it('counts, logs and skips malformed messages and upstream errors, and keeps streaming', async () => {
    const ctx = context(new ManualClock());
    const a = make({ static: ['crypto.BTCUSDT.quote'] });
    await a.start(ctx);
    await fake.until(() => fake.streams().size === 1);
    fake.raw('not json {');
    fake.raw(JSON.stringify({ u: 1, s: 'BTCUSDT', b: 'x', B: '1', a: '2', A: '1' }));
    fake.raw(JSON.stringify({ e: 'kline', s: 'BTCUSDT' }));
    fake.raw(JSON.stringify({ u: 2, s: 'BTC USDT!', b: '1', B: '1', a: '2', A: '1' }));
    fake.raw(JSON.stringify({ error: { code: 2, msg: 'Invalid request' }, id: 9 }));
    fake.bookTicker('BTCUSDT', '1.5', '1.6');
    await ctx.until(() => ctx.ticks.length === 1);
    expect(ctx.ticks[0]).toMatchObject({ topic: 'crypto.BTCUSDT.quote', bid: 1.5 });
    expect(a.stats()).toMatchObject({ malformed: 4, upstreamErrors: 1, ticks: 1 });
    // Logged once at once, then rate-limited: one malformed warning (with the reason) and one upstream-error warning.
    expect(ctx.warnings).toEqual([
      expect.objectContaining({ reason: 'not JSON', message: 'not json {', malformedTotal: 1 }),
      expect.objectContaining({ message: expect.stringMatching(/Invalid request/) }),
    ]);
    expect(ctx.failures).toEqual([]);
  });

  it('reconnects with exponential backoff and jitter after a drop, and subscribes everything again', async () => {
    const ctx = context(new ManualClock());
    // random() = 1: each delay is its cap, so the schedule is known: 20, 40, 80, 160 ms.
    const a = make({ static: ['crypto.BTCUSDT.quote'], random: () => 1 });
    await a.start(ctx);
    a.interestChanged('crypto.ETHUSDT.trade', true);
    await fake.until(() => fake.streams().size === 2);
    fake.bookTicker('BTCUSDT', '1', '2'); // data on the connection resets the backoff
    await ctx.until(() => ctx.ticks.length === 1);

    fake.refuseNext = 3;
    const before = fake.attempts.length;
    fake.dropAll();
    await fake.until(() => fake.attempts.length === before + 4 && fake.streams().size === 2, 5000, 'reconnect');
    const gaps = fake.attempts.slice(before).map((t, i, all) => (i === 0 ? null : t - all[i - 1]!));
    // Timers may fire a millisecond early by Date.now(); allow that, and scheduling slack above.
    [40, 80, 160].forEach((want, i) => {
      expect(gaps[i + 1]).toBeGreaterThanOrEqual(want - 2);
      expect(gaps[i + 1]).toBeLessThan(want + 500);
    });
    expect(fake.received.filter((r) => r.msg.method === 'SUBSCRIBE' && r.conn === 2)).toHaveLength(1);
    expect(fake.received.find((r) => r.conn === 2)!.msg.params).toEqual(['btcusdt@bookTicker', 'ethusdt@trade']);
    fake.bookTicker('BTCUSDT', '3', '4');
    await ctx.until(() => ctx.ticks.length === 2);
    expect(a.stats()).toMatchObject({ connects: 2, disconnects: 1, reconnectAttempts: 4 });
    expect(ctx.failures).toEqual([]);
    expect(ctx.warnings).toContainEqual(expect.objectContaining({ url: fake.url, code: 1006 }));
  });

  it('declares a silent upstream down at the heartbeat deadline (ctx.fail) and closes the socket', async () => {
    const ctx = context(systemClock);
    const a = make({ static: ['crypto.BTCUSDT.quote'], heartbeatTimeoutMs: 300 });
    await a.start(ctx);
    await fake.until(() => fake.streams().size === 1);
    // Data every 40 ms keeps it alive past the deadline...
    let sent = 0;
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        fake.bookTicker('BTCUSDT', '1', '2');
        if (++sent === 10) {
          clearInterval(timer);
          resolve();
        }
      }, 40);
    });
    await ctx.until(() => ctx.ticks.length === 10);
    expect(ctx.failures).toEqual([]);
    // ...then silence.
    const silentFrom = Date.now();
    await ctx.until(() => ctx.failures.length === 1, 3000, 'the heartbeat failure');
    const after = Date.now() - silentFrom;
    expect(after).toBeGreaterThanOrEqual(295);
    expect(after).toBeLessThan(300 + 75 + 1000); // deadline + check period + a loaded machine's slack
    expect(String(ctx.failures[0])).toMatch(/silent for \d+ ms \(heartbeatTimeoutMs 300, connected\)/);
    expect(ctx.errors).toEqual([expect.objectContaining({ heartbeatTimeoutMs: 300, connected: true })]);
    expect(a.stats().silences).toBe(1);
    await fake.until(() => fake.connectionCount === 0, 5000, 'socket closed');
  });

  it('with nothing subscribed, answers to its own pings keep the connection alive', async () => {
    const ctx = context(systemClock);
    make({ heartbeatTimeoutMs: 300, pingIntervalMs: 30 });
    await adapter!.start(ctx);
    await fake.until(() => fake.pings >= 25, 5000, 'pings'); // > 2 deadlines
    expect(ctx.failures).toEqual([]);
  });

  it('start() rejects when the upstream cannot be reached or refuses the upgrade', async () => {
    fake.refuseNext = 1;
    await expect(make().start(context(new ManualClock()))).rejects.toThrow(
      /cannot connect to upstream ws:\/\/127\.0\.0\.1:\d+\/ws: Unexpected server response: 503/,
    );
    const url = fake.url;
    await fake.close();
    const b = new UpstreamWsAdapter({ ...adapter!.options, url });
    await expect(b.start(context(new ManualClock()))).rejects.toThrow(/cannot connect to upstream .*ECONNREFUSED/);
    await b.stop();
    fake = await FakeBinance.start(); // for afterEach
  });
});
