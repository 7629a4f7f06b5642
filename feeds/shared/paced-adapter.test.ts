import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { Random } from '../../src/core/random.ts';
import type { FeedTick } from '../../src/core/tick.ts';
import { PacedAdapter, type TickModel } from './paced-adapter.ts';
import { collectingContext } from './testing.ts';

/** Emits `test.N<i>.quote` for the i-th call, so tests can see exactly which events were produced. */
function countingModel(): TickModel & { calls: number } {
  const model = {
    topics: [],
    calls: 0,
    next(ts: number): FeedTick {
      model.calls++;
      return { topic: `test.N${model.calls}.quote`, ts, kind: 'quote', bid: 1, ask: 2, bidSize: 1, askSize: 1 };
    },
  };
  return model;
}

describe('PacedAdapter (fake timers, ManualClock)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  /** Advances the clock and the timers together, one 10 ms period at a time. */
  function run(clock: ManualClock, ms: number): void {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      vi.advanceTimersByTime(10);
    }
  }

  it('emits exactly the configured rate over time, carrying fractions between callbacks', () => {
    for (const rate of [1000, 333, 7]) {
      const clock = new ManualClock();
      const ctx = collectingContext(clock);
      const adapter = new PacedAdapter(countingModel(), { ticksPerSecond: rate });
      adapter.start(ctx);
      run(clock, 3000);
      adapter.stop();
      // Floating-point carry may leave the last tick a hair short of due.
      expect(ctx.ticks.length).toBeGreaterThanOrEqual(rate * 3 - 1);
      expect(ctx.ticks.length).toBeLessThanOrEqual(rate * 3);
    }
  });

  it('stamps ticks with the clock time of the callback that emitted them', () => {
    const clock = new ManualClock(1_000_000);
    const ctx = collectingContext(clock);
    new PacedAdapter(countingModel(), { ticksPerSecond: 1000 }).start(ctx);
    run(clock, 30);
    expect(ctx.ticks.map((t) => t.ts)).toEqual([...Array(10).fill(1_000_010), ...Array(10).fill(1_000_020), ...Array(10).fill(1_000_030)]);
    ctx.controller.abort();
  });

  it('caps the catch-up after a stall, skips the rest and warns', () => {
    const clock = new ManualClock();
    const ctx = collectingContext(clock);
    const adapter = new PacedAdapter(countingModel(), { ticksPerSecond: 1000, maxCatchUpMs: 100 });
    adapter.start(ctx);
    clock.advance(5_000);
    vi.advanceTimersByTime(10);
    expect(ctx.ticks.length).toBe(100);
    expect(ctx.warnings).toEqual([{ skippedTicks: 4900, maxCatchUpMs: 100 }]);
    run(clock, 100);
    expect(ctx.ticks.length).toBe(200);
    adapter.stop();
  });

  it('emits nothing after stop() or after the signal aborts, and can be started again', () => {
    const clock = new ManualClock();
    const model = countingModel();
    const adapter = new PacedAdapter(model, { ticksPerSecond: 1000 });
    const first = collectingContext(clock);
    adapter.start(first);
    run(clock, 50);
    expect(first.ticks.length).toBe(50);
    adapter.stop();
    run(clock, 50);
    expect(first.ticks.length).toBe(50);
    expect(vi.getTimerCount()).toBe(0);

    const second = collectingContext(clock);
    adapter.start(second);
    run(clock, 20);
    // The model keeps its state across runs: numbering continues.
    expect(second.ticks.map((t) => t.topic)[0]).toBe('test.N51.quote');
    first.controller.abort(); // an old run's signal must not stop the new run
    run(clock, 20);
    expect(second.ticks.length).toBe(40);
    second.controller.abort();
    run(clock, 50);
    expect(second.ticks.length).toBe(40);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('does not start on an already aborted signal', () => {
    const clock = new ManualClock();
    const ctx = collectingContext(clock);
    ctx.controller.abort();
    new PacedAdapter(countingModel(), { ticksPerSecond: 1000 }).start(ctx);
    run(clock, 50);
    expect(ctx.ticks).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reports a throwing model through ctx.fail and stops its timer', () => {
    const clock = new ManualClock();
    const ctx = collectingContext(clock);
    const boom = new Error('model broke');
    const rng = new Random(1);
    const model: TickModel = {
      topics: [],
      next: (ts) => {
        if (rng.next() < 0.2) throw boom;
        return { topic: 'test.X.trade', ts, kind: 'trade', price: 1, size: 1 };
      },
    };
    new PacedAdapter(model, { ticksPerSecond: 1000 }).start(ctx);
    run(clock, 200);
    expect(ctx.failures).toEqual([boom]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses to start twice concurrently', () => {
    const clock = new ManualClock();
    const adapter = new PacedAdapter(countingModel(), { ticksPerSecond: 10 });
    adapter.start(collectingContext(clock));
    expect(() => adapter.start(collectingContext(clock))).toThrow(/already running/);
    adapter.stop();
  });
});
