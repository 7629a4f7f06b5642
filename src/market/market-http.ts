import type uWS from 'uWebSockets.js';
import type { TopicBus } from '../bus/bus.ts';
import type { Clock } from '../core/clock.ts';
import type { WireEntry } from '../core/tick.ts';
import { ErrorCode } from '../core/errors.ts';
import { parseTopic } from '../core/topic.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { sendError, sendJson } from '../transport/http-send.ts';
import { BAR_INTERVALS } from './bars.ts';
import type { MarketView } from './market-view.ts';

export interface MarketHttpContext {
  bus: TopicBus;
  metrics: Metrics;
  /** The gateway clock (bar times are gateway time); a delayed identity's cutoff is now − delayMs. */
  clock: Clock;
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

/** The query of GET /v1/bars, as given (read before authentication: uWS requests do not outlive the handler). */
export interface BarsQuery {
  from: string | undefined;
  to: string | undefined;
  limit: string | undefined;
}

/**
 * GET /v1/bars/<topic>?from=&to=&limit=: a bar topic's recent bars as JSON, oldest first — the
 * closed ones kept (market.barHistory) and the open one (`final: false`). `from`/`to` (epoch ms)
 * select bars with from ≤ start < to; `limit` (default 100, at most 10 000) keeps the newest.
 * Called by the HTTP routes after the same authentication and entitlement check as
 * /v1/snapshot (`topic` is valid and entitled). A delayed identity (`delayMs` > 0) gets only the
 * bars that ended at least `delayMs` ago: never the open bar, never a fresher one.
 */
export function handleBarsRequest(ctx: MarketHttpContext, res: uWS.HttpResponse, topic: string, query: BarsQuery, delayMs: number): void {
  const { metrics } = ctx;
  const channel = parseTopic(topic).channel;
  const interval = channel.startsWith('bar_') ? BAR_INTERVALS[channel.slice(4)] : undefined;
  if (interval === undefined) {
    return sendError(
      res,
      400,
      ErrorCode.INVALID_TOPIC,
      `"${topic}" is not a bar topic; bar topics are <assetClass>.<SYMBOL>.bar_<interval> with interval one of ${Object.keys(BAR_INTERVALS).join(', ')}`,
      metrics,
    );
  }
  const from = intParam(query.from);
  const to = intParam(query.to);
  const limit = intParam(query.limit);
  if (from === null || to === null)
    return sendError(res, 400, ErrorCode.INVALID_REQUEST, 'from and to must be integers (epoch milliseconds)', metrics);
  if (limit === null || (limit !== undefined && (limit < 1 || limit > MAX_BARS_PER_REQUEST))) {
    return sendError(res, 400, ErrorCode.INVALID_REQUEST, `limit must be an integer from 1 to ${MAX_BARS_PER_REQUEST}`, metrics);
  }
  let upTo = to ?? Number.POSITIVE_INFINITY;
  if (delayMs > 0) {
    // Bars are aligned (integer starts): start + interval ≤ cutoff ⇔ start < floor(cutoff) − interval + 1.
    upTo = Math.min(upTo, Math.floor(ctx.clock.now() - delayMs) - interval + 1);
  }
  const bars = ctx.market?.bars(topic, from ?? Number.NEGATIVE_INFINITY, upTo, limit ?? DEFAULT_BARS_LIMIT);
  if (bars === undefined) return sendError(res, 404, ErrorCode.UNKNOWN_TOPIC, `no bar has been built for topic "${topic}"`, metrics);
  sendJson(res, 200, { topic, epoch: ctx.bus.epoch, intervalMs: interval, ...(delayMs > 0 ? { delayMs } : {}), count: bars.length, bars });
}
