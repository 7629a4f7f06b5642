import { describe, expect, it } from 'vitest';
import { HotStats } from './hot-stats.ts';

describe('HotStats.feedCounter', () => {
  it('counts per feed when ticks from several feeds interleave (the last-feed shortcut never mixes them up)', () => {
    const hot = new HotStats();
    for (const feed of ['a', 'a', 'b', 'a', 'c', 'c', 'b']) hot.feedCounter(feed).count++;
    expect(Object.fromEntries([...hot.ticksIn].map(([k, v]) => [k, v.count]))).toEqual({ a: 3, b: 2, c: 2 });
  });
});
