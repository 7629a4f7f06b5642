import type { z } from 'zod';
import type { Clock } from '../core/clock.ts';
import type { BusTick } from '../core/tick.ts';

/** The logging surface an adapter gets (a pino child logger bound to the feed's id). */
export interface FeedLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/**
 * What the supervisor hands an adapter when it starts it.
 *
 * Guarantees: `emit` is synchronous and never throws; it returns false when the tick was
 * rejected (invalid topic or payload — counted in tickgate_ticks_rejected_total) or the
 * adapter has been stopped. Ticks of one topic are delivered in emit order.
 */
export interface FeedContext {
  /** The feed instance id from config (the `feed` metric label). */
  readonly feedId: string;
  emit(tick: BusTick): boolean;
  /** Aborted when the supervisor stops this run of the adapter (shutdown or restart). */
  readonly signal: AbortSignal;
  readonly logger: FeedLogger;
  readonly clock: Clock;
  /**
   * Reports a failure after start (a lost upstream, a throwing timer callback). The supervisor
   * stops this run and starts a fresh one after a backoff. Safe to call more than once.
   */
  fail(error: unknown): void;
}

/**
 * A source of ticks.
 *
 * Required:
 * - `start(ctx)`: begin producing through `ctx.emit`. May be async; a throw or rejection counts
 *   as a failed start and is retried with backoff.
 * - `stop()`: stop producing and release resources. After it resolves, the adapter emits
 *   nothing more (the supervisor also ignores late emits). Called at most once per start.
 *
 * An adapter instance is started at most once at a time; after a failure the supervisor calls
 * `stop()` and then `start()` again on the same instance, so adapters keep model state (prices)
 * across restarts.
 */
export interface FeedAdapter {
  start(ctx: FeedContext): void | Promise<void>;
  stop(): void | Promise<void>;
}

/**
 * A named kind of adapter: how config selects it and validates its options.
 * Listed once in feeds/index.ts; the composition root looks them up by `name`.
 */
export interface FeedDefinition<Options = unknown> {
  /** Config name, e.g. `sim-equity`. */
  readonly name: string;
  readonly description: string;
  /** Validates and defaults the adapter's `options` object from config. */
  readonly optionsSchema: z.ZodType<Options>;
  create(options: Options): FeedAdapter;
}

/** Helper so definitions keep their option type while living in a heterogeneous list. */
export function defineFeed<Options>(definition: FeedDefinition<Options>): FeedDefinition<Options> {
  return definition;
}

/**
 * Optional capability: an adapter that wants to know what clients ask for, e.g. to subscribe
 * upstream on demand.
 *
 * Guarantees: `interestChanged(entry, true)` is called when the first connection asks for
 * `entry` (an exact topic such as `crypto.BTCUSD.quote`, or a pattern such as `crypto.*.quote`)
 * and `interestChanged(entry, false)` when the last one lets go of it (unsubscribe or
 * disconnect). Calls alternate per entry. On (re)start the adapter receives `true` for every
 * entry that is currently of interest, before any later change. Entries of every asset class
 * are reported: the adapter ignores what it does not serve. Must not throw; must return quickly.
 */
export interface InterestAware {
  interestChanged(entry: string, interested: boolean): void;
}

export function isInterestAware(adapter: FeedAdapter): adapter is FeedAdapter & InterestAware {
  return typeof (adapter as Partial<InterestAware>).interestChanged === 'function';
}
