import uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { jsonFrame, packFrame, parseTextMessage, unpackMessage } from '../protocol/codec.ts';
import { PROTOCOL_VERSION, type RequestId, type ServerFrame, type WireFormat } from '../protocol/frames.ts';
import { parseRequest, salvageId } from '../protocol/requests.ts';
import { registerHttpRoutes, sendError, type HttpContext } from './http.ts';
import { Session } from './session.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { wireTopic } from './wire-topics.ts';

export interface TransportOptions {
  host: string;
  port: number;
  /** Application limit: larger client messages get a TG_ERR_MESSAGE_TOO_LARGE error frame. */
  maxMessageBytes: number;
  /** uWS hard limit: larger client messages close the connection with 1009. */
  maxPayloadBytes: number;
  /** Per-connection send buffer limit; frames beyond it are dropped and the client is closed with 1013. */
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
  maxSubscriptionsPerConnection: number;
  /** How long shutdown waits for clients to acknowledge the 1001 close before cutting them off. */
  closeGraceMs: number;
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

type Socket = uWS.WebSocket<Session>;

const CLOSE_GOING_AWAY = 1001;
/** uWS ListenOptions value; typed as an enum but exported only at run time. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
const CLOSE_TRY_AGAIN_LATER = 1013;

/**
 * The uWebSockets.js app: WebSocket stream at /v1/stream, HTTP API beside it, and the bus sink
 * that publishes encoded frames with uWS's native publish (no per-subscriber JavaScript).
 */
export class Transport implements BusSink {
  private readonly app: uWS.TemplatedApp;
  private readonly subscriptions: SubscriptionManager;
  private readonly sockets = new Set<Socket>();
  private readonly slowToClose = new Set<Socket>();
  private listenSocket: uWS.us_listen_socket | null = null;
  private nextSessionId = 0;
  private jsonSessions = 0;
  private shuttingDown = false;
  /** Resolves the pending close() once the last socket has closed. */
  private onAllClosed: (() => void) | null = null;
  private readonly welcome: Omit<Extract<ServerFrame, { t: 'welcome' }>, 'format'>;

