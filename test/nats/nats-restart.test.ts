import { expect, it, onTestFinished } from 'vitest';
import { quote, TestClient, ticksOf } from '../helpers.ts';
import { describeNats, natsServerBin, startIngest, startNatsGateway, uniquePrefix, until } from './helpers.ts';
import { startNatsServer } from './nats-server.ts';

/** Runs `stop` when the current test finishes (last registered first); a failing stop is ignored. */
const cleanupAfterTest = (stop: () => Promise<unknown>) =>
  onTestFinished(() =>
    stop().then(
      () => undefined,
      () => undefined,
    ),
  );

/**
 * nats-server is SIGKILLed and started again (same port, same store) while ticks flow:
 * clients stay connected, see `stale` and then `live` status frames, and ticks resume in seq
 * order. Core NATS loses what was published while nobody could route it (clients see a seq jump,
 * which the SDK reports as a gap); in JetStream mode the gateway reads it back: no gap at all.
 */
async function killAndRestart(jetstream: boolean) {
  const server = await startNatsServer(natsServerBin!, { jetstream });
  cleanupAfterTest(() => server.stop());
  const prefix = uniquePrefix();
  const setup = { url: server.url, prefix, jetstream };
  const ingest = await startIngest(setup);
  cleanupAfterTest(() => ingest.stop());
  const g = await startNatsGateway(setup, { liveness: { staleAfterMs: 2_000, checkIntervalMs: 20 } });
  cleanupAfterTest(() => g.gw.stop());
  const c = await TestClient.connect(g.stream);
  cleanupAfterTest(() => c.close());
  await c.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
  await g.nats.settled();

  // A feed ticking every 10 ms on the ingest side, through the outage.
  let bid = 100;
  const feed = setInterval(() => ingest.bus.publish(quote('equity.AAPL.quote', (bid += 0.01)), 'sim'), 10);
  cleanupAfterTest(async () => clearInterval(feed));
  const seqs = () => ticksOf(c, 'equity.AAPL.quote').map((t) => t.seq as number);
  await c.waitFor(() => seqs().length >= 10);

  await server.kill();
  const stale = await c.waitFor((f) => f.t === 'status' && f.status === 'stale', { timeoutMs: 3_000 });
  expect(stale).toMatchObject({ topic: 'equity.AAPL.quote', reason: 'feed_down' });
  const seenAtStale = c.frames.length;
  await until(() => !g.nats.connected && !ingest.natsConnected, 'both sides to notice the outage');
  expect(await (await fetch(`${g.http}/metrics`)).text()).toMatch(/^tickgate_bus_connected 0$/m);
  const beforeRestart = seqs().at(-1)!;

  await server.restart();
  const live = await c.waitFor((f) => f.t === 'status' && f.status === 'live', { from: seenAtStale, timeoutMs: 5_000 });
  expect(live).toMatchObject({ topic: 'equity.AAPL.quote', reason: 'recovered' });
  await c.waitFor(() => seqs().at(-1)! >= beforeRestart + 20, { timeoutMs: 5_000 });
  clearInterval(feed);

  const all = seqs();
  for (let i = 1; i < all.length; i++) expect(all[i]!, `seq after ${all[i - 1]}`).toBeGreaterThan(all[i - 1]!); // in order, never twice
  expect(c.closeCode).toBeNull(); // the client was kept throughout
  const metrics = await (await fetch(`${g.http}/metrics`)).text();
  expect(metrics).toMatch(/^tickgate_bus_connected 1$/m);
  expect(metrics).toMatch(/^tickgate_bus_reconnects_total [1-9]\d*$/m);
  expect(ingest.metrics.busReconnects).toBeDefined();
  return all;
}

describeNats('NATS down and back', () => {
  it('core NATS: clients are kept, see stale then live, and ticks resume in order', async () => {
    await killAndRestart(false);
  });

  it('JetStream: what was published during the outage is read back from the stream — no gap', async () => {
    const all = await killAndRestart(true);
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => all[0]! + i));
  });
});
