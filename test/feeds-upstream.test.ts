import { expect, it, onTestFinished } from 'vitest';
import { FakeBinance } from '../feeds/upstream-ws/testing.ts';
import { TestClient, useGateway } from './helpers.ts';

let fake: FakeBinance;

const subscribes = (method: string) => fake.received.filter((r) => r.msg.method === method).map((r) => r.msg.params);

it('upstream-ws in a gateway: client interest drives upstream subscriptions; a silent upstream marks topics stale until it recovers', async () => {
  fake = await FakeBinance.start();
  onTestFinished(() => fake.close()); // registered first, so it runs after the gateway has stopped
  const started = await useGateway({
    feeds: [
      {
        adapter: 'upstream-ws',
        id: 'binance',
        options: { url: fake.url, preset: 'binance', symbols: ['BTCUSDT', 'ETHUSDT'], heartbeatTimeoutMs: 600, pingIntervalMs: 0 },
      },
    ],
    // Only the adapter's heartbeat may mark the topic stale here, not the gateway's own silence timer.
    liveness: { staleAfterMs: 60_000, checkIntervalMs: 20 },
  });
  await fake.until(() => fake.connectionCount === 1, 5000, 'the adapter to connect');
  expect(subscribes('SUBSCRIBE')).toEqual([]); // no client, no upstream subscription

  const c = await TestClient.connect(started.stream);
  await c.request({ op: 'subscribe', id: 1, topics: ['crypto.BTCUSDT.quote', 'crypto.*.trade'] });
  await fake.until(() => subscribes('SUBSCRIBE').length === 1, 5000, 'SUBSCRIBE');
  expect(subscribes('SUBSCRIBE')[0]).toEqual(['btcusdt@bookTicker', 'btcusdt@trade', 'ethusdt@trade']);

  fake.bookTicker('BTCUSDT', '42000.10', '42000.20');
  fake.trade('ETHUSDT', '2300.50', '0.5', 1_767_364_200_000);
  const quote = await c.waitFor((f) => f.t === 'ticks' && f.topic === 'crypto.BTCUSDT.quote');
  expect(quote.ticks[0]).toMatchObject({ seq: 1, bid: 42000.1, ask: 42000.2, bidSize: 1.5, askSize: 2.25 });
  const trade = await c.waitFor((f) => f.t === 'ticks' && f.topic === 'crypto.ETHUSDT.trade');
  expect(trade.ticks[0]).toMatchObject({ seq: 1, ts: 1_767_364_200_000, price: 2300.5, size: 0.5 });

  // Silence: the heartbeat deadline fails the feed, the gateway marks its topics stale...
  const stale = await c.waitFor((f) => f.t === 'status' && f.topic === 'crypto.BTCUSDT.quote' && f.status === 'stale', { timeoutMs: 5000 });
  expect(stale.reason).toBe('feed_down');
  // ...the supervisor restarts the adapter, which reconnects and gets the interest replayed.
  await fake.until(() => fake.received.some((r) => r.conn === 2 && r.msg.method === 'SUBSCRIBE'), 5000, 'resubscribe after restart');
  expect(fake.received.find((r) => r.conn === 2)!.msg.params).toEqual(['btcusdt@bookTicker', 'btcusdt@trade', 'ethusdt@trade']);
  const from = c.frames.length;
  fake.bookTicker('BTCUSDT', '42001.00', '42001.10');
  const again = await c.waitFor((f) => f.t === 'ticks' && f.topic === 'crypto.BTCUSDT.quote', { from });
  expect(again.ticks[0]).toMatchObject({ seq: 2, bid: 42001 });
  await c.waitFor((f) => f.t === 'status' && f.topic === 'crypto.BTCUSDT.quote' && f.status === 'live', { from });

  const metrics = await (await fetch(`${started.http}/metrics`)).text();
  expect(metrics).toMatch(/tickgate_feed_failures_total\{feed="binance"\} 1/);
  expect(metrics).toMatch(/tickgate_feed_up\{feed="binance"\} 1/);

  // The last client leaving unsubscribes upstream.
  await c.request({ op: 'unsubscribe', id: 2, topics: ['crypto.*.trade'] });
  await fake.until(() => subscribes('UNSUBSCRIBE').length === 1, 5000, 'UNSUBSCRIBE');
  expect(subscribes('UNSUBSCRIBE')[0]).toEqual(['btcusdt@trade', 'ethusdt@trade']);
  await c.close();
  await fake.until(() => subscribes('UNSUBSCRIBE').length === 2, 5000, 'UNSUBSCRIBE on disconnect');
  expect(subscribes('UNSUBSCRIBE')[1]).toEqual(['btcusdt@bookTicker']);
});
