import { expect, it, onTestFinished } from 'vitest';
import type { Ingest } from '../../src/ingest.ts';
import { quote, TestClient, ticksOf, type Frame } from '../helpers.ts';
import { describeNats, flushIngest, natsUrl, startIngest, startNatsGateway, uniquePrefix, until } from './helpers.ts';

/** Runs `stop` when the current test finishes (last registered first). */
const cleanupAfterTest = (stop: () => Promise<unknown>) => onTestFinished(async () => void (await stop()));

async function withIngest(prefix: string): Promise<Ingest> {
  const ingest = await startIngest({ url: natsUrl!, prefix });
  cleanupAfterTest(() => ingest.stop());
  return ingest;
}

async function gateway(prefix: string) {
  const g = await startNatsGateway({ url: natsUrl!, prefix });
  cleanupAfterTest(() => g.gw.stop());
  return g;
}

async function client(url: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  cleanupAfterTest(() => c.close());
  return c;
}

const seqsOf = (c: TestClient, topic: string) => ticksOf(c, topic).map((t) => t.seq as number);

describeNats('tickgate ingest → NATS → two gateways', () => {
  it('a client on gateway A and a client on gateway B receive identical seqs (and bytes) for the same topic', async () => {
    const prefix = uniquePrefix();
    const ingest = await withIngest(prefix);
    const a = await gateway(prefix);
    const b = await gateway(prefix);
    const ca = await client(a.stream);
    const cb = await client(b.stream);
    for (const c of [ca, cb]) {
      const ack = await c.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote', 'fx.*.quote'] });
      expect(ack.t).toBe('ack');
    }
    await Promise.all([a.nats.settled(), b.nats.settled()]);

    let bid = 100;
    for (let turn = 0; turn < 20; turn++) {
      for (let i = 0; i < 5; i++) ingest.bus.publish(quote('equity.AAPL.quote', (bid += 0.01)), 'sim');
      ingest.bus.publish(quote(turn % 2 ? 'fx.EURUSD.quote' : 'fx.GBPUSD.quote', 1 + turn / 1000), 'sim');
      await flushIngest(ingest);
    }
    const expected = Array.from({ length: 100 }, (_, i) => i + 1);
    for (const c of [ca, cb]) {
      await c.waitFor(
        () =>
          seqsOf(c, 'equity.AAPL.quote').length >= 100 &&
          seqsOf(c, 'fx.EURUSD.quote').length >= 10 &&
          seqsOf(c, 'fx.GBPUSD.quote').length >= 10,
      );
    }
    expect(seqsOf(ca, 'equity.AAPL.quote')).toEqual(expected);
    expect(seqsOf(cb, 'equity.AAPL.quote')).toEqual(expected);
    // Stamped once, at ingest: same epoch, same gateway times, same prices, on both gateways.
    const frames = (c: TestClient) => c.frames.filter((f: Frame) => f.t === 'ticks');
    expect(frames(ca).map((f) => f.epoch)).toEqual(frames(ca).map(() => ingest.bus.epoch));
    expect(ticksOf(ca, 'equity.AAPL.quote')).toEqual(ticksOf(cb, 'equity.AAPL.quote'));
    expect(ticksOf(ca, 'fx.EURUSD.quote')).toEqual(ticksOf(cb, 'fx.EURUSD.quote'));
    // Encoded once: the very bytes the ingest bus produced reach both clients.
    const rawTicks = (c: TestClient) =>
      c.raw.filter((_r, i) => c.frames[i]!.t === 'ticks' && c.frames[i]!.topic === 'equity.AAPL.quote').map((r) => r.data.toString('hex'));
    expect(rawTicks(ca)).toEqual(rawTicks(cb));
    // The welcome frame and /v1/topics know the upstream epoch and feed.
    const topics = (await (await fetch(`${b.http}/v1/topics`)).json()) as { topics: { topic: string; feed: string; seq: number }[] };
    expect(topics.topics.find((t) => t.topic === 'equity.AAPL.quote')).toMatchObject({ feed: 'sim', seq: 100 });
    const late = await client(b.stream);
    expect((await late.waitFor((f) => f.t === 'welcome')).epoch).toBe(ingest.bus.epoch);
  });

  it('subscribes on NATS only to what clients want, and lets go on last interest', async () => {
    const prefix = uniquePrefix();
    const ingest = await withIngest(prefix);
    const a = await gateway(prefix);
    expect(a.nats.subscribedEntries()).toEqual([]);
    const c1 = await client(a.stream);
    const c2 = await client(a.stream);
    await c1.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote', 'fx.*.quote'] });
    await c2.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
    expect(a.nats.subscribedEntries().sort()).toEqual(['equity.AAPL.quote', 'fx.*.quote']);
    await a.nats.settled();

    ingest.bus.publish(quote('equity.AAPL.quote', 10), 'sim');
    ingest.bus.publish(quote('equity.MSFT.quote', 20), 'sim'); // nobody asked: never reaches the gateway
    ingest.bus.publish(quote('fx.EURUSD.quote', 1.1), 'sim');
    await flushIngest(ingest);
    await c1.waitFor((f) => f.t === 'ticks' && f.topic === 'fx.EURUSD.quote');
    await c2.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.AAPL.quote');
    await a.nats.settled();
    expect(a.gw.bus.topic('equity.MSFT.quote')).toBeUndefined();
    expect([...a.gw.bus.topics()].map((v) => v.parsed.topic).sort()).toEqual(['equity.AAPL.quote', 'fx.EURUSD.quote']);

    await c1.close();
    await until(() => !a.nats.subscribedEntries().includes('fx.*.quote'), 'the pattern to be unsubscribed');
    expect(a.nats.subscribedEntries()).toEqual(['equity.AAPL.quote']); // c2 still holds it
    await c2.request({ op: 'unsubscribe', id: 2, topics: ['equity.AAPL.quote'] });
    expect(a.nats.subscribedEntries()).toEqual([]);

    // Overlapping entries (a pattern and a topic it matches) are two NATS subscriptions; each frame once.
    const c3 = await client(a.stream);
    await c3.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote', 'equity.AAPL.quote'] });
    await a.nats.settled();
    for (let i = 0; i < 5; i++) {
      ingest.bus.publish(quote('equity.AAPL.quote', 11 + i), 'sim');
      await flushIngest(ingest);
    }
    await c3.waitFor(() => seqsOf(c3, 'equity.AAPL.quote').includes(6));
    await a.nats.settled();
    expect(seqsOf(c3, 'equity.AAPL.quote')).toEqual([2, 3, 4, 5, 6]);

    const metrics = await (await fetch(`${a.http}/metrics`)).text();
    expect(metrics).toMatch(/^tickgate_bus_connected 1$/m);
    expect(metrics).toMatch(/^tickgate_bus_frames_in_total \d+$/m);
  });
});
