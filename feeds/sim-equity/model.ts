import { Random } from '../../src/core/random.ts';
import type { BookTick, FeedTick } from '../../src/core/tick.ts';
import { SimBook } from '../shared/sim-book.ts';
import { isValidTopic, makeTopic } from '../../src/core/topic.ts';
import type { TickModel } from '../shared/paced-adapter.ts';

/** One simulated stock: starting price in USD and annualized volatility (0.25 = 25 %). */
export interface EquityInstrument {
  readonly symbol: string;
  readonly price: number;
  readonly vol: number;
}

/** A universe entry: a bare symbol, or a symbol with overrides. Missing fields come from DEFAULT_EQUITIES, else 100 / 0.30. */
export type EquityInstrumentInput = string | { readonly symbol: string; readonly price?: number; readonly vol?: number };

/** About 50 US large caps; prices are rough recent levels, vols typical realized annual vols. */
export const DEFAULT_EQUITIES: readonly EquityInstrument[] = (
  [
    ['AAPL', 228, 0.25],
    ['MSFT', 415, 0.24],
    ['NVDA', 135, 0.5],
    ['AMZN', 195, 0.32],
    ['GOOGL', 170, 0.3],
    ['META', 580, 0.38],
    ['TSLA', 250, 0.6],
    ['BRK-B', 460, 0.16],
    ['JPM', 225, 0.22],
    ['V', 290, 0.19],
    ['UNH', 520, 0.25],
    ['XOM', 115, 0.24],
    ['JNJ', 155, 0.16],
    ['WMT', 85, 0.18],
    ['MA', 510, 0.2],
    ['PG', 170, 0.15],
    ['HD', 400, 0.23],
    ['CVX', 155, 0.24],
    ['LLY', 850, 0.32],
    ['ABBV', 190, 0.22],
    ['AVGO', 170, 0.45],
    ['COST', 900, 0.2],
    ['PEP', 165, 0.16],
    ['KO', 65, 0.14],
    ['MRK', 100, 0.22],
    ['BAC', 42, 0.27],
    ['ORCL', 170, 0.33],
    ['CRM', 300, 0.33],
    ['ADBE', 500, 0.33],
    ['NFLX', 750, 0.38],
    ['AMD', 150, 0.5],
    ['INTC', 22, 0.45],
    ['CSCO', 58, 0.2],
    ['TMO', 540, 0.24],
    ['ACN', 360, 0.24],
    ['MCD', 300, 0.17],
    ['ABT', 120, 0.2],
    ['DIS', 100, 0.28],
    ['WFC', 70, 0.28],
    ['QCOM', 160, 0.35],
    ['TXN', 200, 0.27],
    ['IBM', 220, 0.24],
    ['NKE', 75, 0.32],
    ['PFE', 28, 0.26],
    ['T', 22, 0.2],
    ['VZ', 42, 0.19],
    ['CAT', 380, 0.28],
    ['GS', 550, 0.27],
    ['BA', 160, 0.38],
    ['UBER', 75, 0.42],
  ] satisfies [string, number, number][]
).map(([symbol, price, vol]) => ({ symbol, price, vol }));

const DEFAULT_PRICE = 100;
const DEFAULT_VOL = 0.3;
/** Volatility is annualized over trading time: 252 sessions of 6.5 hours. */
const SECONDS_PER_TRADING_YEAR = 252 * 6.5 * 3600;
/** Quoted spread is about half a basis point of the mid, at least one cent. */
const SPREAD_FRACTION = 0.00005;
/** Mean displayed size in round lots (exponentially distributed, at least one lot). */
const MEAN_QUOTE_LOTS = 5;
const MEAN_TRADE_LOTS = 3;
/** Share of trades that are odd lots (1–99 shares), as on US venues. */
const ODD_LOT_PROBABILITY = 0.1;

