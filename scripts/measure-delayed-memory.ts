/**
 * Measures the delayed tier's memory: a 15-minute delay on 100 topics at 3,000 ticks/s in total
 * (one tick per frame, the worst case: every frame carries its own overhead), on simulated time.
 * Prints the heap held after a full GC, with the bound and without one, and after the last
 * subscriber leaves. Run: npm run measure:delayed   (node --expose-gc --import tsx ...)
 */
import { ManualClock } from '../src/core/clock.ts';
import type { WireQuote } from '../src/core/tick.ts';
import { DelayedTiers } from '../src/transport/delayed.ts';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc (npm run measure:delayed)');

const TOPICS = 100;
const TICKS_PER_SECOND = 3_000;
const DELAY_MS = 15 * 60_000;
const DEFAULT_MAX_BYTES = 268_435_456; // limits.maxDelayedBytes default

function heap(): number {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
}

function run(maxBytes: number) {
  const clock = new ManualClock(Date.UTC(2026, 0, 2, 14, 30));
  let published = 0;
  const tiers = new DelayedTiers({ maxBytes }, () => void published++, clock);
  const topics = Array.from({ length: TOPICS }, (_, i) => `equity.SYM${i}.quote`);
  const before = heap();
  for (const t of topics) tiers.changed(t, DELAY_MS, 1);
  const total = (DELAY_MS / 1000) * TICKS_PER_SECOND; // all held: none is due before the delay
  const step = 1000 / TICKS_PER_SECOND;
  for (let i = 0; i < total; i++) {
    clock.advance(step);
    const now = clock.now();
    const tick: WireQuote = {
      seq: Math.floor(i / TOPICS) + 1,
      ts: now - 3.25,
      gts: now,
      bid: 100 + (i % 997) / 100,
      ask: 100.01 + (i % 997) / 100,
      bidSize: 100 + (i % 7),
      askSize: 300 + (i % 11),
    };
    tiers.hold(topics[i % TOPICS]!, 1, [tick], now);
  }
  const held = heap() - before;
  const estimate = tiers.heldBytes;
  const conflated = tiers.conflatedTicks;
  for (const t of topics) tiers.changed(t, DELAY_MS, -1);
  return new Promise<Record<string, number>>((resolve) =>
    queueMicrotask(() => {
      const after = heap() - before;
      tiers.stop();
      resolve({
        maxBytes,
        ticksIn: total,
        ticksHeld: total - conflated,
        heapHeldBytes: held,
        estimatedBytes: estimate,
        heapBytesPerHeldTick: Math.round(held / Math.max(1, total - conflated)),
        heapAfterLeaveBytes: after,
        published,
      });
    }),
  );
}

const MiB = (n: number) => `${(n / 1_048_576).toFixed(1)} MiB`;
for (const maxBytes of [DEFAULT_MAX_BYTES, Number.MAX_SAFE_INTEGER]) {
  const r = await run(maxBytes);
  console.log(JSON.stringify(r));
  console.log(
    `${maxBytes === DEFAULT_MAX_BYTES ? 'bounded (default limits.maxDelayedBytes)' : 'unbounded (for calibration)'}: ` +
      `${r.ticksIn} ticks in, ${r.ticksHeld} held, heap ${MiB(r.heapHeldBytes!)} (estimate ${MiB(r.estimatedBytes!)}), ` +
      `${r.heapBytesPerHeldTick} B/held tick, after the last subscriber left: ${MiB(r.heapAfterLeaveBytes!)}`,
  );
}
