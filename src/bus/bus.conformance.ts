import { decode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../core/clock.ts';
import type { FeedTick } from '../core/tick.ts';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from './bus.ts';

export interface BusFactoryOptions {
  /** The suite's time source: the tick timestamps it publishes come from it; build the bus on it. */
  clock: Clock;
  maxTicksPerFrame: number;
  /** Only the topic-limit test sets it; implementations must honour it when given. */
  maxTopicsPerFeed?: number;
}

interface Recorded {
  topics: string[];
  batches: {
    topic: string;
    epoch: number;
    seqs: number[];
    decoded: { t: string; topic: string; epoch: number; ticks: { seq: number; bid?: number }[] };
  }[];
  events: string[];
}

function recordingSink(): { sink: BusSink; rec: Recorded } {
  const rec: Recorded = { topics: [], batches: [], events: [] };
  const sink: BusSink = {
    onTopic(view: TopicView) {
      rec.topics.push(view.parsed.topic);
      rec.events.push(`topic:${view.parsed.topic}`);
    },
    onBatch(batch: EncodedBatch) {
      // Copy now: `packed` may be reused after the call.
      const decoded = decode(batch.packed.slice()) as Recorded['batches'][number]['decoded'];
      rec.batches.push({ topic: batch.topic.parsed.topic, epoch: batch.epoch, seqs: batch.ticks.map((t) => t.seq), decoded });
      rec.events.push(`batch:${batch.topic.parsed.topic}`);
    },
  };
  return { sink, rec };
}

const nextEventLoopTurn = () => new Promise<void>((r) => setImmediate(r));

/**
 * How long the suite waits for "by the end of the event-loop turn after publish": one turn for an
 * in-process bus. A bus whose sink sits across a network (NATS: ingest → server → gateway) passes
 * a `settle` that resolves once everything published so far has reached its sink.
 */
export interface ConformanceTiming {
  settle?: () => Promise<void>;
}

/** The system clock, named once: the suite's ticks are stamped with it and the bus is built on it. */
const clock: Clock = systemClock;

function quote(topic: string, bid: number, ts = clock.now()): FeedTick {
  return { topic, kind: 'quote', ts, bid, ask: bid + 0.01, bidSize: 100, askSize: 200 };
}

/**
 * The contract every TopicBus implementation must meet (see the TopicBus doc comment).
 * Call from a test file: `runBusConformance('MemoryBus', (o) => new MemoryBus({...}))`.
 */
export function runBusConformance(
  name: string,
  create: (options: BusFactoryOptions) => TopicBus | Promise<TopicBus>,
  timing: ConformanceTiming = {},
): void {
  const nextTurn = timing.settle ?? nextEventLoopTurn;
  describe(`TopicBus conformance: ${name}`, () => {
    it('assigns per-topic seqs from 1 without holes and delivers each accepted tick exactly once, in order', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      const a = 'equity.AAA.quote';
      const b = 'equity.BBB.quote';
      for (let i = 0; i < 500; i++) {
        expect(bus.publish(quote(i % 3 === 0 ? b : a, 10 + i / 100), 'test')).toMatchObject({ ok: true });
        if (i % 97 === 0) await nextTurn();
      }
      await nextTurn();
      for (const topic of [a, b]) {
        const seqs = rec.batches.filter((x) => x.topic === topic).flatMap((x) => x.seqs);
        expect(seqs.length).toBe(topic === b ? 167 : 333);
        expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
      }
      await bus.close();
    });

    it('announces a topic before its first batch, once', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
      bus.publish(quote('fx.EURUSD.quote', 1.2), 'test');
      await nextTurn();
      bus.publish(quote('fx.EURUSD.quote', 1.3), 'test');
      await nextTurn();
      expect(rec.events).toEqual(['topic:fx.EURUSD.quote', 'batch:fx.EURUSD.quote', 'batch:fx.EURUSD.quote']);
      await bus.close();
    });

    it('batches ticks of one topic from one event-loop turn into frames of at most maxTicksPerFrame', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 4 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      for (let i = 0; i < 10; i++) bus.publish(quote('equity.AAA.quote', 10 + i), 'test');
      await nextTurn();
      expect(rec.batches.map((x) => x.seqs.length)).toEqual([4, 4, 2]);
      expect(rec.batches.flatMap((x) => x.seqs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await bus.close();
    });

    it('encodes each frame as standard MessagePack matching the ticks handed over', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      bus.publish(quote('equity.AAA.quote', 12.34), 'test');
      bus.publish(quote('equity.AAA.quote', 12.35), 'test');
      await nextTurn();
      const frame = rec.batches[0]!.decoded;
      expect(frame).toMatchObject({ t: 'ticks', topic: 'equity.AAA.quote', epoch: bus.epoch });
      expect(frame.ticks.map((t) => [t.seq, t.bid])).toEqual([
        [1, 12.34],
        [2, 12.35],
      ]);
      await bus.close();
    });

    it('has a fixed epoch that differs between instances', async () => {
      const one = await create({ clock, maxTicksPerFrame: 64 });
      const two = await create({ clock, maxTicksPerFrame: 64 });
      expect(one.epoch).toBeGreaterThan(0);
      expect(Number.isSafeInteger(one.epoch)).toBe(true);
      expect(two.epoch).not.toBe(one.epoch);
      await one.close();
      await two.close();
    });

    it('rejects invalid ticks without consuming a seq', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      const t = 'equity.AAA.quote';
      const bad: [FeedTick, string][] = [
        [{ ...quote(t, 10), bid: Number.NaN } as FeedTick, 'invalid_price'],
        [{ ...quote(t, 10), bid: -1 } as FeedTick, 'invalid_price'],
        [{ ...quote(t, 10), ask: 9 } as FeedTick, 'crossed_quote'],
        [{ ...quote(t, 10), ts: Number.POSITIVE_INFINITY } as FeedTick, 'invalid_timestamp'],
        [quote('equity.aapl.quote', 10), 'invalid_topic'],
        [quote('not a topic', 10), 'invalid_topic'],
        [{ topic: t, kind: 'trade', ts: clock.now(), price: 10, size: 100 }, 'channel_mismatch'],
        [{ topic: 'equity.AAA.trade', kind: 'trade', ts: clock.now(), price: 10, size: 0 }, 'invalid_size'],
        [{ ...quote(t, 10), ts: clock.now() - 1000 } as FeedTick, 'timestamp_backwards'],
      ];
      bus.publish(quote(t, 10), 'test');
      for (const [tick, reason] of bad) expect(bus.publish(tick, 'test')).toEqual({ ok: false, reason });
      expect(bus.publish(quote(t, 10.5), 'test')).toEqual({ ok: true, seq: 2 });
      await nextTurn();
      expect(rec.batches.flatMap((x) => x.seqs)).toEqual([1, 2]);
      await bus.close();
    });

    it('refuses garbage from a faulty adapter with a reason per rule, and nothing it refuses consumes a seq or creates a topic', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      const now = clock.now();
      const q = (over: Record<string, unknown>, topic = 'equity.AAA.quote') =>
        ({ ...quote(topic, 10, now), ...over }) as unknown as FeedTick;
      const tr = (over: Record<string, unknown>, topic = 'equity.AAA.trade') =>
        ({ topic, kind: 'trade', ts: now, price: 10, size: 100, ...over }) as unknown as FeedTick;
      const bad: [unknown, string][] = [
        [null, 'invalid_tick'],
        [undefined, 'invalid_tick'],
        ['equity.AAA.quote', 'invalid_tick'],
        [42, 'invalid_tick'],
        [q({ topic: 42 }), 'invalid_topic'],
        [q({ topic: undefined }), 'invalid_topic'],
        [q({ topic: 'equity.aaa.quote' }), 'invalid_topic'],
        [q({ topic: 'equity.A A.quote' }), 'invalid_topic'],
        [q({ topic: `equity.${'A'.repeat(25)}.quote` }), 'invalid_topic'],
        [q({ topic: 'equity.*.quote' }), 'invalid_topic'],
        [q({ kind: 'candle' }), 'invalid_kind'],
        [q({ kind: undefined }), 'invalid_kind'],
        [q({ ts: 'now' }), 'invalid_timestamp'],
        [q({ ts: Number.NaN }), 'invalid_timestamp'],
        [q({ ts: Math.floor(now / 1000) }), 'invalid_timestamp'], // seconds, not ms
        [q({ ts: now * 1000 }), 'invalid_timestamp'], // microseconds
        [q({ ts: -now }), 'invalid_timestamp'],
        [q({ bid: Number.NaN }), 'invalid_price'],
        [q({ ask: Number.POSITIVE_INFINITY }), 'invalid_price'],
        [q({ bid: 0 }), 'invalid_price'],
        [q({ bid: -5, ask: 1 }), 'invalid_price'],
        [q({ bid: '10' }), 'invalid_price'],
        [q({ bid: 10, ask: 2e9 }), 'absurd_price'],
        [q({ bidSize: -1 }), 'invalid_size'],
        [q({ askSize: Number.NaN }), 'invalid_size'],
        [q({ askSize: null }), 'invalid_size'],
        [q({ bidSize: 5e12 }), 'absurd_size'],
        [q({ bidSize: 100.5 }), 'fractional_size'],
        [q({ bid: 10.02, ask: 10.01 }), 'crossed_quote'],
        [tr({ price: Number.NaN }), 'invalid_price'],
        [tr({ price: 1e10 }), 'absurd_price'],
        [tr({ size: -100 }), 'invalid_size'],
        [tr({ size: Number.POSITIVE_INFINITY }), 'invalid_size'],
        [tr({ size: 1e13 }), 'absurd_size'],
        [tr({ size: 0.25 }), 'fractional_size'],
        [q({}, 'equity.AAA.book_l1'), 'channel_mismatch'],
      ];
      for (const [tick, reason] of bad)
        expect(bus.publish(tick as FeedTick, 'garbage'), JSON.stringify(tick)).toEqual({ ok: false, reason });
      expect(bus.topicCount).toBe(0);
      // Fractional sizes are fine outside equities; locked quotes are fine; zero quote size is fine.
      expect(bus.publish(q({ bidSize: 1500.5, askSize: 0 }, 'fx.EURUSD.quote'), 'ok')).toEqual({ ok: true, seq: 1 });
      expect(bus.publish(tr({ size: 0.25 }, 'crypto.BTCUSD.trade'), 'ok')).toEqual({ ok: true, seq: 1 });
      expect(bus.publish(q({ bid: 10, ask: 10 }), 'ok')).toEqual({ ok: true, seq: 1 });
      for (const [tick, reason] of bad)
        expect(bus.publish(tick as FeedTick, 'garbage'), JSON.stringify(tick)).toEqual({ ok: false, reason });
      expect(bus.publish(q({ bid: 10.5, ask: 10.6 }), 'ok')).toEqual({ ok: true, seq: 2 });
      await nextTurn();
      expect(rec.topics.sort()).toEqual(['crypto.BTCUSD.trade', 'equity.AAA.quote', 'fx.EURUSD.quote']);
      expect(rec.batches.filter((b) => b.topic === 'equity.AAA.quote').flatMap((b) => b.seqs)).toEqual([1, 2]);
      await bus.close();
    });

    it('refuses a tick whose timestamp goes backwards on its topic (equal is fine; a refused one does not move the clock)', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      const t0 = clock.now();
      expect(bus.publish(quote('equity.AAA.quote', 10, t0), 'f')).toEqual({ ok: true, seq: 1 });
      expect(bus.publish(quote('equity.AAA.quote', 10, t0), 'f')).toEqual({ ok: true, seq: 2 });
      expect(bus.publish(quote('equity.AAA.quote', 10, t0 - 0.001), 'f')).toEqual({ ok: false, reason: 'timestamp_backwards' });
      expect(bus.publish(quote('equity.AAA.quote', 10, t0 + 1e9), 'f')).toEqual({ ok: true, seq: 3 });
      expect(bus.publish(quote('equity.AAA.quote', 10, t0 + 5), 'f')).toEqual({ ok: false, reason: 'timestamp_backwards' });
      expect(bus.publish(quote('equity.AAA.quote', 10, Number.NaN), 'f')).toEqual({ ok: false, reason: 'invalid_timestamp' });
      // Per topic: another topic's older timestamps are fine.
      expect(bus.publish(quote('equity.BBB.quote', 10, t0 - 60_000), 'f')).toEqual({ ok: true, seq: 1 });
      await nextTurn();
      expect(rec.batches.filter((b) => b.topic === 'equity.AAA.quote').flatMap((b) => b.seqs)).toEqual([1, 2, 3]);
      await bus.close();
    });

    it('delivers exactly the values it validated (each field of the adapter object is read once)', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      let reads = 0;
      // A tick whose bid changes on every read: valid on the first read, crossed afterwards.
      const shifty = {
        topic: 'equity.AAA.quote',
        kind: 'quote',
        ts: clock.now(),
        get bid() {
          return reads++ === 0 ? 10 : 99;
        },
        ask: 10.01,
        bidSize: 100,
        askSize: 100,
      } as unknown as FeedTick;
      const result = bus.publish(shifty, 'f');
      await nextTurn();
      if (result.ok) {
        expect(rec.batches[0]!.decoded.ticks[0]!.bid).toBe(10);
        expect(bus.topic('equity.AAA.quote')!.last).toMatchObject({ bid: 10 });
      } else {
        expect(rec.batches).toHaveLength(0);
      }
      await bus.close();
    });

    it('caps the topics one feed can create; its existing topics and other feeds are unaffected', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64, maxTopicsPerFeed: 3 });
      bus.setSink(recordingSink().sink);
      for (let i = 0; i < 3; i++) expect(bus.publish(quote(`equity.G${i}.quote`, 10), 'garbage').ok).toBe(true);
      expect(bus.publish(quote('equity.G3.quote', 10), 'garbage')).toEqual({ ok: false, reason: 'topic_limit' });
      expect(bus.publish(quote('equity.G0.quote', 11), 'garbage')).toEqual({ ok: true, seq: 2 });
      expect(bus.publish(quote('equity.OTHER.quote', 10), 'good')).toEqual({ ok: true, seq: 1 });
      // Rejected ticks never count towards the limit.
      expect(bus.publish({ ...quote('equity.G9.quote', 10), bid: Number.NaN } as FeedTick, 'good')).toEqual({
        ok: false,
        reason: 'invalid_price',
      });
      expect(bus.topicCount).toBe(4);
      await bus.close();
    });

    it('keeps the last published value per topic, and only after it was handed to the sink', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink } = recordingSink();
      bus.setSink(sink);
      bus.publish(quote('equity.AAA.quote', 10), 'feed-a');
      expect(bus.topic('equity.AAA.quote')?.last).toBeUndefined();
      await nextTurn();
      bus.publish(quote('equity.AAA.quote', 11), 'feed-a');
      expect(bus.topic('equity.AAA.quote')?.last).toMatchObject({ seq: 1, bid: 10 });
      await nextTurn();
      const view = bus.topic('equity.AAA.quote')!;
      expect(view.last).toMatchObject({ seq: 2, bid: 11 });
      expect(view.feedId).toBe('feed-a');
      expect(view.lastUpdate).toBeGreaterThan(0);
      expect([...bus.topics()].map((v) => v.parsed.topic)).toEqual(['equity.AAA.quote']);
      expect(bus.topic('equity.ZZZ.quote')).toBeUndefined();
      await bus.close();
    });

    it('flushes pending ticks on close and accepts nothing after', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      bus.publish(quote('equity.AAA.quote', 10), 'test');
      await bus.close();
      expect(rec.batches.flatMap((x) => x.seqs)).toEqual([1]);
      expect(bus.publish(quote('equity.AAA.quote', 10), 'test').ok).toBe(false);
    });
  });
}

