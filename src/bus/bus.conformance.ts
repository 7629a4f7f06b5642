import { decode } from '@msgpack/msgpack';
import { describe, expect, it } from 'vitest';
import type { FeedTick } from '../core/tick.ts';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from './bus.ts';

export interface BusFactoryOptions {
  maxTicksPerFrame: number;
}

interface Recorded {
  topics: string[];
  batches: { topic: string; epoch: number; seqs: number[]; decoded: { t: string; topic: string; epoch: number; ticks: { seq: number; bid?: number }[] } }[];
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

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

function quote(topic: string, bid: number, ts = Date.now()): FeedTick {
  return { topic, kind: 'quote', ts, bid, ask: bid + 0.01, bidSize: 100, askSize: 200 };
}

/**
 * The contract every TopicBus implementation must meet (see the TopicBus doc comment).
 * Call from a test file: `runBusConformance('MemoryBus', (o) => new MemoryBus({...}))`.
 */
export function runBusConformance(name: string, create: (options: BusFactoryOptions) => TopicBus | Promise<TopicBus>): void {
  describe(`TopicBus conformance: ${name}`, () => {
    it('assigns per-topic seqs from 1 without holes and delivers each accepted tick exactly once, in order', async () => {
      const bus = await create({ maxTicksPerFrame: 64 });
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
      const bus = await create({ maxTicksPerFrame: 64 });
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
      const bus = await create({ maxTicksPerFrame: 4 });
      const { sink, rec } = recordingSink();
      bus.setSink(sink);
      for (let i = 0; i < 10; i++) bus.publish(quote('equity.AAA.quote', 10 + i), 'test');
      await nextTurn();
      expect(rec.batches.map((x) => x.seqs.length)).toEqual([4, 4, 2]);
      expect(rec.batches.flatMap((x) => x.seqs)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      await bus.close();
    });

    it('encodes each frame as standard MessagePack matching the ticks handed over', async () => {
      const bus = await create({ maxTicksPerFrame: 64 });
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
      const one = await create({ maxTicksPerFrame: 64 });
      const two = await create({ maxTicksPerFrame: 64 });
      expect(one.epoch).toBeGreaterThan(0);
      expect(Number.isSafeInteger(one.epoch)).toBe(true);
      expect(two.epoch).not.toBe(one.epoch);
      await one.close();
      await two.close();
    });

    it('rejects invalid ticks without consuming a seq', async () => {
      const bus = await create({ maxTicksPerFrame: 64 });
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
        [{ topic: t, kind: 'trade', ts: Date.now(), price: 10, size: 100 }, 'channel_mismatch'],
        [{ topic: 'equity.AAA.trade', kind: 'trade', ts: Date.now(), price: 10, size: 0 }, 'invalid_size'],
      ];
      bus.publish(quote(t, 10), 'test');
      for (const [tick, reason] of bad) expect(bus.publish(tick, 'test')).toEqual({ ok: false, reason });
      expect(bus.publish(quote(t, 10.5), 'test')).toEqual({ ok: true, seq: 2 });
      await nextTurn();
      expect(rec.batches.flatMap((x) => x.seqs)).toEqual([1, 2]);
      await bus.close();
    });

    it('keeps the last published value per topic, and only after it was handed to the sink', async () => {
      const bus = await create({ maxTicksPerFrame: 64 });
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
      const bus = await create({ maxTicksPerFrame: 64 });
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
export function runBusHistoryConformance(name: string, create: (options: BusFactoryOptions & { historyMaxTicks: number }) => TopicBus | Promise<TopicBus>): void {
  describe(`TopicBus history conformance: ${name}`, () => {
    it('replays exactly the ticks after a seq while held, and says null once they are gone', async () => {
      const bus = await create({ maxTicksPerFrame: 64, historyMaxTicks: 5 });
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
