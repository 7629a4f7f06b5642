import { describe, expect, it } from 'vitest';
import { Identity } from '../auth/identity.ts';
import { Replies } from './replies.ts';
import { RequestHandler } from './requests.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { FakeSocket, metricValue, testBus, testMetrics } from './testing.ts';

/** A RequestHandler over a real MemoryBus and SubscriptionManager, a fake socket, and a ManualClock. */
function setup(options: { maxMessagesPerSecond?: number; maxMessageBytes?: number; stale?: string[] } = {}) {
  const { clock, bus, publish } = testBus({ historyMaxTicks: 100 });
  const metrics = testMetrics();
  const subscriptions = new SubscriptionManager(bus, 10, 1, { changed() {}, interest() {}, tier() {}, delayed() {}, limitReached() {} });
  const refreshed: string[] = [];
  const stale = new Set(options.stale ?? []);
  const handler = new RequestHandler(
    {
      maxMessageBytes: options.maxMessageBytes ?? 1024,
      limits: { maxMessagesPerSecond: options.maxMessagesPerSecond ?? 0 },
      rateTiers: [1, 10],
      maxTicksPerFrame: 2,
    },
    {
      bus,
      metrics,
      subscriptions,
      liveness: {
        statusOf: (topic) =>
          stale.has(topic) ? { status: 'stale', reason: 'no_ticks', since: 0 } : { status: 'live', reason: 'recovered', since: 0 },
      },
      replies: new Replies({ bus, metrics, logger: { error() {} } }),
      tokens: { refresh: (_ws, _s, _id, token) => void refreshed.push(token) },
      clock,
    },
  );
  const s = FakeSocket.open('json');
  subscriptions.attach(s.session, s.ws);
  const send = (obj: unknown) => handler.onClientMessage(s.ws, new TextEncoder().encode(JSON.stringify(obj)).buffer as ArrayBuffer, false);
  return { clock, bus, publish, metrics, handler, s, send, refreshed, subscriptions };
}

describe('RequestHandler', () => {
  it('subscribe: ack, then the snapshot, then a status frame for a stale topic; the socket joins the uWS topic', () => {
    const { publish, s, send } = setup({ stale: ['equity.AAPL.quote'] });
    publish('equity.AAPL.quote', 10);
    send({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
    expect(s.frames.map((f) => f.t)).toEqual(['ack', 'snapshot', 'status']);
    expect(s.frames[0]).toMatchObject({
      id: 1,
      op: 'subscribe',
      snapshots: 1,
      maxRate: 0,
      results: [{ topic: 'equity.AAPL.quote', status: 'snapshot' }],
    });
    expect(s.frames[1]).toMatchObject({ topic: 'equity.AAPL.quote', epoch: 7, ticks: [{ seq: 1, bid: 10 }] });
    expect(s.frames[2]).toMatchObject({ topic: 'equity.AAPL.quote', status: 'stale', reason: 'no_ticks' });
    expect([...s.topics]).toEqual(['json:equity.AAPL.quote']);
  });

  it('subscribe with resume replays what was missed, maxTicksPerFrame ticks per frame', () => {
    const { publish, s, send } = setup();
    for (let i = 0; i < 5; i++) publish('fx.EURUSD.quote', 1 + i / 100);
    send({ op: 'subscribe', id: 'r', topics: ['fx.EURUSD.quote'], resume: { 'fx.EURUSD.quote': { epoch: 7, seq: 2 } } });
    expect(s.frames[0]).toMatchObject({ t: 'ack', snapshots: 0 });
    expect(s.of('ticks').map((f) => f.ticks.map((t: { seq: number }) => t.seq))).toEqual([[3, 4], [5]]);
  });

  it('maxRate picks the conflation tier: the fastest not above the request', () => {
    const { s, send } = setup();
    send({ op: 'subscribe', id: 1, topics: ['equity.X.quote'], maxRate: 5 });
    expect(s.frames[0]).toMatchObject({ t: 'ack', maxRate: 1 });
    expect([...s.topics]).toEqual(['json:r1:equity.X.quote']); // the 1/s tier's own uWS topic
  });

  it('a delayed identity gets `pending` results, no snapshot, and maxRate 0', () => {
    const { publish, s, send } = setup();
    s.session.identity = new Identity('apiKey', 'late', ['*.*.*'], 15_000, null, 'k');
    publish('equity.AAPL.quote', 10);
    send({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
    expect(s.frames).toEqual([
      expect.objectContaining({ t: 'ack', snapshots: 0, maxRate: 0, results: [{ topic: 'equity.AAPL.quote', status: 'pending' }] }),
    ]);
  });

  it('unsubscribe acks and leaves the uWS topic; ping answers with the clock time; refresh goes to the token lifecycle', () => {
    const { clock, publish, s, send, refreshed } = setup();
    publish('equity.AAPL.quote', 10);
    send({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
    send({ op: 'unsubscribe', id: 2, topics: ['equity.AAPL.quote'] });
    expect(s.frames.at(-1)).toEqual({ t: 'ack', id: 2, op: 'unsubscribe', topics: ['equity.AAPL.quote'], snapshots: 0 });
    expect([...s.topics]).toEqual([]);
    send({ op: 'ping', id: 3 });
    expect(s.frames.at(-1)).toEqual({ t: 'pong', id: 3, gts: clock.now() });
    send({ op: 'refresh', id: 4, token: 'abc' });
    expect(refreshed).toEqual(['abc']);
  });

  it('bad input gets one error frame each: oversized, malformed, invalid request (with its id), not entitled', async () => {
    const { handler, s, send, metrics } = setup({ maxMessageBytes: 64 });
    handler.onClientMessage(s.ws, new Uint8Array(65).buffer as ArrayBuffer, true);
    handler.onClientMessage(s.ws, new TextEncoder().encode('{nope').buffer as ArrayBuffer, false);
    send({ op: 'subscribe', id: 5, topics: 'equity.AAPL.quote' });
    s.session.identity = new Identity('jwt', 'bob', ['fx.*.*'], 0, null);
    send({ op: 'subscribe', id: 6, topics: ['equity.AAPL.quote'] });
    expect(s.of('error').map((f) => [f.id, f.code])).toEqual([
      [null, 'TG_ERR_MESSAGE_TOO_LARGE'],
      [null, 'TG_ERR_MALFORMED'],
      [5, 'TG_ERR_INVALID_REQUEST'],
      [6, 'TG_ERR_NOT_ENTITLED'],
    ]);
    expect(await metricValue(metrics.clientMessages, { op: 'invalid' })).toBe(3);
  });

  it('rate limit: one error frame for the first message over the limit, silence after, a fresh window a second later', async () => {
    const { clock, s, send, metrics } = setup({ maxMessagesPerSecond: 3 });
    for (let i = 1; i <= 6; i++) send({ op: 'ping', id: i });
    expect(s.frames.map((f) => f.t)).toEqual(['pong', 'pong', 'pong', 'error']);
    expect(s.frames[3]).toMatchObject({ code: 'TG_ERR_RATE_LIMITED', id: null });
    expect(await metricValue(metrics.clientMessages, { op: 'rate_limited' })).toBe(3);
    clock.advance(999);
    send({ op: 'ping', id: 7 });
    expect(s.frames).toHaveLength(4);
    clock.advance(1);
    send({ op: 'ping', id: 8 });
    expect(s.frames.at(-1)).toMatchObject({ t: 'pong', id: 8 });
  });

  it('a connection being closed gets nothing', () => {
    const { s, send } = setup();
    s.session.closing = true;
    send({ op: 'ping', id: 1 });
    expect(s.frames).toEqual([]);
  });
});
