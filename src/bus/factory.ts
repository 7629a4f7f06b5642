import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { Config } from '../config/schema.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { BusObserver, TopicBus } from './bus.ts';
import { MemoryBus } from './memory-bus.ts';
import { NatsBus } from './nats/nats-bus.ts';

export interface BusDeps {
  clock: Clock;
  logger: Logger;
  metrics: Metrics;
  /** Tick accounting of the in-process bus (unused on the NATS serve side: ticks enter at ingest). */
  observer: BusObserver;
  /**
   * The bus's broker connection went down or came back (NATS), with the ids of the feeds whose
   * topics it serves; the gateway marks those topics stale meanwhile.
   */
  onConnection?: (up: boolean, feeds: ReadonlySet<string>) => void;
}

/** The bus a gateway serves from, plus what the composition root wires around it. */
export interface BusWiring {
  readonly bus: TopicBus;
  /** Whether this process's feed adapters publish into the bus (false for `serve --bus nats://`: ticks come from `tickgate ingest`). */
  readonly runsFeeds: boolean;
  /** Client interest, topics and patterns (the transport's hook): the NATS bus subscribes by it. */
  interest(entry: string, interested: boolean): void;
  /** Starts the broker connection in the background (the gateway serves meanwhile; topics stay pending). */
  start(): void;
  /** Resolves once the bus knows its upstream epoch, or after `timeoutMs` (immediately for an in-process bus). */
  epochKnown(timeoutMs: number): Promise<void>;
}

/**
 * Builds the bus named by `config.bus.kind`. The only place that knows the implementations;
 * the gateway (src/gateway.ts) calls it once and wires the result.
 */
export function createBus(config: Config, deps: BusDeps): BusWiring {
  const { metrics } = deps;
  if (config.bus.kind === 'nats') {
    const nats = config.bus.nats;
    for (const kind of ['snapshot', 'history', 'resync'])
      for (const result of ['ok', 'empty', 'error', 'timeout']) metrics.busStreamReads.labels(kind, result).inc(0);
    metrics.busConnected.set(0);
    const bus = new NatsBus({
      clock: deps.clock,
      historyMaxTicks: config.bus.historyMaxTicks,
      historyMaxAgeMs: config.bus.historyMaxAgeMs,
      link: {
        url: nats.url,
        reconnectTimeWaitMs: nats.reconnectTimeWaitMs,
        reconnectJitterMs: nats.reconnectJitterMs,
        pingIntervalMs: nats.pingIntervalMs,
      },
      subjectPrefix: nats.subjectPrefix,
      stream: nats.jetstream.enabled ? nats.jetstream.stream : null,
      logger: deps.logger.child({ bus: 'nats' }),
      counters: metrics.busHot,
      hooks: {
        connection: (up, reconnected, feeds) => {
          metrics.busConnected.set(up ? 1 : 0);
          if (reconnected) metrics.busReconnects.inc();
          deps.onConnection?.(up, feeds);
        },
        streamRead: (kind, result) => metrics.busStreamReads.labels(kind, result).inc(),
      },
    });
    return {
      bus,
      runsFeeds: false,
      interest: (entry, interested) => bus.interest(entry, interested),
      start: () => bus.start(),
      epochKnown: (ms) => bus.epochKnown(ms),
    };
  }
  metrics.busConnected.set(1);
  const bus = new MemoryBus({
    clock: deps.clock,
    maxTicksPerFrame: config.bus.maxTicksPerFrame,
    historyMaxTicks: config.bus.historyMaxTicks,
    historyMaxAgeMs: config.bus.historyMaxAgeMs,
    bookDepth: config.market.bookDepth,
    observer: deps.observer,
  });
  return { bus, runsFeeds: true, interest: () => {}, start: () => {}, epochKnown: async () => {} };
}
