import { describe, expect, it } from 'vitest';
import type { WireTick } from '../core/tick.ts';
import { TickRing } from './tick-ring.ts';

const tick = (seq: number, gts = 1000): WireTick => ({ seq, ts: gts, gts, price: 1, size: 1 });

describe('TickRing', () => {
  it('returns the ticks after a seq while they are held, oldest first', () => {
    const ring = new TickRing(4, 60_000);
    for (let s = 1; s <= 6; s++) ring.push(tick(s));
    expect(ring.after(3, 1000)!.map((t) => t.seq)).toEqual([4, 5, 6]);
    expect(ring.after(2, 1000)!.map((t) => t.seq)).toEqual([3, 4, 5, 6]);
    expect(ring.after(6, 1000)).toEqual([]);
    expect(ring.after(1, 1000)).toBeNull(); // seq 2 was evicted
    expect(ring.after(7, 1000)).toBeNull(); // beyond the newest
    expect(ring.oldestSeq(1000)).toBe(3);
  });

  it('treats ticks older than maxAgeMs as gone', () => {
    const ring = new TickRing(10, 100);
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
    const ring = new TickRing(1000, 100);
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
    const ring = new TickRing(4, 1000);
    expect(ring.after(0, 0)).toEqual([]);
    expect(ring.after(5, 0)).toBeNull();
  });
});
