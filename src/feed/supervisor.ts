import { backoffDelay } from '@tickgate/client/backoff';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { BusTick } from '../core/tick.ts';
import { isInterestAware, type FeedAdapter, type FeedContext } from './adapter.ts';

export type FeedState = 'starting' | 'running' | 'backoff' | 'stopped';

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run that lasted this long resets the backoff to initialMs. */
  resetAfterMs: number;
  /** A start() that has not settled by then counts as a failure. */
  startTimeoutMs: number;
  /**
   * How long a stop() may take before the supervisor stops waiting (logs it and goes on: restart
   * after a failure, or shutdown). Default 5000. Without the bound, one adapter whose stop()
   * never settles would never be restarted and would hold up the gateway's shutdown.
   */
  stopTimeoutMs?: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 250,
  maxMs: 30_000,
  resetAfterMs: 30_000,
  startTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
};

export interface SupervisorHooks {
  publish(tick: BusTick, feedId: string): boolean;
  up(feedId: string, isUp: boolean): void;
  failed(feedId: string): void;
  restarted(feedId: string): void;
  /** Topics and patterns clients currently hold, replayed to an interest-aware adapter on each start. */
  currentInterest(): Iterable<string>;
}

/** One run of an adapter: its abort signal and whether its emits still count. */
interface Run {
  readonly controller: AbortController;
  active: boolean;
  startedAt: number;
}

/**
 * Keeps one adapter instance running: starts it, and on a throw, rejection, start timeout or
 * ctx.fail() stops it and starts it again after an exponential backoff with full jitter.
 * A failing adapter never takes the gateway down and never blocks other feeds.
 */
export class FeedSupervisor {
  state: FeedState = 'stopped';
  private run: Run | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private attempt = 0;
  private stopping = false;
  lastError: string | null = null;

  constructor(
    readonly feedId: string,
    private readonly adapter: FeedAdapter,
    private readonly hooks: SupervisorHooks,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly backoff: BackoffOptions = DEFAULT_BACKOFF,
  ) {}

  start(): void {
    this.stopping = false;
    this.launch();
  }

  private launch(): void {
    this.restartTimer = null;
    const run: Run = { controller: new AbortController(), active: true, startedAt: this.clock.now() };
    this.run = run;
    this.state = 'starting';
    const { feedId, hooks } = this;
    const ctx: FeedContext = {
      feedId,
      signal: run.controller.signal,
      logger: this.logger,
      clock: this.clock,
      emit: (tick) => {
        if (!run.active) return false;
        try {
          return hooks.publish(tick, feedId);
        } catch (err) {
          this.logger.error({ err }, 'publishing a tick failed');
          return false;
        }
      },
      fail: (error) => this.onFailure(run, error),
    };
    let startTimer: NodeJS.Timeout | null = null;
    const started = new Promise<void>((resolve, reject) => {
      startTimer = setTimeout(
        () => reject(new Error(`start() did not settle within ${this.backoff.startTimeoutMs} ms`)),
        this.backoff.startTimeoutMs,
      );
      try {
        Promise.resolve(this.adapter.start(ctx)).then(resolve, reject);
      } catch (err) {
        reject(err);
      }
    });
    started.then(
      () => {
        if (startTimer) clearTimeout(startTimer);
        if (!run.active) return;
        this.state = 'running';
        this.lastError = null;
        hooks.up(feedId, true);
        this.logger.info({}, 'feed running');
        for (const entry of hooks.currentInterest()) this.interestChanged(entry, true);
      },
      (err: unknown) => {
        if (startTimer) clearTimeout(startTimer);
        this.onFailure(run, err);
      },
    );
  }

  /** Forwards client interest to an interest-aware adapter while it runs (it gets the full set on start). */
  interestChanged(entry: string, interested: boolean): void {
    if (this.state !== 'running' || !isInterestAware(this.adapter)) return;
    try {
      this.adapter.interestChanged(entry, interested);
    } catch (err) {
      this.logger.error({ err, entry }, 'interestChanged() threw');
    }
  }

  private onFailure(run: Run, error: unknown): void {
    if (!run.active || this.stopping) return;
    run.active = false;
    run.controller.abort();
    this.lastError = error instanceof Error ? error.message : String(error);
    this.hooks.failed(this.feedId);
    this.hooks.up(this.feedId, false);
    if (this.clock.now() - run.startedAt >= this.backoff.resetAfterMs) this.attempt = 0;
    const delay = backoffDelay(this.attempt, { initialDelayMs: this.backoff.initialMs, maxDelayMs: this.backoff.maxMs, jitter: 'equal' });
    this.attempt++;
    this.state = 'backoff';
    this.logger.error({ err: error, attempt: this.attempt, restartInMs: delay }, 'feed failed; restarting after backoff');
    void this.stopAdapter().then(() => {
      if (this.stopping) return;
      this.restartTimer = setTimeout(() => {
        this.hooks.restarted(this.feedId);
        this.launch();
      }, delay);
    });
  }

  /** Calls stop() and waits for it at most stopTimeoutMs; never throws. */
  private async stopAdapter(): Promise<void> {
    const ms = this.backoff.stopTimeoutMs ?? 5_000;
    let timer: NodeJS.Timeout | null = null;
    try {
      await Promise.race([
        Promise.resolve().then(() => this.adapter.stop()),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`stop() did not settle within ${ms} ms; going on without it`)), ms);
        }),
      ]);
    } catch (err) {
      this.logger.warn({ err }, 'feed stop() failed');
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Stops the adapter for good (shutdown). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const run = this.run;
    this.state = 'stopped';
    this.hooks.up(this.feedId, false);
    if (run?.active) {
      run.active = false;
      run.controller.abort();
      await this.stopAdapter();
    }
  }
}
