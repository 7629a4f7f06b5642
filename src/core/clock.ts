/** Wall-clock time source, injectable so adapters and tests can run on simulated time. */
export interface Clock {
  /** Unix epoch milliseconds, float64 with sub-millisecond precision. */
  now(): number;
}

/** An opaque handle from Timers.setTimeout. */
export type TimerHandle = object;

/**
 * One-shot timers, injectable beside the Clock: logic that both reads the time and waits for a
 * moment (token expiry) can then run on a ManualClock in tests, with no real waiting.
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

const origin = performance.timeOrigin;

/** performance.now() based: monotonic within the process, microsecond resolution. */
export const systemClock: Clock = {
  now: () => origin + performance.now(),
};

/** Node's timers. */
export const systemTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

interface ManualTimer {
  at: number;
  /** Creation order: timers due at the same moment fire in the order they were set. */
  order: number;
  fn: () => void;
}

/**
 * A clock that only moves when told to; for deterministic tests and replays. Also a Timers:
 * advance() fires the timers that fall due, in time order, each seeing now() at its due time.
 */
export class ManualClock implements Clock, Timers {
  private current: number;
  private readonly pending = new Set<ManualTimer>();
  private created = 0;

  constructor(startMs = Date.UTC(2026, 0, 2, 14, 30)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  advance(ms: number): void {
    const until = this.current + ms;
    for (;;) {
      let next: ManualTimer | null = null;
      for (const t of this.pending)
        if (t.at <= until && (next === null || t.at < next.at || (t.at === next.at && t.order < next.order))) next = t;
      if (next === null) break;
      this.pending.delete(next);
      this.current = Math.max(this.current, next.at);
      next.fn();
    }
    this.current = until;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: ManualTimer = { at: this.current + Math.max(0, ms), order: this.created++, fn };
    this.pending.add(timer);
    return timer;
  }

  clearTimeout(handle: TimerHandle): void {
    this.pending.delete(handle as ManualTimer);
  }

  /** Timers set and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.pending.size;
  }
}
