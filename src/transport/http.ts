import { timingSafeEqual } from 'node:crypto';
import type uWS from 'uWebSockets.js';
import { AuthError, credentialOf, type Authenticator } from '../auth/authenticator.ts';
import type { Identity } from '../auth/identity.ts';
import type { TopicBus, TopicView } from '../bus/bus.ts';
import type { Clock } from '../core/clock.ts';
import type { WireEntry } from '../core/tick.ts';
import { ErrorCode } from '../core/errors.ts';
import { parseTopic, topicError, TopicPattern } from '../core/topic.ts';
import { handleBarsRequest, snapshotFields, type BarsQuery } from '../market/market-http.ts';
import type { MarketView } from '../market/market-view.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { registerHealthRoute, type HealthSource } from './health.ts';
import { sendError, sendJson } from './http-send.ts';
import { DASHBOARD_DIST_DIR, NOT_BUILT_HTML, StaticFiles } from './static.ts';

type Res = uWS.HttpResponse;

// The response writers live in http-send.ts (src/market's routes use them too, without importing
// this file: no import cycle); re-exported for the transport's other files.
export { sendError, sendJson } from './http-send.ts';

export interface HttpContext {
  bus: TopicBus;
  metrics: Metrics;
  /** The gateway's clock (the one the bus stamps lastUpdate with). */
  clock: Clock;
  version: string;
  /** What /healthz reports (src/transport/health.ts, shared with the ingest). */
  health: HealthSource;
  topicStatus(topic: string): { status: 'live' | 'stale'; reason: string; since: number };
  log: { error(obj: object, msg?: string): void };
  /** Records a refused request (rate-limited log; see RefusalLog). */
  refused(reason: string, details: Record<string, unknown>): void;
  /** The same authenticator, entitlements and delayed tier as the WebSocket upgrade. */
  authenticator: Authenticator;
  /** The newest value a delayed identity may see (never a fresher one); undefined if none is held. */
  delayedValue(topic: string, delayMs: number): WireEntry | undefined;
  /** When set, /metrics requires `Authorization: Bearer <token>`. */
  metricsBearerToken?: string | undefined;
  /** Renders /metrics; defaults to this registry (worker threads render the aggregate of all threads). */
  renderMetrics?: () => Promise<string>;
  /** Books, bars and day statistics, for /v1/snapshot and /v1/bars. */
  market?: MarketView | undefined;
}

export interface RouteOptions {
  /** Serve /metrics on this app (false when it has a listener of its own). */
  metrics: boolean;
  /** Serve only /metrics (the separate metrics listener). */
  only?: boolean;
}

/** What the /metrics route needs: the gateway's HttpContext, or the ingest's ops listener. */
export type MetricsRouteContext = Pick<HttpContext, 'metrics' | 'metricsBearerToken' | 'renderMetrics' | 'log'>;

/** GET /metrics: Prometheus text, behind `metrics.bearerToken` when one is set. */
export function registerMetricsRoute(app: uWS.TemplatedApp, ctx: MetricsRouteContext): void {
  const { metrics } = ctx;
  const expected = ctx.metricsBearerToken === undefined ? null : Buffer.from(`Bearer ${ctx.metricsBearerToken}`);
  app.get('/metrics', (res, req) => {
    if (expected !== null) {
      const given = Buffer.from(req.getHeader('authorization'));
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return sendError(res, 401, ErrorCode.UNAUTHORIZED, '/metrics needs "Authorization: Bearer <metrics.bearerToken>"', metrics, {
          'WWW-Authenticate': 'Bearer',
        });
      }
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    (ctx.renderMetrics ?? (() => metrics.registry.metrics()))().then(
      (text) => {
        if (aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK').writeHeader('Content-Type', metrics.registry.contentType).end(text);
        });
      },
      (err: unknown) => {
        ctx.log.error({ err }, 'metrics collection failed');
        if (aborted) return;
        res.cork(() => sendError(res, 500, ErrorCode.INTERNAL, 'metrics collection failed', metrics));
      },
    );
  });
}

/**
 * Runs `route` with the request's identity: the one authorisation path of every data route,
 * identical to the WebSocket upgrade's (credentialOf + Authenticator). Credentials: the
 * `Authorization` header (Bearer JWT or ApiKey) or `?token=`. Refusal: 401 with the reason.
 * The request object is valid only in the handler: `route` gets what it needs passed in.
 */