export interface EquityModelOptions {
  readonly seed: number;
  /** Total event rate the model is paced at; sets the model time step, not any timer. */
  readonly ticksPerSecond: number;
  /** Probability that an event is a trade print instead of a quote update, in [0, 1). */
  readonly tradeProbability: number;
  /** Defaults to DEFAULT_EQUITIES. */
  readonly universe?: readonly EquityInstrumentInput[];
  /**
   * Levels per side of each symbol's order book (`equity.<SYM>.book`), updated after every quote;
   * 0 (the default here; the feed's options default to 20) emits no books. Books draw on their own
   * random stream, so quotes and trades are the same with or without them.
   */
  readonly bookDepth?: number;
}

/** Per-symbol state; every field set up front so all entries share one shape. */
class SymbolState {
  /** Last quote, in integer cents. */
  bidCents = 0;
  askCents = 0;
  constructor(
    readonly symbol: string,
    readonly quoteTopic: string,
    readonly tradeTopic: string,
    readonly bookTopic: string,
    readonly book: SimBook | null,
    /** Continuous mid in USD; quotes are derived from it and rounded to the cent grid. */
    public mid: number,
    /** Per-step log drift −σ²dt/2 (so the expected mid stays constant) and log sd σ√dt. */
    readonly drift: number,
    readonly diffusion: number,
  ) {}
}

/**
 * Simulated US equities: independent geometric Brownian mids per symbol, quoted on a $0.01 grid.
 *
 * Each event picks a symbol uniformly. With probability `tradeProbability` it prints a trade
 * against that symbol's current quote (at the bid, at the ask, or occasionally inside the spread;
 * a round lot, or an odd lot of 1–99 shares one time in ten). Otherwise the mid takes one GBM step
 * of fixed length dt = universe size / (ticksPerSecond × (1 − tradeProbability)) seconds — the
 * average time between quotes of one symbol at the configured rate — and a new quote is emitted:
 * bid < ask, spread ≥ 1 cent, sizes in round lots of 100 shares.
 *
 * Deterministic: the tick sequence depends only on the options (seed included), not on timing.
 */
export class EquityModel implements TickModel {
  readonly topics: readonly string[];
  private readonly states: readonly SymbolState[];
  private readonly bySymbol: ReadonlyMap<string, SymbolState>;
  private readonly rng: Random;
  private readonly tradeProbability: number;
  /** The book update of the quote `next` just returned, until `followUp` hands it out. */
  private pendingBook: BookTick | null = null;

  constructor(options: EquityModelOptions) {
    const universe = resolveUniverse(options.universe ?? DEFAULT_EQUITIES);
    const { tradeProbability, ticksPerSecond } = options;
    if (!(tradeProbability >= 0 && tradeProbability < 1))
      throw new RangeError(`tradeProbability must be in [0, 1), got ${tradeProbability}`);
    if (!(ticksPerSecond > 0)) throw new RangeError(`ticksPerSecond must be positive, got ${ticksPerSecond}`);
    const dtYears = universe.length / (ticksPerSecond * (1 - tradeProbability)) / SECONDS_PER_TRADING_YEAR;
    this.rng = new Random(options.seed);
    this.tradeProbability = tradeProbability;
    const bookDepth = options.bookDepth ?? 0;
    const bookRng = new Random(options.seed + 0x5eed);
    this.states = universe.map(
      (u) =>
        new SymbolState(
          u.symbol,
          makeTopic('equity', u.symbol, 'quote'),
          makeTopic('equity', u.symbol, 'trade'),
          makeTopic('equity', u.symbol, 'book'),
          bookDepth > 0 ? new SimBook({ depth: bookDepth, scale: 100, step: 1, lot: 100, meanLots: MEAN_QUOTE_LOTS }, bookRng) : null,
          u.price,
          -0.5 * u.vol * u.vol * dtYears,
          u.vol * Math.sqrt(dtYears),
        ),
    );
    for (const s of this.states) this.requote(s);
    this.bySymbol = new Map(this.states.map((s) => [s.symbol, s]));
    this.topics = this.states.flatMap((s) => (s.book === null ? [s.quoteTopic, s.tradeTopic] : [s.quoteTopic, s.tradeTopic, s.bookTopic]));
  }

