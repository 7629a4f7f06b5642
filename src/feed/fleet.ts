import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { BusTick, TickRejectReason } from '../core/tick.ts';
import { ConfigError } from '../config/load.ts';
import type { FeedEntry } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { FeedDefinition } from './adapter.ts';
import { loadFeedModule } from './loader.ts';
import { FeedSupervisor, type FeedState } from './supervisor.ts';

/** What a fleet needs from the composition root that owns it (the gateway or the ingest). */
export interface FleetDeps {
  /** Adapters selectable by name: the command that starts the process hands in feeds/index.ts. */
  definitions: readonly FeedDefinition<never>[];
  /** Where relative `module` paths start (the config file's directory). */
  moduleBaseDir: string;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Into the bus; false when the bus refused the tick. */
  publish(tick: BusTick, feedId: string): boolean;
  /** Topics and patterns clients hold now (replayed to an interest-aware adapter on each start). */
  currentInterest(): Iterable<string>;
  /** Besides the tickgate_feed_up gauge: the gateway marks the feed's topics stale, tells its worker threads. */
  feedUp?(feedId: string, isUp: boolean): void;
}

/** A feed id given by a module's own name (no `id` in the config) must still be a valid one. */
const FEED_ID = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/** How often a rejected tick is logged per feed and reason (every one is counted). */
export const REJECT_LOG_INTERVAL_MS = 10_000;

/**
 * The feeds one process runs, the same for the gateway and the ingest: the adapters named in
 * `config.feeds` looked up and their options validated (built-ins in the constructor, so a config
 * naming an unknown adapter fails at once; `module` entries in load(), which must import), feed
 * ids checked, one FeedSupervisor each, their metrics zero-initialised (so dashboards and alerts
 * see every feed from the first scrape), rejected ticks counted and logged at a bounded rate.
 *
 * Every configuration error is a ConfigError whose message starts with the config key.
 */
export class FeedFleet {
  private readonly supervisors: FeedSupervisor[] = [];
  private readonly configIndex = new Map<FeedSupervisor, number>();
  private readonly modules: { i: number; entry: FeedEntry }[] = [];
  private readonly rejectLoggedAt = new Map<string, number>();

  constructor(
    entries: readonly FeedEntry[],
    private readonly deps: FleetDeps,
  ) {
    const byName = new Map(deps.definitions.map((d) => [d.name, d]));
    entries.forEach((entry, i) => {
      if (entry.module !== undefined) {
        this.modules.push({ i, entry });
        return;
      }
      const definition = byName.get(entry.adapter);
      if (!definition) {
        const available = byName.size > 0 ? [...byName.keys()].join(', ') : 'none (no feed definitions were handed to this process)';
        throw new ConfigError(`invalid config: feeds.${i}.adapter: unknown adapter "${entry.adapter}"; available: ${available}`);
      }
      this.supervise(i, entry, definition, entry.id ?? entry.adapter, `adapter ${entry.adapter}`);
    });
  }

  /** Imports the `module` feeds (once), checks their ids, and inserts them in config order. */
  async load(): Promise<void> {
    const modules = this.modules.splice(0);
    if (modules.length === 0) return;
    const ids = new Set(this.supervisors.map((s) => s.feedId));
    for (const { i, entry } of modules) {
      let definition: FeedDefinition<never>;
      try {
        definition = await loadFeedModule(entry.module!, this.deps.moduleBaseDir);
      } catch (err) {
        throw new ConfigError(`invalid config: feeds.${i}.module: ${(err as Error).message}`);
      }
      const feedId = entry.id ?? definition.name;
      if (entry.id === undefined && !FEED_ID.test(feedId)) {
        throw new ConfigError(
          `invalid config: feeds.${i}.id: required: module "${entry.module}" names its feed "${feedId}", which is not a feed id (lowercase letters, digits, "_" or "-", at most 32 chars)`,
        );
      }
      if (ids.has(feedId))
        throw new ConfigError(`invalid config: feeds.${i}.id: duplicate feed id "${feedId}"; give each instance its own id`);
      ids.add(feedId);
      this.supervise(i, entry, definition, feedId, `module ${entry.module}`);
    }
    this.supervisors.sort((a, b) => this.configIndex.get(a)! - this.configIndex.get(b)!);
  }

  private supervise(i: number, entry: FeedEntry, definition: FeedDefinition<never>, feedId: string, origin: string): void {
    const parsed = definition.optionsSchema.safeParse(entry.options);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`invalid config: ${['feeds', i, 'options', ...issue.path].join('.')}: ${issue.message} (${origin})`);
    }
    const adapter = definition.create(parsed.data);
    if (typeof adapter?.start !== 'function' || typeof adapter.stop !== 'function') {
      throw new ConfigError(`invalid config: feeds.${i}: ${origin}: create() must return an adapter with start(ctx) and stop()`);
    }
    const { metrics, logger, clock } = this.deps;
    metrics.feedUp.labels(feedId).set(0);
    metrics.feedRestarts.labels(feedId).inc(0);
    metrics.feedFailures.labels(feedId).inc(0);
    metrics.hot.feedCounter(feedId);
    const supervisor = new FeedSupervisor(
      feedId,
      adapter,
      {
        publish: (tick, id) => this.deps.publish(tick, id),
        up: (id, isUp) => {
          metrics.feedUp.labels(id).set(isUp ? 1 : 0);
          this.deps.feedUp?.(id, isUp);
        },
        failed: (id) => metrics.feedFailures.labels(id).inc(),
        restarted: (id) => metrics.feedRestarts.labels(id).inc(),
        currentInterest: () => this.deps.currentInterest(),
      },
      logger.child({ feed: feedId }),
      clock,
    );
    this.supervisors.push(supervisor);
    this.configIndex.set(supervisor, i);
  }

  /** Feed ids in config order (module feeds appear once load() has run). */
  get ids(): string[] {
    return this.supervisors.map((s) => s.feedId);
  }

  /** Each feed's state, for /healthz. */
  states(): Record<string, FeedState> {
    return Object.fromEntries(this.supervisors.map((s) => [s.feedId, s.state]));
  }

  start(): void {
    for (const s of this.supervisors) s.start();
  }

  /** Forwards client interest to the interest-aware adapters. */
  interestChanged(entry: string, interested: boolean): void {
    for (const s of this.supervisors) s.interestChanged(entry, interested);
  }

  /** The bus refused a tick: counted always; logged at most once per feed and reason every REJECT_LOG_INTERVAL_MS. */
  rejected(feedId: string, reason: TickRejectReason): void {
    this.deps.metrics.ticksRejected.labels(feedId, reason).inc();
    const key = `${feedId}/${reason}`;
    const now = this.deps.clock.now();
    const last = this.rejectLoggedAt.get(key);
    if (last === undefined || now - last >= REJECT_LOG_INTERVAL_MS) {
      this.rejectLoggedAt.set(key, now);
      this.deps.logger.warn(
        { feed: feedId, reason },
        `tick rejected (further rejections for ${REJECT_LOG_INTERVAL_MS / 1000} s are only counted)`,
      );
    }
  }

  /** Stops every adapter (bounded by each supervisor's stop timeout). */
  async stop(): Promise<void> {
    await Promise.all(this.supervisors.map((s) => s.stop()));
  }
}
