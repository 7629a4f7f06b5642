import { afterEach, expect, it } from 'vitest';
import { quote } from '../helpers.ts';
import { describeNats, natsServerBin, startIngest, startNatsGateway, uniquePrefix, until } from './helpers.ts';
import { startNatsServer } from './nats-server.ts';
import { WireChecker } from './wire-checker.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const FX = Array.from({ length: 24 }, (_, i) => `fx.P${String(i).padStart(2, '0')}.quote`);
const EXACT = 'equity.AAPL.quote';

/**
 * Issue 13, finding 1: nats-server killed mid-stream and restarted; the ingest reconnects before
 * the gateway (the case that lost ticks every time). A checker written from docs/protocol.md
 * records every frame: each seq of every topic must arrive once, in order, or be reported.
 */
async function outage(order: 'ingest-first' | 'gateway-first', storage: 'file' | 'memory' = 'file') {
  const server = await startNatsServer(natsServerBin!, { jetstream: true });
  cleanup.push(() => server.stop());
  const prefix = uniquePrefix();
  const fast = 50;
  const slow = 700;
  const ingest = await startIngest({
    url: server.url,
    prefix,
    jetstream: true,
    storage,
    reconnectTimeWaitMs: order === 'ingest-first' ? fast : slow,
  });
  cleanup.push(() => ingest.stop());
  const g = await startNatsGateway({
    url: server.url,
    prefix,
    jetstream: true,
    storage,
    reconnectTimeWaitMs: order === 'ingest-first' ? slow : fast,
  });
  cleanup.push(() => g.gw.stop());

  let px = 1;
  const tickAll = () => {
    px += 0.0001;
    for (const t of [...FX, EXACT]) ingest.bus.publish(quote(t, px), 'sim');
  };
  tickAll();
  await new Promise((r) => setTimeout(r, 50));
  const c = await WireChecker.connect(g.stream);
  cleanup.push(async () => c.close());
  await c.subscribe(['fx.*.quote', EXACT]);
  await g.nats.settled();
  const feed = setInterval(tickAll, 5);
  cleanup.push(async () => clearInterval(feed));
  await c.until(() => [...FX, EXACT].every((t) => c.lastSeq(t) >= 20));

  await server.kill();
  await until(() => !g.nats.connected && !ingest.natsConnected, 'both sides to notice the outage');
  const before = c.lastSeq(EXACT);
  await new Promise((r) => setTimeout(r, 200)); // ticks published while NATS is down
  await server.restart();
  await until(() => g.nats.connected && ingest.natsConnected, 'both sides to reconnect', 10_000);
  await c.until(() => [...FX, EXACT].every((t) => c.lastSeq(t) >= before + 150), 15_000);
  clearInterval(feed);
  expect(c.violations.slice(0, 5)).toEqual([]);
  const total = c.total();
  expect(total.silentLost).toBe(0);
  expect(total.duplicates).toBe(0);
  expect(total.silentEpochChanges).toBe(0);
  return total;
}

describeNats('no silent gap across a NATS outage (issue 13, finding 1)', () => {
  it('the ingest reconnects before the gateway: every tick is read back from the stream', async () => {
    const total = await outage('ingest-first');
    expect(total.reportedGaps).toBe(0);
  }, 40_000);

  it('the gateway reconnects before the ingest: every tick is read back from the stream', async () => {
    const total = await outage('gateway-first');
    expect(total.reportedGaps).toBe(0);
  }, 40_000);

  it('memory storage (the stream is lost with the server): what cannot be read back is reported, never skipped', async () => {
    await outage('ingest-first', 'memory');
  }, 40_000);
});
