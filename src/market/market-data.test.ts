import { describe, expect, it } from 'vitest';
import type { EncodedBatch, TopicBus, TopicView } from '../bus/bus.ts';
import { ManualClock } from '../core/clock.ts';
import type { WireBook } from '../core/tick.ts';
import { parseTopic } from '../core/topic.ts';
import { bookChecksum, type Level } from './book.ts';
import { MarketData } from './market-data.ts';

const options = { barIntervals: [], barHistory: 10, barSnapshot: 5, midAssetClasses: ['fx'], barCheckIntervalMs: 50 };
const view: TopicView = { parsed: parseTopic('equity.AAPL.book'), last: undefined, lastUpdate: 0, feedId: 'sim' };

function update(seq: number, bids: Level[], asks: Level[], book: { bids: Level[]; asks: Level[] }): WireBook {
  return { seq, ts: seq, gts: seq, bids, asks, checksum: bookChecksum(book.bids, book.asks) };
}

let newest: WireBook | undefined;
const bus = { topic: () => ({ ...view, last: newest }) } as unknown as TopicBus;

function feed(market: MarketData, entry: WireBook): void {
  newest = entry;
  const batch: EncodedBatch = { topic: view, epoch: 1, ticks: [entry], packed: new Uint8Array() };
  market.onBatch(batch);
}

describe('MarketData books', () => {
  it('applies updates that verify, and takes an update that does not as the whole book (a source restarted from an empty book)', () => {
    const market = new MarketData(bus, new ManualClock(0), options);
    market.onTopic(view);
    feed(
      market,
      update(
        1,
        [
          [100, 5],
          [99, 7],
        ],
        [[101, 3]],
        {
          bids: [
            [100, 5],
            [99, 7],
          ],
          asks: [[101, 3]],
        },
      ),
    );
    feed(market, update(2, [[99, 0]], [], { bids: [[100, 5]], asks: [[101, 3]] }));
    expect(market.snapshotFrame('equity.AAPL.book', 1)?.ticks[0]).toMatchObject({ seq: 2, bids: [[100, 5]], asks: [[101, 3]] });

    // The restarted source lists every level it holds; 100 x 5 is no longer among them.
    feed(market, update(3, [[98, 4]], [[102, 6]], { bids: [[98, 4]], asks: [[102, 6]] }));
    const snapshot = market.snapshotFrame('equity.AAPL.book', 1)?.ticks[0] as WireBook;
    expect(snapshot).toMatchObject({ seq: 3, bids: [[98, 4]], asks: [[102, 6]] });
    expect(bookChecksum(snapshot.bids, snapshot.asks)).toBe(snapshot.checksum);
  });
});
