import { afterEach, describe, expect, it, vi } from 'vitest';
import type { TicksFrame } from '../protocol/frames.ts';
import { ConflationTiers, pickTier } from './conflation.ts';
import { testBus } from './testing.ts';

describe('pickTier', () => {
  it('picks the fastest tier not above the request, the slowest tier below all, and keeps 0 (every tick)', () => {
    const tiers = [1, 4, 10];
    expect(pickTier(tiers, 0)).toBe(0);
    expect(pickTier(tiers, 10)).toBe(10);
    expect(pickTier(tiers, 1000)).toBe(10);
    expect(pickTier(tiers, 5)).toBe(4);
    expect(pickTier(tiers, 0.5)).toBe(1);
  });
});

describe('ConflationTiers', () => {
  // The tiers' timers are setInterval; vitest's fake timers drive them (the bus runs on a ManualClock).
  afterEach(() => void vi.useRealTimers());

  function setup() {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    const { bus, publish } = testBus();
    const sent: { topic: string; rate: number; frame: TicksFrame }[] = [];
    const tiers = new ConflationTiers([2, 10], bus, (topic, rate, frame) => void sent.push({ topic, rate, frame: frame as TicksFrame }));
    return { bus, publish, tiers, sent };
  }

  it('sends, per tier period, the latest value of each changed topic with how many ticks it stands for', () => {
    const { publish, tiers, sent } = setup();
    publish('equity.AAPL.quote', 10);
    tiers.changed('equity.AAPL.quote', 10, 1);
    vi.advanceTimersByTime(100);
    expect(sent).toEqual([]); // nothing new since the subscriber joined
    publish('equity.AAPL.quote', 11);
    publish('equity.AAPL.quote', 12);
    publish('equity.AAPL.quote', 13);
    vi.advanceTimersByTime(100);
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({
      topic: 'equity.AAPL.quote',
      rate: 10,
      frame: { t: 'ticks', epoch: 7, conflated: 3, ticks: [{ seq: 4, bid: 13 }] },
    });
    vi.advanceTimersByTime(1000);
    expect(sent).toHaveLength(1); // unchanged topics are not resent
    tiers.stop();
  });

  it('a tier runs a timer only while it has subscribed topics; unknown rates are ignored', () => {
    const { tiers } = setup();
    expect(vi.getTimerCount()).toBe(0);
    tiers.changed('equity.AAPL.quote', 2, 1);
    tiers.changed('equity.MSFT.quote', 2, 2);
    tiers.changed('equity.MSFT.quote', 7, 1);
    expect(tiers.activeTopics(2)).toBe(2);
    expect(tiers.activeTopics(7)).toBe(0);
    expect(vi.getTimerCount()).toBe(1);
    tiers.changed('equity.AAPL.quote', 2, -1);
    tiers.changed('equity.MSFT.quote', 2, -1);
    expect(vi.getTimerCount()).toBe(1); // MSFT still has one subscriber
    tiers.changed('equity.MSFT.quote', 2, -1);
    expect(tiers.activeTopics(2)).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('tiers are independent: each counts its own conflated ticks', () => {
    const { publish, tiers, sent } = setup();
    publish('fx.EURUSD.quote', 1.1);
    tiers.changed('fx.EURUSD.quote', 2, 1);
    tiers.changed('fx.EURUSD.quote', 10, 1);
    for (let i = 0; i < 5; i++) {
      publish('fx.EURUSD.quote', 1.1 + i / 100);
      vi.advanceTimersByTime(100);
    }
    expect(sent.filter((s) => s.rate === 10).map((s) => s.frame.conflated)).toEqual([1, 1, 1, 1, 1]);
    expect(sent.filter((s) => s.rate === 2).map((s) => s.frame.conflated)).toEqual([5]);
    tiers.stop();
    expect(vi.getTimerCount()).toBe(0);
  });
});
