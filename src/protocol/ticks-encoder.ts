import { FLAT_ENTRY_KEYS, type FlatEntryKind, type WireEntry } from '../core/tick.ts';
import { packFrame, packValue } from './codec.ts';

const INITIAL_BYTES = 64 * 1024;
/** A number takes at most 9 bytes (0xcb + float64). */
const MAX_NUMBER_BYTES = 9;

/**
 * The encoded start of one topic's `ticks` frame, `{t, topic, epoch, ticks: `, up to the array
 * header. Computed once per topic and epoch by the generic encoder, so the two cannot disagree.
 */
export function ticksFramePrefix(topic: string, epoch: number): Uint8Array {
  const empty = packFrame({ t: 'ticks', topic, epoch, ticks: [] });
  // The frame ends with the empty array (0x90): everything before it is the prefix.
  return empty.slice(0, empty.byteLength - 1);
}

/**
 * Encodes `ticks` frames of quotes and trades without walking objects generically: each entry is
 * a fixed-size map whose key bytes are precomputed, so a frame costs one header copy plus seven
 * (or five) number writes per tick. The bytes are exactly what `packFrame` (msgpackr, standard
 * MessagePack) produces for the same frame: a test compares the two on random ticks. It is the
 * bus's flush that calls it, once per frame: never per subscriber.
 *
 * The returned view points into a reused buffer and is valid until the next `encode` call: send
 * it (uWS copies) or copy it first, like `packFrame`'s result.
 */
export class TicksFrameEncoder {
  private buf = new Uint8Array(INITIAL_BYTES);
  private view = new DataView(this.buf.buffer);
  /** Each kind's encoded keys, as plain arrays: copied byte by byte, which beats `Uint8Array#set` for a few bytes. */
  private readonly keyBytes: Record<FlatEntryKind, number[][]>;
  private readonly maxEntryBytes: Record<FlatEntryKind, number>;
  /** The prefix bytes 0… of `buf` hold now (callers keep one prefix object per topic and epoch). */
  private prefixInBuffer: Uint8Array | null = null;

  constructor() {
    const keyBytes = (kind: FlatEntryKind) => FLAT_ENTRY_KEYS[kind].map((k) => Array.from(packValue(k)));
    this.keyBytes = { quote: keyBytes('quote'), trade: keyBytes('trade') };
    const maxBytes = (kind: FlatEntryKind) => 3 + this.keyBytes[kind].reduce((n, k) => n + k.length + MAX_NUMBER_BYTES, 0);
    this.maxEntryBytes = { quote: maxBytes('quote'), trade: maxBytes('trade') };
  }

  /** The frame `prefix` + entries[from, to), every entry of `kind` (as the topic's channel guarantees). */
  encode(prefix: Uint8Array, kind: FlatEntryKind, entries: readonly WireEntry[], from: number, to: number): Uint8Array {
    const count = to - from;
    this.reserve(prefix.byteLength + 5 + count * this.maxEntryBytes[kind]);
    const buf = this.buf;
    // Frames of one topic often follow each other (a flush split by maxTicksPerFrame): its prefix is still there.
    if (prefix !== this.prefixInBuffer) {
      for (let i = 0; i < prefix.length; i++) buf[i] = prefix[i]!;
      this.prefixInBuffer = prefix;
    }
    let pos = this.arrayHeader(prefix.byteLength, count);
    if (kind === 'quote') {
      const [kSeq, kTs, kGts, kBid, kAsk, kBidSize, kAskSize] = this.keyBytes.quote as [
        number[],
        number[],
        number[],
        number[],
        number[],
        number[],
        number[],
      ];
      for (let i = from; i < to; i++) {
        const e = entries[i] as { seq: number; ts: number; gts: number; bid: number; ask: number; bidSize: number; askSize: number };
        pos = this.map16(pos, 7);
        pos = this.number(this.key(pos, kSeq), e.seq);
        pos = this.number(this.key(pos, kTs), e.ts);
        pos = this.number(this.key(pos, kGts), e.gts);
        pos = this.number(this.key(pos, kBid), e.bid);
        pos = this.number(this.key(pos, kAsk), e.ask);
        pos = this.number(this.key(pos, kBidSize), e.bidSize);
        pos = this.number(this.key(pos, kAskSize), e.askSize);
      }
    } else {
      const [kSeq, kTs, kGts, kPrice, kSize] = this.keyBytes.trade as [number[], number[], number[], number[], number[]];
      for (let i = from; i < to; i++) {
        const e = entries[i] as { seq: number; ts: number; gts: number; price: number; size: number };
        pos = this.map16(pos, 5);
        pos = this.number(this.key(pos, kSeq), e.seq);
        pos = this.number(this.key(pos, kTs), e.ts);
        pos = this.number(this.key(pos, kGts), e.gts);
        pos = this.number(this.key(pos, kPrice), e.price);
        pos = this.number(this.key(pos, kSize), e.size);
      }
    }
    return buf.subarray(0, pos);
  }

  /** A map header as msgpackr writes every map: map16, whatever the count (docs/protocol.md §8.1). */
  private map16(pos: number, count: number): number {
    const buf = this.buf;
    buf[pos] = 0xde;
    buf[pos + 1] = 0;
    buf[pos + 2] = count;
    return pos + 3;
  }

  private key(pos: number, bytes: readonly number[]): number {
    const buf = this.buf;
    for (let i = 0; i < bytes.length; i++) buf[pos + i] = bytes[i]!;
    return pos + bytes.length;
  }

  private reserve(bytes: number): void {
    if (bytes <= this.buf.byteLength) return;
    let size = this.buf.byteLength;
    while (size < bytes) size *= 2;
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
    this.prefixInBuffer = null;
  }

  private arrayHeader(pos: number, count: number): number {
    const buf = this.buf;
    if (count < 16) {
      buf[pos] = 0x90 | count;
      return pos + 1;
    }
    if (count < 0x10000) {
      buf[pos] = 0xdc;
      buf[pos + 1] = count >> 8;
      buf[pos + 2] = count & 0xff;
      return pos + 3;
    }
    buf[pos] = 0xdd;
    this.view.setUint32(pos + 1, count);
    return pos + 5;
  }

  /** msgpackr's number rule (with useRecords false): the smallest int form for 32-bit integers, else float64. */
  private number(pos: number, value: number): number {
    const buf = this.buf;
    if (value >>> 0 === value) {
      if (value < 0x80) {
        buf[pos] = value;
        return pos + 1;
      }
      if (value < 0x100) {
        buf[pos] = 0xcc;
        buf[pos + 1] = value;
        return pos + 2;
      }
      if (value < 0x10000) {
        buf[pos] = 0xcd;
        buf[pos + 1] = value >> 8;
        buf[pos + 2] = value & 0xff;
        return pos + 3;
      }
      buf[pos] = 0xce;
      this.view.setUint32(pos + 1, value);
      return pos + 5;
    }
    if (value >> 0 === value) {
      if (value >= -0x20) {
        buf[pos] = 0x100 + value;
        return pos + 1;
      }
      if (value >= -0x80) {
        buf[pos] = 0xd0;
        buf[pos + 1] = value + 0x100;
        return pos + 2;
      }
      if (value >= -0x8000) {
        buf[pos] = 0xd1;
        this.view.setInt16(pos + 1, value);
        return pos + 3;
      }
      buf[pos] = 0xd2;
      this.view.setInt32(pos + 1, value);
      return pos + 5;
    }
    buf[pos] = 0xcb;
    this.view.setFloat64(pos + 1, value);
    return pos + 9;
  }
}
