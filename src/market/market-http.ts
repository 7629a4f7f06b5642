import type uWS from 'uWebSockets.js';
import type { TopicBus } from '../bus/bus.ts';
import type { WireEntry } from '../core/tick.ts';
import { ErrorCode } from '../core/errors.ts';
import { parseTopic, topicError } from '../core/topic.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { sendError, sendJson } from '../transport/http.ts';
import { BAR_INTERVALS } from './bars.ts';
import type { MarketView } from './market-view.ts';

export interface MarketHttpContext {
  bus: TopicBus;
  metrics: Metrics;
  market?: MarketView | undefined;
}

/** Most bars one GET /v1/bars returns. */
export const MAX_BARS_PER_REQUEST = 10_000;
const DEFAULT_BARS_LIMIT = 100;

/**
 * The fields of GET /v1/snapshot/<topic> after topic/epoch/feed: the topic's snapshot entry (a
 * book topic: the whole top N; a bar topic: the newest bar) and the instrument's day statistics.
 */
export function snapshotFields(ctx: MarketHttpContext, topic: string, last: WireEntry): object {
  const frame = ctx.market?.snapshotFrame(topic, ctx.bus.epoch);
  if (frame === undefined) return last;
  const entry = frame.ticks[frame.ticks.length - 1] ?? last;
  return frame.stats === undefined ? entry : { ...entry, stats: frame.stats };
}

/** Parses an optional integer query parameter; undefined when absent, null when invalid. */
function intParam(text: string | undefined): number | null | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^-?\d{1,16}$/.test(text)) return null;
  return Number(text);
}

/**
 * GET /v1/bars/<topic>?from=&to=&limit=: a bar topic's recent bars as JSON, oldest first — the
 * closed ones kept (market.barHistory) and the open one (`final: false`). `from`/`to` (epoch ms)
 * select bars with from ≤ start < to; `limit` (default 100, at most 10 000) keeps the newest.
 * Registered by registerHttpRoutes beside /v1/snapshot, so it sits behind the same checks.
 */
export function handleBarsRequest(ctx: MarketHttpContext, res: uWS.HttpResponse, req: uWS.HttpRequest): void {
  const { metrics } = ctx;
  let topic: string;
  try {
    topic = decodeURIComponent(req.getParameter(0) ?? '');
  } catch {
    return sendError(res, 400, ErrorCode.INVALID_TOPIC, 'the topic in the path is not valid percent-encoding', metrics);
  }
  const err = topicError(topic);
  if (err) return sendError(res, 400, ErrorCode.INVALID_TOPIC, err, metrics);
  const channel = parseTopic(topic).channel;
  const interval = channel.startsWith('bar_') ? BAR_INTERVALS[channel.slice(4)] : undefined;
  if (interval === undefined) {
    return sendError(res, 400, ErrorCode.INVALID_TOPIC, `"${topic}" is not a bar topic; bar topics are <assetClass>.<SYMBOL>.bar_<interval> with interval one of ${Object.keys(BAR_INTERVALS).join(', ')}`, metrics);
  }
  const from = intParam(req.getQuery('from'));
  const to = intParam(req.getQuery('to'));
  const limit = intParam(req.getQuery('limit'));
  if (from === null || to === null) return sendError(res, 400, ErrorCode.INVALID_REQUEST, 'from and to must be integers (epoch milliseconds)', metrics);
  if (limit === null || (limit !== undefined && (limit < 1 || limit > MAX_BARS_PER_REQUEST))) {
    return sendError(res, 400, ErrorCode.INVALID_REQUEST, `limit must be an integer from 1 to ${MAX_BARS_PER_REQUEST}`, metrics);
  }
  const bars = ctx.market?.bars(topic, from ?? Number.NEGATIVE_INFINITY, to ?? Number.POSITIVE_INFINITY, limit ?? DEFAULT_BARS_LIMIT);
  if (bars === undefined) return sendError(res, 404, ErrorCode.UNKNOWN_TOPIC, `no bar has been built for topic "${topic}"`, metrics);
  sendJson(res, 200, { topic, epoch: ctx.bus.epoch, intervalMs: interval, count: bars.length, bars });
}
