import { readdirSync } from 'node:fs';
import client from 'prom-client';
import { systemClock, type Clock } from '../core/clock.ts';
import { ALL_ERROR_CODES } from '../core/errors.ts';
import { PROCESS_ERROR_KINDS, processErrorCounts } from '../process-guards.ts';
import { FastHistogram } from './fast-histogram.ts';
import { HotStats } from './hot-stats.ts';
import { CLIENT_MESSAGE_LABELS, ConnectionStats } from './connection-stats.ts';

/** Tick ingest → publish latency buckets: 50 µs … 1 s. */
export const LATENCY_BUCKETS_SECONDS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

export const CLOSE_REASONS = ['client', 'shutdown', 'slow_consumer', 'error'] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];
/** Every `reason` of tickgate_connections_refused_total (README "Metrics" lists the same). */
export const REFUSAL_REASONS = ['unauthorized', 'origin', 'limit_total', 'limit_ip', 'rate_ip', 'bad_request', 'shutting_down'] as const;
export type RefusalReason = (typeof REFUSAL_REASONS)[number];
export const SLOW_CONSUMER_ACTIONS = ['downgrade', 'recover', 'close_timeout', 'close_hard'] as const;

/**
 * Every metric tickgate exports, defined in one place, on its own registry.
 * Labels are low-cardinality by construction: feed id, error code, reject reason, close reason.
 */
