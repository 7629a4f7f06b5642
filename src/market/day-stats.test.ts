import { describe, expect, it } from 'vitest';
import { DayStatsState } from './day-stats.ts';

const DAY1 = Date.UTC(2026, 0, 2, 14, 30);
const DAY2 = Date.UTC(2026, 0, 3, 0, 0);

describe('DayStatsState', () => {
  it('trades: open/high/low/volume/vwap; a day roll makes the last price prevClose; change and change %', () => {
    const s = new DayStatsState('trade');
    s.add(100, 10, DAY1);
    s.add(110, 30, DAY1 + 1);
    s.add(105, 10, DAY1 + 2);
    expect(s.view(DAY1 + 3)).toMatchObject({
      day: '2026-01-02',
      open: 100,
      high: 110,
      low: 100,
      last: 105,
      prevClose: null,
      volume: 50,
      vwap: 107,
      change: null,
    });
    expect(s.view(DAY2 - 1).day).toBe('2026-01-02');
    const rolled = s.view(DAY2);
    expect(rolled).toMatchObject({
      day: '2026-01-03',
      open: null,
      high: null,
      low: null,
      last: null,
      prevClose: 105,
      volume: 0,
      vwap: null,
      change: null,
      changePct: null,
    });
    s.add(94.5, 100, DAY2 + 10);
    const v = s.view(DAY2 + 11);
    expect(v).toMatchObject({ open: 94.5, prevClose: 105, volume: 100, vwap: 94.5 });
    expect(v.change).toBeCloseTo(-10.5, 10);
    expect(v.changePct).toBeCloseTo(-10, 10);
  });

  it('FX mids: no volume, vwap is the mean, change % is relative to the previous close', () => {
    const s = new DayStatsState('mid');
    s.add(1.08, 0, DAY1);
    s.add(1.1, 0, DAY2 + 1);
    s.add(1.12, 0, DAY2 + 2);
    const v = s.view(DAY2 + 3);
    expect(v).toMatchObject({ source: 'mid', prevClose: 1.08, open: 1.1, high: 1.12, low: 1.1, volume: 0 });
    expect(v.vwap).toBeCloseTo(1.11, 12);
    expect(v.changePct).toBeCloseTo(((1.12 - 1.08) / 1.08) * 100, 10);
  });
});
