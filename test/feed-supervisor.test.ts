import { expect, it } from 'vitest';
import { z } from 'zod';
import { defineFeed, type FeedContext } from '../src/feed/adapter.ts';
import { createGateway } from '../src/gateway.ts';
import { stopAfterTest, TestClient } from './helpers.ts';

/** Emits one quote per 5 ms on `topic`; fails in the ways the test asks for. */
function scriptedFeed(name: string, topic: string, failures: ('throw-in-start' | 'reject' | 'fail-later')[]) {
  let runs = 0;
  return defineFeed({
    name,
    description: 'test feed',
    optionsSchema: z.object({}),
    create: () => {
      let timer: NodeJS.Timeout | null = null;
      return {
        start(ctx: FeedContext) {
          const mode = failures[runs++];
          if (mode === 'throw-in-start') throw new Error('boom in start');
          if (mode === 'reject') return Promise.reject(new Error('async boom'));
          let n = 0;
          timer = setInterval(() => {
            ctx.emit({ topic, kind: 'quote', ts: ctx.clock.now(), bid: 10, ask: 10.01, bidSize: 100, askSize: 100 });
            if (mode === 'fail-later' && ++n === 3) ctx.fail(new Error('upstream lost'));
          }, 5);
        },
        stop() {
          if (timer) clearInterval(timer);
        },
      };
    },
  });
}

it('restarts a failing adapter with backoff while other feeds keep streaming', async () => {
  const flaky = scriptedFeed('flaky', 'equity.FLAKY.quote', ['throw-in-start', 'reject', 'fail-later']);
  const steady = scriptedFeed('steady', 'equity.STEADY.quote', []);
  const gw = stopAfterTest(
    createGateway(
      { host: '127.0.0.1', port: 0, logLevel: 'silent', feeds: [{ adapter: 'flaky' }, { adapter: 'steady' }] },
      { feedDefinitions: [flaky, steady] as never },
    ),
  );
  const { port } = await gw.start();
  const c = await TestClient.connect(`ws://127.0.0.1:${port}/v1/stream`);
  await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });

  // The steady feed streams from the start. The flaky one fails twice before emitting, emits
  // three ticks on its third run and fails again; its fourth run keeps going (seqs 4, 5, ...).
  await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.STEADY.quote');
  await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.FLAKY.quote' && f.ticks.at(-1).seq >= 5, { timeoutMs: 15_000 });
  const flakySeqs = c.frames
    .filter((f) => (f.t === 'ticks' || f.t === 'snapshot') && f.topic === 'equity.FLAKY.quote')
    .flatMap((f) => f.ticks.map((t: { seq: number }) => t.seq));
  // Seqs are the bus's, so they continue across adapter restarts without holes.
  expect(flakySeqs).toEqual(Array.from({ length: flakySeqs.length }, (_, i) => i + flakySeqs[0]));

  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  expect(metrics).toContain('tickgate_feed_failures_total{feed="flaky"} 3');
  expect(metrics).toContain('tickgate_feed_restarts_total{feed="flaky"} 3');
  expect(metrics).toContain('tickgate_feed_failures_total{feed="steady"} 0');
  expect(metrics).toContain('tickgate_feed_up{feed="steady"} 1');

  const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { feeds: Record<string, string> };
  expect(health.feeds.steady).toBe('running');

  // The steady feed's seqs never skipped while the other one failed.
  const seqs = c.frames
    .filter((f) => (f.t === 'ticks' || f.t === 'snapshot') && f.topic === 'equity.STEADY.quote')
    .flatMap((f) => f.ticks.map((t: { seq: number }) => t.seq));
  expect(seqs.length).toBeGreaterThan(10);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + seqs[0]));
  await c.close();
});

it('tells an interest-aware adapter when a topic or pattern gains its first subscriber and loses its last', async () => {
  const events: string[] = [];
  const aware = defineFeed({
    name: 'aware',
    description: 'records interest',
    optionsSchema: z.object({}),
    create: () => ({
      start() {},
      stop() {},
      interestChanged(entry: string, interested: boolean) {
        events.push(`${interested ? '+' : '-'}${entry}`);
      },
    }),
  });
  const gw = stopAfterTest(
    createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', feeds: [{ adapter: 'aware' }] }, { feedDefinitions: [aware] as never }),
  );
  const { port } = await gw.start();
  const url = `ws://127.0.0.1:${port}/v1/stream`;
  const a = await TestClient.connect(url);
  const b = await TestClient.connect(url);
  await a.request({ op: 'subscribe', id: 1, topics: ['crypto.BTCUSD.quote', 'crypto.*.trade'] });
  await b.request({ op: 'subscribe', id: 1, topics: ['crypto.BTCUSD.quote'] });
  expect(events).toEqual(['+crypto.BTCUSD.quote', '+crypto.*.trade']);
  await a.request({ op: 'unsubscribe', id: 2, topics: ['crypto.BTCUSD.quote'] });
  expect(events).toHaveLength(2); // b still holds it
  await b.close();
  await a.request({ op: 'ping', id: 3 }); // b's close has been processed by the time a's ping is answered
  expect(events).toEqual(['+crypto.BTCUSD.quote', '+crypto.*.trade', '-crypto.BTCUSD.quote']);
  await a.close();
});
