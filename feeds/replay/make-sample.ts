/**
 * Regenerates feeds/replay/fixtures/sim-15s.msgpack.gz: 15 s of the project's own simulators
 * (10 US equities, quotes and trades, and 6 FX pairs), written through the recorder's file writer.
 *
 *   npx tsx feeds/replay/make-sample.ts
 *
 * Deterministic: fixed seeds, fixed start time, Poisson arrival times from a seeded PRNG, and a
 * fixed header time, so the same code produces the same file.
 */
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Random } from '../../src/core/random.ts';
import type { FeedTick } from '../../src/core/tick.ts';
import { RecordingWriter } from '../../src/record/writer.ts';
import { createEquityModel } from '../sim-equity/model.ts';
import { createFxModel } from '../sim-fx/model.ts';

export const SAMPLE_PATH = fileURLToPath(new URL('./fixtures/sim-15s.msgpack.gz', import.meta.url));
export const SAMPLE_START = Date.UTC(2026, 0, 2, 14, 30);
export const SAMPLE_SECONDS = 15;
const EQUITY_RATE = 250;
const FX_RATE = 100;

/** Ticks of both models merged by arrival time, each model on its own Poisson clock. */
export function sampleTicks(): FeedTick[] {
  const equity = createEquityModel({
    seed: 11,
    ticksPerSecond: EQUITY_RATE,
    tradeProbability: 0.15,
    universe: ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'BRK-B', 'XOM'],
  });
  const fx = createFxModel({ seed: 12, ticksPerSecond: FX_RATE, pairs: ['EURUSD', 'USDJPY', 'GBPUSD', 'AUDUSD', 'USDCHF', 'EURJPY'] });
  const rng = new Random(13);
  const gap = (rate: number) => (-Math.log(1 - rng.next()) / rate) * 1000;
  const end = SAMPLE_START + SAMPLE_SECONDS * 1000;
  let te = SAMPLE_START + gap(EQUITY_RATE);
  let tf = SAMPLE_START + gap(FX_RATE);
  const out: FeedTick[] = [];
  while (Math.min(te, tf) < end) {
    // Whole microseconds, like a venue timestamp.
    if (te <= tf) {
      out.push(equity.next(Math.round(te * 1000) / 1000));
      te += gap(EQUITY_RATE);
    } else {
      out.push(fx.next(Math.round(tf * 1000) / 1000));
      tf += gap(FX_RATE);
    }
  }
  return out;
}

async function main(): Promise<void> {
  rmSync(SAMPLE_PATH, { force: true });
  const writer = await RecordingWriter.open({
    out: SAMPLE_PATH,
    gzip: true,
    source: 'feeds/replay/make-sample.ts (sim-equity seed 11, sim-fx seed 12)',
    clock: { now: () => SAMPLE_START },
  });
  const ticks = sampleTicks();
  for (const t of ticks) writer.write(t);
  const [file] = await writer.close();
  process.stdout.write(`${file!.path}: ${file!.ticks} ticks, ${file!.bytes} bytes\n`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
