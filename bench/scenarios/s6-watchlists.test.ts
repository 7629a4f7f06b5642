import { describe, expect, it } from 'vitest';
import { topicNames } from '../servers/workload.ts';
import { watchlists } from './s6-watchlists.ts';

describe('S6 watchlists', () => {
  const names = topicNames(1000);

  it('gives every server the same subscriptions: patterns for tickgate, expanded names for the others', () => {
    const tg = watchlists(names, 300, 100, true);
    const raw = watchlists(names, 300, 100, false);
    expect(tg.conns.map((c) => c.topics)).toEqual(raw.conns.map((c) => c.topics));
    expect(raw.conns.every((c) => c.request === undefined)).toBe(true);
    // 3 whole-market monitors (every 100th client), 297 watchlists of 100 distinct topics.
    expect(tg.monitors).toBe(3);
    expect(tg.subscriptions).toBe(297 * 100 + 3 * 1000);
    for (const c of tg.conns) expect(new Set(c.topics).size).toBe(c.topics.length);
    expect(tg.conns[99]!.request).toEqual(['equity.*.quote']);
    const first = tg.conns[0]!;
    expect(first.topics).toHaveLength(100);
    // The first 10 entries are one-topic patterns naming the same symbol as the expanded topic.
    expect(first.request!.slice(0, 10).every((p, i) => p === `*.${names[first.topics[i]!]!.split('.')[1]}.*`)).toBe(true);
    expect(first.request!.slice(10)).toEqual(first.topics.slice(10).map((t) => names[t]));
    expect(tg.patternEntries).toBe(297 * 10 + 3);
  });

  it('is deterministic and differs between clients', () => {
    const a = watchlists(names, 5, 100, false);
    const b = watchlists(names, 5, 100, false);
    expect(a.conns).toEqual(b.conns);
    expect(a.conns[0]!.topics).not.toEqual(a.conns[1]!.topics);
  });
});
