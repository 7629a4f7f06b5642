import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../src/core/clock.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { createGateway, type Gateway } from '../src/gateway.ts';
import { TestClient, type Frame } from './helpers.ts';

let gw: Gateway | null = null;
const clients: TestClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await gw?.stop();
  gw = null;
});

/** 2026-01-02 23:59:58 UTC: two seconds before the day rolls. */
const T0 = Date.UTC(2026, 0, 2, 23, 59, 58);

async function start(clock: ManualClock, extra: Partial<ConfigInput> = {}) {
  gw = createGateway(
    { host: '127.0.0.1', port: 0, logLevel: 'silent', feeds: [], market: { barIntervals: ['1s', '1m'], barSnapshot: 5 }, ...extra },
    { clock },
  );
  const { port } = await gw.start();
  const http = `http://127.0.0.1:${port}`;
  const connect = async () => {
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/v1/stream`);
    clients.push(c);
    return c;
  };
  const get = async (path: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${http}${path}`, { headers });
    return { status: res.status, body: (await res.json()) as Frame };
  };
  const trade = (price: number, size: number) => {
    expect(gw!.bus.publish({ topic: 'equity.AAA.trade', ts: clock.now(), kind: 'trade', price, size }, 'test').ok).toBe(true);
  };
  const fxQuote = (bid: number, ask: number) => {
    expect(
      gw!.bus.publish({ topic: 'fx.EURUSD.quote', ts: clock.now(), kind: 'quote', bid, ask, bidSize: 1e6, askSize: 1e6 }, 'test').ok,
    ).toBe(true);
  };
  return { connect, get, trade, fxQuote, bus: gw.bus };
}

describe('bars (OHLCV) built in the gateway on a manual clock', () => {
  it('a known trade sequence gives hand-computed OHLCV; updates while open, a final at the boundary; snapshot history and GET /v1/bars', async () => {
    const clock = new ManualClock(T0);
    const g = await start(clock);
    g.trade(10, 100);
    clock.advance(100);
    g.trade(12, 200);
    clock.advance(100);
    g.trade(9, 100);
    clock.advance(500);
    g.trade(11, 100);
    g.bus.flush();

    const c = await g.connect();
    const ack = await c.request({ id: 1, op: 'subscribe', topics: ['equity.AAA.bar_1s'] });
    expect(ack.results).toEqual([{ topic: 'equity.AAA.bar_1s', status: 'snapshot' }]);
    const snap = await c.waitFor((f) => f.t === 'snapshot');
    // vwap = (10·100 + 12·200 + 9·100 + 11·100) / 500 = 10.8
    const open = { start: T0, end: T0 + 1000, open: 10, high: 12, low: 9, close: 11, volume: 500, count: 4, vwap: 10.8, final: false };
    expect(snap.ticks).toEqual([{ seq: 4, ts: T0 + 700, gts: T0 + 700, ...open }]);
    expect(snap.stats).toMatchObject({ day: '2026-01-02', open: 10, high: 12, low: 9, last: 11, volume: 500, vwap: 10.8 });

    // The boundary passes on the manual clock: the gateway sends the final bar on its own.
    clock.advance(300);
    const final = await c.waitFor((f) => f.t === 'ticks' && f.ticks.some((b: Frame) => b.final));
    expect(final.ticks.at(-1)).toEqual({ seq: 5, ts: T0 + 1000, gts: T0 + 1000, ...open, final: true });

    clock.advance(500);
    g.trade(13, 50);
    const next = await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === 6);
    expect(next.ticks.at(-1)).toMatchObject({ start: T0 + 1000, open: 13, close: 13, volume: 50, count: 1, final: false });

    const all = await g.get('/v1/bars/equity.AAA.bar_1s');
    expect(all.status).toBe(200);
    expect(all.body).toMatchObject({ topic: 'equity.AAA.bar_1s', intervalMs: 1000, count: 2 });
    expect(all.body.bars.map((b: Frame) => [b.start, b.final])).toEqual([
      [T0, true],
      [T0 + 1000, false],
    ]);
    expect((await g.get(`/v1/bars/equity.AAA.bar_1s?limit=1`)).body.bars.map((b: Frame) => b.start)).toEqual([T0 + 1000]);
    expect((await g.get(`/v1/bars/equity.AAA.bar_1s?from=${T0}&to=${T0 + 1000}`)).body.bars.map((b: Frame) => b.start)).toEqual([T0]);
    const oneMinute = await g.get('/v1/bars/equity.AAA.bar_1m');
    expect(oneMinute.body.bars).toEqual([
      expect.objectContaining({
        start: Date.UTC(2026, 0, 2, 23, 59),
        open: 10,
        high: 13,
        low: 9,
        close: 13,
        volume: 550,
        count: 5,
        final: false,
      }),
    ]);

    expect((await g.get('/v1/bars/equity.AAA.bar_1s?limit=0')).status).toBe(400);
    expect((await g.get('/v1/bars/equity.AAA.bar_1s?from=yesterday')).body.error.code).toBe('TG_ERR_INVALID_REQUEST');
    expect((await g.get('/v1/bars/equity.AAA.trade')).body.error.code).toBe('TG_ERR_INVALID_TOPIC');
    expect((await g.get('/v1/bars/equity.ZZZ.bar_1s')).status).toBe(404);
  });
});

