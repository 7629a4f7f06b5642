import { describe, expect, it } from 'vitest';
import { Random } from '../core/random.ts';
import { Book, BookWindow, bookChecksum, checksumString, mergeLevels, type Level } from './book.ts';
import { crc32String } from './crc32.ts';

describe('book', () => {
  it('keeps sides sorted best first; size 0 removes', () => {
    const b = new Book();
    b.apply(
      [
        [10, 1],
        [10.02, 2],
        [10.01, 3],
      ],
      [
        [10.05, 1],
        [10.03, 2],
      ],
    );
    expect(b.bids.top(10)).toEqual([
      [10.02, 2],
      [10.01, 3],
      [10, 1],
    ]);
    expect(b.asks.top(1)).toEqual([[10.03, 2]]);
    b.apply(
      [
        [10.01, 0],
        [10.02, 5],
      ],
      [[10.04, 0]],
    );
    expect(b.bids.top(10)).toEqual([
      [10.02, 5],
      [10, 1],
    ]);
  });

  it('checksum string form and CRC match the documented worked example', () => {
    const bids: Level[] = [
      [228.1, 300],
      [228.09, 500],
    ];
    const asks: Level[] = [
      [228.12, 200],
      [228.13, 100],
    ];
    expect(checksumString(bids, asks)).toBe('228.1:300,228.09:500|228.12:200,228.13:100');
    expect(bookChecksum(bids, asks)).toBe(crc32String('228.1:300,228.09:500|228.12:200,228.13:100'));
    expect(bookChecksum(bids, asks)).toBe(0x599f4ec4);
    expect(checksumString([], [])).toBe('|');
  });

  it('window updates reproduce the top N exactly, and merged updates do too', () => {
    const rng = new Random(7);
    const depth = 5;
    const w = new BookWindow(depth);
    const client = new Book();
    const deltas: { bids: Level[]; asks: Level[]; checksum: number }[] = [];
    for (let i = 0; i < 2000; i++) {
      const bids: Level[] = [];
      const asks: Level[] = [];
      for (let k = 0; k < 3; k++) bids.push([100 - rng.int(15) / 100, rng.next() < 0.3 ? 0 : 100 * (1 + rng.int(9))]);
      for (let k = 0; k < 3; k++) asks.push([100.01 + rng.int(15) / 100, rng.next() < 0.3 ? 0 : 100 * (1 + rng.int(9))]);
      const d = w.update(bids, asks);
      if (d === null) continue;
      deltas.push(d);
      client.apply(d.bids, d.asks);
      expect(client.bids.length).toBeLessThanOrEqual(depth);
      expect(client.checksum(depth)).toBe(d.checksum);
      expect({ bids: client.bids.top(depth), asks: client.asks.top(depth) }).toEqual(w.top());
    }
    // Net of every update since the start, applied to an empty book: the final book.
    const net = new Book();
    net.apply(mergeLevels(deltas.map((d) => d.bids)), mergeLevels(deltas.map((d) => d.asks)));
    expect(net.checksum(depth)).toBe(deltas[deltas.length - 1]!.checksum);
  });
});