function withIdentity(res: Res, req: uWS.HttpRequest, ctx: HttpContext, route: (identity: Identity) => void): void {
  const auth = ctx.authenticator;
  if (!auth.enabled) return route(auth.anonymous);
  const credential = credentialOf({ authorization: req.getHeader('authorization'), protocols: '', query: req.getQuery('token') ?? '' });
  const url = req.getUrl();
  const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  auth.authenticate(credential).then(
    (identity) => {
      if (!aborted) res.cork(() => route(identity));
    },
    (err: unknown) => {
      const message = err instanceof AuthError ? err.message : 'authentication failed';
      if (!(err instanceof AuthError)) ctx.log.error({ err }, 'authentication error');
      ctx.refused('unauthorized', { ip, url, status: 401, message });
      if (!aborted) res.cork(() => sendError(res, 401, ErrorCode.UNAUTHORIZED, message, ctx.metrics, { 'WWW-Authenticate': 'Bearer' }));
    },
  );
}

/**
 * The one path of every per-topic data route (/v1/snapshot, /v1/bars): authenticate (401), decode
 * and validate the topic (400), check the identity's entitlements (403), then `route`.
 */
function withEntitledTopic(
  res: Res,
  req: uWS.HttpRequest,
  ctx: HttpContext,
  route: (identity: Identity, topic: string, view: TopicView | undefined) => void,
): void {
  const raw = req.getParameter(0) ?? '';
  const { bus, metrics } = ctx;
  withIdentity(res, req, ctx, (identity) => {
    let topic: string;
    try {
      topic = decodeURIComponent(raw);
    } catch {
      return sendError(res, 400, ErrorCode.INVALID_TOPIC, 'the topic in the path is not valid percent-encoding', metrics);
    }
    const err = topicError(topic);
    if (err) return sendError(res, 400, ErrorCode.INVALID_TOPIC, err, metrics);
    const view = bus.topic(topic);
    if (!identity.entitled(view?.parsed ?? parseTopic(topic))) {
      ctx.refused('not_entitled', { subject: identity.subject, topic, status: 403 });
      return sendError(
        res,
        403,
        ErrorCode.NOT_ENTITLED,
        `not entitled to ${topic}; this credential may read ${identity.topics.join(', ') || 'nothing'}`,
        metrics,
      );
    }
    route(identity, topic, view);
  });
}

