/**
 * Just-enough MessagePack reading for the load client.
 *
 * The client must not be the bottleneck, so it never builds objects: it walks the top-level map
 * of a frame, classifies it by its `t` value, and for `ticks` frames reads the array length and
 * the `seq` (and, in latency mode, the `ts`) of each tick in place. Any well-formed MessagePack
 * is accepted in any key order (values it does not need are skipped structurally), so the
 * result does not depend on which encoder a server uses. Malformed input yields -1, never an
 * exception and never a read past `end`.
 */

export const KIND_OTHER = 0;
export const KIND_TICKS = 1;
export const KIND_ACK = 2;
export const KIND_SNAPSHOT = 3;
export const KIND_WELCOME = 4;
export const KIND_ERROR = 5;
/** tickgate's slow-consumer notice (`t: "slow"`). */
export const KIND_SLOW = 6;
export type FrameKind = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** Result of `scanFrame`; one reused object, valid until the next call. */
export interface ScanResult {
  kind: FrameKind;
  /** Number of entries in `ticks` (0 when absent). */
  tickCount: number;
  /** `seq` of the first tick, -1 when absent. */
  firstSeq: number;
  /** `seq` of the last tick, -1 when absent. */
  lastSeq: number;
  /** Byte range of the `topic` string value (start === -1 when absent). */
  topicStart: number;
  topicEnd: number;
}

/** Called once per tick with its `ts` (latency mode only). */
export type TsVisitor = (ts: number) => void;

const result: ScanResult = { kind: KIND_OTHER, tickCount: 0, firstSeq: -1, lastSeq: -1, topicStart: -1, topicEnd: -1 };

