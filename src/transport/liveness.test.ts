import { describe, expect, it } from 'vitest';
import type { StatusFrame } from '../protocol/frames.ts';
import { TopicLiveness } from './liveness.ts';
import { testBus } from './testing.ts';

/** TopicLiveness over a MemoryBus on a ManualClock: check(now) is driven by hand. */
function setup(staleAfterMs = 1000) {
  const { clock, bus, publish } = testBus();
  const changes: StatusFrame[] = [];
  const liveness = new TopicLiveness(bus, staleAfterMs, (_view, frame) => void changes.push(frame), clock);
  return { clock, publish, liveness, changes };
}

describe('TopicLiveness', () => {
  it('marks a silent topic stale after staleAfterMs, once, and live again only after a new tick', () => {
    const { clock, publish, liveness, changes } = setup();
    publish('equity.AAPL.quote', 10);
    clock.advance(1000);
    liveness.check(clock.now());
    expect(changes).toEqual([]);
    clock.advance(1);
    liveness.check(clock.now());
    liveness.check(clock.now());
    expect(changes).toEqual([
      { t: 'status', topic: 'equity.AAPL.quote', status: 'stale', reason: 'no_ticks', lastUpdate: clock.now() - 1001 },
    ]);
    expect(liveness.statusOf('equity.AAPL.quote')).toMatchObject({ status: 'stale', since: clock.now() });
    expect(liveness.staleCount).toBe(1);

    clock.advance(10);
    publish('equity.AAPL.quote', 11);
    liveness.check(clock.now());
    expect(changes.at(-1)).toMatchObject({ status: 'live', reason: 'recovered' });
    expect(liveness.staleCount).toBe(0);
  });

  it('a feed going down marks its topics stale at once (while running); back up, they recover with the next tick', () => {
    const { clock, publish, liveness, changes } = setup(60_000);
    publish('equity.AAPL.quote', 10);
    liveness.start(60_000); // the timer never fires in this test; start() only arms feedUp's immediate check
    try {
      liveness.feedUp('test', false);
      expect(changes).toEqual([expect.objectContaining({ status: 'stale', reason: 'feed_down' })]);
      liveness.feedUp('test', true);
      liveness.check(clock.now());
      expect(changes).toHaveLength(1); // no tick since it went stale
      clock.advance(5);
      publish('equity.AAPL.quote', 11);
      liveness.check(clock.now());
      expect(changes.at(-1)).toMatchObject({ status: 'live', reason: 'recovered' });
    } finally {
      liveness.stop();
    }
  });

  it('unknown topics are live', () => {
    const { liveness } = setup();
    expect(liveness.statusOf('fx.NONE.quote')).toEqual({ status: 'live', reason: 'recovered', since: 0 });
  });
});
