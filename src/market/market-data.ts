import type { BusSink, EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import type { Clock } from '../core/clock.ts';
import type { WireBar, WireBook, WireEntry, WireQuote, WireTrade } from '../core/tick.ts';
import { makeTopic } from '../core/topic.ts';
import type { DayStats, EntriesSnapshotFrame } from '../protocol/frames.ts';
import { BAR_INTERVALS, BarBuilder, barChannel } from './bars.ts';
import { Book, bookChecksum } from './book.ts';
import { DayStatsState } from './day-stats.ts';
import type { MarketView } from './market-view.ts';

export interface MarketOptions {
  /** Bar intervals built for every instrument (names from BAR_INTERVALS), e.g. ['1s', '1m']; [] builds none. */
  barIntervals: readonly string[];
  /** Closed bars kept per bar topic (for snapshots and /v1/bars). */
  barHistory: number;
  /** Bars sent in a bar topic's snapshot: the last K closed ones plus the open one. */
  barSnapshot: number;
  /** Asset classes whose bars and day statistics come from quote mids instead of trades. */
  midAssetClasses: readonly string[];
  /** How often open bars are checked for their end (real time; the end itself is by the injected clock). */
  barCheckIntervalMs: number;
}

/** Per instrument (`<assetClass>.<SYMBOL>`): day statistics and the open bar of each interval. */
class Instrument {
  readonly stats: DayStatsState;
  readonly bars: { readonly topic: string; readonly builder: BarBuilder }[];
  /**
   * Latest time bars were updated or closed at. A trade stamped just before a boundary can reach
   * this layer after the clock sweep closed that bar; it then counts at this time (in the next
   * bar), so bar topics' times never go backwards and no closed bar changes after its final.
   */
  lastTime = 0;
  constructor(assetClass: string, symbol: string, mid: boolean, intervals: readonly string[]) {
    this.stats = new DayStatsState(mid ? 'mid' : 'trade');
    this.bars = intervals.map((name) => ({
      topic: makeTopic(assetClass, symbol, barChannel(name)),
      builder: new BarBuilder(BAR_INTERVALS[name]!, mid),
    }));
  }
}

/** What the gateway has published of one bar topic: closed bars (oldest first) and the open bar. */
class BarStore {
  readonly closed: WireBar[] = [];
  current: WireBar | null = null;
  constructor(readonly keep: number) {}
  add(bar: WireBar): void {
    if (bar.final) {
      this.closed.push(bar);
      // Trimmed in steps, so the cost per bar stays constant.
      if (this.closed.length >= 2 * this.keep) this.closed.splice(0, this.closed.length - this.keep);
      if (this.current !== null && this.current.start === bar.start) this.current = null;
    } else {
      this.current = bar;
    }
  }
  /** The newest `limit` bars with from ≤ start < to, closed and open, oldest first. */
  list(from: number, to: number, limit: number): WireBar[] {
    const all = this.current === null ? this.closed.slice(-this.keep) : [...this.closed.slice(-this.keep), this.current];
    const matching = all.filter((b) => b.start >= from && b.start < to);
    return matching.slice(Math.max(0, matching.length - limit));
  }
}

/**
 * Applies one update and checks the result against its checksum. They disagree only when the
 * source's book restarted under continued seqs (a NATS ingest after a restart or failover starts
 * from an empty book, so its first update lists every level it holds): the update is then the
 * whole book, and the snapshot this gateway serves follows it. Clients see the same mismatch in
 * their own books and resubscribe (protocol §17), which gives them this snapshot.
 */
function applyVerified(book: Book, update: WireBook): void {
  book.apply(update.bids, update.asks);
  if (bookChecksum(book.bids.top(book.bids.length), book.asks.top(book.asks.length)) === update.checksum) return;
  book.clear();
  book.apply(
    update.bids.filter(([, size]) => size > 0),
    update.asks.filter(([, size]) => size > 0),
  );
}

/** A book topic as its subscribers hold it: every flushed update applied. */
class PublishedBook {
  readonly book = new Book();
  last: WireBook | null = null;
}

type Handler = (view: TopicView, ticks: readonly WireEntry[]) => void;

/**
 * The feed id bar updates are published under: they are the gateway's own output, so they are
 * counted apart from the feeds' ticks (tickgate_ticks_in_total{feed="market"}) and listed with
 * this feed in /v1/topics.
 */
export const MARKET_FEED_ID = 'market';

/**
 * The market-data layer: a BusSink in front of the transport that, for what the bus has flushed,
 * keeps each book topic's book (for snapshots), builds bars from trades (or FX mids) and
 * publishes them back into the bus on `<class>.<SYM>.bar_<interval>`, and keeps day statistics.
 *
 * Tick-path cost: one Map lookup per frame for topics it does not care about; the frame itself is
 * handed on first and untouched. Bars are published through the bus like any feed's ticks, so
 * they get seqs, history, resume and conflation; the MemoryBus flushes them in the same turn.
 */
export class MarketData implements BusSink, MarketView {
  private inner: BusSink = { onTopic() {}, onBatch() {} };
  private readonly handlers = new Map<TopicView, Handler>();
  private readonly instruments = new Map<string, Instrument>();
  private readonly books = new Map<string, PublishedBook>();
  private readonly barStores = new Map<string, BarStore>();
  private readonly midClasses: ReadonlySet<string>;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: TopicBus,
    private readonly clock: Clock,
    private readonly options: MarketOptions,
  ) {
    for (const name of options.barIntervals)
      if (BAR_INTERVALS[name] === undefined)
        throw new Error(`unknown bar interval "${name}"; known: ${Object.keys(BAR_INTERVALS).join(', ')}`);
    this.midClasses = new Set(options.midAssetClasses);
  }

  /** Puts this layer between the bus and `sink`; returns the sink to give the bus. */
  wrap(sink: BusSink): BusSink {
    this.inner = sink;
    return this;
  }

  start(): void {
    if (this.options.barIntervals.length === 0 || this.timer !== null) return;
    this.timer = setInterval(() => this.closeDueBars(), this.options.barCheckIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  onTopic(view: TopicView): void {
    this.inner.onTopic(view);
    const handler = this.handlerFor(view);
    if (handler !== null) this.handlers.set(view, handler);
  }

  // A relaying bus's notices pass straight through: bars and stats only follow accepted ticks.
  onGap(topic: TopicView, from: number, to: number): void {
    this.inner.onGap?.(topic, from, to);
  }

  onReset(topic: TopicView, epoch: number): void {
    this.inner.onReset?.(topic, epoch);
  }

  onEpoch(epoch: number): void {
    this.inner.onEpoch?.(epoch);
  }

  onBatch(batch: EncodedBatch): void {
    this.inner.onBatch(batch);
    const handler = this.handlers.get(batch.topic);
    if (handler !== undefined) handler(batch.topic, batch.ticks);
  }

  private handlerFor(view: TopicView): Handler | null {
    const { assetClass, symbol, channel, topic } = view.parsed;
    const mid = this.midClasses.has(assetClass);
    if (channel === 'book') {
      const published = new PublishedBook();
      this.books.set(topic, published);
      return (_v, ticks) => {
        for (const t of ticks as readonly WireBook[]) applyVerified(published.book, t);
        published.last = ticks[ticks.length - 1] as WireBook;
      };
    }
    if (channel.startsWith('bar_')) {
      const store = new BarStore(this.options.barHistory);
      this.barStores.set(topic, store);
      return (_v, ticks) => {
        for (const t of ticks) store.add(t as WireBar);
      };
    }
    if (channel === 'trade' && !mid) {
      const inst = this.instrument(assetClass, symbol, false);
      return (_v, ticks) => {
        for (const t of ticks as readonly WireTrade[]) this.addPrice(inst, t.price, t.size, t.gts);
      };
    }
    if (channel === 'quote' && mid) {
      const inst = this.instrument(assetClass, symbol, true);
      return (_v, ticks) => {
        for (const t of ticks as readonly WireQuote[]) this.addPrice(inst, (t.bid + t.ask) / 2, 0, t.gts);
      };
    }
    return null;
  }

  private instrument(assetClass: string, symbol: string, mid: boolean): Instrument {
    const key = `${assetClass}.${symbol}`;
    let inst = this.instruments.get(key);
    if (inst === undefined) {
      inst = new Instrument(assetClass, symbol, mid, this.options.barIntervals);
      this.instruments.set(key, inst);
    }
    return inst;
  }

  private addPrice(inst: Instrument, price: number, size: number, gts: number): void {
    inst.stats.add(price, size, gts);
    const now = Math.max(gts, inst.lastTime);
    inst.lastTime = now;
    for (const { topic, builder } of inst.bars) {
      const { closed, current } = builder.add(price, size, now);
      if (closed !== null) this.bus.publish({ topic, ts: now, kind: 'bar', ...closed }, MARKET_FEED_ID);
      this.bus.publish({ topic, ts: now, kind: 'bar', ...current }, MARKET_FEED_ID);
    }
  }

  /** Publishes the final value of every open bar whose end has passed (by the injected clock). */
  closeDueBars(): void {
    const now = this.clock.now();
    for (const inst of this.instruments.values()) {
      for (const { topic, builder } of inst.bars) {
        const closed = builder.closeIfDue(now);
        if (closed === null) continue;
        inst.lastTime = now;
        this.bus.publish({ topic, ts: now, kind: 'bar', ...closed }, MARKET_FEED_ID);
      }
    }
  }

  // ---- MarketView --------------------------------------------------------------

  stats(topic: string): DayStats | undefined {
    const [assetClass, symbol] = topic.split('.');
    return this.instruments.get(`${assetClass}.${symbol}`)?.stats.view(this.clock.now());
  }

  snapshotFrame(topic: string, epoch: number): EntriesSnapshotFrame | undefined {
    const last = this.bus.topic(topic)?.last;
    if (last === undefined) return undefined;
    let ticks: WireEntry[] = [last];
    const published = this.books.get(topic);
    if (published !== undefined && published.last !== null) {
      const { book, last: u } = published;
      // The book as of its newest flushed update; the checksum is that update's (they agree by construction).
      ticks = [
        {
          seq: u.seq,
          ts: u.ts,
          gts: u.gts,
          bids: book.bids.top(book.bids.length),
          asks: book.asks.top(book.asks.length),
          checksum: u.checksum,
        },
      ];
    }
    const bars = this.barStores.get(topic);
    if (bars !== undefined) ticks = bars.list(Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY, this.options.barSnapshot + 1);
    const stats = this.stats(topic);
    return stats === undefined ? { t: 'snapshot', topic, epoch, ticks } : { t: 'snapshot', topic, epoch, ticks, stats };
  }

  bars(topic: string, from: number, to: number, limit: number): WireBar[] | undefined {
    return this.barStores.get(topic)?.list(from, to, limit);
  }

  /** The book subscribers of `topic` hold now (tests and diagnostics). */
  book(topic: string): Book | undefined {
    return this.books.get(topic)?.book;
  }
}
