import { Random } from '../../src/core/random.ts';
import type { BookTick, FeedTick } from '../../src/core/tick.ts';
import { SimBook } from '../shared/sim-book.ts';
import { makeTopic } from '../../src/core/topic.ts';
import type { TickModel } from '../shared/paced-adapter.ts';

/**
 * Each currency's log value moves by loadings on two shared factors plus its own shock, all in
 * annualized vol units: `europe` (EUR, GBP, CHF move together against the rest) and `risk`
 * (AUD, NZD, CAD up and JPY, CHF down in risk-on moves). A common move of all currencies cancels
 * in every pair, so the USD's own shock plays the part of a dollar factor.
 * `usd` is the starting value of one unit in USD.
 */
interface CurrencySpec {
  readonly usd: number;
  readonly europe: number;
  readonly risk: number;
  readonly own: number;
}

const CURRENCIES = {
  USD: { usd: 1, europe: 0, risk: 0, own: 0.05 },
  EUR: { usd: 1.085, europe: 0.05, risk: 0, own: 0.02 },
  GBP: { usd: 1.27, europe: 0.04, risk: 0.005, own: 0.04 },
  CHF: { usd: 1 / 0.88, europe: 0.045, risk: -0.02, own: 0.03 },
  JPY: { usd: 1 / 150, europe: 0, risk: -0.03, own: 0.06 },
  AUD: { usd: 0.66, europe: 0, risk: 0.06, own: 0.04 },
  NZD: { usd: 0.6, europe: 0, risk: 0.055, own: 0.045 },
  CAD: { usd: 1 / 1.36, europe: 0, risk: 0.03, own: 0.03 },
} as const satisfies Record<string, CurrencySpec>;

export type Currency = keyof typeof CURRENCIES;
export const FX_CURRENCIES = Object.keys(CURRENCIES) as readonly Currency[];

/** Default pairs and their typical quoted spread in pips (aggregated interbank liquidity). */
const SPREAD_PIPS: Readonly<Record<string, number>> = {
  EURUSD: 0.3,
  USDJPY: 0.4,
  GBPUSD: 0.6,
  AUDUSD: 0.5,
  USDCAD: 0.7,
  USDCHF: 0.7,
  NZDUSD: 0.9,
  EURGBP: 0.8,
  EURJPY: 0.9,
  GBPJPY: 1.5,
  EURCHF: 1.0,
  AUDJPY: 1.0,
  EURAUD: 1.4,
  CHFJPY: 1.8,
  EURCAD: 1.6,
  GBPCHF: 2.0,
  AUDNZD: 1.8,
  CADJPY: 1.5,
  NZDJPY: 1.6,
  GBPAUD: 2.0,
  AUDCAD: 1.6,
  EURNZD: 2.5,
};
export const DEFAULT_FX_PAIRS: readonly string[] = Object.keys(SPREAD_PIPS);
const DEFAULT_SPREAD_PIPS = 2;

/** FX vols are annualized over 260 trading days of 24 hours. */
const SECONDS_PER_FX_YEAR = 260 * 24 * 3600;
/** Mean displayed size in millions of base currency, beyond the first million. */
const MEAN_EXTRA_MILLIONS = 3;

export interface FxModelOptions {
  readonly seed: number;
  /** Total event rate the model is paced at; sets the model time step, not any timer. */
  readonly ticksPerSecond: number;
  /** Six-letter codes from FX_CURRENCIES, base then quote (`EURUSD`); defaults to DEFAULT_FX_PAIRS. */
  readonly pairs?: readonly string[];
  /**
   * Levels per side of each pair's order book (`fx.<PAIR>.book`): the quote at the top, deeper
   * levels one pip apart, sizes in millions; 0 (the default here; the feed's options default to
   * 20) emits no books. Books draw on their own random stream, so quotes are the same either way.
   */
  readonly bookDepth?: number;
}

/** Returns null when `pair` is six letters naming two different known currencies. */
export function fxPairError(pair: string): string | null {
  const base = pair.slice(0, 3);
  const quote = pair.slice(3);
  if (!/^[A-Z]{6}$/.test(pair) || !Object.hasOwn(CURRENCIES, base) || !Object.hasOwn(CURRENCIES, quote)) {
    return `"${pair}" must be two of ${FX_CURRENCIES.join(', ')}, base then quote, e.g. "EURUSD"`;
  }
  if (base === quote) return `"${pair}" quotes a currency against itself`;
  return null;
}

class PairState {
  constructor(
    readonly symbol: string,
    readonly topic: string,
    readonly base: number,
    readonly quote: number,
    /** Price increments per unit: 1e5 (five decimals), 1e3 for JPY-quoted pairs. */
    readonly scale: number,
    /** Spread in price increments (pipettes), at least 1. */
    readonly spread: number,
    readonly bookTopic: string,
    readonly book: SimBook | null,
  ) {}
}

/**
 * Simulated spot FX from a factor model of per-currency log values.
 *
 * Every event advances all currencies by one step of dt = 1 / ticksPerSecond seconds (correlated
 * shocks, see CurrencySpec), then quotes one pair picked uniformly. A pair's log mid is
 * log(base) − log(quote), so crosses stay consistent with the majors (EURJPY = EURUSD × USDJPY
 * up to rounding) and EURUSD/GBPUSD share both the USD shock and the European factor.
 * Quotes: five decimals (three for JPY-quoted pairs), bid < ask by at least one increment,
 * sizes in whole millions of the base currency. Topics `fx.<PAIR>.quote`.
 *
 * Deterministic: the tick sequence depends only on the options (seed included), not on timing.
 */
