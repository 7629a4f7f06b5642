import { describe, expect, it } from 'vitest';
import { BarBuilder } from './bars.ts';

const T0 = Date.UTC(2026, 0, 2, 14, 30);

describe('BarBuilder', () => {
  it('OHLCV, count and VWAP of a known trade sequence; closes on the first trade past the boundary', () => {
    const b = new BarBuilder(1000, false);
    b.add(10, 100, T0 + 100);
    b.add(12, 200, T0 + 200);
    b.add(9, 100, T0 + 300);
    const { closed, current } = b.add(11, 100, T0 + 999);
    expect(closed).toBeNull();
    // vwap = (10·100 + 12·200 + 9·100 + 11·100) / 500 = 5400 / 500 = 10.8
    expect(current).toEqual({
      start: T0,
      end: T0 + 1000,
      open: 10,
      high: 12,
      low: 9,
      close: 11,
      volume: 500,
      count: 4,
      vwap: 10.8,
      final: false,
    });
    const next = b.add(13, 50, T0 + 1000);
    expect(next.closed).toEqual({ ...current, final: true });
    expect(next.current).toMatchObject({ start: T0 + 1000, open: 13, high: 13, low: 13, close: 13, volume: 50, count: 1, vwap: 13 });
  });

  it('closes by the clock, skips empty intervals; mid bars have no volume and average the mids', () => {
    const b = new BarBuilder(60_000, true);
    b.add(1.1, 0, T0 + 5_000);
    b.add(1.3, 0, T0 + 6_000);
    expect(b.closeIfDue(T0 + 59_999)).toBeNull();
    const closed = b.closeIfDue(T0 + 60_000);
    expect(closed).toMatchObject({ open: 1.1, close: 1.3, volume: 0, count: 2, final: true });
    expect(closed!.vwap).toBeCloseTo(1.2, 12);
    expect(b.isOpen).toBe(false);
    expect(b.add(1.2, 0, T0 + 185_000).current.start).toBe(T0 + 180_000);
  });
});
