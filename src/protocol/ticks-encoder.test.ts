import { describe, expect, it } from 'vitest';
import { FLAT_ENTRY_KEYS, tickRules, toWireTick, type WireEntry } from '../core/tick.ts';
import { packFrame, unpackFrame } from './codec.ts';
import { TicksFrameEncoder, ticksFramePrefix } from './ticks-encoder.ts';

/** Deterministic pseudo-random numbers (mulberry32), so a failure reproduces. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Numbers from every branch of MessagePack's number forms: fixint, uint8/16/32, negative ints, floats, large integers. */
function anyNumber(r: () => number): number {
  const pick = Math.floor(r() * 12);
  const candidates = [
    Math.floor(r() * 0x80),
    0x80 + Math.floor(r() * 0x80),
    0x100 + Math.floor(r() * 0xff00),
    0x10000 + Math.floor(r() * 0xfffeffff),
    -Math.floor(r() * 0x20),
    -0x21 - Math.floor(r() * 0x5f),
    -0x81 - Math.floor(r() * 0x7f7f),
    -0x8001 - Math.floor(r() * 0x7fff0000),
    r() * 1000,
    1.7e12 + Math.floor(r() * 1e9),
    1.7e12 + r() * 1e9,
    2 ** 32 + Math.floor(r() * 1e6),
  ];
  return candidates[pick]!;
}

describe('TicksFrameEncoder', () => {
  const encoder = new TicksFrameEncoder();

  it.each([0, 1, 15, 16, 200, 0xffff, 0x10000])('writes exactly the bytes packFrame writes: %i quotes per frame', (count) => {
    const r = rng(count + 1);
    const ticks: WireEntry[] = [];
    for (let i = 0; i < count; i++) {
      ticks.push({
        seq: anyNumber(r),
        ts: anyNumber(r),
        gts: anyNumber(r),
        bid: anyNumber(r),
        ask: anyNumber(r),
        bidSize: anyNumber(r),
        askSize: anyNumber(r),
      });
    }
    const topic = 'equity.AAPL.quote';
    const epoch = 1_765_000_000_000 + count;
    const expected = packFrame({ t: 'ticks', topic, epoch, ticks }).slice();
    const actual = encoder.encode(ticksFramePrefix(topic, epoch), 'quote', ticks, 0, count);
    expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
  });

  it('writes exactly the bytes packFrame writes for trades, and for a part of the list', () => {
    const r = rng(99);
    const ticks: WireEntry[] = [];
    for (let i = 0; i < 300; i++) ticks.push({ seq: i + 1, ts: anyNumber(r), gts: anyNumber(r), price: anyNumber(r), size: anyNumber(r) });
    for (const [from, to] of [
      [0, 300],
      [10, 11],
      [64, 128],
      [299, 300],
    ] as const) {
      const topic = 'crypto.BTCUSD.trade';
      const expected = packFrame({ t: 'ticks', topic, epoch: 7, ticks: ticks.slice(from, to) }).slice();
      const actual = encoder.encode(ticksFramePrefix(topic, 7), 'trade', ticks, from, to);
      expect(Buffer.from(actual).equals(Buffer.from(expected))).toBe(true);
    }
  });

  it('decodes to the frame it was given (any MessagePack reader sees the same values)', () => {
    const ticks: WireEntry[] = [
      { seq: 3, ts: 1_765_000_000_123.25, gts: 1_765_000_000_124.5, bid: 101.23, ask: 101.24, bidSize: 300, askSize: 0 },
    ];
    const frame = unpackFrame(encoder.encode(ticksFramePrefix('fx.EURUSD.quote', 42), 'quote', ticks, 0, 1));
    expect(frame).toEqual({ t: 'ticks', topic: 'fx.EURUSD.quote', epoch: 42, ticks });
  });

  it("keeps each topic's prefix right when frames of different topics alternate (the prefix is reused between calls)", () => {
    const own = new TicksFrameEncoder();
    const a = ticksFramePrefix('equity.A.trade', 1);
    const b = ticksFramePrefix('equity.LONGERNAME.trade', 2);
    const ticks: WireEntry[] = [{ seq: 1, ts: 1_765_000_000_000, gts: 1_765_000_000_001, price: 10.5, size: 100 }];
    for (const [prefix, topic, epoch] of [
      [a, 'equity.A.trade', 1],
      [a, 'equity.A.trade', 1],
      [b, 'equity.LONGERNAME.trade', 2],
      [a, 'equity.A.trade', 1],
    ] as const) {
      expect(unpackFrame(own.encode(prefix, 'trade', ticks, 0, 1).slice())).toEqual({ t: 'ticks', topic, epoch, ticks });
    }
  });

  it('writes the keys in the order the bus creates them (FLAT_ENTRY_KEYS is what toWireTick makes)', () => {
    const ts = 1_765_000_000_000;
    const quote = toWireTick(
      { topic: 'equity.A.quote', kind: 'quote', ts, bid: 1, ask: 2, bidSize: 3, askSize: 4 },
      tickRules('equity', 'quote'),
      1,
      ts,
    );
    const trade = toWireTick({ topic: 'equity.A.trade', kind: 'trade', ts, price: 1, size: 2 }, tickRules('equity', 'trade'), 1, ts);
    expect(Object.keys(quote as object)).toEqual(FLAT_ENTRY_KEYS.quote);
    expect(Object.keys(trade as object)).toEqual(FLAT_ENTRY_KEYS.trade);
  });
});
