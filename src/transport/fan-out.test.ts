import { describe, expect, it } from 'vitest';
import { unpackFrame } from '../protocol/codec.ts';
import { FanOut } from './fan-out.ts';
import { testBus, testMetrics, type Frame } from './testing.ts';

/** FanOut as the bus sink of a real MemoryBus; the uWS app is a recorder of native publishes. */
function setup() {
  const { clock, bus, publish } = testBus();
  const metrics = testMetrics();
  const published: { topic: string; isBinary: boolean; frame: Frame; bytes: number }[] = [];
  const wireSubscribers = new Map<string, number>();
  const held: { topic: string; seqs: number[]; now: number }[] = [];
  const delayed = {
    active: false,
    hold: (topic: string, _epoch: number, ticks: readonly { seq: number }[], now: number) =>
      void held.push({ topic, seqs: ticks.map((t) => t.seq), now }),
  };
  const newTopics: string[] = [];
  const fanOut = new FanOut({
    app: {
      publish(topic, message, isBinary) {
        const frame = (isBinary ? unpackFrame(message as Uint8Array) : JSON.parse(message as string)) as Frame;
        published.push({
          topic,
          isBinary,
          frame,
          bytes: isBinary ? (message as Uint8Array).byteLength : Buffer.byteLength(message as string),
        });
        return true;
      },
    },
    wireSubscribers,
    subscriptions: { onTopic: (view) => void newTopics.push(view.parsed.topic) },
    delayed,
    liveness: { staleCount: 2 },
    bus,
    metrics,
    logger: { info() {}, warn() {} },
    rateTiers: [1, 10],
    clock,
  });
  bus.setSink(fanOut);
  return { clock, bus, publish, metrics, published, wireSubscribers, delayed, held, newTopics, fanOut };
}

describe('FanOut', () => {
  it('one native publish per frame whatever the subscriber count; counters scale by subscribers', () => {
    const { publish, published, wireSubscribers, metrics, newTopics } = setup();
    wireSubscribers.set('equity.AAPL.quote', 1000);
    publish('equity.AAPL.quote', 10);
    expect(newTopics).toEqual(['equity.AAPL.quote']);
    expect(published).toHaveLength(1);
    expect(published[0]).toMatchObject({
      topic: 'equity.AAPL.quote',
      isBinary: true,
      frame: { t: 'ticks', epoch: 7, ticks: [{ seq: 1 }] },
    });
    const hot = metrics.hot;
    expect(hot.framesPublished).toBe(1);
    expect(hot.framesOut).toBe(1000);
    expect(hot.ticksOut).toBe(1000);
    expect(hot.bytesOut).toBe(1000 * published[0]!.bytes);
  });

  it('publishes nothing for a topic without subscribers, and encodes JSON only while a JSON connection is open', () => {
    const { publish, published, wireSubscribers, fanOut, metrics } = setup();
    publish('equity.AAPL.quote', 10);
    expect(published).toEqual([]);
    expect(metrics.hot.framesPublished).toBe(1);

    wireSubscribers.set('json:equity.AAPL.quote', 2);
    publish('equity.AAPL.quote', 11);
    expect(published).toEqual([]); // no JSON connection counted yet: the JSON encode is skipped
    fanOut.formatCount('json', 1);
    publish('equity.AAPL.quote', 12);
    expect(published).toEqual([
      expect.objectContaining({
        topic: 'json:equity.AAPL.quote',
        isBinary: false,
        frame: expect.objectContaining({ t: 'ticks', ticks: [expect.objectContaining({ seq: 3 })] }),
      }),
    ]);
    fanOut.formatCount('json', -1);
    publish('equity.AAPL.quote', 13);
    expect(published).toHaveLength(1);
  });

  it('hands frames to the delayed tiers, stamped with the clock, only while one is active', () => {
    const { clock, publish, delayed, held } = setup();
    publish('equity.AAPL.quote', 10);
    delayed.active = true;
    clock.advance(5);
    publish('equity.AAPL.quote', 11);
    expect(held).toEqual([{ topic: 'equity.AAPL.quote', seqs: [2], now: clock.now() }]);
  });

  it('conflated frames go to each format tier with subscribers and are counted once', async () => {
    const { fanOut, published, wireSubscribers, metrics } = setup();
    wireSubscribers.set('r10:fx.EURUSD.quote', 3).set('json:r10:fx.EURUSD.quote', 1);
    const frame = { t: 'ticks' as const, topic: 'fx.EURUSD.quote', epoch: 7, ticks: [], conflated: 4 };
    fanOut.publishConflated('fx.EURUSD.quote', 10, frame);
    fanOut.publishConflated('fx.EURUSD.quote', 1, frame); // nobody at 1/s
    expect(published.map((p) => p.topic)).toEqual(['r10:fx.EURUSD.quote', 'json:r10:fx.EURUSD.quote']);
    expect((await metrics.conflatedFrames.get()).values[0]?.value).toBe(1);
  });

  it('a status frame reaches every rate and format variant that has subscribers; delayed frames their tier', () => {
    const { fanOut, published, wireSubscribers, bus, publish } = setup();
    publish('equity.AAPL.quote', 10);
    for (const t of ['equity.AAPL.quote', 'r1:equity.AAPL.quote', 'json:r10:equity.AAPL.quote', 'd900000:equity.AAPL.quote'])
      wireSubscribers.set(t, 1);
    fanOut.publishStatus(bus.topic('equity.AAPL.quote')!, {
      t: 'status',
      topic: 'equity.AAPL.quote',
      status: 'stale',
      reason: 'no_ticks',
      lastUpdate: 0,
    });
    expect(published.map((p) => p.topic)).toEqual(['equity.AAPL.quote', 'r1:equity.AAPL.quote', 'json:r10:equity.AAPL.quote']);
    fanOut.publishDelayed('equity.AAPL.quote', 900_000, { t: 'ticks', topic: 'equity.AAPL.quote', epoch: 7, ticks: [] });
    expect(published.at(-1)?.topic).toBe('d900000:equity.AAPL.quote');
  });

  it('gap and reset notices (relaying buses) reach the same real-time variants as a status frame, with the range or the new epoch', () => {
    const { fanOut, published, wireSubscribers, bus, publish } = setup();
    publish('equity.AAPL.quote', 10);
    for (const t of ['equity.AAPL.quote', 'json:r1:equity.AAPL.quote', 'd900000:equity.AAPL.quote']) wireSubscribers.set(t, 1);
    const view = bus.topic('equity.AAPL.quote')!;
    fanOut.onGap(view, 5, 9);
    fanOut.onReset(view, 8);
    expect(published.map((p) => [p.topic, p.frame])).toEqual([
      ['equity.AAPL.quote', expect.objectContaining({ t: 'status', status: 'gap', reason: 'lost', from: 5, to: 9 })],
      ['json:r1:equity.AAPL.quote', expect.objectContaining({ t: 'status', status: 'gap', reason: 'lost', from: 5, to: 9 })],
      ['equity.AAPL.quote', expect.objectContaining({ t: 'status', status: 'reset', reason: 'epoch_changed', epoch: 8 })],
      ['json:r1:equity.AAPL.quote', expect.objectContaining({ t: 'status', status: 'reset', reason: 'epoch_changed', epoch: 8 })],
    ]);
  });
});
