import { builtinFeeds } from '../feeds/index.ts';
import type { TopicBus } from './bus/bus.ts';
import { MemoryBus } from './bus/memory-bus.ts';
import { Authenticator } from './auth/authenticator.ts';
import { systemClock, type Clock } from './core/clock.ts';
import type { TickRejectReason } from './core/tick.ts';
import type { FeedDefinition } from './feed/adapter.ts';
import { FeedSupervisor } from './feed/supervisor.ts';
import { ConfigError, validateConfig } from './config/load.ts';
import type { Config, ConfigInput } from './config/schema.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { Transport } from './transport/server.ts';
import { VERSION } from './version.ts';

export interface GatewayDeps {
  logger?: Logger;
  clock?: Clock;
  /** Adapters selectable by name; defaults to the built-in list in feeds/index.ts. */
  feedDefinitions?: readonly FeedDefinition<never>[];
}

export interface GatewayUrls {
  stream: string;
  metrics: string;
  health: string;
  topics: string;
  /** The trading dashboard (dashboards/trading). */
  dashboard: string;
}

/**
 * The composition root: builds the bus, metrics, feed supervisors and transport from a config
 * and wires them together explicitly. Nothing here is on the tick path.
 */
export class Gateway {
  readonly config: Config;
  readonly bus: TopicBus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  private readonly transport: Transport;
  private readonly supervisors: FeedSupervisor[] = [];
  readonly authenticator: Authenticator;
  private port = 0;
  private metricsPort: number | null = null;
  private stopped: Promise<void> | null = null;

  constructor(config: Config, deps: GatewayDeps = {}) {
    this.config = config;
    this.logger = deps.logger ?? createLogger(config.logLevel);
    const clock = deps.clock ?? systemClock;
    this.authenticator = new Authenticator(config.auth);
    this.metrics = createMetrics();
    const hot = this.metrics.hot;
    this.bus = new MemoryBus({
      clock,
      maxTicksPerFrame: config.bus.maxTicksPerFrame,
      historyMaxTicks: config.bus.historyMaxTicks,
      historyMaxAgeMs: config.bus.historyMaxAgeMs,
      observer: {
        accepted: (feedId) => {
          hot.feedCounter(feedId).count++;
        },
        rejected: (feedId, reason) => this.onRejected(feedId, reason),
        published: (seconds) => this.metrics.publishLatency.observe(seconds),
      },
    });
    this.supervisors = this.buildFeeds(deps.feedDefinitions ?? (builtinFeeds as readonly FeedDefinition<never>[]), clock);
    this.transport = new Transport(
      {
        host: config.host,
        port: config.port,
        ...config.transport,
        maxTicksPerFrame: config.bus.maxTicksPerFrame,
        rateTiers: config.conflation.tiers,
        slowConsumer: config.slowConsumer,
        staleAfterMs: config.liveness.staleAfterMs,
        livenessCheckIntervalMs: config.liveness.checkIntervalMs,
        limits: config.limits,
        allowedOrigins: config.security.allowedOrigins,
        expiryWarningSeconds: config.auth.expiryWarningSeconds,
        tls: config.tls,
        metricsEndpoint: config.metrics,
      },
      {
        bus: this.bus,
        metrics: this.metrics,
        logger: this.logger,
        version: VERSION,
        feedStates: () => Object.fromEntries(this.supervisors.map((s) => [s.feedId, s.state])),
        authenticator: this.authenticator,
        interest: (entry, interested) => {
          for (const s of this.supervisors) s.interestChanged(entry, interested);
        },
      },
    );
    this.bus.setSink(this.transport);
  }

