import { expect, it } from 'vitest';
import { z } from 'zod';
import { defineFeed } from '../src/feed/adapter.ts';
import { createGateway } from '../src/gateway.ts';
import { quote, stopAfterTest, ticksOf, useClient, type TestClient } from './helpers.ts';

async function until(pred: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

it('--workers 2: connections spread over threads, every client gets identical seqs, metrics are summed, shutdown closes all with 1001', async () => {
  const interest: string[] = [];
  const aware = defineFeed({
    name: 'aware',
    description: 'records interest',
    optionsSchema: z.object({}),
    create: () => ({ start() {}, stop() {}, interestChanged: (entry: string, on: boolean) => interest.push(`${on ? '+' : '-'}${entry}`) }),
  });
  const gw = stopAfterTest(
    createGateway(
      { host: '127.0.0.1', port: 0, logLevel: 'warn', workers: 2, feeds: [{ adapter: 'aware' }] },
      { feedDefinitions: [aware] as never },
    ),
  );
  const { urls } = await gw.start();
  const clients: TestClient[] = [];
  for (let i = 0; i < 16; i++) clients.push(await useClient(urls.stream));
  await Promise.all(clients.map((c) => c.waitFor((f) => f.t === 'welcome')));
  const threads = new Set(clients.map((c) => c.frames[0]!.worker));
  expect(threads).toEqual(new Set([0, 1])); // 16 connections all on one thread: 2^-15

  await Promise.all(clients.map((c) => c.request({ op: 'subscribe', id: 1, topics: ['fx.*.quote'] })));
  // Worker threads report interest to the main thread by message: wait for it to settle.
  await until(() => interest.length >= 1);
  expect(interest).toEqual(['+fx.*.quote']); // once, however many threads hold it
  for (let i = 0; i < 200; i++) {
    gw.bus.publish(quote(i % 2 ? 'fx.EURUSD.quote' : 'fx.USDJPY.quote', 1 + i / 1000), 'test');
    if (i % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  await Promise.all(clients.map((c) => c.waitFor((f) => f.t === 'ticks' && f.topic === 'fx.EURUSD.quote' && f.ticks.at(-1).seq === 100)));
  const reference = ticksOf(clients[0]!, 'fx.EURUSD.quote').map((t) => [t.seq, t.bid]);
  expect(reference).toHaveLength(100);
  for (const c of clients) expect(ticksOf(c, 'fx.EURUSD.quote').map((t) => [t.seq, t.bid])).toEqual(reference);

  // A worker-thread client can resume from the worker's own history.
  const onWorker = clients.find((c) => c.frames[0]!.worker === 1)!;
  const ack = await onWorker.request({
    op: 'subscribe',
    id: 2,
    topics: ['fx.USDJPY.quote'],
    resume: { 'fx.USDJPY.quote': { epoch: gw.bus.epoch, seq: 90 } },
  });
  expect(ack.results).toEqual([]); // already subscribed through the pattern: nothing new
  await until(() => interest.length >= 2);
  expect(interest).toEqual(['+fx.*.quote', '+fx.USDJPY.quote']);

  const text = await (await fetch(urls.metrics)).text();
  expect(text).toMatch(/^tickgate_connections 16$/m);
  expect(text).toMatch(/^tickgate_subscriptions 32$/m);
  expect(text).toMatch(/^tickgate_ticks_out_total 3200$/m);

  await gw.stop();
  await Promise.all(clients.map((c) => c.whenClosed()));
  expect(new Set(clients.map((c) => c.closeCode))).toEqual(new Set([1001]));
});
