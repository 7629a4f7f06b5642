import type { Clock } from '../../src/core/clock.ts';
import type { BusTick, FeedTick } from '../../src/core/tick.ts';
import type { FeedContext, FeedLogger } from '../../src/feed/adapter.ts';

/** A FeedContext for adapter tests: collects emitted ticks, failures and warnings. Test-only. */
export interface CollectingContext extends FeedContext {
  readonly ticks: FeedTick[];
  /** Book (and any other non-quote/trade) ticks, apart so `ticks` stays quotes and trades. */
  readonly others: BusTick[];
  readonly failures: unknown[];
  readonly warnings: object[];
  readonly controller: AbortController;
}

export function collectingContext(clock: Clock): CollectingContext {
  const ticks: FeedTick[] = [];
  const others: BusTick[] = [];
  const failures: unknown[] = [];
  const warnings: object[] = [];
  const controller = new AbortController();
  const noop = (): void => {};
  const logger: FeedLogger = { debug: noop, info: noop, warn: (obj) => void warnings.push(obj), error: noop };
  return {
    feedId: 'test',
    clock,
    signal: controller.signal,
    logger,
    controller,
    ticks,
    others,
    failures,
    warnings,
    emit: (tick) => {
      if (tick.kind === 'quote' || tick.kind === 'trade') ticks.push(tick);
      else others.push(tick);
      return true;
    },
    fail: (err) => void failures.push(err),
  };
}

/** Drains `n` ticks from a model's `next` with a fixed timestamp. */
export function take(model: { next(ts: number): FeedTick }, n: number, ts = 1_767_364_200_000): FeedTick[] {
  const out: FeedTick[] = [];
  for (let i = 0; i < n; i++) out.push(model.next(ts));
  return out;
}

/** Pearson correlation of two equal-length series. */
export function correlation(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let cov = 0;
  let va = 0;
  let vb = 0;
  for (let i = 0; i < n; i++) {
    const da = a[i]! - ma;
    const db = b[i]! - mb;
    cov += da * db;
    va += da * da;
    vb += db * db;
  }
  return cov / Math.sqrt(va * vb);
}

export function stddev(xs: readonly number[]): number {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1));
}

/** True when `price` is a whole number of 10^-decimals units (float tolerance only). */
export function onGrid(price: number, decimals: number): boolean {
  const scaled = price * 10 ** decimals;
  return Math.abs(scaled - Math.round(scaled)) < 1e-6;
}