export function createMetrics(hot: HotStats = new HotStats(), options: { processMetrics?: boolean; clock?: Clock } = {}) {
  const registry = new client.Registry();
  const r = [registry];
  const clock = options.clock ?? systemClock;
  // Process-wide metrics come from the main thread only: worker threads share the process.
  if (options.processMetrics ?? true) {
    client.collectDefaultMetrics({ register: registry });
    // prom-client's process_open_fds lists /proc/self/fd on every scrape: with 10,000 connections
    // that is 88% of a scrape (25-50 scrapes/s instead of hundreds). Same metric, read at most
    // every 10 s.
    registry.removeSingleMetric('process_open_fds');
    let fds = 0;
    let readAt = 0;
    new client.Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors (refreshed at most every 10 s).',
      registers: r,
      collect() {
        const now = clock.now();
        if (now - readAt >= 10_000) {
          readAt = now;
          try {
            fds = readdirSync('/proc/self/fd').length;
          } catch {
            fds = Number.NaN; // not Linux
          }
        }
        this.set(fds);
      },
    });
  }

  const reportedTicksIn = new Map<string, number>();
  const reportedProcessErrors = new Map<string, number>();
  const busHot = { framesIn: 0, framesOut: 0, framesDropped: 0 };
  const conn = new ConnectionStats();
  const reportedMessages = new Map<string, number>();

  const m = {
    registry,
    hot,
    /** Plain counts for the connection path (open, close, subscribe), read at scrape time. */
    conn,
    connections: new client.Gauge({
      name: 'tickgate_connections',
      help: 'Open WebSocket connections',
      registers: r,
      collect() {
        this.set(conn.open);
      },
    }),
    connectionsOpened: new client.Counter({
      name: 'tickgate_connections_opened_total',
      help: 'WebSocket connections accepted',
      registers: r,
      collect: deltaOf(() => conn.opened),
    }),
    connectionsClosed: new client.Counter({
      name: 'tickgate_connections_closed_total',
      help: 'WebSocket connections closed, by reason',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    connectionsRefused: new client.Counter({
      name: 'tickgate_connections_refused_total',
      help: 'WebSocket upgrades refused, by reason (unauthorized, origin, limit_total, limit_ip, rate_ip, bad_request, shutting_down)',
      labelNames: ['reason'] as const,
      registers: r,
    }),
    subscriptions: new client.Gauge({
      name: 'tickgate_subscriptions',
      help: 'Topic subscriptions across all connections (a pattern counts once per topic it matches)',
      registers: r,
      collect() {
        this.set(conn.subscriptions);
      },
    }),
    topics: new client.Gauge({ name: 'tickgate_topics', help: 'Topics known to the bus', registers: r }),
    ticksIn: new client.Counter({
      name: 'tickgate_ticks_in_total',
      help: 'Ticks accepted from feeds',
      labelNames: ['feed'] as const,
      registers: r,
      collect() {
        for (const [feed, c] of hot.ticksIn) {
          const reported = reportedTicksIn.get(feed) ?? 0;
          if (c.count > reported) this.labels(feed).inc(c.count - reported);
          reportedTicksIn.set(feed, c.count);
        }
      },
    }),
    ticksRejected: new client.Counter({
      name: 'tickgate_ticks_rejected_total',
      help: 'Ticks refused by the bus, by feed and reason',
      labelNames: ['feed', 'reason'] as const,
      registers: r,
    }),
    framesPublished: new client.Counter({
      name: 'tickgate_frames_published_total',
      help: 'Tick frames encoded and published (once per frame, before fan-out)',
      registers: r,
      collect: deltaOf(() => hot.framesPublished),
    }),
    framesOut: new client.Counter({
      name: 'tickgate_frames_out_total',
      help: 'Frames queued to clients (tick frames × subscribers, plus control frames)',
      registers: r,
      collect: deltaOf(() => hot.framesOut),
    }),
    bytesOut: new client.Counter({
      name: 'tickgate_bytes_out_total',
      help: 'Payload bytes queued to clients',
      registers: r,
      collect: deltaOf(() => hot.bytesOut),
    }),
    ticksOut: new client.Counter({
      name: 'tickgate_ticks_out_total',
      help: 'Ticks queued to clients (ticks × subscribers)',
      registers: r,
      collect: deltaOf(() => hot.ticksOut),
    }),
    framesDropped: new client.Counter({
      name: 'tickgate_frames_dropped_total',
      help: 'Frames a client did not get because its send buffer was over transport.maxBackpressureBytes',
      registers: r,
      collect: deltaOf(() => hot.framesDropped),
    }),
    clientMessages: new client.Counter({
      name: 'tickgate_client_messages_total',
      help: 'Messages received from clients, by op (invalid ones as "invalid")',
      labelNames: ['op'] as const,
      registers: r,
      collect() {
        for (const op of CLIENT_MESSAGE_LABELS) {
          const now = conn.messages[op];
          const before = reportedMessages.get(op) ?? 0;
          if (now > before) this.labels(op).inc(now - before);
          reportedMessages.set(op, now);
        }
      },
    }),
    errors: new client.Counter({
      name: 'tickgate_errors_total',
      help: 'Errors reported to clients or logged, by code',
      labelNames: ['code'] as const,
      registers: r,
    }),
    feedUp: new client.Gauge({
      name: 'tickgate_feed_up',
      help: '1 while a feed adapter is running, 0 while it is stopped or waiting to restart',
      labelNames: ['feed'] as const,
      registers: r,
    }),
    feedRestarts: new client.Counter({
      name: 'tickgate_feed_restarts_total',
      help: 'Feed adapter restarts after a failure',
      labelNames: ['feed'] as const,
      registers: r,
    }),
    feedFailures: new client.Counter({
      name: 'tickgate_feed_failures_total',
      help: 'Feed adapter failures (throw, rejection, or ctx.fail)',
      labelNames: ['feed'] as const,
      registers: r,
    }),
    slowConsumerActions: new client.Counter({
      name: 'tickgate_slow_consumer_actions_total',
      help: 'Slow-consumer steps: downgrade, recover, close_timeout (1008), close_hard (1013)',
      labelNames: ['action'] as const,
      registers: r,
    }),
    conflatedFrames: new client.Counter({
      name: 'tickgate_conflated_frames_published_total',
      help: 'Rate-limited (conflated) frames published, once per topic, tier and format with subscribers',
      registers: r,
    }),
    processErrors: new client.Counter({
      name: 'tickgate_process_errors_total',
      help: 'Unhandled promise rejections and uncaught exceptions seen by the process guards (src/process-guards.ts), by kind; should stay 0',
      labelNames: ['kind'] as const,
      registers: r,
      collect() {
        // Process-wide plain counts (the guards run outside any gateway); report what they gained.
        for (const kind of PROCESS_ERROR_KINDS) {
          const now = processErrorCounts[kind];
          const delta = now - (reportedProcessErrors.get(kind) ?? 0);
          this.labels(kind).inc(Math.max(delta, 0));
          reportedProcessErrors.set(kind, now);
        }
      },
    }),
    staleTopics: new client.Gauge({
      name: 'tickgate_stale_topics',
      help: 'Topics currently stale (no tick for liveness.staleAfterMs, or their feed is down)',
      registers: r,
    }),
    busConnected: new client.Gauge({
      name: 'tickgate_bus_connected',
      help: '1 while the bus is connected to its broker (NATS; always 1 for the in-process bus), 0 while it is reconnecting',
      registers: r,
    }),
    busReconnects: new client.Counter({
      name: 'tickgate_bus_reconnects_total',
      help: 'Reconnections to the bus broker (NATS) after a lost connection',
      registers: r,
    }),
    busFramesIn: new client.Counter({
      name: 'tickgate_bus_frames_in_total',
      help: 'Frames received from the bus broker (NATS serve side), before de-duplication',
      registers: r,
      collect: deltaOf(() => busHot.framesIn),
    }),
    busFramesOut: new client.Counter({
      name: 'tickgate_bus_frames_out_total',
      help: 'Frames handed to the bus broker (NATS ingest side; frames republished after an outage count again)',
      registers: r,
      collect: deltaOf(() => busHot.framesOut),
    }),
    busFramesDropped: new client.Counter({
      name: 'tickgate_bus_frames_dropped_total',
      help: 'Frames the ingest side did not hand to NATS: disconnected longer than its reconnect buffer holds',
      registers: r,
      collect: deltaOf(() => busHot.framesDropped),
    }),
    busStreamReads: new client.Counter({
      name: 'tickgate_bus_stream_reads_total',
      help: 'JetStream reads answering a subscribe on a topic this gateway had no live state for, by kind (snapshot, history) and result (ok, empty, error, timeout)',
      labelNames: ['kind', 'result'] as const,
      registers: r,
    }),
    /** Plain counters for the bus's per-frame path, read at scrape time. */
    busHot,
    publishLatency: new FastHistogram(
      'tickgate_publish_latency_seconds',
      'Time from a tick entering the bus to its frame being handed to uWebSockets.js',
      LATENCY_BUCKETS_SECONDS,
    ).register(registry),
  };

  // Zero-initialise labelled series so dashboards and rate() see them before the first event.
  for (const code of ALL_ERROR_CODES) m.errors.labels(code).inc(0);
  for (const reason of CLOSE_REASONS) m.connectionsClosed.labels(reason).inc(0);
  for (const reason of REFUSAL_REASONS) m.connectionsRefused.labels(reason).inc(0);
  for (const action of SLOW_CONSUMER_ACTIONS) m.slowConsumerActions.labels(action).inc(0);
  m.busReconnects.inc(0);
  return m;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** A prom-client collect() that adds whatever a plain counter gained since the last scrape. */
function deltaOf(read: () => number) {
  let reported = 0;
  return function (this: client.Counter) {
    const now = read();
    if (now > reported) this.inc(now - reported);
    reported = now;
  };
}
