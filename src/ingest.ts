import { hostname } from 'node:os';
import type { Subscription } from '@nats-io/transport-node';
import { MemoryBus } from './bus/memory-bus.ts';
import { NatsIngestPublisher } from './bus/nats/ingest-publisher.ts';
import { NatsLink } from './bus/nats/link.ts';
import { IngestLease } from './bus/nats/lease.ts';
import { ensureStream, readStreamTail } from './bus/nats/stream.ts';
import { Subjects } from './bus/nats/subjects.ts';
import { ConfigError, validateConfig } from './config/load.ts';
import type { Config, ConfigInput } from './config/schema.ts';
import { systemClock, type Clock } from './core/clock.ts';
import type { FeedDefinition } from './feed/adapter.ts';
import { FeedFleet } from './feed/fleet.ts';
import { createLogger, type Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics/metrics.ts';
import { OpsServer } from './transport/ops-server.ts';
import { VERSION } from './version.ts';

export interface IngestDeps {
  logger?: Logger;
  clock?: Clock;
  /** Adapters selectable by name; none by default (the `ingest` command hands in feeds/index.ts). */
  feedDefinitions?: readonly FeedDefinition<never>[];
  /** Where relative `module` paths of feed entries start; default the current directory. */
  moduleBaseDir?: string;
  /** Serve /healthz and /metrics on config.host:config.port (default true; tests turn it off). */
  http?: boolean;
  /** Failover mode: another ingest took the lease; this one no longer publishes. */
  onFenced?: () => void;
}

/**
 * `tickgate ingest`: the second composition root. Feed adapters → MemoryBus (validate, seq,
 * epoch, gateway time, encode once) → NatsIngestPublisher → NATS subjects `<prefix>.<topic>`.
 * No WebSocket listener; an operations listener (src/transport/ops-server.ts) answers /healthz
 * and /metrics with the gateway's routes.
 *
 * Run exactly one ingest process per subject prefix: seqs and the epoch are assigned here, and a
 * second process would publish its own, conflicting ones. In JetStream mode a restarted ingest
 * continues the stream's epoch and seqs (continueStream).
 */
export class Ingest {
  readonly config: Config;
  readonly bus: MemoryBus;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly subjects: Subjects;
  private readonly link: NatsLink;
  private readonly publisher: NatsIngestPublisher;
  private readonly fleet: FeedFleet;
  private server: OpsServer | null = null;
  private stopped: Promise<void> | null = null;
  private readonly clock: Clock;
  private lease: IngestLease | null = null;
  private epochResponder: Subscription | null = null;
  /** `active` publishes; `standby` waits for the failover lease; `fenced` lost it. */
  role: 'active' | 'standby' | 'fenced' = 'active';

  constructor(
    config: Config,
    private readonly deps: IngestDeps = {},
  ) {
    if (config.bus.kind !== 'nats')
      throw new ConfigError('invalid config: bus.kind: ingest publishes to NATS: give --bus nats://host:4222 (or bus.kind "nats")');
    this.config = config;
    this.logger = deps.logger ?? createLogger(config.logLevel);
    const clock = deps.clock ?? systemClock;
    this.clock = clock;
    if (config.bus.nats.lease.enabled && !config.bus.nats.jetstream.enabled) {
      throw new ConfigError(
        'invalid config: bus.nats.lease.enabled: failover needs JetStream (bus.nats.jetstream.enabled): the standby continues seqs from the stream',
      );
    }
    this.metrics = createMetrics();
    const { metrics } = this;
    const nats = config.bus.nats;
    this.subjects = new Subjects(nats.subjectPrefix);
    this.bus = new MemoryBus({
      clock,
      maxTicksPerFrame: config.bus.maxTicksPerFrame,
      historyMaxTicks: 1, // history and last values are kept by the gateways; resume is their job
      bookDepth: config.market.bookDepth,
      historyMaxAgeMs: config.bus.historyMaxAgeMs,
      observer: {
        accepted: (feedId) => {
          metrics.hot.feedCounter(feedId).count++;
        },
        rejected: (feedId, reason) => this.fleet.rejected(feedId, reason),
        published: (seconds) => metrics.publishLatency.observe(seconds),
      },
    });
    metrics.busConnected.set(0);
    this.link = new NatsLink(
      {
        url: nats.url,
        name: 'tickgate-ingest',
        reconnectTimeWaitMs: nats.reconnectTimeWaitMs,
        reconnectJitterMs: nats.reconnectJitterMs,
        pingIntervalMs: nats.pingIntervalMs,
      },
      {
        up: (_nc, reconnected) => {
          metrics.busConnected.set(1);
          if (reconnected) {
            metrics.busReconnects.inc();
            // A server restarted with memory storage lost the stream: recreate it before the
            // frames that waited are published, so it captures them.
            // One attempt only: while a cluster elects a stream leader, the frames that waited
            // go out anyway (gateways get them live; a hole in the stream is reported to
            // clients that later read it back), and the stream is ensured again meanwhile.
            void this.ensureStream(0).then((ready) => {
              this.publisher.reconnected();
              if (!ready) void this.ensureStream();
            });
          }
        },
        down: () => {
          metrics.busConnected.set(0);
          this.publisher.disconnected();
        },
      },
      this.logger.child({ bus: 'nats' }),
    );
    this.publisher = new NatsIngestPublisher(this.link, this.subjects, metrics.busHot);
    this.bus.setSink(this.publisher);
    this.fleet = new FeedFleet(config.feeds, {
      definitions: deps.feedDefinitions ?? [],
      moduleBaseDir: deps.moduleBaseDir ?? process.cwd(),
      metrics,
      logger: this.logger,
      clock,
      publish: (tick, id) => this.bus.publish(tick, id).ok,
      // Client interest lives in the gateways; interest-aware adapters use their static lists here.
      currentInterest: () => [],
    });
  }

  /**
   * Creates or updates the stream. Retried for a while: a NATS cluster answers "JetStream not
   * available" until its nodes have elected a meta leader (after a start, or a node loss).
   */
  private async ensureStream(retryMs = STREAM_SETUP_RETRY_MS): Promise<boolean> {
    const js = this.config.bus.nats.jetstream;
    if (!js.enabled) return true;
    const deadline = this.clock.now() + retryMs;
    for (let attempt = 0; ; attempt++) {
      const nc = this.link.connection;
      if (nc === null || this.stopped) return false;
      try {
        await ensureStream(nc, this.subjects, js);
        this.logger.info(
          {
            stream: js.stream,
            subjects: this.subjects.all,
            maxAgeMs: js.maxAgeMs,
            maxMsgsPerSubject: js.maxMsgsPerSubject,
            replicas: js.replicas,
          },
          'JetStream stream ready',
        );
        return true;
      } catch (err) {
        if (this.clock.now() >= deadline) {
          if (retryMs === 0) return false;
          this.logger.error(
            { err: (err as Error).message, stream: js.stream },
            'JetStream stream could not be created or updated; publishing on core NATS only',
          );
          return false;
        }
        if (attempt === 0) this.logger.warn({ err: (err as Error).message, stream: js.stream }, 'JetStream not ready; retrying');
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }

  /**
   * JetStream mode: continue the stream's epoch and every topic's seq (the last frame per subject)
   * instead of starting a new epoch, so a restarted (or failed-over) ingest is invisible to
   * clients. Without a readable stream the bus keeps its fresh epoch; gateways then announce a
   * per-topic `reset` to their clients (docs/protocol.md §6.9).
   */
  private async continueStream(): Promise<void> {
    const js = this.config.bus.nats.jetstream;
    const nc = this.link.connection;
    if (!js.enabled || nc === null) return;
    try {
      // Retried: after a failover the cluster may still be electing the stream's leader.
      const deadline = this.clock.now() + 10_000;
      let tail: Awaited<ReturnType<typeof readStreamTail>>;
      for (;;) {
        try {
          tail = await readStreamTail(nc, this.subjects, js.stream, 10_000, this.clock);
          break;
        } catch (err) {
          if (this.clock.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      if (tail === null) {
        this.logger.info({ stream: js.stream, epoch: this.bus.epoch }, 'stream empty: starting a new epoch');
        return;
      }
      this.bus.continueFrom(tail.epoch, tail.topics);
      this.logger.info(
        { stream: js.stream, epoch: tail.epoch, topics: tail.topics.length },
        'continuing the epoch and seqs from the stream',
      );
    } catch (err) {
      this.logger.error(
        { err: (err as Error).message, stream: js.stream, epoch: this.bus.epoch },
        'reading the stream tail failed: starting a new epoch (clients get a reset)',
      );
    }
  }

  /** Answers gateways asking for the current epoch (their welcome and /healthz are right from the start). */
  private answerEpochRequests(): void {
    const nc = this.link.connection;
    if (nc === null) return;
    this.epochResponder = nc.subscribe(this.subjects.epochRequest, {
      callback: (_err, msg) => {
        msg.respond(JSON.stringify({ epoch: this.bus.epoch }));
      },
    });
  }

  /**
   * Failover mode: wait as a standby until this process holds the lease, then keep it. Losing it
   * (a renewal refused: another ingest took over) fences this one: nothing more is published,
   * the feeds stop, and `onFenced` runs (the CLI exits with code 3 so a supervisor restarts it as
   * a standby).
   */
  private async takeLease(): Promise<void> {
    const nats = this.config.bus.nats;
    const nc = this.link.connection;
    if (!nats.lease.enabled || nc === null) return;
    const lease = new IngestLease(
      nc,
      { prefix: nats.subjectPrefix, holder: `${hostname()}:${process.pid}:${this.bus.epoch}`, ttlMs: nats.lease.ttlMs },
      this.clock,
      this.logger.child({ lease: true }),
    );
    this.lease = lease;
    for (const deadline = this.clock.now() + STREAM_SETUP_RETRY_MS; ; ) {
      try {
        await lease.ensure(nats.jetstream.replicas);
        break;
      } catch (err) {
        if (this.clock.now() > deadline) throw new Error(`failover lease: its stream cannot be created: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    this.role = 'standby';
    this.logger.info({ ttlMs: nats.lease.ttlMs }, 'standby: waiting for the lease');
    await lease.acquire();
    this.role = 'active';
    this.publisher.setGate(lease);
    lease.keep(() => {
      this.role = 'fenced';
      this.publisher.fence();
      this.epochResponder?.unsubscribe();
      void this.fleet.stop();
      this.deps.onFenced?.();
    });
  }

  /**
   * Connects to NATS (waiting for it, retrying with backoff), creates the stream in JetStream
   * mode, continues its epoch and seqs, starts the feeds, then the HTTP listener. Resolves with
   * its port (null without one).
   */
  async start(): Promise<{ port: number | null }> {
    await this.fleet.load();
    this.link.start();
    await this.link.ready();
    // Listening first: a standby answers /healthz (lease: standby) while it waits.
    const port = this.deps.http === false ? null : await this.listen();
    await this.takeLease();
    await this.ensureStream();
    await this.continueStream();
    this.answerEpochRequests();
    this.fleet.start();
    return { port };
  }

  /** /healthz and /metrics: the gateway's routes and health body (src/transport/health.ts). */
  private listen(): Promise<number> {
    const server = new OpsServer({
      metrics: this.metrics,
      metricsBearerToken: this.config.metrics.bearerToken,
      log: this.logger,
      health: {
        role: 'ingest',
        version: VERSION,
        clock: this.clock,
        startedAt: this.clock.now(),
        epoch: () => this.bus.epoch,
        topics: () => this.bus.topicCount,
        feeds: () => this.fleet.states(),
        shuttingDown: () => this.stopped !== null,
        nats: () => (this.link.connected ? 'connected' : 'reconnecting'),
        lease: () => (this.config.bus.nats.lease.enabled ? this.role : 'off'),
      },
    });
    this.server = server;
    return server.listen(this.config.host, this.config.port);
  }

  get natsConnected(): boolean {
    return this.link.connected;
  }

  /** Resolves once NATS has processed every frame published so far (a PING round trip). */
  async flushNats(): Promise<void> {
    const nc = this.link.connection;
    if (nc !== null && this.link.connected) await nc.flush();
  }

  /** Stops feeds, flushes the bus and NATS, closes the HTTP listener. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      this.lease?.stop();
      await this.fleet.stop();
      await this.bus.close();
      this.publisher.close();
      await this.link.close();
      this.server?.close();
    })();
    return this.stopped;
  }
}

export function createIngest(input: ConfigInput | Config = {}, deps: IngestDeps = {}): Ingest {
  return new Ingest(validateConfig(input), deps);
}

/** How long the ingest retries creating the stream before it publishes on core NATS only. */
const STREAM_SETUP_RETRY_MS = 15_000;
