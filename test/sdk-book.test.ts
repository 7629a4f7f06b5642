/**
 * The SDK's local order books, bars and day statistics (docs/protocol.md §14.2, §17) against a
 * real gateway running the simulated equity feed: every book update verified by its checksum, a
 * corrupted local book detected, resubscribed for a fresh snapshot and reported, typed bar and
 * stats events. The SDK's CRC-32 is checked against the worked example of §17.2.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import WebSocket from 'ws';
import {
  connect,
  crc32String,
  isBarTick,
  isBookTick,
  OrderBook,
  type BarTick,
  type DayStats,
  type Tick,
  type TickgateClient,
  type WebSocketConstructor,
} from '@tickgate/client';
import { until, useGateway } from './helpers.ts';

/** The `ws` WebSocket, recording what the client sends. */
function recordingWebSocket(sent: Record<string, unknown>[]): WebSocketConstructor {
  class Recording extends WebSocket {
    override send(data: unknown): void {
      sent.push(JSON.parse(String(data)) as Record<string, unknown>);
      super.send(data as string);
    }
  }
  return Recording as unknown as WebSocketConstructor;
}

function closeAfterTest(client: TickgateClient): TickgateClient {
  onTestFinished(() => client.close());
  return client;
}

/** A gateway with the simulated equity feed, once it has a book for each of its symbols. */
async function booksGateway() {
  const s = await useGateway({ feeds: FEEDS });
  await until(() => ['AAPL', 'MSFT', 'NVDA'].every((sym) => s.gw.bus.topic(`equity.${sym}.book`)?.last !== undefined), 'the first books');
  return s;
}

const FEEDS = [{ adapter: 'sim-equity', options: { ticksPerSecond: 400, universe: ['AAPL', 'MSFT', 'NVDA'] } }];

