import { afterEach, expect, it } from 'vitest';
import { quote } from '../helpers.ts';
import { describeNats, flushIngest, natsUrl, startIngest, startNatsGateway, uniquePrefix } from './helpers.ts';
import { WireChecker } from './wire-checker.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/**
 * Issue 13, finding 4: with `--workers 2` in JetStream mode, a client that moved here from
 * another gateway resumes from the stream on whichever thread it lands — exact topics and
 * topics under a pattern.
 */
describeNats('NATS JetStream + --workers: resume from any thread (issue 13, finding 4)', () => {
  it('a client on the main thread and one on a worker thread both get exactly the ticks they missed', async () => {
    const setup = { url: natsUrl!, prefix: uniquePrefix(), jetstream: true };
    const ingest = await startIngest(setup);
    cleanup.push(() => ingest.stop());
    const topics = ['equity.AAPL.quote', 'fx.EURUSD.quote'];
    for (let i = 0; i < 20; i++) for (const t of topics) ingest.bus.publish(quote(t, 1 + i * 0.01), 'sim');
    await flushIngest(ingest);
    const epoch = ingest.bus.epoch;

    const g = await startNatsGateway(setup, { workers: 2 });
    cleanup.push(() => g.gw.stop());
    const byThread = new Map<number, WireChecker>();
    for (let i = 0; i < 40 && byThread.size < 2; i++) {
      const c = await WireChecker.connect(g.stream);
      cleanup.push(async () => c.close());
      const welcome = await c.waitFor((f) => f.t === 'welcome');
      expect(welcome.epoch).toBe(epoch); // finding 3, on every thread
      if (!byThread.has(welcome.worker as number)) byThread.set(welcome.worker as number, c);
    }
    expect([...byThread.keys()].sort()).toEqual([0, 1]);

    // The worker thread's client first: its subscribe makes the main thread read the stream.
    for (const thread of [1, 0]) {
      const c = byThread.get(thread)!;
      // Exact topic and a pattern, each resumed from seq 5 (as if from another gateway).
      const ack = await c.subscribe(['equity.AAPL.quote', 'fx.*.quote'], {
        'equity.AAPL.quote': { epoch, seq: 5 },
        'fx.EURUSD.quote': { epoch, seq: 5 },
      });
      expect(ack.results, `thread ${thread}`).toEqual(
        expect.arrayContaining([
          { topic: 'equity.AAPL.quote', status: 'replayed', count: 15 },
          { topic: 'fx.EURUSD.quote', status: 'replayed', count: 15 },
        ]),
      );
      await c.until(() => topics.every((t) => c.lastSeq(t) === 20));
    }
    for (let i = 20; i < 30; i++) for (const t of topics) ingest.bus.publish(quote(t, 1 + i * 0.01), 'sim');
    await flushIngest(ingest);
    for (const [thread, c] of byThread) {
      await c.until(() => topics.every((t) => c.lastSeq(t) === 30));
      expect(c.violations, `thread ${thread}`).toEqual([]);
      expect(c.total()).toMatchObject({ delivered: 2 * 25, silentLost: 0, duplicates: 0 });
    }
  });
});
