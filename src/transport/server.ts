import net from 'node:net';
import uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import { isWarmableBus } from '../bus/warmable.ts';
import { AuthError, credentialOf, type Authenticator } from '../auth/authenticator.ts';
import type { Identity } from '../auth/identity.ts';
import type { LimitsConfig } from '../config/security-schema.ts';
import { systemClock } from '../core/clock.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { jsonFrame, packFrame, parseTextMessage, unpackMessage } from '../protocol/codec.ts';
import {
  PROTOCOL_VERSION,
  type RequestId,
  type ServerFrame,
  type StatusFrame,
  type SubscribeRequest,
  type TicksFrame,
  type TopicResult,
  type WelcomeFrame,
  type WireFormat,
} from '../protocol/frames.ts';
import { parseRequest, salvageId } from '../protocol/requests.ts';
import { Admission } from './admission.ts';
import { ConflationTiers, pickTier } from './conflation.ts';
import { DelayedTiers } from './delayed.ts';
import { registerHttpRoutes, sendError, type HttpContext } from './http.ts';
import { TopicLiveness } from './liveness.ts';
import { planDelivery } from './resume.ts';
import { Session } from './session.ts';
import { SlowConsumerGuard, type SlowConsumerOptions } from './slow-consumers.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { wireTopic } from './wire-topics.ts';

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
  tls?: { certFile: string; keyFile: string; passphrase?: string | undefined } | undefined;
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
  /** Called when the first connection asks for a topic or pattern, and when the last lets go. */
  interest(entry: string, interested: boolean): void;
  authenticator: Authenticator;
  /** Renders /metrics (worker mode: the aggregate over all threads). */
  renderMetrics?: () => Promise<string>;
}

export type Socket = uWS.WebSocket<Session>;

const CLOSE_GOING_AWAY = 1001;
/** uWS ListenOptions value; typed as an enum but exported only at run time. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
const LIBUS_LISTEN_DEFAULT = 0;
const FORMATS: readonly WireFormat[] = ['msgpack', 'json'];
/** Most ticks one subscribe may replay (about 1 MB of frames). */
const MAX_REPLAY_TICKS_PER_REQUEST = 10_000;

/**
 * The uWebSockets.js app: WebSocket stream at /v1/stream, HTTP API beside it, and the bus sink
 * that publishes encoded frames with uWS's native publish (no per-subscriber JavaScript).
 */
export class Transport implements BusSink {
  private readonly app: uWS.TemplatedApp;
  private readonly subscriptions: SubscriptionManager;
  /** Subscribed sockets per uWS topic (the subscription manager's count). */
  private readonly wireSubscribers: ReadonlyMap<string, number>;
  private readonly conflation: ConflationTiers;
  private readonly delayed: DelayedTiers;
  private readonly admission: Admission;
  private metricsApp: uWS.TemplatedApp | null = null;
  private metricsListenSocket: uWS.us_listen_socket | null = null;
  private admissionSweep: NodeJS.Timeout | null = null;
  readonly liveness: TopicLiveness;
  private readonly slow: SlowConsumerGuard;
  private readonly sockets = new Set<Socket>();
  private listenSocket: uWS.us_listen_socket | null = null;
  private nextSessionId = 0;
  private jsonSessions = 0;
  private shuttingDown = false;
  /** Resolves the pending close() once the last socket has closed. */
  private onAllClosed: (() => void) | null = null;
  private readonly welcome: Omit<WelcomeFrame, 'format'>;