describe('SDK order books, bars and day statistics against a real gateway', { timeout: 30_000 }, () => {
  it('CRC-32 and the checksum string of the worked example in docs/protocol.md §17.2', () => {
    expect(crc32String('123456789')).toBe(0xcbf43926);
    const book = new OrderBook('equity.AAPL.book');
    book.apply({
      bids: [
        [228.09, 500],
        [228.1, 300],
      ],
      asks: [
        [228.13, 100],
        [228.12, 200],
      ],
    });
    expect(book.checksumString()).toBe('228.1:300,228.09:500|228.12:200,228.13:100');
    expect(book.checksum()).toBe(1503612612);
    book.apply({ bids: [], asks: [[228.12, 100]] });
    expect(book.checksum()).toBe(637430559);
    book.set('bid', 228.1, 0);
    expect(book.bids).toEqual([[228.09, 500]]);
    expect(new OrderBook('x').checksumString()).toBe('|');
  });

  it('keeps a verified book per book topic, every update and at maxRate, equal to the gateway book', async () => {
    const s = await booksGateway();
    const client = closeAfterTest(connect(s.stream));
    const resyncs: unknown[] = [];
    const errors: unknown[] = [];
    client.on('bookResync', (...a) => resyncs.push(a));
    client.on('error', (...a) => errors.push(a));
    const updates = new Map<string, number>();
    client.on('book', (topic) => updates.set(topic, (updates.get(topic) ?? 0) + 1));
    const ticks: Tick[] = [];
    client.subscribe('equity.AAPL.book', (t) => ticks.push(t));
    client.subscribe('equity.MSFT.book', undefined, { maxRate: 4 });
    await until(() => (updates.get('equity.AAPL.book') ?? 0) > 200 && (updates.get('equity.MSFT.book') ?? 0) > 6, 'book updates');

    expect(resyncs).toEqual([]);
    expect(errors).toEqual([]);
    expect(ticks[0]!.snapshot).toBe(true);
    expect(ticks.every(isBookTick)).toBe(true);
    for (const topic of ['equity.AAPL.book', 'equity.MSFT.book']) {
      const book = client.book(topic)!;
      expect(book.valid).toBe(true);
      expect(book.bids.length).toBe(10);
      expect(book.asks.length).toBe(10);
      expect(book.bestBid!).toBeLessThan(book.bestAsk!);
    }
    // At a quiet moment (the feed stopped), the local book is the gateway's own, level by level.
    await s.gw.stop();
    const gwBook = s.gw.market.book('equity.AAPL.book')!;
    const last = s.gw.bus.topic('equity.AAPL.book')!.last!;
    await until(() => client.book('equity.AAPL.book')!.seq === last.seq, 'the last AAPL update');
    expect(client.book('equity.AAPL.book')!.bids).toEqual(gwBook.bids.top(10));
    expect(client.book('equity.AAPL.book')!.asks).toEqual(gwBook.asks.top(10));
  });

  it('a corrupted local book is detected on the next update: bookResync, resubscribed for a fresh snapshot, other topics resumed', async () => {
    const s = await booksGateway();
    const sent: Record<string, unknown>[] = [];
    const client = closeAfterTest(connect(s.stream, { WebSocket: recordingWebSocket(sent) }));
    const resyncs: [string, number, number, number][] = [];
    const gaps: unknown[] = [];
    const acks: { results?: { topic: string; status: string }[] }[] = [];
    const validAtResync: boolean[] = [];
    client.on('bookResync', (...a) => {
      resyncs.push(a);
      validAtResync.push(client.book(a[0])!.valid);
    });
    client.on('gap', (...a) => gaps.push(a));
    client.on('ack', (a) => acks.push(a));
    const snapshots: string[] = [];
    client.subscribe('equity.*.book', (t) => {
      if (t.snapshot) snapshots.push(t.topic);
    });
    await until(() => snapshots.length === 3 && (client.book('equity.AAPL.book')?.seq ?? 0) > 0, 'three book snapshots');
    await until(() => client.book('equity.AAPL.book')!.seq > 20, 'AAPL updates');

    const book = client.book('equity.AAPL.book')!;
    // A level the gateway never had (off the cent grid), so no update can overwrite it.
    book.set('bid', book.bestBid! - 0.005, 123_456_700);
    await until(() => resyncs.length > 0, 'bookResync');
    expect(resyncs[0]![0]).toBe('equity.AAPL.book');
    expect(resyncs[0]![2]).not.toBe(resyncs[0]![3]);
    expect(validAtResync).toEqual([false]);

    // The pattern is unsubscribed and subscribed again: AAPL without resume (a snapshot), the others resumed.
    const unsub = sent.find((f) => f.op === 'unsubscribe');
    expect(unsub?.topics).toEqual(['equity.*.book']);
    const resub = sent.filter((f) => f.op === 'subscribe').at(-1)!;
    expect(resub).toMatchObject({ topics: ['equity.*.book'], snapshot: true });
    expect(Object.keys(resub.resume as object).sort()).toEqual(['equity.MSFT.book', 'equity.NVDA.book']);
    await until(() => snapshots.filter((t) => t === 'equity.AAPL.book').length === 2, 'a fresh AAPL snapshot');
    const ack = acks.at(-1)!;
    expect(ack.results?.find((r) => r.topic === 'equity.AAPL.book')?.status).toBe('snapshot');
    expect(ack.results?.filter((r) => r.topic !== 'equity.AAPL.book').map((r) => r.status)).toEqual(['replayed', 'replayed']);

    // Verified again from the fresh snapshot on; nothing was lost on the other topics.
    const seq = client.book('equity.AAPL.book')!.seq;
    await until(() => client.book('equity.AAPL.book')!.seq > seq + 10, 'AAPL updates after the resync');
    expect(client.book('equity.AAPL.book')!.valid).toBe(true);
    expect(client.book('equity.AAPL.book')!.bids.some(([, size]) => size === 123_456_700)).toBe(false);
    expect(resyncs).toHaveLength(1);
    expect(gaps).toEqual([]);
    expect(snapshots.filter((t) => t !== 'equity.AAPL.book').sort()).toEqual(['equity.MSFT.book', 'equity.NVDA.book']);
  });

  it('typed bar events (history in the snapshot, then live) and day statistics from snapshots', async () => {
    const s = await useGateway({ feeds: FEEDS });
    await until(() => s.gw.bus.topic('equity.AAPL.bar_1s')?.last !== undefined, 'the first AAPL bar');
    const client = closeAfterTest(connect(s.stream));
    const bars: BarTick[] = [];
    const stats: [string, DayStats][] = [];
    client.on('bar', (_topic, bar) => bars.push(bar));
    client.on('stats', (topic, st) => stats.push([topic, st]));
    const handled: Tick[] = [];
    client.subscribe(['equity.AAPL.bar_1s', 'equity.AAPL.trade'], (t) => handled.push(t));
    await until(() => bars.some((b) => !b.snapshot && b.final), 'a closed bar, live');

    expect(bars[0]!.snapshot).toBe(true);
    const bar = bars.find((b) => !b.snapshot)!;
    expect(isBarTick(bar)).toBe(true);
    expect(bar.topic).toBe('equity.AAPL.bar_1s');
    expect(bar.end - bar.start).toBe(1000);
    expect(bar.high).toBeGreaterThanOrEqual(Math.max(bar.open, bar.close));
    expect(bar.low).toBeLessThanOrEqual(Math.min(bar.open, bar.close));
    expect(handled.filter(isBarTick)).toHaveLength(bars.length);
    expect(handled.some((t) => t.topic === 'equity.AAPL.trade' && !isBarTick(t) && !isBookTick(t))).toBe(true);

    expect(stats.map(([t]) => t).sort()).toEqual(['equity.AAPL.bar_1s', 'equity.AAPL.trade']);
    const st = client.dayStats('equity.AAPL.quote')!;
    expect(st).toMatchObject({ source: 'trade', day: expect.stringMatching(/^\d{4}-\d\d-\d\d$/) });
    expect(st.high!).toBeGreaterThanOrEqual(st.low!);
    expect(st.volume).toBeGreaterThan(0);
  });
});
