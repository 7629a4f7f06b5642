import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import type { Authenticator } from '../auth/authenticator.ts';
import type { LimitsConfig } from '../config/security-schema.ts';
import { systemClock, systemTimers, type Clock, type Timers } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import type { MarketView } from '../market/market-view.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { PROTOCOL_VERSION, type WelcomeFrame } from '../protocol/frames.ts';
import { Admission, RefusalLog } from './admission.ts';
import { ConflationTiers } from './conflation.ts';
import { StreamConnections } from './connections.ts';
import { DelayedTiers, delayedValue } from './delayed.ts';
import { FanOut } from './fan-out.ts';
import type { NatsState } from './health.ts';
import { registerHttpRoutes, type HttpContext } from './http.ts';
import { createApp, Listener, type TlsFiles } from './listener.ts';
import { TopicLiveness } from './liveness.ts';
import { Replies } from './replies.ts';
import { RequestHandler } from './requests.ts';

export { MAX_REPLAY_TICKS_PER_REQUEST } from './requests.ts';
import type { Session, Socket } from './session.ts';
import { SlowConsumerGuard, type SlowConsumerOptions } from './slow-consumers.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { TokenLifecycle } from './tokens.ts';

export type { Socket } from './session.ts';

export interface TransportOptions {
  host: string;
  port: number;
  /** Application limit: larger client messages get a TG_ERR_MESSAGE_TOO_LARGE error frame. */
  maxMessageBytes: number;
  /** uWS hard limit: larger client messages drop the connection (clients see 1006). */
  maxPayloadBytes: number;
  /** Per-connection send buffer limit; frames beyond it are dropped and the client is closed with 1013. */
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
  maxSubscriptionsPerConnection: number;
  /** How long shutdown (and a slow consumer that never drains) waits before cutting clients off. */
  closeGraceMs: number;
  maxTicksPerFrame: number;
  rateTiers: readonly number[];
  slowConsumer: SlowConsumerOptions;
  staleAfterMs: number;
  livenessCheckIntervalMs: number;
  limits: LimitsConfig;
  allowedOrigins: readonly string[];
  expiryWarningSeconds: number;
  /** Serve wss:// and https:// with these files. */
  tls?: TlsFiles | undefined;
  /** Thread index in worker mode (0: main), reported in the welcome frame. */
  workerId?: number;
  /** /metrics protection: a bearer token, and/or its own listener (then the main port has no /metrics). */
  metricsEndpoint: { bearerToken?: string | undefined; host?: string | undefined; port?: number | undefined };
}

export interface TransportDeps {
  bus: TopicBus;
  metrics: Metrics;
  logger: Logger;
  version: string;
  feedStates(): Record<string, string>;
  /** The bus's NATS connection for /healthz; none (null) by default: the in-process bus. */
  natsState?: () => NatsState;
  /** Called when the first connection asks for a topic or pattern, and when the last lets go. */
  interest(entry: string, interested: boolean): void;
  authenticator: Authenticator;
  /** Renders /metrics (worker mode: the aggregate over all threads). */
  renderMetrics?: () => Promise<string>;
  /** Every time read (expiry, rate windows, delays, pong timestamps); the system clock by default. */
  clock?: Clock;
  /** Token-expiry and delay-line timers; Node's by default (a ManualClock in tests). */
  timers?: Timers;
  /** Book, bar and day-statistics state for snapshots and /v1/bars (src/market). */
  market?: MarketView;
}

const CLOSE_GOING_AWAY = 1001;

/**
 * The uWebSockets.js app: WebSocket stream at /v1/stream, HTTP API beside it, and the bus sink
 * that publishes encoded frames with uWS's native publish (no per-subscriber JavaScript).
 *
 * A facade: it builds the collaborators and wires them; each does one job.
 * - Listener: binding the main port and the optional /metrics port.
 * - FanOut: the bus sink (the hot path), plus conflated, delayed and status frames.
 * - StreamConnections: the WebSocket lifecycle (upgrade, open, close, dropped, drain).
 * - RequestHandler: client messages, subscribe with replay planning, in-order queueing.
 * - TokenLifecycle: token expiry, refresh, API-key reload.
 * - Replies: frames for one connection.
 * Subscriptions, conflation, delayed tiers, liveness, admission and the slow-consumer guard
 * are the lower layer they share.
 */