function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}
function u32(b: Uint8Array, p: number): number {
  return ((b[p]! << 24) >>> 0) + ((b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!);
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const f32 = new Float32Array(1);
const f32Bytes = new Uint8Array(f32.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function readF64(b: Uint8Array, p: number): number {
  if (littleEndian) for (let i = 0; i < 8; i++) f64Bytes[i] = b[p + 7 - i]!;
  else for (let i = 0; i < 8; i++) f64Bytes[i] = b[p + i]!;
  return f64[0]!;
}
function readF32(b: Uint8Array, p: number): number {
  if (littleEndian) for (let i = 0; i < 4; i++) f32Bytes[i] = b[p + 3 - i]!;
  else for (let i = 0; i < 4; i++) f32Bytes[i] = b[p + i]!;
  return f32[0]!;
}

/** Position just after the value starting at `p`, or -1 if malformed or truncated before `end`. */
export function skipValue(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const c = b[p]!;
  let n: number;
  let q: number;
  if (c <= 0x7f || c >= 0xe0) return p + 1;
  if (c <= 0x8f) {
    n = (c & 0x0f) * 2;
    q = p + 1;
  } else if (c <= 0x9f) {
    n = c & 0x0f;
    q = p + 1;
  } else if (c <= 0xbf) {
    q = p + 1 + (c & 0x1f);
    return q <= end ? q : -1;
  } else {
    switch (c) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return p + 1;
      case 0xcc:
      case 0xd0:
        q = p + 2;
        break;
      case 0xcd:
      case 0xd1:
      case 0xd4:
        q = p + 3;
        break;
      case 0xd5:
        q = p + 4;
        break;
      case 0xca:
      case 0xce:
      case 0xd2:
        q = p + 5;
        break;
      case 0xd6:
        q = p + 6;
        break;
      case 0xcb:
      case 0xcf:
      case 0xd3:
        q = p + 9;
        break;
      case 0xd7:
        q = p + 10;
        break;
      case 0xd8:
        q = p + 18;
        break;
      case 0xc4:
      case 0xd9:
        if (p + 2 > end) return -1;
        q = p + 2 + b[p + 1]!;
        break;
      case 0xc5:
      case 0xda:
        if (p + 3 > end) return -1;
        q = p + 3 + u16(b, p + 1);
        break;
      case 0xc6:
      case 0xdb:
        if (p + 5 > end) return -1;
        q = p + 5 + u32(b, p + 1);
        break;
      case 0xc7:
        if (p + 3 > end) return -1;
        q = p + 3 + b[p + 1]!;
        break;
      case 0xc8:
        if (p + 4 > end) return -1;
        q = p + 4 + u16(b, p + 1);
        break;
      case 0xc9:
        if (p + 6 > end) return -1;
        q = p + 6 + u32(b, p + 1);
        break;
      case 0xdc:
        if (p + 3 > end) return -1;
        n = u16(b, p + 1);
        q = p + 3;
        return skipN(b, q, end, n);
      case 0xdd:
        if (p + 5 > end) return -1;
        n = u32(b, p + 1);
        q = p + 5;
        return skipN(b, q, end, n);
      case 0xde:
        if (p + 3 > end) return -1;
        n = u16(b, p + 1) * 2;
        q = p + 3;
        return skipN(b, q, end, n);
      case 0xdf:
        if (p + 5 > end) return -1;
        n = u32(b, p + 1) * 2;
        q = p + 5;
        return skipN(b, q, end, n);
      default:
        return -1; // 0xc1 is never used
    }
    return q <= end ? q : -1;
  }
  return skipN(b, q, end, n);
}

function skipN(b: Uint8Array, p: number, end: number, n: number): number {
  for (let i = 0; i < n && p >= 0; i++) p = skipValue(b, p, end);
  return p;
}

/** Reads a number (any int or float encoding) at `p`; NaN if the value is not a number. */
export function readNumber(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return NaN;
  const c = b[p]!;
  if (c <= 0x7f) return c;
  if (c >= 0xe0) return c - 0x100;
  switch (c) {
    case 0xcb:
      return p + 9 <= end ? readF64(b, p + 1) : NaN;
    case 0xca:
      return p + 5 <= end ? readF32(b, p + 1) : NaN;
    case 0xcc:
      return p + 2 <= end ? b[p + 1]! : NaN;
    case 0xcd:
      return p + 3 <= end ? u16(b, p + 1) : NaN;
    case 0xce:
      return p + 5 <= end ? u32(b, p + 1) : NaN;
    case 0xcf:
      return p + 9 <= end ? u32(b, p + 1) * 4294967296 + u32(b, p + 5) : NaN;
    case 0xd0:
      return p + 2 <= end ? (b[p + 1]! << 24) >> 24 : NaN;
    case 0xd1:
      return p + 3 <= end ? (u16(b, p + 1) << 16) >> 16 : NaN;
    case 0xd2:
      return p + 5 <= end ? u32(b, p + 1) | 0 : NaN;
    case 0xd3:
      return p + 9 <= end ? (u32(b, p + 1) | 0) * 4294967296 + u32(b, p + 5) : NaN;
    default:
      return NaN;
  }
}

/** Container header: sets `hdrLen` and returns the entry count, or -1 if `p` holds no container of that family. */
let hdrLen = 0;
function mapHeader(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const c = b[p]!;
  if (c >= 0x80 && c <= 0x8f) {
    hdrLen = 1;
    return c & 0x0f;
  }
  if (c === 0xde && p + 3 <= end) {
    hdrLen = 3;
    return u16(b, p + 1);
  }
  if (c === 0xdf && p + 5 <= end) {
    hdrLen = 5;
    return u32(b, p + 1);
  }
  return -1;
}
function arrayHeader(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const c = b[p]!;
  if (c >= 0x90 && c <= 0x9f) {
    hdrLen = 1;
    return c & 0x0f;
  }
  if (c === 0xdc && p + 3 <= end) {
    hdrLen = 3;
    return u16(b, p + 1);
  }
  if (c === 0xdd && p + 5 <= end) {
    hdrLen = 5;
    return u32(b, p + 1);
  }
  return -1;
}

/** String header at `p`: sets `strStart`, returns the string's end, or -1. */
let strStart = 0;
function strEnd(b: Uint8Array, p: number, end: number): number {
  if (p >= end) return -1;
  const c = b[p]!;
  let s: number;
  let len: number;
  if (c >= 0xa0 && c <= 0xbf) {
    s = p + 1;
    len = c & 0x1f;
  } else if (c === 0xd9 && p + 2 <= end) {
    s = p + 2;
    len = b[p + 1]!;
  } else if (c === 0xda && p + 3 <= end) {
    s = p + 3;
    len = u16(b, p + 1);
  } else if (c === 0xdb && p + 5 <= end) {
    s = p + 5;
    len = u32(b, p + 1);
  } else return -1;
  if (s + len > end) return -1;
  strStart = s;
  return s + len;
}

// Key codes, from the key's length and first bytes.
const K_OTHER = 0;
const K_T = 1;
const K_TOPIC = 2;
const K_TICKS = 3;
const K_SEQ = 4;
const K_TS = 5;

function keyCode(b: Uint8Array, s: number, e: number): number {
  const len = e - s;
  const c0 = b[s]!;
  if (len === 1) return c0 === 0x74 ? K_T : K_OTHER; // t
  if (len === 2) return c0 === 0x74 && b[s + 1] === 0x73 ? K_TS : K_OTHER; // ts
  if (len === 3) return c0 === 0x73 && b[s + 1] === 0x65 && b[s + 2] === 0x71 ? K_SEQ : K_OTHER; // seq
  if (len === 5 && c0 === 0x74) {
    const c1 = b[s + 1]!;
    // topic / ticks
    if (c1 === 0x6f && b[s + 2] === 0x70 && b[s + 3] === 0x69 && b[s + 4] === 0x63) return K_TOPIC;
    if (c1 === 0x69 && b[s + 2] === 0x63 && b[s + 3] === 0x6b && b[s + 4] === 0x73) return K_TICKS;
  }
  return K_OTHER;
}

function kindOf(b: Uint8Array, s: number, e: number): FrameKind {
  const len = e - s;
  const c0 = b[s];
  if (len === 5 && c0 === 0x74 && b[s + 1] === 0x69 && b[s + 2] === 0x63 && b[s + 3] === 0x6b && b[s + 4] === 0x73) return KIND_TICKS;
  if (len === 3 && c0 === 0x61 && b[s + 1] === 0x63 && b[s + 2] === 0x6b) return KIND_ACK;
  if (len === 8 && c0 === 0x73) return KIND_SNAPSHOT;
  if (len === 7 && c0 === 0x77) return KIND_WELCOME;
  if (len === 5 && c0 === 0x65) return KIND_ERROR;
  if (len === 4 && c0 === 0x73 && b[s + 1] === 0x6c) return KIND_SLOW;
  return KIND_OTHER;
}

/**
 * Reads one tick map at `p`: its `seq` goes to `tickSeq`, its `ts` to the visitor (if any).
 * Returns the position after the map (with `stopAtSeq`, merely a non-negative number once
 * `seq` is read), or -1.
 */
let tickSeq = -1;
function scanTick(b: Uint8Array, p: number, end: number, onTs: TsVisitor | null, stopAtSeq = false): number {
  const n = mapHeader(b, p, end);
  if (n < 0) return -1;
  p += hdrLen;
  tickSeq = -1;
  for (let i = 0; i < n; i++) {
    const ke = strEnd(b, p, end);
    if (ke < 0) {
      // Non-string key: legal MessagePack, not ours; skip key and value.
      p = skipValue(b, p, end);
      if (p < 0) return -1;
      p = skipValue(b, p, end);
      if (p < 0) return -1;
      continue;
    }
    const k = keyCode(b, strStart, ke);
    p = ke;
    if (k === K_SEQ) {
      tickSeq = readNumber(b, p, end);
      if (Number.isNaN(tickSeq)) return -1;
      if (stopAtSeq) return p; // the caller needs nothing after seq
    } else if (k === K_TS && onTs !== null) {
      const ts = readNumber(b, p, end);
      if (Number.isNaN(ts)) return -1;
      onTs(ts);
    }
    p = skipValue(b, p, end);
    if (p < 0) return -1;
  }
  return p;
}

/**
 * Scans one frame's MessagePack bytes `b[start, end)`. Returns the shared result object, or
 * null if the bytes are not a well-formed frame map (a decode error).
 *
 * Cost is kept proportional to what is asked:
 * - `allTicks` false (throughput counting): reads the `ticks` array length and the first tick's
 *   `seq` only; when `ticks` is the map's last key (it is for every server here) the rest of the
 *   frame is not touched. `lastSeq` is then `firstSeq + tickCount - 1`, which the protocol
 *   guarantees (a frame carries consecutive seqs); verify mode checks that guarantee.
 * - `allTicks` true (latency, verify): walks every tick, checks seqs are consecutive, and hands
 *   each `ts` to `onTs`.
 * - `strict`: additionally walks the whole map and requires it to end exactly at `end`.
 */
export function scanFrame(
  b: Uint8Array,
  start: number,
  end: number,
  allTicks: boolean,
  onTs: TsVisitor | null,
  strict = false,
): ScanResult | null {
  const r = result;
  r.kind = KIND_OTHER;
  r.tickCount = 0;
  r.firstSeq = -1;
  r.lastSeq = -1;
  r.topicStart = -1;
  r.topicEnd = -1;
  const n = mapHeader(b, start, end);
  if (n < 0) return null;
  let p = start + hdrLen;
  let ticksAt = -1;
  for (let i = 0; i < n; i++) {
    const ke = strEnd(b, p, end);
    if (ke < 0) {
      p = skipValue(b, p, end);
      if (p < 0) return null;
      p = skipValue(b, p, end);
      if (p < 0) return null;
      continue;
    }
    const k = keyCode(b, strStart, ke);
    p = ke;
    if (k === K_T) {
      const ve = strEnd(b, p, end);
      if (ve < 0) return null;
      r.kind = kindOf(b, strStart, ve);
      p = ve;
    } else if (k === K_TOPIC) {
      const ve = strEnd(b, p, end);
      if (ve < 0) return null;
      r.topicStart = strStart;
      r.topicEnd = ve;
      p = ve;
    } else if (k === K_TICKS) {
      ticksAt = p;
      if (i === n - 1 && !strict) break; // last key: nothing left to find
      p = skipValue(b, p, end);
      if (p < 0) return null;
    } else {
      p = skipValue(b, p, end);
      if (p < 0) return null;
    }
  }
  if (strict && p !== end) return null;
  if (ticksAt >= 0 && (r.kind === KIND_TICKS || r.kind === KIND_SNAPSHOT)) {
    const count = arrayHeader(b, ticksAt, end);
    if (count < 0) return null;
    let q = ticksAt + hdrLen;
    if (count === 0) return r;
    if (!allTicks) {
      q = scanTick(b, q, end, null, true);
      if (q < 0 || tickSeq < 0) return null;
      r.firstSeq = tickSeq;
      r.lastSeq = tickSeq + count - 1;
      r.tickCount = count;
      return r;
    }
    // Only ticks frames feed latency; snapshots are old values by definition.
    const visitor = r.kind === KIND_TICKS ? onTs : null;
    for (let i = 0; i < count; i++) {
      q = scanTick(b, q, end, visitor);
      if (q < 0 || tickSeq < 0) return null;
      if (i === 0) r.firstSeq = tickSeq;
      else if (tickSeq !== r.lastSeq + 1) return null; // a frame carries consecutive seqs
      r.lastSeq = tickSeq;
    }
    r.tickCount = count;
  }
  return r;
}