/** Registers the HTTP API: /metrics, /healthz, /v1/topics, /v1/snapshot/:topic, /v1/bars/:topic, /v1 (index), the dashboard (/, /assets/*), and 404/405 fallbacks. */
export function registerHttpRoutes(app: uWS.TemplatedApp, ctx: HttpContext, options: RouteOptions = { metrics: true }): void {
  const { bus, metrics } = ctx;
  if (options.metrics) registerMetricsRoute(app, ctx);
  if (options.only) {
    app.any('/*', (res, req) => {
      sendError(res, 404, ErrorCode.NOT_FOUND, `this listener serves only GET /metrics, not ${req.getUrl()}`, metrics);
    });
    return;
  }
  const routes = ['/metrics', '/healthz', '/v1/topics', '/v1/snapshot/:topic', '/v1/bars/:topic', '/', '/v1', '/assets/*'].filter(
    (r) => options.metrics || r !== '/metrics',
  );

  registerHealthRoute(app, ctx.health);

  // Data routes authenticate first: an unauthenticated request learns nothing, not even a 400.
  app.get('/v1/topics', (res, req) => {
    const patternText = req.getQuery('pattern');
    withIdentity(res, req, ctx, (identity) => {
      let pattern: TopicPattern | null = null;
      if (patternText) {
        const err = topicError(patternText, true);
        if (err) return sendError(res, 400, ErrorCode.INVALID_TOPIC, err, metrics);
        pattern = new TopicPattern(patternText);
      }
      const now = ctx.clock.now(); // the clock lastUpdate comes from
      const topics = [];
      for (const view of bus.topics()) {
        if (pattern && !pattern.matches(view.parsed)) continue;
        // Topics outside the identity's entitlements are simply absent.
        if (!identity.entitled(view.parsed)) continue;
        const status = ctx.topicStatus(view.parsed.topic);
        // A delayed identity sees the position of its delayed value, never the live one.
        const last = identity.delayMs > 0 ? ctx.delayedValue(view.parsed.topic, identity.delayMs) : view.last;
        const lastUpdate = identity.delayMs > 0 ? (last?.gts ?? 0) : view.lastUpdate;
        topics.push({
          topic: view.parsed.topic,
          feed: view.feedId,
          status: status.status,
          statusReason: status.since === 0 ? null : status.reason,
          seq: last?.seq ?? 0,
          lastUpdate: lastUpdate === 0 ? null : Math.round(lastUpdate),
          ageMs: lastUpdate === 0 ? null : Math.max(0, Math.round(now - lastUpdate)),
        });
      }
      topics.sort((a, b) => (a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : 0));
      sendJson(res, 200, {
        epoch: bus.epoch,
        count: topics.length,
        ...(identity.delayMs > 0 ? { delayMs: identity.delayMs } : {}),
        topics,
      });
    });
  });

  app.get('/v1/snapshot/:topic', (res, req) => {
    withEntitledTopic(res, req, ctx, (identity, topic, view) => {
      if (view?.last === undefined) {
        return sendError(res, 404, ErrorCode.UNKNOWN_TOPIC, `no tick has been seen for topic "${topic}"`, metrics);
      }
      if (identity.delayMs === 0)
        return sendJson(res, 200, { topic, epoch: bus.epoch, feed: view.feedId, ...snapshotFields(ctx, topic, view.last) });
      // One held book update is a diff, not a book: a delayed identity gets no book snapshot (§17.3).
      if (view.parsed.channel === 'book') {
        return sendError(
          res,
          404,
          ErrorCode.UNKNOWN_TOPIC,
          `no delayed snapshot of book topic "${topic}": a delayed identity gets no book snapshot (docs/protocol.md §17.3)`,
          metrics,
        );
      }
      const delayed = ctx.delayedValue(topic, identity.delayMs);
      if (delayed === undefined) {
        return sendError(
          res,
          404,
          ErrorCode.UNKNOWN_TOPIC,
          `no value of "${topic}" at least ${identity.delayMs} ms old (your delay) is held yet`,
          metrics,
        );
      }
      sendJson(res, 200, { topic, epoch: bus.epoch, feed: view.feedId, delayMs: identity.delayMs, ...delayed });
    });
  });

  app.get('/v1/bars/:topic', (res, req) => {
    // uWS request data is gone once this handler returns: read the query before authenticating.
    const query: BarsQuery = { from: req.getQuery('from'), to: req.getQuery('to'), limit: req.getQuery('limit') };
    withEntitledTopic(res, req, ctx, (identity, topic) => handleBarsRequest(ctx, res, topic, query, identity.delayMs));
  });

  // The trading dashboard (dashboards/trading, built into dist/, read into memory once here) at /
  // with its assets under /assets/; the JSON index at /v1, and at / for clients that ask for JSON.
  const dashboard = StaticFiles.load(DASHBOARD_DIST_DIR);
  const index = { name: 'tickgate', version: ctx.version, stream: '/v1/stream', dashboard: '/', endpoints: routes };
  app.get('/v1', (res) => sendJson(res, 200, index));
  app.get('/', (res, req) => {
    const accept = req.getHeader('accept');
    if (accept.includes('application/json') && !accept.includes('text/html')) return sendJson(res, 200, index);
    const page = dashboard.get('/index.html');
    if (page !== undefined) return StaticFiles.send(res, req, page);
    res
      .writeStatus('503 Service Unavailable')
      .writeHeader('Content-Type', 'text/html; charset=utf-8')
      .writeHeader('Cache-Control', 'no-store')
      .end(NOT_BUILT_HTML);
  });
  app.get('/assets/*', (res, req) => {
    const asset = dashboard.get(req.getUrl());
    if (asset === undefined) return sendError(res, 404, ErrorCode.NOT_FOUND, `no dashboard asset ${req.getUrl()}`, metrics);
    StaticFiles.send(res, req, asset);
  });

  for (const route of routes) {
    app.any(route, (res, req) => {
      sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `${req.getMethod().toUpperCase()} ${route}: only GET is allowed`, metrics);
    });
  }
  app.any('/*', (res, req) => {
    sendError(res, 404, ErrorCode.NOT_FOUND, `no route for ${req.getMethod().toUpperCase()} ${req.getUrl()}`, metrics);
  });
}
