import { createGateway } from '../../src/gateway.ts';
import type { QuoteTick, TickSink } from './workload.ts';
import type { ServerFactory } from './types.ts';

/**
 * tickgate itself: the real gateway (composition root, bus, transport), no feeds. The publisher
 * plays the feed and calls `bus.publish` per tick; the bus batches ticks of a topic per
 * event-loop turn (capped at maxTicksPerFrame), encodes each frame once and the transport
 * publishes it with uWS's native publish.
 */
export const start: ServerFactory = async ({ topics, maxTicksPerFrame }) => {
  const gw = createGateway({
    host: '127.0.0.1',
    port: 0,
    feeds: [],
    logLevel: 'warn',
    ...(maxTicksPerFrame === null ? {} : { bus: { maxTicksPerFrame } }),
    // `TICKGATE_BENCH_WORKERS=2 npm run bench -- --servers tickgate` measures --workers 2.
    workers: Number(process.env.TICKGATE_BENCH_WORKERS ?? 1),
    // Every load client connects from 127.0.0.1, so the per-IP admission limits (2,000 open,
    // 200 new per second by default) would refuse them; an operator load-testing would lift
    // them the same way. Everything else runs with tickgate's defaults.
    limits: { maxConnections: 0, maxConnectionsPerIp: 0, maxNewConnectionsPerSecondPerIp: 0 },
  });
  const { port } = await gw.start();
  const bus = gw.bus;
  const counts = topics.map(() => 0);
  let rejected = 0;
  const sink: TickSink = {
    publish(i: number, tick: QuoteTick) {
      if (bus.publish(tick, 'bench').ok) counts[i]!++;
      else rejected++;
    },
    endTurn() {},
    async flush() {
      // The bus flushes on its own setImmediate; let it run, then flush whatever remains.
      await new Promise((resolve) => setImmediate(resolve));
      bus.flush();
    },
    published: () => counts.slice(),
  };
  return {
    port,
    sink,
    maxTicksPerFrame: gw.config.bus.maxTicksPerFrame,
    settings: {
      limits: 'per-IP and total connection limits off (all clients are 127.0.0.1)',
      maxBackpressureBytes: gw.config.transport.maxBackpressureBytes,
      ...('slowConsumer' in gw.config ? { slowConsumer: (gw.config as { slowConsumer: unknown }).slowConsumer } : {}),
    },
    async stats() {
      const hot = gw.metrics.hot;
      const out: Record<string, unknown> = {
        rejectedTicks: rejected,
        framesPublished: hot.framesPublished,
        droppedFrames: hot.framesDropped,
      };
      // Slow-consumer steps taken, by action (tickgate_slow_consumer_actions_total), when the metric exists.
      const actions = (
        gw.metrics as { slowConsumerActions?: { get(): Promise<{ values: { labels: Record<string, unknown>; value: number }[] }> } }
      ).slowConsumerActions;
      if (actions) {
        for (const v of (await actions.get()).values) if (v.value > 0) out[`slow_${String(v.labels.action)}`] = v.value;
      }
      return out;
    },
    stop: () => gw.stop(),
  };
};
