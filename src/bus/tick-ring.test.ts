import { describe, expect, it } from 'vitest';
import type { WireTick } from '../core/tick.ts';
import { FlatTickRing, TickRing } from './tick-ring.ts';

const tick = (seq: number, gts = 1000): WireTick => ({ seq, ts: gts, gts, price: 1, size: 1 });

const rings = {
  'TickRing (objects)': (capacity: number, maxAgeMs: number) => new TickRing(capacity, maxAgeMs),
  'FlatTickRing (numbers)': (capacity: number, maxAgeMs: number) => new FlatTickRing('trade', capacity, maxAgeMs),
};

describe.each(Object.entries(rings))('%s', (_name, newRing) => {
  it('returns the ticks after a seq while they are held, oldest first', () => {
    const ring = newRing(4, 60_000);
    for (let s = 1; s <= 6; s++) ring.push(tick(s));
    expect(ring.after(3, 1000)!.map((t) => t.seq)).toEqual([4, 5, 6]);
    expect(ring.after(2, 1000)!.map((t) => t.seq)).toEqual([3, 4, 5, 6]);
    expect(ring.after(6, 1000)).toEqual([]);
    expect(ring.after(1, 1000)).toBeNull(); // seq 2 was evicted
    expect(ring.after(7, 1000)).toBeNull(); // beyond the newest
    expect(ring.oldestSeq(1000)).toBe(3);
  });

  it('treats ticks older than maxAgeMs as gone', () => {
    const ring = newRing(10, 100);
    ring.push(tick(1, 0));
    ring.push(tick(2, 50));
    ring.push(tick(3, 120));
    expect(ring.after(0, 120)).toBeNull(); // tick 1 is 120 ms old
    expect(ring.after(1, 120)!.map((t) => t.seq)).toEqual([2, 3]);
    expect(ring.oldestSeq(120)).toBe(2);
    expect(ring.after(1, 160)).toBeNull(); // by now tick 2 is 110 ms old too
    expect(ring.oldestSeq(160)).toBe(3);
  });

  it('drops ticks past maxAgeMs as newer ones arrive, so a quiet topic holds only what can be replayed', () => {
    const ring = newRing(1000, 100);
    for (let s = 1; s <= 10; s++) ring.push(tick(s, s * 30)); // gts 30 … 300
    // At tick 10 (gts 300) only ticks with gts >= 200 are within 100 ms: seqs 7 … 10.
    expect(ring.after(6, 300)!.map((t) => t.seq)).toEqual([7, 8, 9, 10]);
    expect(ring.after(5, 300)).toBeNull();
    expect(ring.oldestSeq(300)).toBe(7);
    expect((ring as unknown as { size: number }).size).toBe(4);
    // The newest tick is always kept, however old: a client at that seq is up to date.
    ring.push(tick(11, 10_000));
    expect((ring as unknown as { size: number }).size).toBe(1);
    expect(ring.after(11, 20_000)).toEqual([]);
    expect(ring.after(10, 10_000)!.map((t) => t.seq)).toEqual([11]);
    expect(ring.after(9, 10_000)).toBeNull();
  });

  it('an empty ring is up to date only at seq 0', () => {
    const ring = newRing(4, 1000);
    expect(ring.after(0, 0)).toEqual([]);
    expect(ring.after(5, 0)).toBeNull();
  });

  it('grows past its first allocation and wraps at capacity, keeping order', () => {
    const ring = newRing(100, 60_000);
    for (let s = 1; s <= 250; s++) ring.push(tick(s, 1000 + s));
    expect(ring.after(150, 1300)!.map((t) => t.seq)).toEqual(Array.from({ length: 100 }, (_, i) => 151 + i));
    expect(ring.after(149, 1300)).toBeNull();
    ring.clear();
    expect(ring.after(0, 1300)).toEqual([]);
    ring.push(tick(251, 1400));
    expect(ring.after(250, 1400)!.map((t) => t.seq)).toEqual([251]);
  });
});

describe('FlatTickRing', () => {
  it('gives back quotes and trades with the values, keys and key order they went in with', () => {
    const quotes = new FlatTickRing('quote', 10, 60_000);
    const q = { seq: 1, ts: 1_765_000_000_000.5, gts: 1_765_000_000_001.25, bid: 101.23, ask: 101.24, bidSize: 300, askSize: 0 };
    quotes.push(q);
    quotes.push({ ...q, seq: 2 });
    const [back] = quotes.after(0, q.gts)!;
    expect(back).toEqual(q);
    expect(Object.keys(back!)).toEqual(Object.keys(q));
    const trades = new FlatTickRing('trade', 10, 60_000);
    const t = { seq: 7, ts: 1_765_000_000_000, gts: 1_765_000_000_002, price: 0.000123, size: 0.5 };
    trades.push(t);
    expect(trades.after(6, t.gts)).toEqual([t]);
    expect(Object.keys(trades.after(6, t.gts)![0]!)).toEqual(Object.keys(t));
  });
});
