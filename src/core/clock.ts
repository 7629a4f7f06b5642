/** Wall-clock time source, injectable so adapters and tests can run on simulated time. */
export interface Clock {
  /** Unix epoch milliseconds, float64 with sub-millisecond precision. */
  now(): number;
}

const origin = performance.timeOrigin;

/** performance.now() based: monotonic within the process, microsecond resolution. */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
};

/** A clock that only moves when told to; for deterministic tests and replays. */
export class ManualClock implements Clock {
  private current: number;
  constructor(startMs = Date.UTC(2026, 0, 2, 14, 30)) {
    this.current = startMs;
  }
  now(): number {
    return this.current;
  }
  advance(ms: number): void {
    this.current += ms;
  }
}