  constructor(
    private readonly options: TransportOptions,
    private readonly deps: TransportDeps,
  ) {
    this.app = uWS.App();
    const { metrics } = deps;
    this.subscriptions = new SubscriptionManager(deps.bus, options.maxSubscriptionsPerConnection, {
      changed: (delta) => metrics.subscriptions.inc(delta),
      interest: deps.interest,
    });
    this.welcome = {
      t: 'welcome',
      v: PROTOCOL_VERSION,
      server: `tickgate/${deps.version}`,
      epoch: deps.bus.epoch,
      maxMessageBytes: options.maxMessageBytes,
      maxSubscriptions: options.maxSubscriptionsPerConnection,
    };
    this.registerStream();
    const httpContext: HttpContext = {
      bus: deps.bus,
      metrics,
      startedAt: Date.now(),
      version: deps.version,
      feedStates: deps.feedStates,
      isShuttingDown: () => this.shuttingDown,
      log: deps.logger,
    };
    registerHttpRoutes(this.app, httpContext);
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  listen(): Promise<number> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      // Exclusive: uWS sets SO_REUSEPORT by default, which would let a second gateway silently share the port.
      const listen = this.app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      listen.call(this.app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port}: address in use or not available`));
          return;
        }
        this.listenSocket = socket;
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
    if (this.jsonSessions > 0) this.publishJson(topic, batch);
  }

  /** JSON subscribers share one JSON encoding per frame, only built when someone wants it. */
  private publishJson(topic: string, batch: EncodedBatch): void {
    const jsonTopic = wireTopic(topic, 'json');
    const subscribers = this.app.numSubscribers(jsonTopic);
    if (subscribers === 0) return;
    const text = jsonFrame({ t: 'ticks', topic, epoch: batch.epoch, ticks: batch.ticks.slice() });
    this.app.publish(jsonTopic, text, false);
    const hot = this.deps.metrics.hot;
    hot.framesOut += subscribers;
    hot.bytesOut += subscribers * Buffer.byteLength(text);
    hot.ticksOut += subscribers * batch.ticks.length;
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
        // Called from inside uWS's send/publish drain: record now, close on the next turn.
        const session = ws.getUserData();
        session.droppedFrames++;
        deps.metrics.hot.framesDropped++;
        if (!session.closing) {
          session.closing = true;
          session.closeReason = 'slow_consumer';
          if (this.slowToClose.size === 0) setImmediate(() => this.closeSlowConsumers());
          this.slowToClose.add(ws);
        }
      },

      drain: (ws) => {
        const session = ws.getUserData();
        if (session.closeReason === 'slow_consumer' && session.closeTimer && ws.getBufferedAmount() < options.maxBackpressureBytes) {
          this.endSlowConsumer(ws);
        }
      },

      close: (ws, code) => {
        const session = ws.getUserData();
        session.closed = true;
        if (session.closeTimer) clearTimeout(session.closeTimer);
        this.sockets.delete(ws);
        this.slowToClose.delete(ws);
        if (this.sockets.size === 0) this.onAllClosed?.();
        this.subscriptions.release(session);
        if (session.format === 'json') this.jsonSessions--;
        metrics.connections.dec();
        metrics.connectionsClosed.labels(session.closeReason).inc();
        logger.debug({ session: session.id, code, reason: session.closeReason, dropped: session.droppedFrames }, 'connection closed');
      },
    });
  }

  /**
   * A slow consumer first loses its subscriptions, so nothing more queues up. Its close frame
   * (1013) can only be delivered once the buffer is back under the limit (uWS drops frames over
   * it, the close frame too), so it is sent at drain; a client that never drains is cut off
   * after closeGraceMs.
   */
  private closeSlowConsumers(): void {
    for (const ws of this.slowToClose) {
      const session = ws.getUserData();
      if (session.closed) continue;
      this.deps.logger.warn({ session: session.id, remote: session.remoteAddress, dropped: session.droppedFrames }, 'closing slow consumer');
      this.subscriptions.unsubscribeAll(session);
      if (ws.getBufferedAmount() < this.options.maxBackpressureBytes) {
        this.endSlowConsumer(ws);
      } else {
        session.closeTimer = setTimeout(() => {
          if (!session.closed) ws.close();
        }, this.options.closeGraceMs);
      }
    }
    this.slowToClose.clear();
  }

  private endSlowConsumer(ws: Socket): void {
    const session = ws.getUserData();
    if (session.closeTimer) clearTimeout(session.closeTimer);
    session.closeTimer = null;
    ws.end(CLOSE_TRY_AGAIN_LATER, `slow consumer: ${session.droppedFrames} frames dropped over the send buffer limit`);
  }

  private onClientMessage(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData();
    const { metrics } = this.deps;
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
          const snapshots = this.subscriptions.subscribe(session, request.topics);
          this.send(ws, session, { t: 'ack', id: request.id, op: 'subscribe', topics: [...request.topics], snapshots: snapshots.length });
          const epoch = this.deps.bus.epoch;
          for (const view of snapshots) {
            this.send(ws, session, { t: 'snapshot', topic: view.parsed.topic, epoch, ticks: [view.last!] });
          }
          break;
        }
        case 'unsubscribe':
          this.subscriptions.unsubscribe(session, request.topics);
          this.send(ws, session, { t: 'ack', id: request.id, op: 'unsubscribe', topics: [...request.topics], snapshots: 0 });
          break;
        case 'ping':
          this.send(ws, session, { t: 'pong', id: request.id, gts: Date.now() });
          break;
      }
    } catch (err) {
      this.replyWithError(ws, session, request.id, err);
    }
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

  /** Control frames (welcome, ack, snapshot, error, pong): one socket, encoded in its format. */
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

  /** Stops accepting, closes every client with 1001, waits up to closeGraceMs for them to go, then closes the app. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
    for (const ws of this.sockets) {
      const session = ws.getUserData();
      session.closing = true;
      session.closeReason = 'shutdown';
      ws.end(CLOSE_GOING_AWAY, 'server shutting down');
    }
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
