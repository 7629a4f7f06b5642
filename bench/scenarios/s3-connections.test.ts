import { describe, expect, it } from 'vitest';
import { sweepSteps } from './s3-connections.ts';

describe('S3 sweep steps', () => {
  it('max: 2,500, 5,000, 10,000 and the most the open-file hard limit allows', () => {
    expect(sweepSteps('max', 10_000, 20_000)).toEqual([2500, 5000, 10_000, 19_500]);
    // A low hard limit caps every step, without duplicates.
    expect(sweepSteps('max', 10_000, 4096)).toEqual([2500, 3500]);
  });

  it('a list is sorted and capped; no sweep is just --conns (capped too)', () => {
    expect(sweepSteps([8000, 1000, 50_000], 10_000, 20_000)).toEqual([1000, 8000, 19_500]);
    expect(sweepSteps(null, 10_000, 20_000)).toEqual([10_000]);
    expect(sweepSteps(null, 30_000, 20_000)).toEqual([19_500]);
    expect(sweepSteps(null, 10_000, NaN)).toEqual([10_000]);
  });
});