export class FxModel implements TickModel {
  readonly topics: readonly string[];
  readonly pairs: readonly string[];
  private readonly states: readonly PairState[];
  private readonly bySymbol: ReadonlyMap<string, PairState>;
  /** Log value of one unit of each currency in FX_CURRENCIES order. */
  private readonly logValue: Float64Array;
  private readonly europe: Float64Array;
  private readonly risk: Float64Array;
  private readonly own: Float64Array;
  private readonly rng: Random;
  /** The book update of the quote `next` just returned, until `followUp` hands it out. */
  private pendingBook: BookTick | null = null;

  constructor(options: FxModelOptions) {
    const pairs = options.pairs ?? DEFAULT_FX_PAIRS;
    if (pairs.length === 0) throw new Error('pairs must not be empty');
    if (!(options.ticksPerSecond > 0)) throw new RangeError(`ticksPerSecond must be positive, got ${options.ticksPerSecond}`);
    if (new Set(pairs).size !== pairs.length) throw new Error('pairs must not repeat');
    const sqrtDt = Math.sqrt(1 / options.ticksPerSecond / SECONDS_PER_FX_YEAR);
    const specs: readonly CurrencySpec[] = FX_CURRENCIES.map((c) => CURRENCIES[c]);
    // Loadings are pre-multiplied by √dt so a step is three multiply-adds per currency.
    this.logValue = Float64Array.from(specs, (s) => Math.log(s.usd));
    this.europe = Float64Array.from(specs, (s) => s.europe * sqrtDt);
    this.risk = Float64Array.from(specs, (s) => s.risk * sqrtDt);
    this.own = Float64Array.from(specs, (s) => s.own * sqrtDt);
    this.rng = new Random(options.seed);
    const bookDepth = options.bookDepth ?? 0;
    const bookRng = new Random(options.seed + 0x5eed);
    this.states = pairs.map((pair) => {
      const err = fxPairError(pair);
      if (err) throw new Error(err);
      const quote = pair.slice(3) as Currency;
      const scale = quote === 'JPY' ? 1e3 : 1e5;
      // A pip is the 4th decimal (2nd for JPY); prices carry one more digit, so 1 pip = 10 increments.
      const spread = Math.max(1, Math.round((SPREAD_PIPS[pair] ?? DEFAULT_SPREAD_PIPS) * 10));
      const book =
        bookDepth > 0 ? new SimBook({ depth: bookDepth, scale, step: 10, lot: 1_000_000, meanLots: MEAN_EXTRA_MILLIONS }, bookRng) : null;
      const base = FX_CURRENCIES.indexOf(pair.slice(0, 3) as Currency);
      return new PairState(
        pair,
        makeTopic('fx', pair, 'quote'),
        base,
        FX_CURRENCIES.indexOf(quote),
        scale,
        spread,
        makeTopic('fx', pair, 'book'),
        book,
      );
    });
    this.pairs = this.states.map((s) => s.symbol);
    this.topics = this.states.flatMap((s) => (s.book === null ? [s.topic] : [s.topic, s.bookTopic]));
    this.bySymbol = new Map(this.states.map((s) => [s.symbol, s]));
  }

  /** The continuous (unrounded) mid of a pair, for tests and diagnostics. */
  mid(pair: string): number {
    const s = this.bySymbol.get(pair);
    if (!s) throw new Error(`unknown pair "${pair}"`);
    return this.midOf(s);
  }

  next(ts: number): FeedTick {
    const { rng, logValue, europe, risk, own } = this;
    const fEurope = rng.normal();
    const fRisk = rng.normal();
    for (let i = 0; i < logValue.length; i++) {
      logValue[i]! += europe[i]! * fEurope + risk[i]! * fRisk + own[i]! * rng.normal();
    }
    const s = this.states[rng.int(this.states.length)]!;
    // Spread widens by up to its own width about a third of the time.
    const spread = s.spread + (rng.next() < 0.3 ? 1 + rng.int(s.spread) : 0);
    const bid = Math.max(1, Math.round(this.midOf(s) * s.scale - spread / 2));
    const bidSize = 1_000_000 * (1 + Math.floor(-Math.log(1 - rng.next()) * MEAN_EXTRA_MILLIONS));
    const askSize = 1_000_000 * (1 + Math.floor(-Math.log(1 - rng.next()) * MEAN_EXTRA_MILLIONS));
    if (s.book !== null) this.pendingBook = s.book.update(s.bookTopic, ts, bid, bid + spread, bidSize, askSize);
    return { topic: s.topic, ts, kind: 'quote', bid: bid / s.scale, ask: (bid + spread) / s.scale, bidSize, askSize };
  }

  /** The book update of the quote just returned by `next` (once), or null. */
  followUp(): BookTick | null {
    const book = this.pendingBook;
    this.pendingBook = null;
    return book;
  }

  private midOf(s: PairState): number {
    return Math.exp(this.logValue[s.base]! - this.logValue[s.quote]!);
  }
}

export function createFxModel(options: FxModelOptions): FxModel {
  return new FxModel(options);
}