  constructor(
    private options: TransportOptions,
    private readonly deps: TransportDeps,
  ) {
    this.app = createApp(options.tls);
    const { metrics, bus } = deps;
    this.admission = new Admission(options.limits, options.allowedOrigins);
    this.delayed = new DelayedTiers((topic, delayMs, frame) => {
      for (const format of FORMATS) this.publishEncoded(wireTopic(topic, format, 0, delayMs), format, frame, frame.ticks.length);
    });
    this.conflation = new ConflationTiers(options.rateTiers, bus, (topic, rate, frame) => this.publishConflated(topic, rate, frame));
    this.subscriptions = new SubscriptionManager(bus, options.maxSubscriptionsPerConnection, options.slowConsumer.downgradeRate, {
      changed: (delta) => metrics.subscriptions.inc(delta),
      interest: deps.interest,
      tier: (topic, rate, delta) => this.conflation.changed(topic, rate, delta),
      delayed: (topic, delayMs, delta) => this.delayed.changed(topic, delayMs, delta),
      limitReached: (session, topic) => this.onLimitReached(session, topic),
    });
    this.wireSubscribers = this.subscriptions.wireSubscribers;
    this.liveness = new TopicLiveness(bus, options.staleAfterMs, (view, frame) => this.publishStatus(view, frame));
    this.slow = new SlowConsumerGuard(options.slowConsumer, options.maxBackpressureBytes, options.closeGraceMs, {
      sockets: this.sockets,
      subscriptions: this.subscriptions,
      bus,
      metrics,
      logger: deps.logger,
      send: (ws, frame) => this.send(ws, ws.getUserData(), frame),
      sendSnapshot: (ws, topic) => this.sendSnapshot(ws, topic),
    });
    this.welcome = {
      t: 'welcome',
      v: PROTOCOL_VERSION,
      server: `tickgate/${deps.version}`,
      epoch: bus.epoch,
      maxMessageBytes: options.maxMessageBytes,
      maxSubscriptions: options.maxSubscriptionsPerConnection,
      rateTiers: [...options.rateTiers],
      ...(options.workerId === undefined ? {} : { worker: options.workerId }),
    };
    this.registerStream();
    const httpContext: HttpContext = {
      bus,
      metrics,
      startedAt: Date.now(),
      version: deps.version,
      feedStates: deps.feedStates,
      isShuttingDown: () => this.shuttingDown,
      topicStatus: (topic) => this.liveness.statusOf(topic),
      log: deps.logger,
      metricsBearerToken: options.metricsEndpoint.bearerToken,
      ...(deps.renderMetrics ? { renderMetrics: deps.renderMetrics } : {}),
    };
    const separateMetrics = options.metricsEndpoint.port !== undefined;
    registerHttpRoutes(this.app, httpContext, { metrics: !separateMetrics });
    if (separateMetrics) {
      this.metricsApp = createApp(options.tls);
      registerHttpRoutes(this.metricsApp, httpContext, { metrics: true, only: true });
    }
  }