export class Transport implements BusSink {
  private readonly app: uWS.TemplatedApp;
  private readonly clock: Clock;
  private readonly subscriptions: SubscriptionManager;
  private readonly conflation: ConflationTiers;
  private readonly delayed: DelayedTiers;
  private readonly admission: Admission;
  private readonly refusals: RefusalLog;
  private admissionSweep: NodeJS.Timeout | null = null;
  readonly liveness: TopicLiveness;
  private readonly slow: SlowConsumerGuard;
  private readonly sockets = new Set<Socket>();
  private readonly fanOut: FanOut;
  private readonly replies: Replies;
  private readonly tokens: TokenLifecycle;
  private readonly connections: StreamConnections;
  private readonly listener: Listener;
  private shuttingDown = false;

  constructor(
    private options: TransportOptions,
    deps: TransportDeps,
  ) {
    this.app = createApp(options.tls);
    const { metrics, bus, logger } = deps;
    const clock = (this.clock = deps.clock ?? systemClock);
    const timers = deps.timers ?? systemTimers;
    this.admission = new Admission(options.limits, options.allowedOrigins, clock);
    this.refusals = new RefusalLog(logger, () => clock.now());
    // The tiers publish through fan-out, which is built below: it needs them in turn.
    this.delayed = new DelayedTiers(
      { maxBytes: options.limits.maxDelayedBytes },
      (topic, delayMs, frame) => this.fanOut.publishDelayed(topic, delayMs, frame),
      clock,
      (topic, delayMs, quantumMs) =>
        logger.warn(
          { topic, delayMs, quantumMs, maxDelayedBytes: options.limits.maxDelayedBytes },
          'delay line full: conflating held ticks',
        ),
      timers,
    );
    this.conflation = new ConflationTiers(
      options.rateTiers,
      bus,
      (topic, rate, frame) => this.fanOut.publishConflated(topic, rate, frame),
      // A book tier whose history no longer covers its gap starts over from a snapshot.
      (topic) => this.replies.snapshotFrame(topic),
    );
    this.subscriptions = new SubscriptionManager(
      bus,
      options.maxSubscriptionsPerConnection,
      options.slowConsumer.downgradeRate,
      {
        changed: (delta) => {
          metrics.conn.subscriptions += delta;
        },
        interest: deps.interest,
        tier: (topic, rate, delta) => this.conflation.changed(topic, rate, delta),
        delayed: (topic, delayMs, delta) => this.delayed.changed(topic, delayMs, delta),
        limitReached: (session, topic) => this.onLimitReached(session, topic),
      },
      options.limits,
    );
    this.liveness = new TopicLiveness(bus, options.staleAfterMs, (view, frame) => this.fanOut.publishStatus(view, frame), clock);
    this.fanOut = new FanOut({
      app: this.app,
      wireSubscribers: this.subscriptions.wireSubscribers,
      subscriptions: this.subscriptions,
      delayed: this.delayed,
      liveness: this.liveness,
      bus,
      metrics,
      logger,
      rateTiers: options.rateTiers,
      clock,
    });
    this.replies = new Replies({ bus, metrics, logger, market: deps.market });
    this.slow = new SlowConsumerGuard(
      options.slowConsumer,
      options.maxBackpressureBytes,
      options.closeGraceMs,
      {
        sockets: this.sockets,
        subscriptions: this.subscriptions,
        bus,
        metrics,
        logger,
        send: (ws, frame) => this.replies.send(ws, ws.getUserData(), frame),
        sendSnapshot: (ws, topic) => this.replies.sendSnapshot(ws, topic),
      },
      clock,
    );
    this.tokens = new TokenLifecycle({
      authenticator: deps.authenticator,
      subscriptions: this.subscriptions,
      replies: this.replies,
      metrics,
      clock,
      timers,
      expiryWarningSeconds: options.expiryWarningSeconds,
    });
    const requests = new RequestHandler(options, {
      bus,
      metrics,
      subscriptions: this.subscriptions,
      liveness: this.liveness,
      replies: this.replies,
      tokens: this.tokens,
      clock,
    });
    const welcome: Omit<WelcomeFrame, 'format'> = {
      t: 'welcome',
      v: PROTOCOL_VERSION,
      server: `tickgate/${deps.version}`,
      epoch: bus.epoch,
      maxMessageBytes: options.maxMessageBytes,
      maxSubscriptions: options.maxSubscriptionsPerConnection,
      rateTiers: [...options.rateTiers],
      ...(options.workerId === undefined ? {} : { worker: options.workerId }),
    };
    this.connections = new StreamConnections(options, {
      sockets: this.sockets,
      bus,
      metrics,
      logger,
      authenticator: deps.authenticator,
      admission: this.admission,
      refusals: this.refusals,
      subscriptions: this.subscriptions,
      fanOut: this.fanOut,
      replies: this.replies,
      tokens: this.tokens,
      requests,
      slow: this.slow,
      clock,
      welcome,
      isShuttingDown: () => this.shuttingDown,
    });
    this.connections.register(this.app);
    const httpContext: HttpContext = {
      bus,
      metrics,
      clock,
      version: deps.version,
      health: {
        role: 'gateway',
        version: deps.version,
        clock,
        startedAt: clock.now(),
        epoch: () => bus.epoch,
        topics: () => bus.topicCount,
        feeds: deps.feedStates,
        shuttingDown: () => this.shuttingDown,
        nats: deps.natsState ?? (() => null),
        lease: () => 'off',
      },
      topicStatus: (topic) => this.liveness.statusOf(topic),
      log: deps.logger,
      refused: (reason, details) => this.refusals.refused(reason, { surface: 'http', ...details }),
      authenticator: deps.authenticator,
      delayedValue: (topic, delayMs) => delayedValue(bus, this.delayed, topic, delayMs, clock.now()),
      metricsBearerToken: options.metricsEndpoint.bearerToken,
      ...(deps.renderMetrics ? { renderMetrics: deps.renderMetrics } : {}),
      ...(deps.market ? { market: deps.market } : {}),
    };
    const separateMetrics = options.metricsEndpoint.port !== undefined;
    registerHttpRoutes(this.app, httpContext, { metrics: !separateMetrics });
    let metricsApp: uWS.TemplatedApp | null = null;
    if (separateMetrics) {
      metricsApp = createApp(options.tls);
      registerHttpRoutes(metricsApp, httpContext, { metrics: true, only: true });
    }
    this.listener = new Listener(this.app, metricsApp);
  }