  private buildFeeds(definitions: readonly FeedDefinition<never>[], clock: Clock): FeedSupervisor[] {
    const byName = new Map(definitions.map((d) => [d.name, d]));
    return this.config.feeds.map((entry, i) => {
      const definition = byName.get(entry.adapter);
      if (!definition) {
        throw new ConfigError(
          `invalid config: feeds.${i}.adapter: unknown adapter "${entry.adapter}"; available: ${[...byName.keys()].join(', ')}`,
        );
      }
      const parsed = definition.optionsSchema.safeParse(entry.options);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const key = ['feeds', i, 'options', ...issue.path].join('.');
        throw new ConfigError(`invalid config: ${key}: ${issue.message} (adapter ${entry.adapter})`);
      }
      const feedId = entry.id ?? entry.adapter;
      const adapter = definition.create(parsed.data);
      const { metrics } = this;
      metrics.feedUp.labels(feedId).set(0);
      metrics.feedRestarts.labels(feedId).inc(0);
      metrics.feedFailures.labels(feedId).inc(0);
      this.metrics.hot.feedCounter(feedId);
      return new FeedSupervisor(
        feedId,
        adapter,
        {
          publish: (tick, id) => this.bus.publish(tick, id).ok,
          up: (id, isUp) => {
            metrics.feedUp.labels(id).set(isUp ? 1 : 0);
            this.transport.liveness.feedUp(id, isUp);
          },
          failed: (id) => metrics.feedFailures.labels(id).inc(),
          restarted: (id) => metrics.feedRestarts.labels(id).inc(),
          currentInterest: () => this.transport.interestedEntries(),
        },
        this.logger.child({ feed: feedId }),
        clock,
      );
    });
  }

  private readonly rejectLoggedAt = new Map<string, number>();

  /** Counted always; logged at most once per feed and reason every 10 s. */
  private onRejected(feedId: string, reason: TickRejectReason): void {
    this.metrics.ticksRejected.labels(feedId, reason).inc();
    const key = `${feedId}/${reason}`;
    const now = Date.now();
    if (now - (this.rejectLoggedAt.get(key) ?? 0) >= 10_000) {
      this.rejectLoggedAt.set(key, now);
      this.logger.warn({ feed: feedId, reason }, 'tick rejected (further rejections for 10 s are only counted)');
    }
  }

  /** Listens, then starts the feeds. Resolves with the bound port and the URLs served. */
  async start(): Promise<{ port: number; urls: GatewayUrls }> {
    await this.authenticator.ready().catch((err: unknown) => {
      throw new ConfigError(`invalid config: auth.jwt: ${(err as Error).message}`);
    });
    this.port = await this.transport.listen();
    this.metricsPort = await this.transport.listenMetrics();
    for (const s of this.supervisors) s.start();
    return { port: this.port, urls: this.urls() };
  }

  urls(): GatewayUrls {
    const hostOf = (h: string) => (h.includes(':') ? `[${h}]` : h);
    const base = `${hostOf(this.config.host)}:${this.port}`;
    const [ws, http] = this.config.tls ? ['wss', 'https'] : ['ws', 'http'];
    const metricsBase = this.metricsPort === null ? base : `${hostOf(this.config.metrics.host ?? this.config.host)}:${this.metricsPort}`;
    return {
      stream: `${ws}://${base}/v1/stream`,
      metrics: `${http}://${metricsBase}/metrics`,
      health: `${http}://${base}/healthz`,
      topics: `${http}://${base}/v1/topics`,
      dashboard: `${http}://${base}/`,
    };
  }

  /**
   * Applies API keys from a reloaded config (SIGHUP) to new and live connections: removed keys
   * are disconnected, changed entitlements take effect at once.
   */
  reloadApiKeys(keys: Config['auth']['apiKeys']): void {
    this.authenticator.reloadApiKeys(keys);
    this.transport.applyApiKeys();
    this.logger.info({ apiKeys: keys.length }, 'API keys reloaded');
  }

  /** Closes every client connection with `code` while the gateway keeps running (operations, tests). */
  disconnectClients(code = 1012, reason = 'service restart'): void {
    this.transport.disconnectAll(code, reason);
  }

  /** Stops feeds, flushes the bus, closes clients with 1001, closes the listener. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.transport.liveness.stop(); // feeds stopping for shutdown are not news for clients
      await Promise.all(this.supervisors.map((s) => s.stop()));
      await this.bus.close();
      await this.transport.close();
    })();
    return this.stopped;
  }
}

/** Builds a gateway from a (partial) config object, validated like every other config source. */
export function createGateway(input: ConfigInput | Config = {}, deps: GatewayDeps = {}): Gateway {
  return new Gateway(validateConfig(input), deps);
}
