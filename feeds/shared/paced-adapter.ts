import type { BookTick, FeedTick } from '../../src/core/tick.ts';
import type { FeedAdapter, FeedContext } from '../../src/feed/adapter.ts';

/**
 * A pure tick generator: no timers, no I/O, no wall clock. `next(ts)` advances the model by one
 * event and returns that event's tick stamped with `ts`; the sequence depends only on the model's
 * construction options (seed included), never on `ts` or on when `next` is called.
 */
export interface TickModel {
  /** Every topic the model can emit, in a stable order. */
  readonly topics: readonly string[];
  next(ts: number): FeedTick;
  /**
   * Optional: a book update the last `next` caused (a quote moved the book), emitted right after
   * it; null when there is none. Book updates do not count towards the paced rate.
   */
  followUp?(): BookTick | null;
}

export interface PacingOptions {
  /** Target total rate. */
  readonly ticksPerSecond: number;
  /** Timer period; default 10 ms. */
  readonly intervalMs?: number;
  /**
   * Most time one timer callback catches up on; default 100 ms. After a longer stall (GC, a
   * blocked loop, a suspended laptop) the excess is skipped rather than emitted as one burst.
   */
  readonly maxCatchUpMs?: number;
}

const STALL_WARN_EVERY_MS = 10_000;

/**
 * Drives a TickModel from a ref'd interval timer (it keeps the process alive while serving) at
 * `ticksPerSecond`, measured on `ctx.clock`. Each callback emits the ticks that became due since
 * the previous one (fractions carry over, so the long-run rate is exact); all ticks of one
 * callback carry the same `ts = ctx.clock.now()`.
 *
 * The model lives on the adapter instance, so a restart after a failure continues the same
 * price path. Emits stop on `stop()` and on `ctx.signal` abort; a throw from the model stops the
 * timer and is reported through `ctx.fail`.
 */
export class PacedAdapter implements FeedAdapter {
  private readonly ticksPerMs: number;
  private readonly intervalMs: number;
  private readonly maxCatchUpMs: number;
  private timer: NodeJS.Timeout | null = null;
  private skippedTicks = 0;
  private lastStallWarnAt = Number.NEGATIVE_INFINITY;

  constructor(
    readonly model: TickModel,
    options: PacingOptions,
  ) {
    if (!(options.ticksPerSecond > 0)) throw new RangeError(`ticksPerSecond must be positive, got ${options.ticksPerSecond}`);
    this.ticksPerMs = options.ticksPerSecond / 1000;
    this.intervalMs = options.intervalMs ?? 10;
    this.maxCatchUpMs = options.maxCatchUpMs ?? 100;
  }

  start(ctx: FeedContext): void {
    if (this.timer !== null) throw new Error('adapter is already running');
    if (ctx.signal.aborted) return;
    const { clock } = ctx;
    const { model, ticksPerMs, maxCatchUpMs } = this;
    let last = clock.now();
    let owed = 0;
    const timer: NodeJS.Timeout = setInterval(() => {
      try {
        const now = clock.now();
        let elapsed = now - last;
        last = now;
        if (elapsed > maxCatchUpMs) {
          this.noteStall(ctx, (elapsed - maxCatchUpMs) * ticksPerMs, now);
          elapsed = maxCatchUpMs;
        }
        if (elapsed > 0) owed += elapsed * ticksPerMs;
        let due = Math.floor(owed);
        owed -= due;
        // Re-checked per tick: an emit may synchronously lead to stop() or an abort.
        while (due-- > 0 && this.timer === timer) {
          ctx.emit(model.next(now));
          const extra = model.followUp?.() ?? null;
          if (extra !== null && this.timer === timer) ctx.emit(extra);
        }
      } catch (err) {
        this.clear(timer);
        ctx.fail(err);
      }
    }, this.intervalMs);
    this.timer = timer;
    ctx.signal.addEventListener('abort', () => this.clear(timer), { once: true });
  }

  stop(): void {
    if (this.timer !== null) this.clear(this.timer);
  }

  /** Clears `timer` if it is still the current run's timer (an old run's abort must not stop a new run). */
  private clear(timer: NodeJS.Timeout): void {
    if (this.timer !== timer) return;
    clearInterval(timer);
    this.timer = null;
  }

  private noteStall(ctx: FeedContext, skipped: number, now: number): void {
    this.skippedTicks += skipped;
    if (now - this.lastStallWarnAt < STALL_WARN_EVERY_MS) return;
    ctx.logger.warn(
      { skippedTicks: Math.round(this.skippedTicks), maxCatchUpMs: this.maxCatchUpMs },
      'feed timer stalled; ticks beyond the catch-up window were skipped',
    );
    this.skippedTicks = 0;
    this.lastStallWarnAt = now;
  }
}