/** Resume history: part of the contract since the delivery-guarantees work. */
export function runBusHistoryConformance(
  name: string,
  create: (options: BusFactoryOptions & { historyMaxTicks: number }) => TopicBus | Promise<TopicBus>,
  timing: ConformanceTiming = {},
): void {
  const nextTurn = timing.settle ?? nextEventLoopTurn;
  describe(`TopicBus history conformance: ${name}`, () => {
    it('replays exactly the ticks after a seq while held, and says null once they are gone', async () => {
      const bus = await create({ clock, maxTicksPerFrame: 64, historyMaxTicks: 5 });
      bus.setSink(recordingSink().sink);
      for (let i = 0; i < 8; i++) bus.publish(quote('equity.AAA.quote', 10 + i), 'test');
      expect(bus.replayAfter('equity.AAA.quote', 0)).toEqual([]); // nothing handed to the sink yet
      await nextTurn();
      expect(bus.replayAfter('equity.AAA.quote', 5)!.map((t) => t.seq)).toEqual([6, 7, 8]);
      expect(bus.replayAfter('equity.AAA.quote', 3)!.map((t) => t.seq)).toEqual([4, 5, 6, 7, 8]);
      expect(bus.replayAfter('equity.AAA.quote', 8)).toEqual([]);
      expect(bus.replayAfter('equity.AAA.quote', 2)).toBeNull();
      expect(bus.replayAfter('equity.AAA.quote', 9)).toBeNull();
      expect(bus.replayAfter('equity.NEW.quote', 0)).toEqual([]);
      await bus.close();
    });
  });
}
