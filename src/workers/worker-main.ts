import { parentPort, workerData } from 'node:worker_threads';
import { Authenticator } from '../auth/authenticator.ts';
import { systemClock } from '../core/clock.ts';
import { createLogger, resolveLogFormat } from '../logger.ts';
import { MarketData } from '../market/market-data.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { Transport } from '../transport/server.ts';
import type { NatsState } from '../transport/health.ts';
import { transportOptions } from '../transport/options.ts';
import type { MainToWorker, WorkerInit, WorkerToMain } from './messages.ts';
import { WorkerBus } from './worker-bus.ts';

/**
 * One worker thread: a uWebSockets.js app on the shared port, fed by the main thread's bus.
 * Frames arrive already stamped and encoded; the RelayBus keeps last values and history from
 * them and hands the same bytes to this thread's uWS publish.
 */
const init = workerData as WorkerInit;
const port = parentPort!;
const post = (m: WorkerToMain) => port.postMessage(m);
const { config } = init;
// The main thread resolved `auto` against its own stdout (a worker's stdout is never a terminal).
const logger = createLogger(config.logLevel, resolveLogFormat(config.logFormat, false)).child({ worker: init.workerId });
const metrics = createMetrics(undefined, { processMetrics: false });
// In NATS JetStream mode subscribes for topics this thread has no state for ask the main thread (WorkerBus.warm).
const bus = new WorkerBus(
  { clock: systemClock, historyMaxTicks: config.bus.historyMaxTicks, historyMaxAgeMs: config.bus.historyMaxAgeMs, epoch: init.epoch },
  post,
);
const authenticator = new Authenticator(config.auth);
let feedStates: Record<string, string> = {};
/** The main thread's NATS connection (it owns the bus); it posts every change and the state at start. */
let natsState: NatsState = null;
let nextRequest = 0;
const pendingMetrics = new Map<number, (text: string) => void>();

// Books, bar history and day statistics from the relayed frames, for this thread's snapshots
// (bars themselves are built once, on the main thread, and arrive relayed).
const market = new MarketData(bus, systemClock, { ...config.market, barIntervals: [], barCheckIntervalMs: 50 });
const transport = new Transport(
  { ...transportOptions(config), port: init.port, workerId: init.workerId },
  {
    bus,
    metrics,
    logger,
    version: init.version,
    feedStates: () => feedStates,
    natsState: () => natsState,
    interest: (entry, interested) => post({ type: 'interest', entry, interested }),
    authenticator,
    market,
    renderMetrics: () =>
      new Promise((resolve) => {
        const id = ++nextRequest;
        pendingMetrics.set(id, resolve);
        post({ type: 'metrics?', id });
      }),
  },
);
bus.setSink(market.wrap(transport));

port.on('message', (m: MainToWorker) => {
  switch (m.type) {
    case 'frames': {
      const view = new DataView(m.buffer, 0, m.length);
      for (let off = 0; off < m.length; ) {
        const len = view.getUint32(off, true);
        bus.relay(new Uint8Array(m.buffer, off + 4, len));
        off += 4 + len;
      }
      break;
    }
    case 'warmed':
      bus.warmed(m.id, m.topics);
      break;
    case 'epoch':
      bus.adoptEpoch(m.epoch);
      break;
    case 'feed':
      feedStates = m.states;
      transport.liveness.feedUp(m.feedId, m.up);
      break;
    case 'nats':
      natsState = m.state;
      break;
    case 'apiKeys':
      authenticator.reloadApiKeys(m.keys);
      transport.applyApiKeys();
      break;
    case 'collect':
      void metrics.registry.getMetricsAsJSON().then((json) => post({ type: 'collected', id: m.id, metrics: json }));
      break;
    case 'metrics':
      pendingMetrics.get(m.id)?.(m.text);
      pendingMetrics.delete(m.id);
      break;
    case 'disconnect':
      transport.disconnectAll(m.code, m.reason);
      break;
    case 'shutdown':
      void transport.close().then(() => {
        post({ type: 'closed' });
        port.close();
      });
      break;
  }
});

await authenticator.ready();
await transport.listen();
post({ type: 'ready' });
