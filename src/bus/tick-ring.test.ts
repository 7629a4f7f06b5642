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
    ring.push(tick(3, 200));
    expect(ring.after(0, 120)).toBeNull(); // tick 1 is 120 ms old
    expect(ring.after(1, 120)!.map((t) => t.seq)).toEqual([2, 3]);
    expect(ring.oldestSeq(120)).toBe(2);
  });

  it('an empty ring is up to date only at seq 0', () => {
    const ring = new TickRing(4, 1000);
    expect(ring.after(0, 0)).toEqual([]);
    expect(ring.after(5, 0)).toBeNull();
  });
});
