/**
 * Local order books for book topics (docs/protocol.md §17): a snapshot replaces the book, each
 * update sets the listed levels to their new absolute size (0 removes), and the CRC-32 of the
 * resulting top levels (§17.2) must equal the entry's `checksum`. A mismatch means the book
 * diverged: it is marked invalid, updates are ignored until a fresh snapshot, and the client
 * resubscribes the topic (client.ts) and emits `bookResync`.
 */
import { crc32String } from './crc32.ts';
import type { BookLevel, WireBook } from './protocol.ts';

/** One side, best first (bids descending, asks ascending), in two parallel arrays. */
class BookSide {
  readonly prices: number[] = [];
  readonly sizes: number[] = [];
  constructor(private readonly descending: boolean) {}

  set(price: number, size: number): void {
    const { prices, sizes, descending } = this;
    let lo = 0;
    let hi = prices.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (descending ? prices[mid]! > price : prices[mid]! < price) lo = mid + 1;
      else hi = mid;
    }
    if (prices[lo] === price) {
      if (size === 0) {
        prices.splice(lo, 1);
        sizes.splice(lo, 1);
      } else sizes[lo] = size;
    } else if (size !== 0) {
      prices.splice(lo, 0, price);
      sizes.splice(lo, 0, size);
    }
  }

  levels(): BookLevel[] {
    return this.prices.map((p, i) => [p, this.sizes[i]!] as const);
  }

  text(): string {
    let s = '';
    for (let i = 0; i < this.prices.length; i++) s += `${i > 0 ? ',' : ''}${this.prices[i]}:${this.sizes[i]}`;
    return s;
  }

  clear(): void {
    this.prices.length = 0;
    this.sizes.length = 0;
  }
}

/** The local book of one book topic, kept by the client. Read it; change it only to test divergence. */
export class OrderBook {
  private readonly bidSide = new BookSide(true);
  private readonly askSide = new BookSide(false);
  /** Epoch and seq of the last entry applied. */
  epoch = 0;
  seq = 0;
  /**
   * False from a checksum mismatch until the fresh snapshot arrives (the levels are then not to be
   * trusted), and before the first entry.
   */
  valid = false;

  constructor(readonly topic: string) {}

  /** Bid levels `[price, size]`, best (highest) first. */
  get bids(): BookLevel[] {
    return this.bidSide.levels();
  }
  /** Ask levels `[price, size]`, best (lowest) first. */
  get asks(): BookLevel[] {
    return this.askSide.levels();
  }
  get bestBid(): number | undefined {
    return this.bidSide.prices[0];
  }
  get bestAsk(): number | undefined {
    return this.askSide.prices[0];
  }

  /** Sets one level's absolute size (0 removes it). */
  set(side: 'bid' | 'ask', price: number, size: number): void {
    (side === 'bid' ? this.bidSide : this.askSide).set(price, size);
  }

  /** Applies an entry's level changes (a snapshot entry after `clear()`). */
  apply(entry: { readonly bids: readonly BookLevel[]; readonly asks: readonly BookLevel[] }): void {
    for (const [p, s] of entry.bids) this.bidSide.set(p, s);
    for (const [p, s] of entry.asks) this.askSide.set(p, s);
  }

  clear(): void {
    this.bidSide.clear();
    this.askSide.clear();
  }

  /** The checksum's input (§17.2): `price:size` best first joined by `,`, bids `|` asks. */
  checksumString(): string {
    return `${this.bidSide.text()}|${this.askSide.text()}`;
  }

  /** CRC-32 of checksumString()'s UTF-8 bytes. */
  checksum(): number {
    return crc32String(this.checksumString());
  }
}

export interface BookMismatch {
  readonly seq: number;
  /** The gateway's checksum, and the one of the local book after applying the entry. */
  readonly expected: number;
  readonly computed: number;
  /** True when the mismatch was on a snapshot: the gateway's own data disagrees with its checksum (no resubscribe). */
  readonly snapshot: boolean;
}

/** The books of one client, by topic. */
export class BookKeeper {
  private readonly books = new Map<string, OrderBook>();

  get(topic: string): OrderBook | undefined {
    return this.books.get(topic);
  }

  delete(topic: string): void {
    this.books.delete(topic);
  }

  /** Whether the topic's book waits for a fresh snapshot, so a resubscribe must not resume it. */
  awaitingSnapshot(topic: string): boolean {
    const book = this.books.get(topic);
    return book !== undefined && !book.valid && book.seq > 0;
  }

  /**
   * Applies one book entry (already de-duplicated by seq). Returns the book when it changed and
   * verified, a mismatch when it diverged, or null when the entry was ignored (awaiting a snapshot).
   */
  onEntry(topic: string, epoch: number, entry: WireBook, snapshot: boolean): OrderBook | BookMismatch | null {
    let book = this.books.get(topic);
    if (book === undefined) {
      book = new OrderBook(topic);
      // A topic subscribed before its first update (a `pending` result) starts from the empty book.
      book.valid = true;
      this.books.set(topic, book);
    }
    if (snapshot) {
      book.clear();
      book.valid = true;
    } else if (!book.valid) return null;
    book.apply(entry);
    book.epoch = epoch;
    book.seq = entry.seq;
    const computed = book.checksum();
    if (computed === entry.checksum >>> 0) return book;
    if (!snapshot) book.valid = false;
    return { seq: entry.seq, expected: entry.checksum, computed, snapshot };
  }
}