describe('a trade stamped before the boundary, delivered after the clock closed the bar', () => {
  it('counts in the next bar; the closed bar does not change and nothing is refused', async () => {
    const clock = new ManualClock(T0);
    const g = await start(clock);
    g.trade(10, 1);
    g.bus.flush();
    clock.advance(900);
    g.trade(20, 1); // stamped at T0 + 900, not yet flushed
    clock.advance(100);
    gw!.market.closeDueBars(); // the clock sweep runs before the bus delivers the trade
    g.bus.flush();
    const bars = (await g.get('/v1/bars/equity.AAA.bar_1s')).body.bars as Frame[];
    expect(bars.map((b) => [b.start, b.final, b.open, b.close, b.count])).toEqual([
      [T0, true, 10, 10, 1],
      [T0 + 1000, false, 20, 20, 1],
    ]);
    const metrics = await (await fetch(gw!.urls().metrics)).text();
    expect(metrics).not.toMatch(/tickgate_ticks_rejected_total\{[^}]*\} [1-9]/);
  });
});

describe('bars at maxRate', () => {
  it('a conflated frame keeps every bar that closed since the previous one, then the newest update', async () => {
    const clock = new ManualClock(T0);
    const g = await start(clock);
    g.trade(10, 1);
    g.bus.flush();
    const c = await g.connect();
    await c.request({ id: 1, op: 'subscribe', topics: ['equity.AAA.bar_1s'], maxRate: 1 });
    await c.waitFor((f) => f.t === 'snapshot');
    // Three bars close and a fourth opens, all before the 1/s tier fires.
    for (const price of [11, 12, 13, 14]) {
      clock.advance(1000);
      g.trade(price, 1);
      g.trade(price + 0.5, 1);
    }
    g.bus.flush();
    const frame = await c.waitFor((f) => f.t === 'ticks', { timeoutMs: 3000 });
    expect(frame.ticks.map((b: Frame) => [b.start, b.final, b.close])).toEqual([
      [T0, true, 10],
      [T0 + 1000, true, 11.5],
      [T0 + 2000, true, 12.5],
      [T0 + 3000, true, 13.5],
      [T0 + 4000, false, 14.5],
    ]);
    expect(frame.conflated).toBe(frame.ticks.at(-1).seq - 1);
  });
});

describe('day statistics on a manual clock', () => {
  it('equity from trades, FX from mids; the day roll at 00:00 UTC makes the last price prevClose; change and change %', async () => {
    const clock = new ManualClock(T0);
    const g = await start(clock);
    g.trade(10, 100);
    g.trade(13, 100);
    g.fxQuote(1.0999, 1.1001);
    g.bus.flush();
    const day1 = await g.get('/v1/snapshot/equity.AAA.trade');
    expect(day1.body.stats).toEqual({
      day: '2026-01-02',
      source: 'trade',
      open: 10,
      high: 13,
      low: 10,
      last: 13,
      prevClose: null,
      volume: 200,
      vwap: 11.5,
      change: null,
      changePct: null,
    });

    clock.advance(2500); // 2026-01-03 00:00:00.500
    const rolled = await g.get('/v1/snapshot/equity.AAA.trade');
    expect(rolled.body.stats).toMatchObject({ day: '2026-01-03', open: null, last: null, prevClose: 13, volume: 0, change: null });
    g.trade(14.3, 100);
    g.fxQuote(1.1199, 1.1201);
    g.bus.flush();
    const day2 = (await g.get('/v1/snapshot/equity.AAA.trade')).body.stats as Frame;
    expect(day2).toMatchObject({ day: '2026-01-03', open: 14.3, high: 14.3, low: 14.3, prevClose: 13, volume: 100, vwap: 14.3 });
    expect(day2.change).toBeCloseTo(1.3, 10);
    expect(day2.changePct).toBeCloseTo(10, 10);

    const fx = (await g.get('/v1/snapshot/fx.EURUSD.quote')).body.stats as Frame;
    expect(fx).toMatchObject({ source: 'mid', open: 1.12, prevClose: 1.1, volume: 0 });
    expect(fx.changePct).toBeCloseTo(((1.12 - 1.1) / 1.1) * 100, 10);

    // The same statistics ride on the WebSocket snapshot of the quote topic.
    const c = await g.connect();
    await c.request({ id: 1, op: 'subscribe', topics: ['fx.EURUSD.quote'] });
    const snap = await c.waitFor((f) => f.t === 'snapshot');
    expect(snap.stats).toEqual(fx);
    const fxBar = await g.get('/v1/bars/fx.EURUSD.bar_1m');
    expect(fxBar.body.bars.at(-1)).toMatchObject({ open: 1.12, volume: 0, count: 1 });
  });
});

