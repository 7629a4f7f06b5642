import { encode } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { KIND_ACK, KIND_OTHER, KIND_SLOW, KIND_SNAPSHOT, KIND_TICKS, scanFrame, skipValue } from './msgpack-scan.ts';
import { FrameReader, acceptFor, checkUpgradeResponse } from './ws-wire.ts';

/** The load client's parsing, on its own: it must count exactly what a full decoder sees. */

const packr = new Packr({ useRecords: false });

function ticks(first: number, n: number, ts = 1_700_000_000_000.25) {
  return Array.from({ length: n }, (_, i) => ({
    seq: first + i,
    ts: ts + i,
    gts: ts + i + 0.5,
    bid: 100.01,
    ask: 100.02,
    bidSize: 300,
    askSize: 500,
  }));
}

function scan(bytes: Uint8Array, allTicks = true, strict = true) {
  const seen: number[] = [];
  const r = scanFrame(bytes, 0, bytes.length, allTicks, (ts) => seen.push(ts), strict);
  return r === null ? null : { ...r, seen };
}

describe('scanFrame', () => {
  const frame = { t: 'ticks', topic: 'equity.SYM042.quote', epoch: 1_700_000_000_123, ticks: ticks(7, 3) };

  it('reads kind, count, seqs and every ts from msgpackr and @msgpack/msgpack encodings alike', () => {
    for (const bytes of [packr.pack(frame), encode(frame)]) {
      const r = scan(bytes)!;
      expect(r.kind).toBe(KIND_TICKS);
      expect([r.tickCount, r.firstSeq, r.lastSeq]).toEqual([3, 7, 9]);
      expect(r.seen).toEqual(frame.ticks.map((t) => t.ts));
      expect(Buffer.from(bytes).toString('latin1', r.topicStart, r.topicEnd)).toBe('equity.SYM042.quote');
    }
  });

  it('does not depend on key order or on keys it does not know', () => {
    const shuffled = {
      ticks: ticks(1, 2).map((t) => ({ extra: [1, { a: null }], ...t })),
      weird: { x: [1.5, 'y'] },
      topic: 'a.b.c',
      t: 'ticks',
      epoch: 5,
    };
    const r = scan(encode(shuffled))!;
    expect([r.kind, r.tickCount, r.firstSeq, r.lastSeq]).toEqual([KIND_TICKS, 2, 1, 2]);
  });

  it('count mode reads only the first seq and still reports the range', () => {
    const r = scan(packr.pack({ ...frame, ticks: ticks(100, 10) }), false, false)!;
    expect([r.tickCount, r.firstSeq, r.lastSeq]).toEqual([10, 100, 109]);
  });

  it('classifies control frames and skips their ticks', () => {
    expect(scan(packr.pack({ t: 'ack', id: 1, op: 'subscribe', topics: ['a.b.c'], snapshots: 0 }))!.kind).toBe(KIND_ACK);
    expect(scan(packr.pack({ t: 'slow', state: 'downgraded' }))!.kind).toBe(KIND_SLOW);
    expect(scan(packr.pack({ t: 'welcome', v: 1 }))!.kind).not.toBe(KIND_TICKS);
    expect(scan(packr.pack({ t: 'status', topics: [] }))!.kind).toBe(KIND_OTHER);
    const snap = scan(packr.pack({ t: 'snapshot', topic: 'a.b.c', epoch: 1, ticks: ticks(5, 1) }))!;
    expect(snap.kind).toBe(KIND_SNAPSHOT);
    expect(snap.seen).toEqual([]); // snapshots are old values: never timed
  });

  it('rejects every truncation of a frame, and non-consecutive seqs, without throwing', () => {
    const bytes = packr.pack(frame);
    for (let cut = 0; cut < bytes.length; cut++) expect(scan(bytes.subarray(0, cut))).toBeNull();
    expect(scan(packr.pack({ ...frame, ticks: [...ticks(1, 1), ...ticks(3, 1)] }))).toBeNull();
    expect(scan(Uint8Array.of(0xc1))).toBeNull();
    expect(scan(packr.pack([1, 2, 3]))).toBeNull();
  });

  it('skipValue walks every MessagePack type', () => {
    const values = [
      null,
      true,
      false,
      0,
      -1,
      -33,
      127,
      128,
      65535,
      65536,
      2 ** 32,
      -(2 ** 31) - 1,
      1.5,
      'x',
      'y'.repeat(40),
      'z'.repeat(300),
      new Uint8Array(3),
      [1, [2]],
      { a: { b: 1 } },
    ];
    for (const v of values) {
      const b = encode(v);
      expect(skipValue(b, 0, b.length)).toBe(b.length);
    }
  });
});

describe('FrameReader', () => {
  function serverFrame(payload: Buffer): Buffer {
    const n = payload.length;
    const hdr =
      n < 126
        ? Buffer.from([0x82, n])
        : n < 65536
          ? Buffer.from([0x82, 126, n >> 8, n & 255])
          : Buffer.concat([
              Buffer.from([0x82, 127, 0, 0, 0, 0]),
              Buffer.from([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]),
            ]);
    return Buffer.concat([hdr, payload]);
  }

  it('yields the same frames however the stream is cut', () => {
    const payloads = [1, 2, 125, 126, 127, 300, 65535, 65536, 70_000, 0].map((n, i) => Buffer.alloc(n, i + 1));
    const stream = Buffer.concat(payloads.map(serverFrame));
    for (const chunk of [1, 2, 3, 7, 64, 1000, 65536, stream.length]) {
      const reader = new FrameReader();
      const got: Buffer[] = [];
      for (let at = 0; at < stream.length; at += chunk) {
        const piece = Buffer.from(stream.subarray(at, Math.min(stream.length, at + chunk)));
        reader.push(piece, 0, piece.length, (buf, s, e) => {
          const size = buf[s + 1]! & 0x7f;
          const hdr = size < 126 ? 2 : size === 126 ? 4 : 10;
          got.push(Buffer.from(buf.subarray(s + hdr, e)));
          return true;
        });
      }
      expect(got.map((b) => b.length)).toEqual(payloads.map((p) => p.length));
      expect(got.every((b, i) => b.equals(payloads[i]!))).toBe(true);
    }
  });
});

describe('upgrade handshake', () => {
  it('checks the status line and Sec-WebSocket-Accept', () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    expect(acceptFor(key)).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo='); // RFC 6455 §1.3
    expect(
      checkUpgradeResponse(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${acceptFor(key)}`, key),
    ).toBeNull();
    expect(checkUpgradeResponse('HTTP/1.1 404 Not Found', key)).toMatch(/refused/);
    expect(checkUpgradeResponse('HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Accept: nope', key)).toMatch(/bad/);
  });
});