  /** Sets the port before listen() (worker mode picks a concrete port for all threads). */
  setPort(port: number): void {
    this.options = { ...this.options, port };
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async listen(): Promise<number> {
    const { host, port } = this.options;
    // Two constraints: a second gateway must not silently share the port (uWS's default listen
    // sets SO_REUSEPORT), and a restart must not be refused because of old connections in
    // TIME_WAIT (uWS sets no SO_REUSEADDR, so its exclusive listen is refused for up to 60 s).
    // So: a Node probe (SO_REUSEADDR, no SO_REUSEPORT) fails only on a live listener, then the
    // uWS listen uses the default mode, whose SO_REUSEPORT also tolerates TIME_WAIT.
    // Worker threads (workerId >= 1) skip the probe: they join the main thread's port on purpose.
    if (port !== 0 && (this.options.workerId ?? 0) === 0) await assertPortFree(host, port);
    return new Promise((resolve, reject) => {
      const listen = this.app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      const mode = port === 0 ? LIBUS_LISTEN_EXCLUSIVE_PORT : LIBUS_LISTEN_DEFAULT;
      listen.call(this.app, host, port, mode, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port}: address in use or not available`));
          return;
        }
        this.listenSocket = socket;
        this.liveness.start(this.options.livenessCheckIntervalMs);
        this.slow.start();
        this.admissionSweep = setInterval(() => this.admission.sweep(Date.now()), 10_000);
        this.admissionSweep.unref();
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Starts the separate /metrics listener, if configured; resolves with its port (null if none). */
  listenMetrics(): Promise<number | null> {
    const app = this.metricsApp;
    if (app === null) return Promise.resolve(null);
    const host = this.options.metricsEndpoint.host ?? this.options.host;
    const port = this.options.metricsEndpoint.port ?? 0;
    return new Promise((resolve, reject) => {
      const listen = app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      listen.call(app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) return reject(new Error(`cannot listen for /metrics on ${host}:${port}: address in use or not available`));
        this.metricsListenSocket = socket;
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Topics and patterns some connection currently holds. */
  interestedEntries(): string[] {
    return this.subscriptions.interestedEntries();
  }

  get connectionCount(): number {
    return this.sockets.size;
  }

  // ---- bus sink: the hot path ------------------------------------------------

  onTopic(view: TopicView): void {
    this.subscriptions.onTopic(view);
    this.deps.metrics.topics.set(this.deps.bus.topicCount);
  }

  onBatch(batch: EncodedBatch): void {
    const hot = this.deps.metrics.hot;
    const topic = batch.topic.parsed.topic;
    hot.framesPublished++;
    const subscribers = this.wireSubscribers.get(topic) ?? 0;
    if (subscribers > 0) {
      this.app.publish(topic, batch.packed, true);
      hot.framesOut += subscribers;
      hot.bytesOut += subscribers * batch.packed.byteLength;
      hot.ticksOut += subscribers * batch.ticks.length;
    }
    if (this.jsonSessions > 0) {
      this.publishEncoded(wireTopic(topic, 'json'), 'json', { t: 'ticks', topic, epoch: batch.epoch, ticks: batch.ticks.slice() }, batch.ticks.length);
    }
    if (this.delayed.active) this.delayed.hold(topic, batch.epoch, batch.ticks, Date.now());
  }

  /** Upstream lost seqs `from`..`to` of the topic for good: every holder is told before the jump (protocol §6.9). */
  onGap(view: TopicView, from: number, to: number): void {
    const topic = view.parsed.topic;
    this.deps.logger.warn({ topic, from, to }, 'ticks lost upstream; clients told');
    this.publishNotice(topic, { t: 'status', topic, status: 'gap', reason: 'lost', from, to, lastUpdate: Math.round(view.lastUpdate) });
  }

  /** The topic's seqs start over in a new epoch: every holder is told before its first frame (protocol §6.9). */
  onReset(view: TopicView, epoch: number): void {
    const topic = view.parsed.topic;
    this.publishNotice(topic, { t: 'status', topic, status: 'reset', reason: 'epoch_changed', epoch, lastUpdate: Math.round(view.lastUpdate) });
  }

  private publishNotice(topic: string, frame: ServerFrame): void {
    for (const format of FORMATS) {
      this.publishEncoded(wireTopic(topic, format), format, frame, 0);
      for (const rate of this.options.rateTiers) this.publishEncoded(wireTopic(topic, format, rate), format, frame, 0);
    }
  }

  /** Encodes a frame for one uWS topic only if it has subscribers; returns whether it was sent. */
  private publishEncoded(uwsTopic: string, format: WireFormat, frame: ServerFrame, ticks: number): boolean {
    const subscribers = this.wireSubscribers.get(uwsTopic) ?? 0;
    if (subscribers === 0) return false;
    const hot = this.deps.metrics.hot;
    if (format === 'json') {
      const text = jsonFrame(frame);
      this.app.publish(uwsTopic, text, false);
      hot.bytesOut += subscribers * Buffer.byteLength(text);
    } else {
      const bytes = packFrame(frame);
      this.app.publish(uwsTopic, bytes, true);
      hot.bytesOut += subscribers * bytes.byteLength;
    }
    hot.framesOut += subscribers;
    hot.ticksOut += subscribers * ticks;
    return true;
  }

  private publishConflated(topic: string, rate: number, frame: TicksFrame): void {
    let sent = false;
    for (const format of FORMATS) sent = this.publishEncoded(wireTopic(topic, format, rate), format, frame, 1) || sent;
    if (sent) this.deps.metrics.conflatedFrames.inc();
  }

  /** A status change reaches every subscriber of the topic, whatever its format and rate. */
  private publishStatus(view: TopicView, frame: StatusFrame): void {
    const topic = view.parsed.topic;
    this.deps.metrics.staleTopics.set(this.liveness.staleCount);
    this.deps.logger.info({ topic, status: frame.status, reason: frame.reason }, 'topic status changed');
    this.publishNotice(topic, frame);
  }

  // ---- WebSocket stream --------------------------------------------------------

  private registerStream(): void {
    const { options, deps } = this;
    const { metrics, logger } = deps;
    this.app.ws<Session>('/v1/stream', {
      compression: uWS.DISABLED,
      maxPayloadLength: options.maxPayloadBytes,
      maxBackpressure: options.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: options.idleTimeoutSeconds,
      sendPingsAutomatically: true,

      upgrade: (res, req, context) => {
        // The request is valid only inside this callback: copy what is needed.
        const formatParam = req.getQuery('format') ?? '';
        const key = req.getHeader('sec-websocket-key');
        const protocols = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        const origin = req.getHeader('origin');
        const credentials = { authorization: req.getHeader('authorization'), protocols, query: req.getQuery('token') ?? '' };
        const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
        const refuse = (status: number, code: ErrorCode, message: string, reason: string) => {
          metrics.connectionsRefused.labels(reason).inc();
          sendError(res, status, code, message, metrics);
        };
        if (this.shuttingDown) return refuse(503, ErrorCode.BAD_UPGRADE, 'the gateway is shutting down', 'shutting_down');
        let format: WireFormat;
        if (formatParam === '' || formatParam === 'msgpack') format = 'msgpack';
        else if (formatParam === 'json') format = 'json';
        else return refuse(400, ErrorCode.BAD_UPGRADE, `format must be "msgpack" (default) or "json", got "${formatParam.slice(0, 32)}"`, 'bad_request');
        const refusal = this.admission.check(ip, origin, Date.now());
        if (refusal) return refuse(refusal.status, refusal.code, refusal.message, refusal.reason);
        const protocol = chooseProtocol(protocols);
        const upgrade = (identity: Identity) =>
          res.upgrade(new Session(++this.nextSessionId, format, ip, identity), key, protocol, extensions, context);

        const authenticator = deps.authenticator;
        if (!authenticator.enabled) return upgrade(authenticator.anonymous);
        let aborted = false;
        res.onAborted(() => {
          aborted = true;
        });
        authenticator.authenticate(credentialOf(credentials)).then(
          (identity) => {
            if (!aborted) res.cork(() => upgrade(identity));
          },
          (err: unknown) => {
            if (aborted) return;
            const message = err instanceof AuthError ? err.message : 'authentication failed';
            if (!(err instanceof AuthError)) logger.error({ err }, 'authentication error');
            res.cork(() => refuse(401, ErrorCode.UNAUTHORIZED, message, 'unauthorized'));
          },
        );
      },

      open: (ws) => {
        const session = ws.getUserData();
        this.sockets.add(ws);
        this.admission.opened(session.remoteAddress);
        this.subscriptions.attach(session, ws);
        if (session.format === 'json') this.jsonSessions++;
        metrics.connections.inc();
        metrics.connectionsOpened.inc();
        this.send(ws, session, { ...this.welcome, epoch: this.deps.bus.epoch, format: session.format }); // a relaying bus learns its epoch from upstream
        this.scheduleExpiry(ws, session);
      },

      message: (ws, message, isBinary) => {
        this.onClientMessage(ws, message, isBinary);
      },

      dropped: (ws) => {
        // Called from inside uWS's send/publish drain: record now, act on the next turn.
        const session = ws.getUserData();
        session.droppedFrames++;
        metrics.hot.framesDropped++;
        this.slow.overHardLimit(ws);
      },

      drain: (ws) => {
        this.slow.drained(ws);
      },

      close: (ws, code) => {
        const session = ws.getUserData();
        session.closed = true;
        if (session.closeTimer) clearTimeout(session.closeTimer);
        for (const t of session.expiryTimers) clearTimeout(t);
        this.admission.closed(session.remoteAddress);
        this.sockets.delete(ws);
        this.slow.forget(ws);
        if (this.sockets.size === 0) this.onAllClosed?.();
        this.subscriptions.release(session);
        if (session.format === 'json') this.jsonSessions--;
        metrics.connections.dec();
        metrics.connectionsClosed.labels(session.closeReason).inc();
        logger.debug({ session: session.id, code, reason: session.closeReason, dropped: session.droppedFrames }, 'connection closed');
      },
    });
  }

  private onClientMessage(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData();
    const { metrics } = this.deps;
    if (session.closing) return; // a connection being closed gets no new subscriptions
    if (this.overMessageRate(session)) {
      metrics.clientMessages.labels('rate_limited').inc();
      if (session.messagesInWindow === this.options.limits.maxMessagesPerSecond + 1) {
        this.sendError(ws, session, null, ErrorCode.RATE_LIMITED, `more than ${this.options.limits.maxMessagesPerSecond} messages in one second; further messages this second are ignored`);
      } else {
        metrics.errors.labels(ErrorCode.RATE_LIMITED).inc();
      }
      return;
    }
    if (message.byteLength > this.options.maxMessageBytes) {
      metrics.clientMessages.labels('invalid').inc();
      this.sendError(ws, session, null, ErrorCode.MESSAGE_TOO_LARGE, `message is ${message.byteLength} bytes; the limit is ${this.options.maxMessageBytes}`);
      return;
    }
    let decoded: unknown;
    try {
      const bytes = new Uint8Array(message);
      decoded = isBinary ? unpackMessage(bytes) : parseTextMessage(bytes);
    } catch {
      metrics.clientMessages.labels('invalid').inc();
      const what = isBinary ? 'binary message is not valid MessagePack' : 'text message is not valid UTF-8 JSON';
      this.sendError(ws, session, null, ErrorCode.MALFORMED, what);
      return;
    }
    let request;
    try {
      request = parseRequest(decoded);
    } catch (err) {
      metrics.clientMessages.labels('invalid').inc();
      this.replyWithError(ws, session, salvageId(decoded), err);
      return;
    }
    metrics.clientMessages.labels(request.op).inc();
    try {
      switch (request.op) {
        case 'subscribe': {
          const bus = this.deps.bus;
          const warm = isWarmableBus(bus) ? bus.warm(request.topics, request.resume, request.snapshot) : null;
          this.inOrder(ws, session, request.id, warm, () => this.subscribe(ws, session, request));
          break;
        }
        case 'unsubscribe':
          this.inOrder(ws, session, request.id, null, () => {
            this.subscriptions.unsubscribe(session, request.topics);
            this.send(ws, session, { t: 'ack', id: request.id, op: 'unsubscribe', topics: [...request.topics], snapshots: 0 });
          });
          break;
        case 'ping':
          this.send(ws, session, { t: 'pong', id: request.id, gts: systemClock.now() });
          break;
        case 'refresh':
          this.refresh(ws, session, request.id, request.token);
          break;
      }
    } catch (err) {
      this.replyWithError(ws, session, request.id, err);
    }
  }

  /**
   * Ack, then per newly subscribed topic (in request order): a replay of what the client missed,
   * or a snapshot, and a status frame if the topic is stale. All sent within this callback, so
   * nothing the bus flushes later can overtake them.
   */
  private subscribe(ws: Socket, session: Session, request: SubscribeRequest): void {
    const { bus } = this.deps;
    const rate = pickTier(this.options.rateTiers, request.maxRate);
    const { added, rerated } = this.subscriptions.subscribe(session, request.topics, rate);
    // A delayed identity must not see a real-time value: no snapshot or replay, ticks arrive late.
    // One request may replay at most MAX_REPLAY_TICKS_PER_REQUEST ticks: a resume of many topics
    // from far back would otherwise encode megabytes inside this callback and stall every client.
    // Topics past the budget get a `gap` (replay_limit) and a snapshot instead.
    let replayBudget = MAX_REPLAY_TICKS_PER_REQUEST;
    const plans = added.map((topic) => {
      if (session.identity.delayMs > 0) return { result: { topic, status: 'pending' as const }, replay: null, snapshot: false };
      const position = request.resume.get(topic);
      const plan = planDelivery(bus, topic, position, request.snapshot);
      if (plan.replay === null || plan.replay.length <= replayBudget) {
        replayBudget -= plan.replay?.length ?? 0;
        return plan;
      }
      const last = plan.replay[plan.replay.length - 1]!;
      const gap: TopicResult = { topic, status: 'gap', reason: 'replay_limit', from: position!.seq + 1, to: last.seq - 1 };
      return { result: gap, replay: null, snapshot: true };
    });
    // A held topic whose rate changed restarts from a snapshot, so its seq jump is explained.
    if (session.identity.delayMs === 0) {
      for (const topic of rerated) {
        if (bus.topic(topic)?.last !== undefined) plans.push({ result: { topic, status: 'snapshot' }, replay: null, snapshot: true });
      }
    }
    const snapshots = plans.filter((p) => p.snapshot).length;
    this.send(ws, session, {
      t: 'ack',
      id: request.id,
      op: 'subscribe',
      topics: [...request.topics],
      snapshots,
      maxRate: session.identity.delayMs > 0 ? 0 : rate,
      results: plans.map((p) => p.result),
    });
    for (const plan of plans) {
      const topic = plan.result.topic;
      if (plan.snapshot) this.sendSnapshot(ws, topic);
      if (plan.replay !== null) {
        const per = this.options.maxTicksPerFrame;
        for (let i = 0; i < plan.replay.length; i += per) {
          this.send(ws, session, { t: 'ticks', topic, epoch: bus.epoch, ticks: plan.replay.slice(i, i + per) });
        }
      }
      const status = this.liveness.statusOf(topic);
      const view = bus.topic(topic);
      if (status.status === 'stale' && view !== undefined) {
        this.send(ws, session, { t: 'status', topic, status: 'stale', reason: status.reason, lastUpdate: Math.round(view.lastUpdate) });
      }
    }
  }

  /** Per session: the subscribe waiting for its bus to fetch history (see below), with later requests queued behind it. */
  private readonly queued = new Map<number, Promise<void>>();

  /**
   * Runs a (un)subscribe now, or — while the bus fetches a topic's history from elsewhere first
   * (WarmableBus: the NATS bus in JetStream mode), or an earlier request of the session still
   * waits for that — once it is in, so snapshots and replays include it and requests stay in order.
   */
  private inOrder(ws: Socket, session: Session, id: RequestId, warm: Promise<void> | null, run: () => void): void {
    const before = this.queued.get(session.id);
    if (warm === null && before === undefined) return run();
    const next = Promise.all([before, warm]).then(() => {
      if (session.closed || session.closing) return;
      ws.cork(() => {
        try {
          run();
        } catch (err) {
          this.replyWithError(ws, session, id, err);
        }
      });
    });
    this.queued.set(session.id, next);
    void next.finally(() => {
      if (this.queued.get(session.id) === next) this.queued.delete(session.id);
    });
  }

  private overMessageRate(session: Session): boolean {
    const max = this.options.limits.maxMessagesPerSecond;
    if (max === 0) return false;
    const now = Date.now();
    if (now - session.messageWindowStart >= 1000) {
      session.messageWindowStart = now;
      session.messagesInWindow = 0;
    }
    return ++session.messagesInWindow > max;
  }

  /** Warns before the token expires and closes at expiry, unless a refresh moves the expiry. */
  private scheduleExpiry(ws: Socket, session: Session): void {
    for (const t of session.expiryTimers) clearTimeout(t);
    session.expiryTimers = [];
    const expiresAt = session.identity.expiresAt;
    if (expiresAt === null) return;
    const now = Date.now();
    const warnAt = expiresAt - this.options.expiryWarningSeconds * 1000;
    session.expiryTimers.push(
      setTimeout(() => {
        if (!session.closed) {
          this.send(ws, session, { t: 'auth', state: 'expiring', expiresAt, message: `token expires in ${Math.max(0, Math.round((expiresAt - Date.now()) / 1000))} s; send {"op":"refresh","id":..,"token":..}` });
        }
      }, Math.max(0, warnAt - now)),
      setTimeout(() => {
        if (session.closed) return;
        session.closing = true;
        this.deps.metrics.errors.labels(ErrorCode.UNAUTHORIZED).inc();
        ws.end(1008, 'token expired');
      }, Math.max(0, expiresAt - now)),
    );
  }

  private refresh(ws: Socket, session: Session, id: RequestId, token: string): void {
    this.deps.authenticator.verifyJwt(token).then(
      (identity) => {
        if (session.closed || session.closing) return;
        ws.cork(() => {
          this.replaceIdentity(ws, session, identity, 'token refreshed with narrower entitlements');
          this.send(ws, session, { t: 'auth', id, state: 'refreshed', expiresAt: identity.expiresAt, message: 'token accepted' });
          this.scheduleExpiry(ws, session);
        });
      },
      (err: unknown) => {
        if (session.closed) return;
        const message = err instanceof AuthError ? err.message : 'token refresh failed';
        ws.cork(() => this.sendError(ws, session, id, ErrorCode.UNAUTHORIZED, message));
      },
    );
  }

  /** New entitlements for a live connection: topics it may no longer see stop, with a `revoked` frame. */
  private replaceIdentity(ws: Socket, session: Session, identity: Identity, reason: string): void {
    const previousDelay = session.identity.delayMs;
    session.identity = identity;
    const revoked = this.subscriptions.reapply(session, previousDelay);
    if (revoked.length > 0) this.send(ws, session, { t: 'revoked', topics: revoked, reason });
  }

  /**
   * Applies reloaded API keys (SIGHUP) to live connections: a removed key is closed with 1008,
   * a changed key gets its new entitlements at once.
   */
  applyApiKeys(): void {
    const auth = this.deps.authenticator;
    for (const ws of this.sockets) {
      const session = ws.getUserData();
      const key = session.identity.apiKey;
      if (key === null || session.closing) continue;
      const entry = auth.apiKeyEntry(key);
      ws.cork(() => {
        if (!entry) {
          session.closing = true;
          ws.end(1008, 'API key revoked');
          return;
        }
        this.replaceIdentity(ws, session, auth.identityForKey(entry), 'entitlements changed by the operator');
      });
    }
  }

  private onLimitReached(session: Session, topic: string): void {
    for (const ws of this.sockets) {
      if (ws.getUserData() !== session) continue;
      this.sendError(ws, session, null, ErrorCode.TOO_MANY_SUBSCRIPTIONS, `new topic ${topic} matches your pattern but this connection holds ${this.options.maxSubscriptionsPerConnection} topics already; it is not delivered`);
      return;
    }
  }

  private sendSnapshot(ws: Socket, topic: string): void {
    const last = this.deps.bus.topic(topic)?.last;
    if (last === undefined) return;
    this.send(ws, ws.getUserData(), { t: 'snapshot', topic, epoch: this.deps.bus.epoch, ticks: [last] });
  }

  private replyWithError(ws: Socket, session: Session, id: RequestId | null, err: unknown): void {
    if (err instanceof TickgateError) {
      this.sendError(ws, session, id, err.code, err.message);
      return;
    }
    this.deps.logger.error({ err, session: session.id }, 'request failed');
    this.sendError(ws, session, id, ErrorCode.INTERNAL, 'internal error; the request was not applied');
  }

  private sendError(ws: Socket, session: Session, id: RequestId | null, code: ErrorCode, message: string): void {
    this.deps.metrics.errors.labels(code).inc();
    this.send(ws, session, { t: 'error', id, code, message });
  }

  /** Frames for one socket (welcome, ack, snapshot, replay, status, error, pong), in its format. */
  private send(ws: Socket, session: Session, frame: ServerFrame): void {
    const hot = this.deps.metrics.hot;
    if (session.format === 'json') {
      const text = jsonFrame(frame);
      ws.send(text, false);
      hot.bytesOut += Buffer.byteLength(text);
    } else {
      const bytes = packFrame(frame);
      ws.send(bytes, true);
      hot.bytesOut += bytes.byteLength;
    }
    hot.framesOut++;
  }

  // ---- shutdown ------------------------------------------------------------------

  /** Closes every client connection with `code` while the gateway keeps running (operations, tests). */
  disconnectAll(code: number, reason: string): void {
    for (const ws of this.sockets) {
      const session = ws.getUserData();
      session.closing = true;
      if (code === CLOSE_GOING_AWAY) session.closeReason = 'shutdown';
      ws.end(code, reason);
    }
  }

  /** Stops accepting, closes every client with 1001, waits up to closeGraceMs for them to go, then closes the app. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    this.liveness.stop();
    this.slow.stop();
    this.conflation.stop();
    this.delayed.stop();
    if (this.admissionSweep) clearInterval(this.admissionSweep);
    if (this.metricsListenSocket) {
      uWS.us_listen_socket_close(this.metricsListenSocket);
      this.metricsListenSocket = null;
    }
    this.metricsApp?.close();
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    this.disconnectAll(CLOSE_GOING_AWAY, 'server shutting down');
    if (this.sockets.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.options.closeGraceMs);
        this.onAllClosed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.app.close();
  }
}

function createApp(tls: TransportOptions['tls']): uWS.TemplatedApp {
  if (!tls) return uWS.App();
  return uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, passphrase: tls.passphrase ?? '' });
}

/**
 * The subprotocol to answer with: `tickgate` if offered; otherwise the first offered one, since a
 * browser that offered protocols fails the handshake if none is selected.
 */
function chooseProtocol(offered: string): string {
  const list = offered.split(',').map((p) => p.trim()).filter(Boolean);
  if (list.includes('tickgate')) return 'tickgate';
  return list.find((p) => !p.startsWith('bearer.')) ?? list[0] ?? '';
}

/** Rejects when something listens on host:port already (a Node bind: SO_REUSEADDR, no SO_REUSEPORT). */
function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address in use' : (err.code ?? err.message)}`)),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
