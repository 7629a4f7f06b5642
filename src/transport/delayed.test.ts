import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import type { WireBook, WireTick } from '../core/tick.ts';
import type { TicksFrame } from '../protocol/frames.ts';
import { DelayedTiers, HELD_FRAME_BYTES, HELD_TICK_BYTES } from './delayed.ts';

const TOPIC = 'equity.AAPL.quote';
const tick = (seq: number, gts: number): WireTick =>
  ({ seq, gts, ts: gts, bid: 100 + seq / 100, ask: 100.01 + seq / 100 }) as unknown as WireTick;

/** DelayedTiers on a ManualClock (clock and timers): releases happen only when the test advances time. */
function tiers(maxBytes = 1_000_000) {
  const clock = new ManualClock();
  const released: { at: number; delayMs: number; frame: TicksFrame }[] = [];
  const conflating: number[] = [];
  const d = new DelayedTiers(
    { maxBytes },
    (_topic, delayMs, frame) => released.push({ at: clock.now(), delayMs, frame: frame as TicksFrame }),
    clock,
    (_topic, _delayMs, quantumMs) => conflating.push(quantumMs),
    clock,
  );
  return { clock, d, released, conflating };
}

describe('DelayedTiers on a ManualClock', () => {
  it('releases each frame exactly delayMs after it arrived, never earlier, and frees the line when the last subscriber leaves', async () => {
    const { clock, d, released } = tiers();
    d.changed(TOPIC, 60_000, 1);
    const t0 = clock.now();
    d.hold(TOPIC, 1, [tick(1, t0)]);
    clock.advance(1000);
    d.hold(TOPIC, 1, [tick(2, t0 + 1000)]);
    d.hold('fx.EURUSD.quote', 1, [tick(1, t0 + 1000)]); // no delayed subscriber: not held
    expect(d.heldBytes).toBe(2 * (HELD_FRAME_BYTES + HELD_TICK_BYTES));

    clock.advance(58_999); // t0 + 59_999
    expect(released).toEqual([]);
    clock.advance(1); // t0 + 60_000
    expect(released.map((r) => [r.at - t0, r.frame.ticks[0]!.seq])).toEqual([[60_000, 1]]);
    clock.advance(1000);
    expect(released.map((r) => [r.at - t0, r.frame.ticks[0]!.seq])).toEqual([
      [60_000, 1],
      [61_000, 2],
    ]);
    expect(released.every((r) => r.delayMs === 60_000 && r.frame.topic === TOPIC && r.frame.conflated === undefined)).toBe(true);
    expect(d.released(TOPIC, 60_000)?.seq).toBe(2);
    expect(d.heldBytes).toBe(0);

    d.hold(TOPIC, 1, [tick(3, clock.now())]);
    d.changed(TOPIC, 60_000, -1);
    await Promise.resolve(); // the line is dropped once the turn ends
    expect(d.lineCount).toBe(0);
    expect(d.heldBytes).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    expect(d.active).toBe(false);
  });

  it('conflates a full line under maxBytes: the bound holds, the newest tick of each bucket survives, and released frames say how many ticks they stand for', () => {
    const maxBytes = 20 * (HELD_FRAME_BYTES + HELD_TICK_BYTES);
    const { clock, d, released, conflating } = tiers(maxBytes);
    d.changed(TOPIC, 10_000, 1);
    const t0 = clock.now();
    for (let seq = 1; seq <= 200; seq++) {
      d.hold(TOPIC, 1, [tick(seq, clock.now())]);
      expect(d.heldBytes).toBeLessThanOrEqual(maxBytes);
      clock.advance(10);
    }
    expect(conflating.length).toBeGreaterThan(0);
    expect(d.conflatedTicks).toBeGreaterThan(0);
    clock.advance(20_000);
    const seqs = released.map((r) => r.frame.ticks.at(-1)!.seq);
    expect(seqs.at(-1)).toBe(200); // the newest tick always survives
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs); // in order
    const represented = released.reduce((n, r) => n + (r.frame.conflated ?? r.frame.ticks.length), 0);
    expect(represented).toBe(200);
    // Never early: every release happens at least delayMs after its newest tick arrived.
    for (const r of released) expect(r.at - r.frame.ticks.at(-1)!.gts).toBeGreaterThanOrEqual(10_000);
    expect(released[0]!.at).toBeGreaterThanOrEqual(t0 + 10_000);
    expect(d.heldBytes).toBe(0);
  });

  it('conflates a book line to the net of its updates (every changed level, newest size), not to its newest diff', () => {
    const BOOK = 'equity.AAPL.book';
    const maxBytes = 4 * (HELD_FRAME_BYTES + HELD_TICK_BYTES);
    const { clock, d, released } = tiers(maxBytes);
    d.changed(BOOK, 10_000, 1);
    // Each update changes one different bid level; a line that kept only the newest diff would lose the others.
    for (let seq = 1; seq <= 20; seq++) {
      const update: WireBook = {
        seq,
        ts: clock.now(),
        gts: clock.now(),
        bids: [[100 - seq, seq]],
        asks: seq === 1 ? [[101, 5]] : [],
        checksum: seq,
      };
      d.hold(BOOK, 1, [update]);
      expect(d.heldBytes).toBeLessThanOrEqual(maxBytes);
      clock.advance(10);
    }
    expect(d.conflatedTicks).toBeGreaterThan(0);
    clock.advance(20_000);
    const entries = released.flatMap((r) => r.frame.ticks as unknown as WireBook[]);
    expect(entries.length).toBeLessThan(20);
    // Together the released entries still carry every level change, and the newest checksum last.
    const levels = new Map<number, number>();
    for (const e of entries) for (const [price, size] of e.bids) levels.set(price, size);
    expect(levels.size).toBe(20);
    for (let seq = 1; seq <= 20; seq++) expect(levels.get(100 - seq)).toBe(seq);
    expect(entries.some((e) => e.asks.some(([p]) => p === 101))).toBe(true);
    expect(entries.at(-1)!.checksum).toBe(20);
    const represented = released.reduce((n, r) => n + (r.frame.conflated ?? r.frame.ticks.length), 0);
    expect(represented).toBe(20);
  });
});
