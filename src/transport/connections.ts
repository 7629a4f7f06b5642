import uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { TopicBus } from '../bus/bus.ts';
import { AuthError, credentialOf, type Authenticator } from '../auth/authenticator.ts';
import type { Clock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { WelcomeFrame, WireFormat } from '../protocol/frames.ts';
import type { Admission, RefusalLog } from './admission.ts';
import type { FanOut } from './fan-out.ts';
import { sendError } from './http.ts';
import type { Replies } from './replies.ts';
import type { RequestHandler } from './requests.ts';
import { Session, slowState, type Socket } from './session.ts';
import type { SlowConsumerGuard } from './slow-consumers.ts';
import type { SubscriptionManager } from './subscriptions.ts';
import type { TokenLifecycle } from './tokens.ts';

export interface ConnectionOptions {
  /** uWS hard limit: larger client messages drop the connection (clients see 1006). */
  maxPayloadBytes: number;
  /** Per-connection send buffer limit; frames beyond it are dropped and the client is closed with 1013. */
  maxBackpressureBytes: number;
  idleTimeoutSeconds: number;
}

export interface ConnectionDeps {
  /** Every open socket; shared with the slow-consumer guard, which sweeps it. */
  sockets: Set<Socket>;
  bus: Pick<TopicBus, 'epoch'>;
  metrics: Metrics;
  logger: Logger;
  authenticator: Authenticator;
  admission: Admission;
  /** Rate-limited log of refused upgrades (shared with the HTTP routes). */
  refusals: Pick<RefusalLog, 'refused'>;
  subscriptions: Pick<SubscriptionManager, 'attach' | 'release'>;
  fanOut: Pick<FanOut, 'formatCount'>;
  replies: Pick<Replies, 'sendWelcome'>;
  tokens: Pick<TokenLifecycle, 'scheduleExpiry' | 'clear'>;
  requests: Pick<RequestHandler, 'onClientMessage'>;
  slow: Pick<SlowConsumerGuard, 'overHardLimit' | 'drained' | 'answered' | 'forget'>;
  clock: Clock;
  /** The welcome frame without its per-connection fields. */
  welcome: Omit<WelcomeFrame, 'format'>;
  isShuttingDown(): boolean;
}

const CLOSE_GOING_AWAY = 1001;
/** Decodes the ASCII address uWS gives as an ArrayBuffer, without a Buffer wrapper per connection. */
const addressText = new TextDecoder();

/**
 * The WebSocket lifecycle at /v1/stream: upgrade (admission, format, authentication), open
 * (welcome, expiry timers), messages (to the request handler), dropped/drain/pong (to the slow
 * consumer guard) and close (releasing everything the connection held).
 */
export class StreamConnections {
  private readonly sockets: Set<Socket>;
  private nextSessionId = 0;
  /** Resolves the pending close() once the last socket has closed. */
  private onAllClosed: (() => void) | null = null;

  constructor(
    private readonly options: ConnectionOptions,
    private readonly deps: ConnectionDeps,
  ) {
    this.sockets = deps.sockets;
  }

  get count(): number {
    return this.sockets.size;
  }

  /** The session's socket while it is open, for replies that start from a session (a pattern hit the limit). */
  socketOf(session: Session): Socket | undefined {
    return session.closed ? undefined : (session.socket ?? undefined);
  }

  register(app: uWS.TemplatedApp): void {
    const { options, deps } = this;
    const { metrics, logger } = deps;
    app.ws<Session>('/v1/stream', {
      compression: uWS.DISABLED,
      maxPayloadLength: options.maxPayloadBytes,
      maxBackpressure: options.maxBackpressureBytes,
      closeOnBackpressureLimit: 0,
      idleTimeout: options.idleTimeoutSeconds,
      sendPingsAutomatically: true,

      upgrade: (res, req, context) => this.upgrade(res, req, context),

      open: (ws) => {
        const session = ws.getUserData();
        this.sockets.add(ws);
        // One copy of the address string per address, not per connection.
        session.remoteAddress = deps.admission.opened(session.remoteAddress);
        deps.subscriptions.attach(session, ws);
        deps.fanOut.formatCount(session.format, 1);
        metrics.conn.open++;
        metrics.conn.opened++;
        deps.replies.sendWelcome(ws, session, deps.welcome, deps.bus.epoch); // a relaying bus learns its epoch from upstream
        deps.tokens.scheduleExpiry(ws, session);
      },

      message: (ws, message, isBinary) => {
        deps.requests.onClientMessage(ws, message, isBinary);
      },

      dropped: (ws) => {
        // Called from inside uWS's send/publish drain: record now, act on the next turn.
        const session = ws.getUserData();
        slowState(session).droppedFrames++;
        metrics.hot.framesDropped++;
        deps.slow.overHardLimit(ws);
      },

      drain: (ws) => {
        deps.slow.drained(ws);
      },

      // A read probe answered (slow consumers): the client has read everything sent before it.
      pong: (ws, message) => {
        deps.slow.answered(ws, message);
      },

      close: (ws, code) => {
        const session = ws.getUserData();
        session.closed = true;
        if (session.slow?.closeTimer) clearTimeout(session.slow.closeTimer);
        deps.tokens.clear(session);
        deps.admission.closed(session.remoteAddress);
        this.sockets.delete(ws);
        deps.slow.forget(ws);
        if (this.sockets.size === 0) this.onAllClosed?.();
        deps.subscriptions.release(session);
        deps.fanOut.formatCount(session.format, -1);
        metrics.conn.open--;
        metrics.connectionsClosed.labels(session.closeReason).inc();
        session.socket = null;
        logger.debug(
          { session: session.id, code, reason: session.closeReason, dropped: session.slow?.droppedFrames ?? 0 },
          'connection closed',
        );
      },
    });
  }

  /**
   * Admission, format and authentication at the upgrade. The common path (no authentication)
   * allocates no closures: a connection storm is thousands of these per second.
   */
  private upgrade(res: uWS.HttpResponse, req: uWS.HttpRequest, context: uWS.us_socket_context_t): void {
    const { deps } = this;
    // The request is valid only inside this callback: copy what is needed.
    const formatParam = req.getQuery('format') ?? '';
    const key = req.getHeader('sec-websocket-key');
    const protocols = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const version = req.getHeader('sec-websocket-version');
    const origin = req.getHeader('origin');
    const ip = addressText.decode(res.getRemoteAddressAsText());
    if (deps.isShuttingDown()) return this.refuse(res, ip, 503, ErrorCode.BAD_UPGRADE, 'the gateway is shutting down', 'shutting_down');
    // RFC 6455 §4.4: only version 13 exists; uWS itself does not check the header.
    if (version !== '13') {
      return this.refuse(
        res,
        ip,
        426,
        ErrorCode.BAD_UPGRADE,
        `Sec-WebSocket-Version must be 13, got "${version.slice(0, 16)}"`,
        'bad_request',
        { 'Sec-WebSocket-Version': '13' },
      );
    }
    let format: WireFormat;
    if (formatParam === '' || formatParam === 'msgpack') format = 'msgpack';
    else if (formatParam === 'json') format = 'json';
    else
      return this.refuse(
        res,
        ip,
        400,
        ErrorCode.BAD_UPGRADE,
        `format must be "msgpack" (default) or "json", got "${formatParam.slice(0, 32)}"`,
        'bad_request',
      );
    const refusal = deps.admission.check(ip, origin, deps.clock.now());
    if (refusal) return this.refuse(res, ip, refusal.status, refusal.code, refusal.message, refusal.reason);
    const protocol = protocols === '' ? '' : chooseProtocol(protocols);

    const authenticator = deps.authenticator;
    if (!authenticator.enabled) {
      res.upgrade(new Session(++this.nextSessionId, format, ip, authenticator.anonymous), key, protocol, extensions, context);
      return;
    }
    const credentials = { authorization: req.getHeader('authorization'), protocols, query: req.getQuery('token') ?? '' };
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    authenticator.authenticate(credentialOf(credentials)).then(
      (identity) => {
        if (!aborted)
          res.cork(() => res.upgrade(new Session(++this.nextSessionId, format, ip, identity), key, protocol, extensions, context));
      },
      (err: unknown) => {
        if (aborted) return;
        const message = err instanceof AuthError ? err.message : 'authentication failed';
        if (!(err instanceof AuthError)) deps.logger.error({ err }, 'authentication error');
        res.cork(() => this.refuse(res, ip, 401, ErrorCode.UNAUTHORIZED, message, 'unauthorized'));
      },
    );
  }

  private refuse(
    res: uWS.HttpResponse,
    ip: string,
    status: number,
    code: ErrorCode,
    message: string,
    reason: string,
    headers: Record<string, string> = {},
  ): void {
    const { metrics, refusals } = this.deps;
    metrics.connectionsRefused.labels(reason).inc();
    refusals.refused(reason, { surface: 'upgrade', ip, status, code, message });
    sendError(res, status, code, message, metrics, headers);
  }

  /** Closes every client connection with `code` while the gateway keeps running (operations, tests). */
  disconnectAll(code: number, reason: string): void {
    for (const ws of this.sockets) {
      const session = ws.getUserData();
      session.closing = true;
      if (code === CLOSE_GOING_AWAY) session.closeReason = 'shutdown';
      ws.end(code, reason);
    }
  }

  /** Resolves once every socket has closed, or after `graceMs`, whichever comes first. */
  async allClosed(graceMs: number): Promise<void> {
    if (this.sockets.size === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, graceMs);
      this.onAllClosed = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}

/**
 * The subprotocol to answer with: `tickgate` if offered; otherwise the first offered one, since a
 * browser that offered protocols fails the handshake if none is selected.
 */
function chooseProtocol(offered: string): string {
  const list = offered
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (list.includes('tickgate')) return 'tickgate';
  return list.find((p) => !p.startsWith('bearer.')) ?? list[0] ?? '';
}