  get symbols(): readonly string[] {
    return this.states.map((s) => s.symbol);
  }

  /** The continuous (unrounded) mid of a symbol, for tests and diagnostics. */
  mid(symbol: string): number {
    const s = this.bySymbol.get(symbol);
    if (!s) throw new Error(`unknown symbol "${symbol}"`);
    return s.mid;
  }

  next(ts: number): FeedTick {
    const { rng } = this;
    const s = this.states[rng.int(this.states.length)]!;
    if (rng.next() < this.tradeProbability) {
      const { bidCents, askCents } = s;
      const u = rng.next();
      // 45 % at the bid, 45 % at the ask, 10 % anywhere from bid to ask inclusive.
      const cents = u < 0.45 ? bidCents : u < 0.9 ? askCents : bidCents + rng.int(askCents - bidCents + 1);
      const size = rng.next() < ODD_LOT_PROBABILITY ? 1 + rng.int(99) : 100 * lots(rng, MEAN_TRADE_LOTS);
      return { topic: s.tradeTopic, ts, kind: 'trade', price: cents / 100, size };
    }
    s.mid *= Math.exp(s.drift + s.diffusion * rng.normal());
    this.requote(s);
    const bidSize = 100 * lots(rng, MEAN_QUOTE_LOTS);
    const askSize = 100 * lots(rng, MEAN_QUOTE_LOTS);
    if (s.book !== null) this.pendingBook = s.book.update(s.bookTopic, ts, s.bidCents, s.askCents, bidSize, askSize);
    return { topic: s.quoteTopic, ts, kind: 'quote', bid: s.bidCents / 100, ask: s.askCents / 100, bidSize, askSize };
  }

  /** The book update of the quote just returned by `next` (once), or null. */
  followUp(): BookTick | null {
    const book = this.pendingBook;
    this.pendingBook = null;
    return book;
  }

  /** Places bid/ask around the mid on the cent grid; a quarter of quotes are a cent wider. */
  private requote(s: SymbolState): void {
    const midCents = s.mid * 100;
    const spread = Math.max(1, Math.round(midCents * SPREAD_FRACTION)) + (this.rng.next() < 0.25 ? 1 : 0);
    const bid = Math.max(1, Math.round(midCents - spread / 2));
    s.bidCents = bid;
    s.askCents = bid + spread;
  }
}

export function createEquityModel(options: EquityModelOptions): EquityModel {
  return new EquityModel(options);
}

/** At least one lot, exponentially distributed with the given mean excess. */
function lots(rng: Random, mean: number): number {
  return 1 + Math.floor(-Math.log(1 - rng.next()) * mean);
}

function resolveUniverse(input: readonly EquityInstrumentInput[]): EquityInstrument[] {
  if (input.length === 0) throw new Error('universe must not be empty');
  const known = new Map(DEFAULT_EQUITIES.map((e) => [e.symbol, e]));
  const seen = new Set<string>();
  return input.map((entry) => {
    const spec = typeof entry === 'string' ? { symbol: entry } : entry;
    const { symbol } = spec;
    if (!isValidTopic(makeTopic('equity', symbol, 'quote'))) throw new Error(`invalid equity symbol "${symbol}"`);
    if (seen.has(symbol)) throw new Error(`duplicate equity symbol "${symbol}"`);
    seen.add(symbol);
    const price = spec.price ?? known.get(symbol)?.price ?? DEFAULT_PRICE;
    const vol = spec.vol ?? known.get(symbol)?.vol ?? DEFAULT_VOL;
    if (!(price > 0 && Number.isFinite(price))) throw new Error(`price of "${symbol}" must be positive, got ${price}`);
    if (!(vol >= 0 && Number.isFinite(vol))) throw new Error(`vol of "${symbol}" must be non-negative, got ${vol}`);
    return { symbol, price, vol };
  });
}