describe('GET /v1/bars: the same authorisation as /v1/snapshot', () => {
  const FULL = 'key-equity-desk-0001';
  const FX_ONLY = 'key-fx-desk-00000001';
  const DELAYED = 'key-retail-web-00001';
  const auth = {
    auth: {
      enabled: true,
      apiKeys: [
        { key: FULL, name: 'equity-desk', topics: ['equity.*.*'] },
        { key: FX_ONLY, name: 'fx-desk', topics: ['fx.*.quote'] },
        { key: DELAYED, name: 'retail', topics: ['equity.*.*'], delayMs: 2000 },
      ],
    },
  } satisfies Partial<ConfigInput>;
  const key = (k: string) => ({ authorization: `ApiKey ${k}` });

  it('401 without a credential, 403 outside the entitlements, and a delayed identity gets only bars that ended its delay ago', async () => {
    const clock = new ManualClock(T0);
    const g = await start(clock, auth);
    // Flushed at once, so each bar update is stamped (gts) when it happened.
    g.trade(10, 1); // bar T0
    g.bus.flush();
    clock.advance(1000);
    g.trade(11, 1); // bar T0+1000 (closes bar T0)
    g.bus.flush();
    clock.advance(1000);
    g.trade(12, 1); // bar T0+2000, open
    g.bus.flush();
    clock.advance(500); // now T0+2500
    const bars = '/v1/bars/equity.AAA.bar_1s';
    const snapshot = '/v1/snapshot/equity.AAA.bar_1s';

    for (const path of [bars, snapshot, '/v1/bars/not-a-topic']) {
      const none = await g.get(path);
      expect(none.status, path).toBe(401);
      expect(none.body.error.code).toBe('TG_ERR_UNAUTHORIZED');
      expect((await g.get(path, key('wrong-key-0000000000'))).status, path).toBe(401);
    }
    for (const path of [bars, snapshot]) {
      const denied = await g.get(path, key(FX_ONLY));
      expect(denied.status, path).toBe(403);
      expect(denied.body.error.code).toBe('TG_ERR_NOT_ENTITLED');
    }

    const live = await g.get(bars, key(FULL));
    expect(live.status).toBe(200);
    expect(live.body.bars.map((b: Frame) => [b.start, b.final])).toEqual([
      [T0, true],
      [T0 + 1000, true],
      [T0 + 2000, false],
    ]);
    expect(live.body.delayMs).toBeUndefined();

    // Delay 2000 ms at T0+2500: the cutoff is T0+500; no bar had ended by then.
    const early = await g.get(bars, key(DELAYED));
    expect(early.status).toBe(200);
    expect(early.body).toMatchObject({ delayMs: 2000, count: 0, bars: [] });
    // At T0+3100 the cutoff is T0+1100: only the first bar (end T0+1000); never the open one.
    clock.advance(600);
    const later = await g.get(`${bars}?limit=10`, key(DELAYED));
    expect(later.body.bars.map((b: Frame) => [b.start, b.end, b.final])).toEqual([[T0, T0 + 1000, true]]);
    // `to` cannot widen the window past the delay.
    expect((await g.get(`${bars}?to=${T0 + 10_000}`, key(DELAYED))).body.count).toBe(1);
    // The snapshot route agrees: the delayed value is no fresher than the cutoff.
    const snap = await g.get(snapshot, key(DELAYED));
    expect(snap.status).toBe(200);
    expect(snap.body.delayMs).toBe(2000);
    expect(snap.body.gts).toBeLessThanOrEqual(clock.now() - 2000);
  });
});
