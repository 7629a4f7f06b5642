import { expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { connect } from '@tickgate/client';
import { quote, TestClient, ticksOf } from '../helpers.ts';
import { describeNats, flushIngest, natsUrl, startIngest, startNatsGateway, uniquePrefix, until } from './helpers.ts';

/** Runs `stop` when the current test finishes (last registered first); a failing stop is ignored. */
const cleanupAfterTest = (stop: () => Promise<unknown>) =>
  onTestFinished(() =>
    stop().then(
      () => undefined,
      () => undefined,
    ),
  );

async function setup() {
  const s = { url: natsUrl!, prefix: uniquePrefix(), jetstream: true };
  const ingest = await startIngest(s);
  cleanupAfterTest(() => ingest.stop());
  const a = await startNatsGateway(s);
  cleanupAfterTest(() => a.gw.stop());
  const b = await startNatsGateway(s);
  cleanupAfterTest(() => b.gw.stop());
  let bid = 100;
  const publish = async (topic: string, n: number) => {
    for (let i = 0; i < n; i++) {
      ingest.bus.publish(quote(topic, (bid += 0.01)), 'sim');
      if (i % 3 === 2) await flushIngest(ingest); // several frames, not one
    }
    await flushIngest(ingest);
  };
  return { ingest, a, b, publish };
}

async function client(url: string): Promise<TestClient> {
  const c = await TestClient.connect(url);
  cleanupAfterTest(() => c.close());
  return c;
}

const T = 'equity.AAPL.quote';

describeNats('JetStream mode: snapshots and resume across gateways', () => {
  it('a client moves from gateway A to gateway B with its resume positions and sees no gap', async () => {
    const { ingest, a, b, publish } = await setup();
    const onA = await client(a.stream);
    await onA.request({ op: 'subscribe', id: 1, topics: [T] });
    await a.nats.settled();
    await publish(T, 10);
    await onA.waitFor(() => ticksOf(onA, T).length >= 10);
    const last = ticksOf(onA, T).at(-1)!;
    const epoch = onA.frames.find((f) => f.t === 'ticks')!.epoch as number;
    expect([epoch, last.seq]).toEqual([ingest.bus.epoch, 10]);
    await onA.close(); // gateway A lets go of the topic

    await publish(T, 12); // seqs 11..22 while the client is away; gateway B never saw this topic
    expect(b.gw.bus.topic(T)).toBeUndefined();

    const onB = await client(b.stream);
    const ack = await onB.request({ op: 'subscribe', id: 1, topics: [T], resume: { [T]: { epoch, seq: 10 } } });
    expect(ack.results).toEqual([{ topic: T, status: 'replayed', count: 12 }]);
    await publish(T, 5); // live after the replay
    await onB.waitFor(() => ticksOf(onB, T).length >= 17);
    expect(ticksOf(onB, T).map((t) => t.seq)).toEqual(Array.from({ length: 17 }, (_, i) => 11 + i));
    expect(onB.frames.filter((f) => f.t === 'ticks').every((f) => f.epoch === epoch)).toBe(true);
    const metrics = await (await fetch(`${b.http}/metrics`)).text();
    expect(metrics).toMatch(/^tickgate_bus_stream_reads_total\{kind="history",result="ok"\} 1$/m);
  });

  it('the SDK resumes on another gateway with no gap event', async () => {
    const { a, b, publish } = await setup();
    // The SDK reconnects to the URL it was given; this constructor plays the load balancer.
    let target = a.stream;
    class LoadBalancer extends WebSocket {
      constructor(url: string) {
        super(target + new URL(url).search);
      }
    }
    const sdk = connect('ws://gateways.invalid/v1/stream', {
      WebSocket: LoadBalancer as never,
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    });
    cleanupAfterTest(() => sdk.close());
    const gaps: unknown[] = [];
    sdk.on('gap', (...args) => gaps.push(args));
    const seqs: number[] = [];
    const sub = sdk.subscribe(T, (tick) => {
      if (!tick.snapshot) seqs.push(tick.seq);
    });
    await sub.ready;
    await a.nats.settled();
    await publish(T, 10);
    await until(() => seqs.length >= 10, 'ticks on gateway A');

    target = b.stream;
    await a.gw.stop(); // gateway A goes away (1001); the SDK reconnects, to B, with its positions
    await publish(T, 8); // missed while moving
    await until(() => seqs.length >= 18, 'the replay on gateway B');
    await publish(T, 4);
    await until(() => seqs.length >= 22, 'live ticks on gateway B');
    expect(seqs).toEqual(Array.from({ length: 22 }, (_, i) => i + 1));
    expect(gaps).toEqual([]);
  });

  it('answers a snapshot for a topic this gateway never carried from the stream', async () => {
    const { ingest, b, publish } = await setup();
    await publish('fx.EURUSD.quote', 7);
    const c = await client(b.stream);
    const ack = await c.request({ op: 'subscribe', id: 1, topics: ['fx.EURUSD.quote', 'fx.NOPE.quote'] });
    expect(ack.results).toEqual([
      { topic: 'fx.EURUSD.quote', status: 'snapshot' },
      { topic: 'fx.NOPE.quote', status: 'pending' },
    ]);
    const snap = await c.waitFor((f) => f.t === 'snapshot');
    expect(snap).toMatchObject({ topic: 'fx.EURUSD.quote', epoch: ingest.bus.epoch });
    expect(snap.ticks.map((t: { seq: number }) => t.seq)).toEqual([7]);
    await publish('fx.EURUSD.quote', 2);
    await c.waitFor(() => ticksOf(c, 'fx.EURUSD.quote').length >= 2);
    expect(ticksOf(c, 'fx.EURUSD.quote').map((t) => t.seq)).toEqual([8, 9]);
  });
});
