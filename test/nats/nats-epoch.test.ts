import { afterEach, expect, it } from 'vitest';
import { quote } from '../helpers.ts';
import { describeNats, flushIngest, natsUrl, startIngest, startNatsGateway, uniquePrefix } from './helpers.ts';
import { WireChecker } from './wire-checker.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const TOPICS = ['equity.AAPL.quote', 'fx.EURUSD.quote', 'fx.USDJPY.quote'];

async function publishRound(ingest: Awaited<ReturnType<typeof startIngest>>, n: number, px: number) {
  for (let i = 0; i < n; i++) for (const t of TOPICS) ingest.bus.publish(quote(t, px + i * 0.001), 'sim');
  await flushIngest(ingest);
}

/** Issue 13, finding 2: an ingest restart must never change seqs or the epoch silently mid-connection. */
describeNats('ingest restart: epoch continuity (issue 13, finding 2 and 3)', () => {
  it('JetStream: a restarted ingest continues the epoch and every seq from the stream; clients see nothing', async () => {
    const setup = { url: natsUrl!, prefix: uniquePrefix(), jetstream: true };
    const first = await startIngest(setup);
    cleanup.push(() => first.stop());
    await publishRound(first, 5, 1);
    const g = await startNatsGateway(setup);
    cleanup.push(() => g.gw.stop());
    const c = await WireChecker.connect(g.stream);
    cleanup.push(async () => c.close());
    expect(c.frames[0]?.frame).toMatchObject({ t: 'welcome', epoch: first.bus.epoch }); // finding 3: real from the start
    await c.subscribe(TOPICS);
    await publishRound(first, 5, 2);
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) === 10));
    const epoch = first.bus.epoch;
    await first.stop();

    const second = await startIngest(setup);
    cleanup.push(() => second.stop());
    expect(second.bus.epoch).toBe(epoch);
    await publishRound(second, 5, 3);
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) === 15));
    expect(c.violations).toEqual([]);
    // delivered: seqs 6 … 15 after the snapshot (seq 5)
    expect(c.total()).toMatchObject({ delivered: 3 * 10, silentLost: 0, reportedGaps: 0, resets: 0, silentEpochChanges: 0 });
    const health = (await (await fetch(`${g.http}/healthz`)).json()) as { epoch: number };
    expect(health.epoch).toBe(epoch);
  });

  it('without a stream (core NATS): a new epoch reaches every holder as a per-topic reset before its first frame', async () => {
    const setup = { url: natsUrl!, prefix: uniquePrefix(), jetstream: false };
    const first = await startIngest(setup);
    cleanup.push(() => first.stop());
    await publishRound(first, 1, 1);
    const g = await startNatsGateway(setup);
    cleanup.push(() => g.gw.stop());
    const c = await WireChecker.connect(g.stream);
    cleanup.push(async () => c.close());
    expect(c.frames[0]?.frame).toMatchObject({ t: 'welcome', epoch: first.bus.epoch }); // asked of the ingest at connect
    await c.subscribe(TOPICS);
    await g.nats.settled();
    await publishRound(first, 4, 2);
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) >= 4));
    await first.stop();

    const second = await startIngest(setup);
    cleanup.push(() => second.stop());
    expect(second.bus.epoch).toBeGreaterThan(first.bus.epoch);
    await publishRound(second, 3, 3);
    await c.until(() => TOPICS.every((t) => c.topics.get(t)?.epoch === second.bus.epoch && c.lastSeq(t) === 3));
    expect(c.violations).toEqual([]);
    expect(c.total()).toMatchObject({ silentLost: 0, resets: 3, silentEpochChanges: 0 });
    const resets = c.frames.filter((f) => f.frame.t === 'status' && f.frame.status === 'reset').map((f) => f.frame);
    expect(resets[0]).toMatchObject({ reason: 'epoch_changed', epoch: second.bus.epoch });
    // A client connecting now is welcomed in the new epoch.
    const late = await WireChecker.connect(g.stream);
    cleanup.push(async () => late.close());
    expect(late.frames[0]?.frame.epoch).toBe(second.bus.epoch);
  });
});
