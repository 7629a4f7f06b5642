/**
 * Child process of bench/nats-fanout.ts: a `tickgate ingest` (src/ingest.ts, no feeds) whose
 * MemoryBus is driven by the bench's max-rate publisher: every event-loop turn publishes
 * `ticksPerTurn` ticks on every topic, then yields (setImmediate), like a feed callback would.
 * Frames go to NATS exactly as in production (encode once at ingest, core publish).
 */
import { createIngest } from '../../src/ingest.ts';
import { serveIpc } from '../lib/ipc.ts';

const url = process.argv[2]!;
const ingest = createIngest(
  { logLevel: 'warn', feeds: [], bus: { kind: 'nats', maxTicksPerFrame: 64, nats: { url, subjectPrefix: 'bench' } } },
  { http: false },
);
await ingest.start();

serveIpc(
  {
    async publish(msg) {
      const topics = msg.topics as string[];
      const turns = msg.turns as number;
      const perTurn = msg.ticksPerTurn as number;
      const published = topics.map(() => 0);
      const startedAt = performance.timeOrigin + performance.now();
      let bid = 100;
      for (let turn = 0; turn < turns; turn++) {
        const ts = Date.now();
        for (let t = 0; t < topics.length; t++) {
          for (let i = 0; i < perTurn; i++) {
            bid = bid > 200 ? 100 : bid + 0.01;
            const b = Math.round(bid * 100) / 100;
            if (ingest.bus.publish({ topic: topics[t]!, kind: 'quote', ts, bid: b, ask: b + 0.01, bidSize: 100, askSize: 200 }, 'bench').ok)
              published[t]!++;
          }
        }
        await new Promise<void>((r) => setImmediate(r));
      }
      ingest.bus.flush();
      await ingest.flushNats();
      return { published, startedAt, endedAt: performance.timeOrigin + performance.now(), cpu: process.cpuUsage() };
    },
  },
  () => ingest.stop(),
);
process.send!({ event: 'ready' });
