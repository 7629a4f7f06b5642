import uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
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
  type WelcomeFrame,
  type WireFormat,
} from '../protocol/frames.ts';
import { parseRequest, salvageId } from '../protocol/requests.ts';
import { ConflationTiers, pickTier } from './conflation.ts';
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
}

export interface TransportDeps {
  bus: TopicBus;
  metrics: Metrics;
  logger: Logger;
  version: string;
  feedStates(): Record<string, string>;
  /** Called when the first connection asks for a topic or pattern, and when the last lets go. */
  interest(entry: string, interested: boolean): void;
}

export type Socket = uWS.WebSocket<Session>;

const CLOSE_GOING_AWAY = 1001;
/** uWS ListenOptions value; typed as an enum but exported only at run time. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
const FORMATS: readonly WireFormat[] = ['msgpack', 'json'];

/**
 * The uWebSockets.js app: WebSocket stream at /v1/stream, HTTP API beside it, and the bus sink
 * that publishes encoded frames with uWS's native publish (no per-subscriber JavaScript).
 */
export class Transport implements BusSink {
  private readonly app: uWS.TemplatedApp;
  private readonly subscriptions: SubscriptionManager;
  private readonly conflation: ConflationTiers;
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
    private readonly options: TransportOptions,
    private readonly deps: TransportDeps,
  ) {
    this.app = uWS.App();
    const { metrics, bus } = deps;
    this.conflation = new ConflationTiers(options.rateTiers, bus, (topic, rate, frame) => this.publishConflated(topic, rate, frame));
    this.subscriptions = new SubscriptionManager(bus, options.maxSubscriptionsPerConnection, options.slowConsumer.downgradeRate, {
      changed: (delta) => metrics.subscriptions.inc(delta),
      interest: deps.interest,
      tier: (topic, rate, delta) => this.conflation.changed(topic, rate, delta),
      limitReached: (session, topic) => this.onLimitReached(session, topic),
    });
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
    };
    registerHttpRoutes(this.app, httpContext);
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      // Exclusive: never share the port with another process by accident.
      const listen = this.app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          // uWS sets no SO_REUSEADDR: after a crash, connections in TIME_WAIT hold the port for up to 60 s.
          reject(new Error(`cannot listen on ${host}:${port}: address in use or not available (after a crash the port can stay held for up to 60 s)`));
          return;
        }
        this.listenSocket = socket;
        this.liveness.start(this.options.livenessCheckIntervalMs);
        this.slow.start();
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
    const subscribers = this.app.numSubscribers(topic);
    if (subscribers > 0) {
      this.app.publish(topic, batch.packed, true);
      hot.framesOut += subscribers;
      hot.bytesOut += subscribers * batch.packed.byteLength;
      hot.ticksOut += subscribers * batch.ticks.length;
    }
    if (this.jsonSessions > 0) {
      this.publishEncoded(wireTopic(topic, 'json'), 'json', { t: 'ticks', topic, epoch: batch.epoch, ticks: batch.ticks.slice() }, batch.ticks.length);
    }
  }

  /** Encodes a frame for one uWS topic only if it has subscribers; returns whether it was sent. */
  private publishEncoded(uwsTopic: string, format: WireFormat, frame: ServerFrame, ticks: number): boolean {
    const subscribers = this.app.numSubscribers(uwsTopic);
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
    for (const format of FORMATS) {
      this.publishEncoded(wireTopic(topic, format), format, frame, 0);
      for (const rate of this.options.rateTiers) this.publishEncoded(wireTopic(topic, format, rate), format, frame, 0);
    }
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
        const formatParam = req.getQuery('format') ?? '';
        const key = req.getHeader('sec-websocket-key');
        const protocol = req.getHeader('sec-websocket-protocol');
        const extensions = req.getHeader('sec-websocket-extensions');
        if (this.shuttingDown) {
          sendError(res, 503, ErrorCode.BAD_UPGRADE, 'the gateway is shutting down', metrics);
          return;
        }
        let format: WireFormat;
        if (formatParam === '' || formatParam === 'msgpack') format = 'msgpack';
        else if (formatParam === 'json') format = 'json';
        else {
          sendError(res, 400, ErrorCode.BAD_UPGRADE, `format must be "msgpack" (default) or "json", got "${formatParam.slice(0, 32)}"`, metrics);
          return;
        }
        const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
        const session = new Session(++this.nextSessionId, format, remote);
        res.upgrade(session, key, protocol, extensions, context);
      },

      open: (ws) => {
        const session = ws.getUserData();
        this.sockets.add(ws);
        this.subscriptions.attach(session, ws);
        if (session.format === 'json') this.jsonSessions++;
        metrics.connections.inc();
        metrics.connectionsOpened.inc();
        this.send(ws, session, { ...this.welcome, format: session.format });
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
        case 'subscribe':
          this.subscribe(ws, session, request);
          break;
        case 'unsubscribe':
          this.subscriptions.unsubscribe(session, request.topics);
          this.send(ws, session, { t: 'ack', id: request.id, op: 'unsubscribe', topics: [...request.topics], snapshots: 0 });
          break;
        case 'ping':
          this.send(ws, session, { t: 'pong', id: request.id, gts: systemClock.now() });
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
    const added = this.subscriptions.subscribe(session, request.topics, rate);
    const plans = added.map((topic) => planDelivery(bus, topic, request.resume.get(topic), request.snapshot));
    const snapshots = plans.filter((p) => p.snapshot).length;
    this.send(ws, session, {
      t: 'ack',
      id: request.id,
      op: 'subscribe',
      topics: [...request.topics],
      snapshots,
      maxRate: rate,
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
