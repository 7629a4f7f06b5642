import net from 'node:net';
import type { TopicBus } from './bus/bus.ts';
import { createBus, type BusWiring } from './bus/factory.ts';
import { Authenticator } from './auth/authenticator.ts';
import { systemClock, type Clock } from './core/clock.ts';
import type { FeedDefinition } from './feed/adapter.ts';
import { FeedFleet } from './feed/fleet.ts';
import { ConfigError, validateConfig } from './config/load.ts';
import type { Config, ConfigInput } from './config/schema.ts';
import { createLogger, type Logger } from './logger.ts';
import { MarketData } from './market/market-data.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { transportOptions } from './transport/options.ts';
import type { NatsState } from './transport/health.ts';
import { Transport } from './transport/server.ts';
import { VERSION } from './version.ts';
import { WorkerPool } from './workers/pool.ts';

/** How long start() waits for a NATS bus to learn the upstream epoch before listening anyway. */
const EPOCH_WAIT_MS = 3_000;
export interface GatewayDeps {
  logger?: Logger;
  clock?: Clock;
  /**
   * Adapters selectable by name in `config.feeds`. None by default: src/ never imports feeds/, so
   * the caller hands the built-in list in (the CLI commands and the package entry src/index.ts
   * pass feeds/index.ts).
   */
  feedDefinitions?: readonly FeedDefinition<never>[];
  /** Where relative `module` paths of feed entries start: the config file's directory; default the current directory. */
  moduleBaseDir?: string;
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
  /** The feed adapters this process runs (none when served from NATS). */
  private readonly fleet: FeedFleet;
  readonly authenticator: Authenticator;
  /** Books, bars and day statistics (src/market), between the bus and the transport. */
  readonly market: MarketData;
  /** For /healthz: null on the in-process bus. */
  private natsState: NatsState = null;
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
    this.natsState = config.bus.kind === 'nats' ? 'reconnecting' : null;
    // bus.kind "nats": served from NATS (ticks enter at `tickgate ingest`), so no local feeds run.
    this.busWiring = createBus(config, {
      clock,
      logger: this.logger,
      metrics: this.metrics,
      observer: {
        accepted: (feedId) => {
          hot.feedCounter(feedId).count++;
        },
        rejected: (feedId, reason) => this.fleet.rejected(feedId, reason),
        published: (seconds) => this.metrics.publishLatency.observe(seconds),
      },
      onConnection: (up, feeds) => {
        this.natsState = up ? 'connected' : 'reconnecting';
        this.pool?.natsChanged(this.natsState);
        for (const feed of feeds) this.transport.liveness.feedUp(feed, up);
      },
    });
    this.bus = this.busWiring.bus;
    // Bars are built where ticks enter the bus; a gateway served from NATS only relays (and keeps) what arrives.
    const barIntervals = this.busWiring.runsFeeds ? config.market.barIntervals : [];
    this.market = new MarketData(this.bus, clock, { ...config.market, barIntervals, barCheckIntervalMs: 50 });
    this.fleet = new FeedFleet(this.busWiring.runsFeeds ? config.feeds : [], {
      definitions: deps.feedDefinitions ?? [],
      moduleBaseDir: deps.moduleBaseDir ?? process.cwd(),
      metrics: this.metrics,
      logger: this.logger,
      clock,
      publish: (tick, id) => this.bus.publish(tick, id).ok,
      currentInterest: () => this.pool?.entries() ?? this.transport.interestedEntries(),
      feedUp: (id, isUp) => {
        this.transport.liveness.feedUp(id, isUp);
        this.pool?.feedChanged(id, isUp, this.fleet.states());
      },
    });
    this.transport = new Transport(
      { ...transportOptions(config), ...(config.workers > 1 ? { workerId: 0 } : {}) },
      {
        bus: this.bus,
        metrics: this.metrics,
        logger: this.logger,
        version: VERSION,
        feedStates: () => this.fleet.states(),
        natsState: () => this.natsState,
        authenticator: this.authenticator,
        market: this.market,
        clock,
        interest: (entry, interested) => {
          if (this.pool) this.pool.mainInterestChanged(entry, interested);
          else this.feedInterest(entry, interested);
        },
        ...(config.workers > 1 ? { renderMetrics: () => this.pool!.renderMetrics() } : {}),
      },
    );
    if (config.workers > 1) {
      this.pool = new WorkerPool(config, this.transport, this.metrics, this.logger, (entry, interested) =>
        this.feedInterest(entry, interested),
      );
      this.bus.setSink(this.market.wrap(this.pool));
      this.pool.warmFrom = this.bus;
    } else {
      this.bus.setSink(this.market.wrap(this.transport));
    }
  }

  /** `--workers N`: the other N-1 threads, fed by this thread's bus; null with one thread. */
  private pool: WorkerPool | null = null;

  private readonly busWiring: BusWiring;

  private feedInterest(entry: string, interested: boolean): void {
    this.busWiring.interest(entry, interested);
    this.fleet.interestChanged(entry, interested);
  }

  /** Listens, then starts the feeds. Resolves with the bound port and the URLs served. */
  async start(): Promise<{ port: number; urls: GatewayUrls }> {
    await this.authenticator.ready().catch((err: unknown) => {
      throw new ConfigError(`invalid config: auth.jwt: ${(err as Error).message}`);
    });
    await this.fleet.load();
    this.busWiring.start();
    this.market.start();
    // NATS: welcome and /healthz carry the real epoch from the first connection on (bounded wait;
    // with NATS unreachable the gateway serves anyway and learns the epoch when it connects).
    await this.busWiring.epochKnown(EPOCH_WAIT_MS);
    // uWS shares a port between threads only when it is bound by number, not as port 0.
    if (this.pool && this.config.port === 0) this.transport.setPort(await freePort(this.config.host));
    this.port = await this.transport.listen();
    await this.pool?.start(this.port, this.bus.epoch, VERSION);
    this.pool?.natsChanged(this.natsState);
    this.metricsPort = await this.transport.listenMetrics();
    this.fleet.start();
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
    this.pool?.apiKeys(keys);
    this.logger.info({ apiKeys: keys.length }, 'API keys reloaded');
  }

  /** Closes every client connection with `code` while the gateway keeps running (operations, tests). */
  disconnectClients(code = 1012, reason = 'service restart'): void {
    this.transport.disconnectAll(code, reason);
    this.pool?.disconnectAll(code, reason);
  }

  /** Stops feeds, flushes the bus, closes clients with 1001, closes the listener. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.transport.liveness.stop(); // feeds stopping for shutdown are not news for clients
      this.market.stop();
      await this.fleet.stop();
      await this.bus.close();
      await Promise.resolve(); // the pool posts the last flush to the workers in a microtask
      await Promise.all([this.pool?.stop(), this.transport.close()]);
    })();
    return this.stopped;
  }
}

/** A port that is free right now (bound and released at once by Node). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Builds a gateway from a (partial) config object, validated like every other config source. */
export function createGateway(input: ConfigInput | Config = {}, deps: GatewayDeps = {}): Gateway {
  return new Gateway(validateConfig(input), deps);
}