  /** Sets the port before listen() (worker mode picks a concrete port for all threads). */
  setPort(port: number): void {
    this.options = { ...this.options, port };
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    const { host, port, workerId } = this.options;
    const bound = await this.listener.listen(host, port, workerId);
    this.liveness.start(this.options.livenessCheckIntervalMs);
    this.slow.start();
    this.admissionSweep = setInterval(() => this.admission.sweep(this.clock.now()), 10_000);
    this.admissionSweep.unref();
    return bound;
  }

  /** Starts the separate /metrics listener, if configured; resolves with its port (null if none). */
  listenMetrics(): Promise<number | null> {
    return this.listener.listenMetrics(this.options.metricsEndpoint.host ?? this.options.host, this.options.metricsEndpoint.port ?? 0);
  }

  /** Topics and patterns some connection currently holds. */
  interestedEntries(): string[] {
    return this.subscriptions.interestedEntries();
  }

  /** The delayed tier's delay lines and their estimated bytes (tests, operations). */
  get delayedStats(): { lines: number; heldBytes: number } {
    return { lines: this.delayed.lineCount, heldBytes: this.delayed.heldBytes };
  }

  get connectionCount(): number {
    return this.connections.count;
  }

  // ---- bus sink: the hot path (see FanOut) ---------------------------------------

  onTopic(view: TopicView): void {
    this.fanOut.onTopic(view);
  }

  onBatch(batch: EncodedBatch): void {
    this.fanOut.onBatch(batch);
  }

  onGap(view: TopicView, from: number, to: number): void {
    this.fanOut.onGap(view, from, to);
  }

  onReset(view: TopicView, epoch: number): void {
    this.fanOut.onReset(view, epoch);
  }

  /**
   * Applies reloaded API keys (SIGHUP) to live connections: a removed key is closed with 1008,
   * a changed key gets its new entitlements at once.
   */
  applyApiKeys(): void {
    this.tokens.applyApiKeys(this.sockets);
  }

  private onLimitReached(session: Session, topic: string): void {
    const ws = this.connections.socketOf(session);
    if (ws === undefined) return;
    this.replies.sendError(
      ws,
      session,
      null,
      ErrorCode.TOO_MANY_SUBSCRIPTIONS,
      `new topic ${topic} matches your pattern but this connection holds ${this.options.maxSubscriptionsPerConnection} topics already; it is not delivered`,
    );
  }

  // ---- shutdown ------------------------------------------------------------------

  /** Closes every client connection with `code` while the gateway keeps running (operations, tests). */
  disconnectAll(code: number, reason: string): void {
    this.connections.disconnectAll(code, reason);
  }

  /** Stops accepting, closes every client with 1001, waits up to closeGraceMs for them to go, then closes the app. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    this.liveness.stop();
    this.slow.stop();
    this.conflation.stop();
    this.delayed.stop();
    if (this.admissionSweep) clearInterval(this.admissionSweep);
    this.listener.stopListening();
    this.disconnectAll(CLOSE_GOING_AWAY, 'server shutting down');
    await this.connections.allClosed(this.options.closeGraceMs);
    this.app.close();
  }
}
