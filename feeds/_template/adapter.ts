import type { FeedAdapter, FeedContext } from '../../src/feed/adapter.ts';
import { nextQuote, type WalkState } from './model.ts';

export interface TemplateAdapterOptions {
  readonly topic: string;
  readonly intervalMs: number;
  readonly startPrice: number;
}

/**
 * An example adapter: one quote on `topic` every `intervalMs`, its mid a small random walk.
 *
 * What every adapter must do, and how this one does it:
 * - `start(ctx)` begins emitting through `ctx.emit` and returns (or resolves) once running. It
 *   must not emit after `stop()` or after `ctx.signal` aborts; it keeps its state (`walk`) on
 *   the instance, so a restart after a failure continues where it was.
 * - A failure after start goes to `ctx.fail(err)`: the supervisor stops this run and starts a
 *   new one after a backoff. Throwing from a timer callback instead would crash the process.
 * - Timestamps are `ctx.clock.now()` (or the source's event time), epoch ms.
 */
export class TemplateAdapter implements FeedAdapter {
  private timer: NodeJS.Timeout | null = null;
  private readonly walk: WalkState;

  constructor(readonly options: TemplateAdapterOptions) {
    this.walk = { mid: options.startPrice, step: 0 };
  }

  start(ctx: FeedContext): void {
    if (this.timer !== null) throw new Error('adapter is already running');
    if (ctx.signal.aborted) return;
    const { topic, intervalMs } = this.options;
    const timer = setInterval(() => {
      try {
        ctx.emit({ topic, kind: 'quote', ts: ctx.clock.now(), ...nextQuote(this.walk) });
      } catch (err) {
        this.clear(timer);
        ctx.fail(err);
      }
    }, intervalMs);
    this.timer = timer;
    ctx.signal.addEventListener('abort', () => this.clear(timer), { once: true });
  }

  stop(): void {
    if (this.timer !== null) this.clear(this.timer);
  }

  /** Clears `timer` only if it is still the current run's (an old run's abort must not stop a new one). */
  private clear(timer: NodeJS.Timeout): void {
    if (this.timer !== timer) return;
    clearInterval(timer);
    this.timer = null;
  }
}
