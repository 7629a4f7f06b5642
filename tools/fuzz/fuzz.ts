/**
 * Protocol fuzzer: many raw WebSocket connections send random and mutated client messages to a
 * `tickgate serve` child process while a clean client streams, and the run checks that
 * - the gateway process never exits (a crash dumps the last batches of every connection to a
 *   JSON file for reproduction),
 * - the clean client sees every tick of its topics, seqs consecutive (no gap),
 * - after each round, with every fuzz connection closed, tickgate_connections and
 *   tickgate_subscriptions are back to the clean client's own values (no leak), as are open fds,
 * - memory (RSS, heap used) stays within a bound across rounds,
 * - every batch's trailing ping is answered with a pong (the connection and its decoder still
 *   work after whatever came before), no TG_ERR_INTERNAL reply, no unhandled rejection.
 *
 * Everything is seeded (src/core/random.ts): connection i of seed S always sends the same
 * messages (resume maps use the gateway's epoch, which differs per run). Traffic goes to
 * 127.0.0.1 only, and every loop is bounded in count and time.
 *
 *   npm run fuzz -- --messages 1000000 --seed 42 [--connections 24] [--rounds 6] [--default-limits]
 *
 * The quick version runs in `npm test` (test/fuzz.test.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { decode } from '@msgpack/msgpack';
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { Random } from '../../src/core/random.ts';

// ---- options and results -----------------------------------------------------------------

export interface FuzzOptions {
  seed: number;
  /** Messages the gateway must have processed (answered batches), over all rounds. */
  messages: number;
  /** Parallel fuzz connections per round. */
  connections: number;
  /** Rounds; all fuzz connections close at the end of each, then leaks and memory are checked. */
  rounds: number;
  /** Hard bound on the whole run. */
  timeLimitMs: number;
  /** Keep the gateway's default limits (message rate, new connections per second): most messages then only exercise the limiter. */
  defaultLimits?: boolean;
  /** RSS may grow this much from the end of round 1 to the end of the last round. */
  rssGrowthLimitBytes?: number;
  /** Heap used (sampled right after a full GC) may grow this much from the end of round 1 to the end of the last round. */
  heapGrowthLimitBytes?: number;
  /** Only these message categories (profiling); all by default. */
  only?: readonly string[];
  /** Progress lines (CLI); silent when absent. */
  log?: (line: string) => void;
}

export interface RoundSample {
  round: number;
  processed: number;
  elapsedMs: number;
  connections: number;
  subscriptions: number;
  rssBytes: number;
  heapUsedBytes: number;
  openFds: number;
  /** The gateway's CPU time so far (user + system). */
  cpuSeconds: number;
  heapTotalBytes: number;
  externalBytes: number;
  /** Longest event-loop stall of the gateway in this round (its nodejs_eventloop_lag_max_seconds, scraped every second). */
  gatewayLoopLagMaxMs: number;
  /** Longest event-loop stall of the fuzzer itself in this round (the clean client lives there). */
  fuzzerLoopLagMaxMs: number;
}

export interface FuzzResult {
  seed: number;
  /** Messages in batches the gateway answered (its trailing ping got its pong). */
  processed: number;
  /** Messages written, including batches cut short by a connection drop and connection-killing messages. */
  sent: number;
  byCategory: Record<string, number>;
  /** Frames the fuzz connections received, by kind (error frames by code). */
  replies: Record<string, number>;
  /** Connection-killing messages sent, by kind, and how each ended. */
  killers: Record<string, number>;
  /** Handshake and plain HTTP requests (fuzzed), by response status. */
  http: Record<string, number>;
  connectionsOpened: number;
  /** Connections the server closed while a normal batch was in flight (not after a killer). */
  unexpectedCloses: { code: number | null; conn: number; note: string }[];
  clean: { ticks: number; gaps: string[]; maxPingRttMs: number; closed: string | null };
  /** Batch round trips (write → trailing pong), ms: p50, p99, max. */
  batchRttMs: { p50: number; p99: number; max: number };
  rounds: RoundSample[];
  durationMs: number;
  gatewayExit: { code: number | null; signal: string | null } | null;
  crashReport: string | null;
  /** Everything that makes the run a failure; empty on success. */
  problems: string[];
}

const DEFAULTS = { connections: 16, rounds: 4, rssGrowthLimitBytes: 96 * 2 ** 20, heapGrowthLimitBytes: 8 * 2 ** 20 };

// ---- seeded helpers ------------------------------------------------------------------------

class Rng {
  readonly r: Random;
  constructor(seed: number) {
    this.r = new Random(seed);
  }
  int(n: number): number {
    return this.r.int(n);
  }
  range(lo: number, hi: number): number {
    return lo + this.r.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.r.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.r.int(items.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.r.int(256);
    return b;
  }
  /** Weighted choice: [weight, value][] */
  weighted<T>(table: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of table) total += w;
    let x = this.r.next() * total;
    for (const [w, v] of table) {
      x -= w;
      if (x < 0) return v;
    }
    return table[table.length - 1]![1];
  }
}

// ---- WebSocket framing (client side: masked) -----------------------------------------------

const OP_CONT = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

interface FrameOptions {
  fin?: boolean;
  rsv?: number;
  masked?: boolean;
  /** Header length different from the payload's (lies about the size). */
  declaredLength?: bigint;
}

function wsFrame(rng: Rng, opcode: number, payload: Buffer, o: FrameOptions = {}): Buffer {
  const fin = o.fin ?? true;
  const masked = o.masked ?? true;
  const len = o.declaredLength ?? BigInt(payload.length);
  const b0 = (fin ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | (opcode & 0x0f);
  const m = masked ? 0x80 : 0;
  let header: Buffer;
  if (len < 126n) header = Buffer.from([b0, m | Number(len)]);
  else if (len < 65536n) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = m | 126;
    header.writeUInt16BE(Number(len), 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = m | 127;
    header.writeBigUInt64BE(len, 2);
  }
  if (!masked) return Buffer.concat([header, payload]);
  const key = rng.bytes(4);
  const out = Buffer.allocUnsafe(header.length + 4 + payload.length);
  header.copy(out, 0);
  key.copy(out, header.length);
  const base = header.length + 4;
  const n = payload.length;
  const k32 = key.readInt32LE(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) out.writeInt32LE(payload.readInt32LE(i) ^ k32, base + i);
  for (; i < n; i++) out[base + i] = payload[i]! ^ key[i & 3]!;
  return out;
}

interface ServerFrame {
  opcode: number;
  payload: Buffer;
}

/** Incremental parser for what the server sends (unmasked frames). */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragOpcode = 0;

  push(chunk: Buffer, out: ServerFrame[]): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    const buf = this.buf;
    for (;;) {
      if (buf.length - pos < 2) break;
      const b0 = buf[pos]!;
      const b1 = buf[pos + 1]!;
      let len = b1 & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (buf.length - pos < 4) break;
        len = buf.readUInt16BE(pos + 2);
        hdr = 4;
      } else if (len === 127) {
        if (buf.length - pos < 10) break;
        len = Number(buf.readBigUInt64BE(pos + 2));
        hdr = 10;
      }
      if (b1 & 0x80) hdr += 4; // a masked server frame would be a server bug; parse it anyway
      if (buf.length - pos < hdr + len) break;
      const payload = buf.subarray(pos + hdr, pos + hdr + len);
      pos += hdr + len;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if (opcode >= 0x8) out.push({ opcode, payload });
      else if (opcode === OP_CONT) {
        this.fragments.push(payload);
        if (fin) {
          out.push({ opcode: this.fragOpcode, payload: Buffer.concat(this.fragments) });
          this.fragments = [];
        }
      } else if (!fin) {
        this.fragOpcode = opcode;
        this.fragments = [payload];
      } else out.push({ opcode, payload });
    }
    this.buf = pos === buf.length ? Buffer.alloc(0) : Buffer.from(buf.subarray(pos));
  }
}

/** The `t` of a server frame without decoding the whole thing (most are ticks). */
function frameKind(f: ServerFrame): string {
  const p = f.payload;
  if (f.opcode === OP_TEXT) {
    const m = /^\{"t":"([a-z]+)"/.exec(p.subarray(0, 24).toString('latin1'));
    return m?.[1] ?? 'unparsed';
  }
  let i = 0;
  const b = p[0];
  if (b === undefined) return 'empty';
  if (b >= 0x80 && b <= 0x8f) i = 1;
  else if (b === 0xde) i = 3;
  else if (b === 0xdf) i = 5;
  else return 'unparsed';
  if (p[i] !== 0xa1 || p[i + 1] !== 0x74) return 'unparsed';
  const h = p[i + 2];
  if (h === undefined || (h & 0xe0) !== 0xa0) return 'unparsed';
  return p.subarray(i + 3, i + 3 + (h & 0x1f)).toString('latin1');
}

function decodeFrame(f: ServerFrame): Record<string, unknown> {
  try {
    return (f.opcode === OP_TEXT ? JSON.parse(f.payload.toString('utf8')) : decode(f.payload)) as Record<string, unknown>;
  } catch {
    return {};
  }
}

// ---- message generators --------------------------------------------------------------------

/** What the generators know about the gateway under test. */
interface Env {
  topics: readonly string[];
  epoch: number;
  tiers: readonly number[];
}

interface Outgoing {
  category: string;
  /** Complete frame(s), masked, ready to write. */
  bytes: Buffer;
}

const packr = new Packr({ useRecords: false }); // msgpackr defaults: undefined as an extension type, Map keys of any type
const CATEGORY_WEIGHTS = [
  [18, 'valid'],
  [12, 'flood'],
  [15, 'wrong_types'],
  [14, 'msgpack_mutation'],
  [7, 'huge_declared'],
  [5, 'deep'],
  [7, 'random'],
  [9, 'json_mutation'],
  [9, 'fragmented'],
  [2, 'oversize'],
  [2, 'edge_values'],
] as const;

const PATTERNS = [
  '*.*.*',
  'equity.*.quote',
  'equity.*.trade',
  'fx.*.quote',
  '*.AAPL.*',
  'equity.AAPL.*',
  '*.*.quote',
  'crypto.*.*',
  'fx.EURUSD.*',
];
const BAD_TOPICS = [
  '',
  '.',
  '..',
  'equity',
  'equity.AAPL',
  'equity.AAPL.quote.x',
  'EQUITY.AAPL.quote',
  'equity.aapl.quote',
  'equity.AA PL.quote',
  'equity.*AAPL.quote',
  'equity.A*.quote',
  '**',
  '#',
  'equity.#.quote',
  `equity.${'A'.repeat(25)}.quote`,
  `${'a'.repeat(17)}.X.quote`,
  'equity.AAPL.quote\u0000',
  'équité.AAPL.quote',
  'equity.ＡＡＰＬ.quote',
  'equity.AAPL.\ud800',
  'equity..quote',
  ' equity.AAPL.quote',
  'equity.-A.quote',
  'equity._A.quote',
  '__proto__',
  'constructor',
  'x'.repeat(5000),
];
const STRINGS = [
  '',
  'x',
  'subscribe',
  'unsubscribe',
  'ping',
  'refresh',
  'SUBSCRIBE',
  'subscribe ',
  '__proto__',
  'constructor',
  'toString',
  'a'.repeat(64),
  'a'.repeat(65),
  '\u0000',
  '\ud800',
  '😀',
  '\u202e',
  'equity.AAPL.quote',
  '*.*.*',
  'null',
  '1',
  '-1',
  'NaN',
  'e'.repeat(3000),
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  1.5,
  -1.5,
  0.1,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 32,
  2 ** 53 - 1,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 53),
  2 ** 64,
  1e308,
  5e-324,
  1000,
  1001,
  50,
  49.999,
  0.0001,
];

function weirdValue(rng: Rng, depth = 0): unknown {
  const k = rng.int(depth > 2 ? 5 : 9);
  switch (k) {
    case 0:
      return rng.pick([null, true, false, undefined]);
    case 1:
    case 2:
      return rng.pick(NUMBERS);
    case 3:
      return rng.pick(STRINGS);
    case 4:
      return rng.int(2) === 0 ? rng.pick(BAD_TOPICS) : rng.pick(PATTERNS);
    case 5:
      return Array.from({ length: rng.int(5) }, () => weirdValue(rng, depth + 1));
    case 6: {
      const o: Record<string, unknown> = {};
      // defineProperty: an own "__proto__" key (as JSON.parse makes), never a changed prototype.
      for (let i = rng.int(4); i > 0; i--) {
        const key = rng.pick(['op', 'id', 'topics', 'epoch', 'seq', '__proto__', 'constructor', 'x', '']);
        Object.defineProperty(o, key, { value: weirdValue(rng, depth + 1), enumerable: true, configurable: true, writable: true });
      }
      return o;
    }
    case 7:
      return new Uint8Array(rng.bytes(rng.int(40)));
    default: {
      // A Map: msgpackr encodes it with keys of any type (numbers, arrays, nil).
      const m = new Map<unknown, unknown>();
      for (let i = rng.int(3) + 1; i > 0; i--) m.set(weirdValue(rng, depth + 2), weirdValue(rng, depth + 1));
      return m;
    }
  }
}

function someTopics(rng: Rng, env: Env, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = rng.int(10);
    if (k < 5 && env.topics.length > 0) out.push(rng.pick(env.topics));
    else if (k < 7) out.push(rng.pick(PATTERNS));
    else if (k < 9)
      out.push(
        `${rng.pick(['equity', 'fx', 'crypto', 'x9'])}.${rng.pick(['Z', 'ZZZ', 'N0', 'A-B', 'Q_1'])}${rng.int(100)}.${rng.pick(['quote', 'trade', 'book_l1'])}`,
      );
    else out.push(rng.pick(BAD_TOPICS));
  }
  return out;
}

function requestId(rng: Rng): number | string {
  return rng.chance(0.5) ? rng.int(1_000_000) : `r${rng.int(1_000_000)}`;
}

function resumeMap(rng: Rng, env: Env, n: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const topic = rng.chance(0.85) && env.topics.length > 0 ? rng.pick(env.topics) : rng.pick([...BAD_TOPICS, ...PATTERNS]);
    const epoch = rng.weighted([
      [6, env.epoch],
      [1, env.epoch - 1],
      [1, 0],
      [1, rng.pick(NUMBERS)],
    ] as const);
    const seq = rng.weighted([
      [4, rng.int(200)],
      [2, rng.int(100_000)],
      [1, 0],
      [1, -1],
      [1, rng.pick(NUMBERS)],
    ] as const);
    const value = rng.chance(0.9) ? { epoch, seq } : weirdValue(rng);
    if (topic === '__proto__') Object.defineProperty(out, topic, { value, enumerable: true, configurable: true, writable: true });
    else out[topic] = value;
  }
  return out;
}

function validRequest(rng: Rng, env: Env): Record<string, unknown> {
  const op = rng.weighted([
    [5, 'subscribe'],
    [3, 'unsubscribe'],
    [2, 'ping'],
    [1, 'refresh'],
  ] as const);
  const req: Record<string, unknown> = { op, id: requestId(rng) };
  if (op === 'subscribe' || op === 'unsubscribe') req.topics = someTopics(rng, env, 1 + rng.int(8));
  if (op === 'subscribe') {
    if (rng.chance(0.4)) req.maxRate = rng.pick([0, ...env.tiers, 3, 0.5, 1000, 7]);
    if (rng.chance(0.3)) req.resume = resumeMap(rng, env, 1 + rng.int(5));
    if (rng.chance(0.2)) req.snapshot = rng.chance(0.5);
  }
  if (op === 'refresh') req.token = rng.pick(['', 'x', 'eyJhbGciOiJIUzI1NiJ9.e30.x', 'a.b.c', 'x'.repeat(3000)]);
  return req;
}

function encodeRequest(value: unknown, binary: boolean): Buffer {
  if (binary) return Buffer.from(packr.pack(value));
  return Buffer.from(JSON.stringify(value) ?? 'null');
}

function single(rng: Rng, category: string, payload: Buffer, binary: boolean): Outgoing {
  return { category, bytes: wsFrame(rng, binary ? OP_BINARY : OP_TEXT, payload) };
}

/** Bytes of a MessagePack header declaring `n` items/bytes with the given family. */
function mpHeader(kind: 'array' | 'map' | 'str' | 'bin', n: number, width: 16 | 32): Buffer {
  const code = { array: [0xdc, 0xdd], map: [0xde, 0xdf], str: [0xda, 0xdb], bin: [0xc5, 0xc6] }[kind][width === 16 ? 0 : 1]!;
  const b = Buffer.alloc(width === 16 ? 3 : 5);
  b[0] = code;
  if (width === 16) b.writeUInt16BE(n & 0xffff, 1);
  else b.writeUInt32BE(n >>> 0, 1);
  return b;
}

function mpStr(s: string): Buffer {
  return Buffer.from(packr.pack(s));
}

function hugeDeclared(rng: Rng, env: Env): Buffer {
  const n = rng.pick([0xffffffff, 0x7fffffff, 0x10000000, 1_000_000, 65535, 100_000]);
  const kind = rng.pick(['array', 'map', 'str', 'bin'] as const);
  const width = n > 0xffff || rng.chance(0.5) ? 32 : 16;
  const lying = Buffer.concat([mpHeader(kind, n, width), rng.bytes(rng.int(32))]);
  switch (rng.int(5)) {
    case 0:
      return lying;
    case 1: // inside a valid-looking subscribe: "topics" claims to be huge
      return Buffer.concat([
        Buffer.from([0x83]),
        mpStr('op'),
        mpStr('subscribe'),
        mpStr('id'),
        Buffer.from([0x01]),
        mpStr('topics'),
        mpHeader('array', n, 32),
        mpStr(rng.pick(env.topics.length ? env.topics : ['equity.AAPL.quote'])),
      ]);
    case 2: // resume map claims to be huge
      return Buffer.concat([
        Buffer.from([0x84]),
        mpStr('op'),
        mpStr('subscribe'),
        mpStr('id'),
        Buffer.from([0x02]),
        mpStr('topics'),
        Buffer.from([0x91]),
        mpStr('equity.AAPL.quote'),
        mpStr('resume'),
        mpHeader('map', n, 32),
        mpStr('equity.AAPL.quote'),
      ]);
    case 3: // a key whose string length lies
      return Buffer.concat([Buffer.from([0x82]), mpHeader('str', n, 32), Buffer.from('op'), mpStr('ping')]);
    default: // an extension / reserved type with a huge length
      return Buffer.concat([
        Buffer.from([rng.pick([0xc7, 0xc8, 0xc9, 0xc1, 0xd4, 0xd8])]),
        Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]),
        rng.bytes(8),
      ]);
  }
}

function deepMessage(rng: Rng, maxBytes: number): { payload: Buffer; binary: boolean } {
  const depth = rng.pick([33, 64, 100, 1000, 5000, Math.floor(maxBytes / 2) - 64, maxBytes - 64]);
  if (rng.chance(0.5)) {
    // MessagePack: fixarray(1) or fixmap(1) per level, inside a request or bare.
    const level = rng.chance(0.5) ? Buffer.from([0x91]) : Buffer.concat([Buffer.from([0x81]), mpStr('a')]);
    const nest = Buffer.concat([Buffer.alloc(depth * level.length, level), Buffer.from([0x01])]);
    const payload = rng.chance(0.5)
      ? nest
      : Buffer.concat([
          Buffer.from([0x84]),
          mpStr('op'),
          mpStr('subscribe'),
          mpStr('id'),
          Buffer.from([0x07]),
          mpStr('topics'),
          Buffer.from([0x91]),
          mpStr('equity.AAPL.quote'),
          mpStr('resume'),
          nest,
        ]);
    return { payload: payload.subarray(0, Math.max(1, maxBytes - 1)), binary: true };
  }
  const open = rng.chance(0.5) ? '[' : '{"a":';
  const close = open === '[' ? ']' : '}';
  const d = Math.floor(depth / open.length);
  const body = `${open.repeat(d)}1${rng.chance(0.8) ? close.repeat(d) : ''}`;
  const text = rng.chance(0.5) ? body : `{"op":"subscribe","id":8,"topics":["equity.AAPL.quote"],"resume":${body}}`;
  return { payload: Buffer.from(text.slice(0, maxBytes - 1)), binary: false };
}

const INTERESTING_BYTES = [
  0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc7, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8, 0xd9, 0xdb, 0xdd,
  0xdf, 0xe0, 0xff,
];

function mutateBytes(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = 1 + rng.int(4); n > 0; n--) {
    if (b.length === 0) b = Buffer.from([rng.int(256)]);
    const at = rng.int(b.length);
    switch (rng.int(8)) {
      case 0:
        b[at] = b[at]! ^ (1 << rng.int(8));
        break;
      case 1:
        b[at] = rng.pick(INTERESTING_BYTES);
        break;
      case 2:
        b = b.subarray(0, at);
        break;
      case 3:
        b = Buffer.concat([b.subarray(0, at), rng.bytes(1 + rng.int(8)), b.subarray(at)]);
        break;
      case 4:
        b = Buffer.concat([b, rng.bytes(1 + rng.int(8))]); // trailing bytes
        break;
      case 5:
        b = Buffer.concat([b, b]); // two values
        break;
      case 6:
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + 1 + rng.int(6)))]);
        break;
      default:
        b[at] = rng.int(256);
    }
  }
  return b;
}

const JSON_SNIPPETS = [
  '',
  '{',
  '}',
  '[',
  ']',
  ',',
  ':',
  '"',
  '\\',
  'null',
  'true',
  '1e999',
  '-0',
  '0x10',
  'NaN',
  '\u0000',
  '\ud83d',
  '😀',
  '"__proto__":{"x":1}',
  '"id":1',
  '"op":"ping"',
  '"id":9007199254740993',
];

function mutateJson(rng: Rng, text: string): string {
  let s = text;
  for (let n = 1 + rng.int(3); n > 0; n--) {
    const at = rng.int(s.length + 1);
    switch (rng.int(5)) {
      case 0:
        s = s.slice(0, at) + rng.pick(JSON_SNIPPETS) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at);
        break;
      case 2:
        s = s.slice(0, at) + s.slice(at + 1 + rng.int(5));
        break;
      case 3:
        s = s.replace(rng.pick(['"op"', '"id"', '"topics"', '"resume"', '"maxRate"', ':', ',']), rng.pick(JSON_SNIPPETS));
        break;
      default:
        s = `${s.slice(0, at)}${String.fromCharCode(rng.int(0x10000))}${s.slice(at)}`; // may be a lone surrogate: encoded as U+FFFD
    }
  }
  return s;
}

/** Splits a payload into 2..8 fragments (some empty), with control frames in between; multi-byte characters may be split. */
function fragmented(rng: Rng, payload: Buffer, binary: boolean): Buffer {
  const parts: Buffer[] = [];
  const cuts = 1 + rng.int(7);
  let pos = 0;
  for (let i = 0; i < cuts; i++) {
    const len = i === cuts - 1 ? payload.length - pos : rng.int(Math.max(1, payload.length - pos + 1));
    const chunk = payload.subarray(pos, pos + len);
    pos += len;
    const opcode = i === 0 ? (binary ? OP_BINARY : OP_TEXT) : OP_CONT;
    parts.push(wsFrame(rng, opcode, chunk, { fin: i === cuts - 1 }));
    if (i < cuts - 1 && rng.chance(0.3)) parts.push(wsFrame(rng, rng.chance(0.7) ? OP_PING : OP_PONG, rng.bytes(rng.int(126))));
  }
  return Buffer.concat(parts);
}

function generate(
  rng: Rng,
  env: Env,
  maxMessageBytes: number,
  weights: readonly (readonly [number, string])[] = CATEGORY_WEIGHTS,
): Outgoing {
  const category = rng.weighted(weights);
  const binary = rng.chance(0.55);
  switch (category) {
    case 'valid':
      return single(rng, category, encodeRequest(validRequest(rng, env), binary), binary);
    case 'flood': {
      const op = rng.chance(0.6) ? 'subscribe' : 'unsubscribe';
      const n = rng.weighted([
        [4, 1],
        [3, 10],
        [2, 100],
        [1, 400],
        [1, 700],
        [1, 1000],
        [1, 1001],
      ] as const);
      const req: Record<string, unknown> = { op, id: requestId(rng), topics: someTopics(rng, env, n) };
      if (op === 'subscribe' && rng.chance(0.5)) req.maxRate = rng.pick([0, ...env.tiers, 1000, 999.5]);
      if (op === 'subscribe' && rng.chance(0.3))
        req.resume = resumeMap(
          rng,
          env,
          rng.weighted([
            [5, 1],
            [2, 50],
            [1, 300],
            [1, 1001],
          ] as const),
        );
      return single(rng, category, encodeRequest(req, binary), binary);
    }
    case 'wrong_types': {
      const req = validRequest(rng, env);
      const field = rng.pick(['op', 'id', 'topics', 'maxRate', 'resume', 'snapshot', 'token', 'topics[i]', 'resume.pos', 'whole']);
      if (field === 'topics[i]') req.topics = [...someTopics(rng, env, rng.int(3)), weirdValue(rng), ...someTopics(rng, env, rng.int(3))];
      else if (field === 'resume.pos')
        req.resume = {
          [rng.pick(env.topics.length ? env.topics : ['equity.AAPL.quote'])]: { epoch: weirdValue(rng), seq: weirdValue(rng) },
        };
      else if (field === 'whole') return single(rng, category, encodeRequest(weirdValue(rng), binary), binary);
      else req[field] = weirdValue(rng);
      if (rng.chance(0.3)) req.op = rng.pick(['subscribe', 'unsubscribe']);
      return single(rng, category, encodeRequest(req, binary), binary);
    }
    case 'msgpack_mutation':
      return single(rng, category, mutateBytes(rng, Buffer.from(packr.pack(validRequest(rng, env)))), true);
    case 'huge_declared':
      return single(rng, category, hugeDeclared(rng, env), true);
    case 'deep': {
      const d = deepMessage(rng, maxMessageBytes);
      return single(rng, category, d.payload, d.binary);
    }
    case 'random': {
      if (binary) return single(rng, category, rng.bytes(rng.int(rng.chance(0.1) ? 4000 : 64)), true);
      // Valid UTF-8 text that is rarely JSON.
      const chars = Array.from({ length: rng.int(80) }, () =>
        String.fromCodePoint(rng.chance(0.8) ? 0x20 + rng.int(0x5f) : 0xa0 + rng.int(0x2000)),
      );
      return single(rng, category, Buffer.from(chars.join(''), 'utf8'), false);
    }
    case 'json_mutation':
      return single(rng, category, Buffer.from(mutateJson(rng, JSON.stringify(validRequest(rng, env))), 'utf8'), false);
    case 'fragmented': {
      const inner = rng.chance(0.6) ? validRequest(rng, env) : weirdValue(rng);
      let payload = encodeRequest(inner, binary);
      if (!binary && rng.chance(0.5)) payload = Buffer.from(JSON.stringify({ op: 'ping', id: 'ü€😀-ping' }), 'utf8'); // multi-byte characters across fragments
      return { category, bytes: fragmented(rng, payload, binary) };
    }
    case 'oversize': {
      const size = maxMessageBytes + 1 + rng.int(3 * maxMessageBytes);
      const payload = binary ? rng.bytes(size) : Buffer.from(`{"op":"ping","id":1,"pad":"${'p'.repeat(size)}"}`);
      return single(rng, category, payload, binary);
    }
    default: {
      // edge_values: hand-written MessagePack with 64-bit integers, float32 ids, nil keys, bin topics.
      const variants: Buffer[] = [
        Buffer.concat([Buffer.from([0x82]), mpStr('op'), mpStr('ping'), mpStr('id'), Buffer.from([0xcf, 0, 0, 0, 0, 0, 0, 0, 5])]),
        Buffer.concat([
          Buffer.from([0x82]),
          mpStr('op'),
          mpStr('ping'),
          mpStr('id'),
          Buffer.from([0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfb]),
        ]),
        Buffer.concat([
          Buffer.from([0x82]),
          mpStr('op'),
          mpStr('ping'),
          mpStr('id'),
          Buffer.from([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ]),
        Buffer.concat([Buffer.from([0x82]), mpStr('op'), mpStr('ping'), mpStr('id'), Buffer.from([0xca, 0x40, 0x40, 0, 0])]),
        Buffer.concat([
          Buffer.from([0x83]),
          mpStr('op'),
          mpStr('subscribe'),
          mpStr('id'),
          Buffer.from([0x03]),
          Buffer.from([0xc0]),
          Buffer.from([0x91, 0xa0]),
        ]),
        Buffer.concat([
          Buffer.from([0x83]),
          mpStr('op'),
          mpStr('subscribe'),
          mpStr('id'),
          Buffer.from([0x04]),
          mpStr('topics'),
          Buffer.from([0x91, 0xc4, 0x03, 0x61, 0x2e, 0x62]),
        ]),
        Buffer.concat([
          Buffer.from([0x82]),
          mpStr('op'),
          mpStr('ping'),
          mpStr('id'),
          Buffer.from([0xd9, 0x03]),
          Buffer.from([0xff, 0xfe, 0xfd]),
        ]),
        Buffer.concat([Buffer.from([0x82]), mpStr('op'), mpStr('ping'), Buffer.from([0x92, 0x01, 0x02]), Buffer.from([0x01])]),
      ];
      return single(rng, 'edge_values', rng.pick(variants), true);
    }
  }
}

// ---- connection-killing messages -------------------------------------------------------------

const INVALID_UTF8 = [
  [0xff],
  [0xfe, 0xff],
  [0xc0, 0x80],
  [0xe0, 0x80, 0x80],
  [0xed, 0xa0, 0x80],
  [0xf4, 0x90, 0x80, 0x80],
  [0xf8, 0x88, 0x80, 0x80, 0x80],
  [0xc3],
  [0xe2, 0x82],
  [0x80],
];

interface Killer {
  kind: string;
  bytes: Buffer;
  /** Destroy the socket right after writing (no wait for the server). */
  destroy: boolean;
}

function killer(rng: Rng, maxPayloadBytes: number): Killer {
  const bad = Buffer.from(rng.pick(INVALID_UTF8));
  const text = (s: string) => Buffer.from(s, 'utf8');
  const kind = rng.pick([
    'invalid_utf8_text',
    'invalid_utf8_fragmented',
    'rsv_bits',
    'reserved_opcode',
    'orphan_continuation',
    'interleaved_data',
    'long_control',
    'fragmented_control',
    'unmasked',
    'huge_length',
    'bad_close',
    'close_then_data',
    'half_frame',
    'abrupt_destroy',
    'oversize_payload',
  ] as const);
  switch (kind) {
    case 'invalid_utf8_text':
      return { kind, bytes: wsFrame(rng, OP_TEXT, Buffer.concat([text('{"op":"ping","id":"'), bad, text('"}')])), destroy: false };
    case 'invalid_utf8_fragmented':
      return {
        kind,
        bytes: Buffer.concat([
          wsFrame(rng, OP_TEXT, text('{"op":"ping",'), { fin: false }),
          wsFrame(rng, OP_CONT, Buffer.concat([text('"id":"'), bad, text('"}')])),
        ]),
        destroy: false,
      };
    case 'rsv_bits':
      return { kind, bytes: wsFrame(rng, OP_TEXT, text('{"op":"ping","id":1}'), { rsv: 1 + rng.int(7) }), destroy: false };
    case 'reserved_opcode':
      return { kind, bytes: wsFrame(rng, rng.pick([3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf]), rng.bytes(rng.int(20))), destroy: false };
    case 'orphan_continuation':
      return { kind, bytes: wsFrame(rng, OP_CONT, text('"id":1}')), destroy: false };
    case 'interleaved_data':
      return {
        kind,
        bytes: Buffer.concat([wsFrame(rng, OP_TEXT, text('{"op":'), { fin: false }), wsFrame(rng, OP_BINARY, Buffer.from([0x80]))]),
        destroy: false,
      };
    case 'long_control':
      return { kind, bytes: wsFrame(rng, OP_PING, rng.bytes(126 + rng.int(200))), destroy: false };
    case 'fragmented_control':
      return { kind, bytes: wsFrame(rng, OP_PING, rng.bytes(10), { fin: false }), destroy: false };
    case 'unmasked':
      return { kind, bytes: wsFrame(rng, OP_TEXT, text('{"op":"ping","id":1}'), { masked: false }), destroy: false };
    case 'huge_length':
      return {
        kind,
        bytes: wsFrame(rng, OP_BINARY, rng.bytes(16), {
          declaredLength: rng.pick([2n ** 63n + 5n, 2n ** 40n, BigInt(maxPayloadBytes) + 1n]),
        }),
        destroy: false,
      };
    case 'bad_close': {
      const payload = rng.pick([
        Buffer.from([0x03]),
        Buffer.from([0x00, 0x00]),
        Buffer.from([0x03, 0xe7]),
        Buffer.from([0x03, 0xed]),
        Buffer.from([0x13, 0x88]),
        Buffer.concat([Buffer.from([0x03, 0xe8]), bad]),
        Buffer.concat([Buffer.from([0x03, 0xe8]), rng.bytes(123)]),
      ]);
      return { kind, bytes: wsFrame(rng, OP_CLOSE, payload), destroy: false };
    }
    case 'close_then_data':
      return {
        kind,
        bytes: Buffer.concat([wsFrame(rng, OP_CLOSE, Buffer.from([0x03, 0xe8])), wsFrame(rng, OP_TEXT, text('{"op":"ping","id":1}'))]),
        destroy: false,
      };
    case 'half_frame': {
      const f = wsFrame(rng, OP_TEXT, text('{"op":"subscribe","id":1,"topics":["*.*.*"]}'));
      return { kind, bytes: f.subarray(0, 1 + rng.int(f.length - 1)), destroy: true };
    }
    case 'abrupt_destroy':
      return { kind, bytes: wsFrame(rng, OP_TEXT, text('{"op":"subscribe","id":1,"topics":["*.*.*"],"maxRate":1}')), destroy: true };
    default:
      // Over the hard limit (uWS drops the connection). The payload is real but never interpreted.
      return { kind, bytes: wsFrame(rng, OP_BINARY, Buffer.alloc(maxPayloadBytes + 1, 0x90)), destroy: false };
  }
}

// ---- handshake and plain-HTTP fuzz -------------------------------------------------------------

function fuzzHttpRequest(rng: Rng, port: number): Buffer {
  const key = randomBytes(16).toString('base64');
  const garbage = () =>
    Array.from(rng.bytes(1 + rng.int(12)), (b) =>
      rng.chance(0.5)
        ? `%${b.toString(16).padStart(2, '0')}`
        : rng.pick(['%', '%E0%A4%A', '%zz', '..', '/', '*', '?', '#', '&', '=', '+', 'A', 'é']),
    ).join('');
  const path = rng.pick([
    '/v1/stream',
    `/v1/stream?format=${rng.pick(['json', 'JSON', 'xml', '', '%00', 'msgpack&format=json', garbage()])}`,
    '/v1/stream/',
    '//v1/stream',
    `/v1/snapshot/${garbage()}`,
    `/v1/snapshot/equity.AAPL.quote${garbage()}`,
    `/v1/topics?pattern=${garbage()}`,
    `/v1/topics?pattern=${rng.pick(PATTERNS)}`,
    '/healthz',
    '/metrics',
    `/${garbage()}`,
    `/v1/${'a'.repeat(rng.int(9000))}`,
  ]);
  const method = rng.pick(['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'OPTIONS', 'get', 'BREW']);
  const upgrade = path.startsWith('/v1/stream') || rng.chance(0.2);
  const headers = [`Host: 127.0.0.1:${port}`];
  if (upgrade) {
    if (rng.chance(0.9)) headers.push(`Upgrade: ${rng.pick(['websocket', 'WebSocket', 'h2c', ''])}`);
    if (rng.chance(0.9)) headers.push('Connection: Upgrade');
    if (rng.chance(0.85)) headers.push(`Sec-WebSocket-Key: ${rng.pick([key, '', 'short', key + key])}`);
    if (rng.chance(0.85)) headers.push(`Sec-WebSocket-Version: ${rng.pick(['13', '8', '', 'x'])}`);
    if (rng.chance(0.2)) headers.push(`Sec-WebSocket-Protocol: ${rng.pick(['', 'a, b', 'x'.repeat(300)])}`);
    if (rng.chance(0.2))
      headers.push(`Sec-WebSocket-Extensions: ${rng.pick(['permessage-deflate', 'permessage-deflate; client_max_window_bits', 'x'])}`);
  }
  if (rng.chance(0.1)) headers.push(`X-Junk: ${'j'.repeat(rng.int(20_000))}`);
  if (rng.chance(0.1)) headers.push(`Authorization: Bearer ${rng.pick(['', 'x', 'a.b.c'])}`);
  if (rng.chance(0.05)) headers.push('Content-Length: 5');
  return Buffer.from(`${method} ${path} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`, 'latin1');
}

async function httpProbe(rng: Rng, port: number, stats: Record<string, number>, deadline: number): Promise<string> {
  const req = fuzzHttpRequest(rng, port);
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (d: Buffer) => (data += d.toString('latin1')));
  socket.write(req);
  const timeout = Math.max(50, Math.min(1500, deadline - Date.now()));
  await Promise.race([once(socket, 'close'), new Promise((r) => setTimeout(r, timeout))]);
  // A 101 leaves the socket open: that is fine, the request was accepted.
  const status = /^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? (data.length === 0 ? 'no_response' : 'unparsed');
  stats[status] = (stats[status] ?? 0) + 1;
  socket.destroy();
  return req.toString('latin1').slice(0, 300);
}

// ---- the gateway under test --------------------------------------------------------------------

interface GatewayChild {
  child: ChildProcess;
  port: number;
  output: string[];
  exit: { code: number | null; signal: string | null } | null;
  exited: Promise<void>;
}

const BIN = fileURLToPath(new URL('../../bin/tickgate-dev.js', import.meta.url));
const MAX_MESSAGE_BYTES = 16_384;
const MAX_PAYLOAD_BYTES = 1_048_576;
/** Makes the child run a full GC on SIGUSR2 (see the file), for exact heap-used samples. */
const GC_PRELOAD = new URL('../gc-preload.mjs', import.meta.url).href;

async function startGatewayChild(defaultLimits: boolean, dir: string): Promise<GatewayChild> {
  const config = {
    logLevel: 'warn',
    feeds: [
      { adapter: 'sim-equity', options: { seed: 1, ticksPerSecond: 600 } },
      { adapter: 'sim-fx', options: { seed: 2, ticksPerSecond: 200 } },
    ],
    // Small slow-consumer limits, so connections that stop reading reach every step quickly.
    // Message limits pinned (the fuzzer sizes oversized and deeply nested messages from them).
    transport: { maxMessageBytes: MAX_MESSAGE_BYTES, maxPayloadBytes: MAX_PAYLOAD_BYTES, maxBackpressureBytes: 262_144, closeGraceMs: 500 },
    bus: { historyMaxTicks: 16 },
    slowConsumer: { softLimitBytes: 65_536, recoverBelowBytes: 16_384, maxSlowMs: 1500 },
    ...(defaultLimits ? {} : { limits: { maxMessagesPerSecond: 0, maxNewConnectionsPerSecondPerIp: 0, maxConnectionsPerIp: 0 } }),
  };
  const file = join(dir, 'fuzz-config.json');
  writeFileSync(file, JSON.stringify(config));
  // FUZZ_GATEWAY_NODE_ARGS: extra node flags for the gateway child, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = [
    '--expose-gc',
    '--import',
    GC_PRELOAD,
    ...(process.env.FUZZ_GATEWAY_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''),
  ];
  const child = spawn(process.execPath, [...nodeArgs, BIN, 'serve', '--host', '127.0.0.1', '--port', '0', '--config', file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const g: GatewayChild = { child, port: 0, output: [], exit: null, exited: Promise.resolve() };
  let pending = '';
  const onData = (d: Buffer) => {
    pending += d.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      g.output.push(line);
      if (g.output.length > 2000) g.output.splice(0, 1000);
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  g.exited = once(child, 'exit').then(([code, signal]) => {
    g.exit = { code: code as number | null, signal: signal as string | null };
  });
  const deadline = Date.now() + 20_000;
  while (g.port === 0) {
    for (const line of g.output) {
      const m = /stream\s+ws:\/\/127\.0\.0\.1:(\d+)\/v1\/stream/.exec(line);
      if (m) g.port = Number(m[1]);
    }
    if (g.exit) throw new Error(`gateway exited during start-up (${g.exit.code}): ${g.output.slice(-20).join('\n')}`);
    if (Date.now() > deadline) throw new Error(`gateway did not start: ${g.output.slice(-20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return g;
}

function metricValue(text: string, name: string, labels = ''): number {
  const re = new RegExp(`^${name}${labels ? `\\{${labels.replace(/[{}]/g, '')}\\}` : ''} ([0-9.eE+-]+|NaN)$`, 'm');
  const m = re.exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

async function scrape(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) });
  return res.text();
}

// ---- the clean client ----------------------------------------------------------------------------

const CLEAN_TOPICS = ['equity.AAPL.quote', 'equity.MSFT.quote', 'fx.EURUSD.quote'];

class CleanClient {
  ticks = 0;
  readonly gaps: string[] = [];
  maxPingRttMs = 0;
  closed: string | null = null;
  private readonly next = new Map<string, number>();
  private pingTimer: NodeJS.Timeout | null = null;
  private pingSentAt = 0;
  private acked = false;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.onFrame(decode(data) as Record<string, unknown>));
    ws.on('close', (code) => {
      if (this.closed === null) this.closed = `closed with ${code}`;
    });
    ws.on('error', (err) => {
      this.closed = `error ${err.message}`;
    });
  }

  static async connect(port: number): Promise<CleanClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream`);
    const c = new CleanClient(ws); // listening before 'open': the welcome can arrive in the same tick
    await once(ws, 'open');
    ws.send(JSON.stringify({ op: 'subscribe', id: 'clean', topics: CLEAN_TOPICS }));
    const deadline = Date.now() + 5000;
    while (!c.acked) {
      if (Date.now() > deadline) throw new Error('clean client: no ack');
      await new Promise((r) => setTimeout(r, 10));
    }
    c.pingTimer = setInterval(() => {
      if (c.pingSentAt !== 0) return; // one outstanding at a time
      c.pingSentAt = performance.now();
      ws.send(JSON.stringify({ op: 'ping', id: 'clean-ping' }));
    }, 100);
    return c;
  }

  welcomeMaxMessageBytes: unknown = undefined;

  private onFrame(f: Record<string, unknown>): void {
    switch (f.t) {
      case 'welcome':
        this.welcomeMaxMessageBytes = f.maxMessageBytes;
        break;
      case 'ack':
        this.acked = true;
        break;
      case 'pong':
        this.maxPingRttMs = Math.max(this.maxPingRttMs, performance.now() - this.pingSentAt);
        this.pingSentAt = 0;
        break;
      case 'snapshot':
      case 'ticks': {
        const topic = f.topic as string;
        for (const t of f.ticks as { seq: number }[]) {
          const want = this.next.get(topic);
          if (f.t === 'ticks' && want !== undefined && t.seq !== want && this.gaps.length < 20)
            this.gaps.push(`${topic}: expected seq ${want}, got ${t.seq}`);
          this.next.set(topic, t.seq + 1);
          if (f.t === 'ticks') this.ticks++;
        }
        break;
      }
      case 'slow':
      case 'error':
        if (this.gaps.length < 20) this.gaps.push(`unexpected ${String(f.t)} frame: ${JSON.stringify(f).slice(0, 200)}`);
        break;
    }
  }

  async close(): Promise<void> {
    if (this.pingTimer) clearInterval(this.pingTimer);
    this.closed ??= 'closed by the test';
    this.ws.close();
  }
}

// ---- one fuzz connection -----------------------------------------------------------------------

interface Shared {
  opts: FuzzOptions;
  env: Env;
  port: number;
  maxMessageBytes: number;
  maxPayloadBytes: number;
  deadline: number;
  stop: boolean;
  result: FuzzResult;
  batchRtts: number[];
  /** Messages of the current round not yet handed to a connection. */
  remaining: number;
  weights: readonly (readonly [number, string])[];
  /** Last batches per connection, for the crash report. */
  recent: Map<number, { note: string; messages: { category: string; bytes: Buffer }[] }[]>;
}

interface Conn {
  socket: net.Socket;
  reader: FrameReader;
  closed: boolean;
  closeCode: number | null;
  waiters: (() => void)[];
  /** Replies seen for sync ids: id → frame kind. */
  syncReplies: Map<string, string>;
}

/** Masks for pong replies, which happen at timing-dependent moments and must not shift a connection's seeded sequence. */
const replyRng = new Rng(0);

function count(map: Record<string, number>, key: string, n = 1): void {
  map[key] = (map[key] ?? 0) + n;
}

async function openConn(s: Shared, rng: Rng): Promise<Conn | null> {
  const socket = net.connect(s.port, '127.0.0.1');
  socket.setNoDelay(true);
  const conn: Conn = { socket, reader: new FrameReader(), closed: false, closeCode: null, waiters: [], syncReplies: new Map() };
  const wake = () => {
    const w = conn.waiters;
    conn.waiters = [];
    for (const f of w) f();
  };
  socket.on('error', () => {});
  socket.on('close', () => {
    conn.closed = true;
    wake();
  });
  const format = rng.chance(0.25) ? 'json' : 'msgpack';
  const key = rng.bytes(16).toString('base64');
  socket.write(
    `GET /v1/stream?format=${format} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  let head = Buffer.alloc(0);
  let upgraded = false;
  const frames: ServerFrame[] = [];
  const result = s.result;
  socket.on('data', (chunk: Buffer) => {
    if (!upgraded) {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1] ?? 'unparsed';
      if (status !== '101') {
        count(result.http, `stream_upgrade_${status}`);
        socket.destroy();
        return;
      }
      upgraded = true;
      chunk = head.subarray(end + 4);
      wake();
      if (chunk.length === 0) return;
    }
    frames.length = 0;
    conn.reader.push(chunk, frames);
    for (const f of frames) {
      if (f.opcode === OP_PING) {
        if (!conn.closed) socket.write(wsFrame(replyRng, OP_PONG, f.payload)); // own generator: replies come at timing-dependent moments
        continue;
      }
      if (f.opcode === OP_CLOSE) {
        conn.closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005;
        count(result.replies, `close_${conn.closeCode}`);
        socket.destroy();
        continue;
      }
      if (f.opcode === OP_PONG) continue;
      const kind = frameKind(f);
      if (kind === 'error' || kind === 'pong' || kind === 'welcome' || kind === 'unparsed') {
        const d = decodeFrame(f);
        if (kind === 'error') count(result.replies, `error:${String(d.code)}`);
        else count(result.replies, kind);
        if (kind === 'welcome' && typeof d.epoch === 'number') s.env.epoch = d.epoch;
        if (typeof d.id === 'string' && d.id.startsWith('~sync'))
          conn.syncReplies.set(d.id, kind === 'error' ? `error:${String(d.code)}` : kind);
      } else count(result.replies, kind);
    }
    if (conn.syncReplies.size > 0) wake();
  });
  const until = Date.now() + 5000;
  while (!upgraded && !conn.closed) {
    if (Date.now() > until) {
      socket.destroy();
      break;
    }
    await new Promise<void>((r) => {
      const t = setTimeout(r, 100);
      conn.waiters.push(() => {
        clearTimeout(t);
        r();
      });
    });
  }
  if (!upgraded) {
    count(result.http, 'stream_upgrade_failed');
    return null;
  }
  result.connectionsOpened++;
  return conn;
}

function waitFor(conn: Conn, cond: () => boolean, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const deadline = Date.now() + timeoutMs;
    const check = () => {
      if (cond()) return resolve(true);
      if (conn.closed || Date.now() >= deadline) return resolve(cond());
      const t = setTimeout(check, Math.min(200, deadline - Date.now()));
      conn.waiters.push(() => {
        clearTimeout(t);
        check();
      });
    };
    check();
  });
}

/**
 * Runs one fuzz connection (reconnecting as needed), taking batches from the round's shared
 * budget until it is used up, so a connection that pauses or reconnects does not hold the
 * others back. Connection i's message sequence depends only on the seed, the round and i;
 * how the budget splits between connections depends on timing.
 */
async function runConnection(s: Shared, index: number, round: number): Promise<void> {
  const rng = new Rng(s.opts.seed * 4096 + round * 256 + index);
  const { result } = s;
  let conn: Conn | null = null;
  let syncN = 0;
  let attempts = 0;
  const recent: { note: string; messages: { category: string; bytes: Buffer }[] }[] = [];
  s.recent.set(round * 1000 + index, recent);
  const remember = (note: string, messages: { category: string; bytes: Buffer }[]) => {
    recent.push({ note, messages });
    if (recent.length > 3) recent.shift();
  };
  while (s.remaining > 0 && !s.stop && Date.now() < s.deadline) {
    if (rng.chance(0.01))
      remember('http probe', [{ category: 'http', bytes: Buffer.from(await httpProbe(rng, s.port, result.http, s.deadline), 'latin1') }]);
    if (conn === null || conn.closed) {
      if (++attempts > 200) {
        result.problems.push(`connection ${index}: could not (re)connect`);
        return;
      }
      conn = await openConn(s, rng);
      if (conn === null) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
    }
    // A pipelined batch of fuzz messages, then a ping that must be answered with a pong.
    const k = Math.min(s.remaining, 20 + rng.int(80));
    s.remaining -= k;
    const batch: Outgoing[] = [];
    for (let i = 0; i < k; i++) batch.push(generate(rng, s.env, s.maxMessageBytes, s.weights));
    const syncId = `~sync-${index}-${++syncN}`;
    const syncPayload = rng.chance(0.5)
      ? Buffer.from(packr.pack({ op: 'ping', id: syncId }))
      : Buffer.from(JSON.stringify({ op: 'ping', id: syncId }));
    const sync = wsFrame(rng, syncPayload[0] === 0x7b ? OP_TEXT : OP_BINARY, syncPayload);
    remember(`batch ending in ${syncId}`, batch);
    const sentAt = performance.now();
    conn.socket.write(Buffer.concat([...batch.map((m) => m.bytes), sync]));
    result.sent += k;
    for (const m of batch) count(result.byCategory, m.category);
    const c = conn;
    const answered = await waitFor(c, () => c.syncReplies.has(syncId), 20_000);
    if (answered) {
      const reply = c.syncReplies.get(syncId)!;
      c.syncReplies.delete(syncId);
      s.batchRtts.push(performance.now() - sentAt);
      if (reply !== 'pong') result.problems.push(`connection ${index}: ${syncId} answered with ${reply}, not pong (seed ${s.opts.seed})`);
      result.processed += k;
    } else if (c.closed) {
      s.remaining += k; // not processed: give the budget back
      if (result.unexpectedCloses.length < 50) result.unexpectedCloses.push({ code: c.closeCode, conn: index, note: `during ${syncId}` });
      continue;
    } else {
      s.remaining += k;
      result.problems.push(`connection ${index}: no reply to ${syncId} within 20 s (seed ${s.opts.seed})`);
      c.socket.destroy();
      continue;
    }
    // Now and then: a message that must make the server drop the connection, a pause in
    // reading (slow consumer), or a plain reconnect.
    const roll = rng.r.next();
    if (roll < 0.035) {
      const kill = killer(rng, s.maxPayloadBytes);
      remember(`killer ${kill.kind}`, [{ category: kill.kind, bytes: kill.bytes }]);
      c.socket.write(kill.bytes);
      if (kill.destroy) {
        c.socket.destroy();
        count(result.killers, `${kill.kind}:client_destroyed`);
      } else {
        const closedByServer = await waitFor(c, () => c.closed, 1500);
        count(result.killers, `${kill.kind}:${closedByServer ? 'server_closed' : 'left_open'}`);
        c.socket.destroy();
      }
      conn = null;
    } else if (roll < 0.05) {
      // Subscribe to everything and stop reading for a while.
      c.socket.write(wsFrame(rng, OP_TEXT, Buffer.from(JSON.stringify({ op: 'subscribe', id: 'slow', topics: ['*.*.*'] }))));
      c.socket.pause();
      await new Promise((r) => setTimeout(r, 300 + rng.int(2200)));
      c.socket.resume();
      count(result.killers, 'paused_reader');
    } else if (roll < 0.07) {
      if (rng.chance(0.5)) c.socket.end(wsFrame(rng, OP_CLOSE, Buffer.from([0x03, 0xe8])));
      else c.socket.destroy();
      conn = null;
    }
  }
  if (conn !== null && !conn.closed) {
    if (rng.chance(0.5)) conn.socket.end(wsFrame(rng, OP_CLOSE, Buffer.from([0x03, 0xe8])));
    else conn.socket.destroy();
    await waitFor(conn, () => conn!.closed, 2000);
    conn.socket.destroy();
  }
}

// ---- the run -------------------------------------------------------------------------------------

export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const opts = { ...DEFAULTS, ...options };
  const log = opts.log ?? (() => {});
  const started = performance.now();
  const result: FuzzResult = {
    seed: opts.seed,
    processed: 0,
    sent: 0,
    byCategory: {},
    replies: {},
    killers: {},
    http: {},
    connectionsOpened: 0,
    unexpectedCloses: [],
    clean: { ticks: 0, gaps: [], maxPingRttMs: 0, closed: null },
    batchRttMs: { p50: 0, p99: 0, max: 0 },
    rounds: [],
    durationMs: 0,
    gatewayExit: null,
    crashReport: null,
    problems: [],
  };
  const dir = mkdtempSync(join(tmpdir(), 'tickgate-fuzz-'));
  let gw: GatewayChild | null = null;
  let clean: CleanClient | null = null;
  try {
    gw = await startGatewayChild(opts.defaultLimits ?? false, dir);
    const port = gw.port;
    const topicsRes = (await (await fetch(`http://127.0.0.1:${port}/v1/topics`)).json()) as { topics: { topic: string }[] };
    const env: Env = { topics: topicsRes.topics.map((t) => t.topic).sort(), epoch: 0, tiers: [1, 2, 4, 10, 20, 50] };
    clean = await CleanClient.connect(port);
    if (clean.welcomeMaxMessageBytes !== MAX_MESSAGE_BYTES)
      result.problems.push(
        `the gateway announces maxMessageBytes ${String(clean.welcomeMaxMessageBytes)}, the fuzzer assumes ${MAX_MESSAGE_BYTES}`,
      );
    const baseline = await scrape(port);
    const cleanSubs = metricValue(baseline, 'tickgate_subscriptions');
    const shared: Shared = {
      opts,
      env,
      port,
      maxMessageBytes: MAX_MESSAGE_BYTES,
      maxPayloadBytes: MAX_PAYLOAD_BYTES,
      deadline: Date.now() + opts.timeLimitMs,
      stop: false,
      result,
      batchRtts: [],
      remaining: 0,
      weights: opts.only ? CATEGORY_WEIGHTS.filter(([, c]) => opts.only!.includes(c)) : CATEGORY_WEIGHTS,
      recent: new Map(),
    };
    log(
      `fuzz: seed ${opts.seed}, ${opts.messages} messages, ${opts.connections} connections × ${opts.rounds} rounds, gateway pid ${gw.child.pid} on 127.0.0.1:${port}, ${env.topics.length} topics`,
    );
    const g = gw;
    const crashWatch = g.exited.then(() => {
      shared.stop = true;
    });
    const fuzzerLag = monitorEventLoopDelay({ resolution: 10 });
    fuzzerLag.enable();
    const progress = setInterval(() => {
      const secs = (performance.now() - started) / 1000;
      log(
        `  ${secs.toFixed(1)} s: ${result.processed} processed (${Math.round(result.processed / secs)}/s), ${result.sent} sent, ${result.connectionsOpened} connections opened, clean client ${clean!.ticks} ticks`,
      );
    }, 2000);
    progress.unref();
    try {
      const perRound = Math.ceil(opts.messages / opts.rounds);
      for (let round = 1; round <= opts.rounds && !shared.stop; round++) {
        shared.remaining = Math.min(perRound, opts.messages - result.processed);
        // prom-client resets the loop-delay histogram at each scrape: keep the max over the round.
        let roundLagMax = 0;
        const lagPoll = setInterval(() => {
          scrape(port).then(
            (t) => {
              const v = metricValue(t, 'nodejs_eventloop_lag_max_seconds');
              if (v > roundLagMax) roundLagMax = v;
            },
            () => {},
          );
        }, 1000);
        await Promise.race([Promise.all(Array.from({ length: opts.connections }, (_, i) => runConnection(shared, i, round))), crashWatch]);
        clearInterval(lagPoll);
        if (g.exit) break;
        // Every fuzz connection is closed: the gateway must be back to the clean client alone.
        g.child.kill('SIGUSR2'); // full GC: heap used below is live data
        await new Promise((r) => setTimeout(r, 150));
        let text = '';
        const settleBy = Date.now() + 6000;
        for (;;) {
          text = await scrape(port);
          const ok = metricValue(text, 'tickgate_connections') === 1 && metricValue(text, 'tickgate_subscriptions') === cleanSubs;
          if (ok || Date.now() > settleBy) break;
          await new Promise((r) => setTimeout(r, 100));
        }
        const sample: RoundSample = {
          round,
          processed: result.processed,
          elapsedMs: Math.round(performance.now() - started),
          connections: metricValue(text, 'tickgate_connections'),
          subscriptions: metricValue(text, 'tickgate_subscriptions'),
          rssBytes: metricValue(text, 'process_resident_memory_bytes'),
          heapUsedBytes: metricValue(text, 'nodejs_heap_size_used_bytes'),
          // Read directly: the gateway's process_open_fds metric is refreshed only every 10 s.
          openFds: countFds(gw.child.pid) ?? metricValue(text, 'process_open_fds'),
          cpuSeconds: metricValue(text, 'process_cpu_seconds_total'),
          heapTotalBytes: metricValue(text, 'nodejs_heap_size_total_bytes'),
          externalBytes: metricValue(text, 'nodejs_external_memory_bytes'),
          gatewayLoopLagMaxMs: Math.round(roundLagMax * 1000),
          fuzzerLoopLagMaxMs: Math.round(fuzzerLag.max / 1e6),
        };
        fuzzerLag.reset();
        result.rounds.push(sample);
        log(
          `  round ${round}: ${sample.processed} processed, connections ${sample.connections}, subscriptions ${sample.subscriptions} (clean client: ${cleanSubs}), RSS ${(sample.rssBytes / 2 ** 20).toFixed(1)} MiB, heap ${(sample.heapUsedBytes / 2 ** 20).toFixed(1)} MiB, fds ${sample.openFds}`,
        );
        if (sample.connections !== 1)
          result.problems.push(
            `round ${round}: tickgate_connections is ${sample.connections} after every fuzz connection closed (expected 1, the clean client)`,
          );
        if (sample.subscriptions !== cleanSubs)
          result.problems.push(
            `round ${round}: tickgate_subscriptions is ${sample.subscriptions} after every fuzz connection closed (expected ${cleanSubs}, the clean client's)`,
          );
        if (round > 1 && sample.openFds > result.rounds[0]!.openFds + 8)
          result.problems.push(`round ${round}: ${sample.openFds} open fds, ${result.rounds[0]!.openFds} after round 1 (leak?)`);
        if (Date.now() > shared.deadline) {
          result.problems.push(`time limit of ${opts.timeLimitMs} ms reached after ${result.processed} processed messages`);
          break;
        }
      }
    } finally {
      clearInterval(progress);
      fuzzerLag.disable();
    }

    if (g.exit) {
      result.gatewayExit = g.exit;
      result.problems.push(`the gateway process exited (code ${g.exit.code}, signal ${g.exit.signal}) — seed ${opts.seed}`);
      const file = join(tmpdir(), `tickgate-fuzz-crash-seed${opts.seed}-${Date.now()}.json`);
      // Frames as written (masked, hex); a frame over 4 KiB is cut (its header says its length).
      const hex = (b: Buffer) => (b.length > 4096 ? `${b.subarray(0, 4096).toString('hex')}…(${b.length} bytes)` : b.toString('hex'));
      const recentBatches = Object.fromEntries(
        [...shared.recent].map(([conn, batches]) => [
          conn,
          batches.map((x) => ({ note: x.note, messages: x.messages.map((m) => ({ category: m.category, hex: hex(m.bytes) })) })),
        ]),
      );
      writeFileSync(file, JSON.stringify({ seed: opts.seed, exit: g.exit, gatewayOutput: g.output.slice(-200), recentBatches }, null, 1));
      result.crashReport = file;
      return result;
    }

    const rtts = shared.batchRtts.sort((a, b) => a - b);
    const at = (q: number) => Math.round(rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))] ?? 0);
    result.batchRttMs = { p50: at(0.5), p99: at(0.99), max: Math.round(rtts[rtts.length - 1] ?? 0) };
    const final = await scrape(port);
    const internal = metricValue(final, 'tickgate_errors_total', 'code="TG_ERR_INTERNAL"');
    if (internal > 0) result.problems.push(`${internal} TG_ERR_INTERNAL replies: a request handler threw (see the gateway log)`);
    for (const kind of ['unhandled_rejection', 'uncaught_exception']) {
      const n = metricValue(final, 'tickgate_process_errors_total', `kind="${kind}"`);
      if (n !== 0) result.problems.push(`tickgate_process_errors_total{kind="${kind}"} is ${n}`);
    }
    for (const line of g.output) {
      if (!line.startsWith('{')) continue;
      try {
        const entry = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
        if ((entry.level ?? 0) >= 50)
          result.problems.push(`gateway logged at level ${entry.level}: ${entry.msg} ${entry.err?.message ?? ''}`.trim());
      } catch {
        // not a log line
      }
    }
    const first = result.rounds[0];
    const last = result.rounds[result.rounds.length - 1];
    if (first && last && last !== first) {
      if (last.rssBytes - first.rssBytes > opts.rssGrowthLimitBytes)
        result.problems.push(
          `RSS grew ${((last.rssBytes - first.rssBytes) / 2 ** 20).toFixed(1)} MiB from round 1 to round ${last.round} (limit ${opts.rssGrowthLimitBytes / 2 ** 20} MiB)`,
        );
      if (last.heapUsedBytes - first.heapUsedBytes > opts.heapGrowthLimitBytes)
        result.problems.push(
          `heap used grew ${((last.heapUsedBytes - first.heapUsedBytes) / 2 ** 20).toFixed(1)} MiB from round 1 to round ${last.round} (limit ${opts.heapGrowthLimitBytes / 2 ** 20} MiB)`,
        );
    }
    if (result.processed < opts.messages && !result.problems.some((p) => p.startsWith('time limit')))
      result.problems.push(`only ${result.processed} of ${opts.messages} messages were processed`);
  } finally {
    if (clean) {
      await clean.close();
      result.clean = {
        ticks: clean.ticks,
        gaps: clean.gaps,
        maxPingRttMs: Math.round(clean.maxPingRttMs * 10) / 10,
        closed: clean.closed === 'closed by the test' ? null : clean.closed,
      };
      if (clean.gaps.length > 0)
        result.problems.push(`the clean client saw gaps or unexpected frames: ${clean.gaps.slice(0, 5).join('; ')}`);
      if (result.clean.closed) result.problems.push(`the clean client's connection ended: ${result.clean.closed}`);
      if (clean.ticks === 0) result.problems.push('the clean client received no ticks');
    }
    if (gw && !gw.exit) {
      gw.child.kill('SIGTERM');
      await Promise.race([gw.exited, new Promise((r) => setTimeout(r, 10_000))]);
      const exit = gw.exit as GatewayChild['exit']; // set by the exit handler meanwhile
      if (!exit) {
        gw.child.kill('SIGKILL');
        result.problems.push('the gateway did not exit within 10 s of SIGTERM');
      } else if (exit.code !== 0) {
        result.problems.push(`the gateway exited with code ${exit.code} on SIGTERM (expected 0)`);
      }
    }
    rmSync(dir, { recursive: true, force: true });
    result.durationMs = Math.round(performance.now() - started);
  }
  return result;
}

export function summarize(r: FuzzResult): string {
  const top = (m: Record<string, number>, n = 12) =>
    Object.entries(m)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  return [
    `fuzz seed ${r.seed}: ${r.processed} messages processed (${r.sent} sent) in ${(r.durationMs / 1000).toFixed(1)} s over ${r.connectionsOpened} connections`,
    `  categories: ${top(r.byCategory, 20)}`,
    `  replies: ${top(r.replies, 16)}`,
    `  connection killers: ${top(r.killers, 40)}`,
    `  http/handshake probes: ${top(r.http)}`,
    `  unexpected closes during a batch: ${r.unexpectedCloses.length}${
      r.unexpectedCloses.length
        ? ` (${r.unexpectedCloses
            .slice(0, 5)
            .map((u) => `conn ${u.conn} code ${u.code} ${u.note}`)
            .join('; ')})`
        : ''
    }`,
    `  batch round trip (write → trailing pong): p50 ${r.batchRttMs.p50} ms, p99 ${r.batchRttMs.p99} ms, max ${r.batchRttMs.max} ms`,
    `  clean client: ${r.clean.ticks} ticks, ${r.clean.gaps.length} gaps, max ping RTT ${r.clean.maxPingRttMs} ms`,
    ...r.rounds.map(
      (s) =>
        `  round ${s.round}: connections ${s.connections}, subscriptions ${s.subscriptions}, RSS ${(s.rssBytes / 2 ** 20).toFixed(1)} MiB, heap used ${(s.heapUsedBytes / 2 ** 20).toFixed(1)} MiB (after GC; heap total ${(s.heapTotalBytes / 2 ** 20).toFixed(1)}, external ${(s.externalBytes / 2 ** 20).toFixed(1)}), open fds ${s.openFds}, gateway CPU ${s.cpuSeconds.toFixed(1)} s, longest loop stall: gateway ${s.gatewayLoopLagMaxMs} ms, fuzzer ${s.fuzzerLoopLagMaxMs} ms`,
    ),
    r.crashReport ? `  crash report: ${r.crashReport}` : '',
    r.problems.length === 0 ? '  OK: no crash, no gap, no leak' : `  PROBLEMS:\n${r.problems.map((p) => `    - ${p}`).join('\n')}`,
  ]
    .filter((l) => l !== '')
    .join('\n');
}

// ---- CLI -------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      messages: { type: 'string', default: '1000000' },
      seed: { type: 'string' },
      connections: { type: 'string', default: String(DEFAULTS.connections) },
      rounds: { type: 'string', default: '8' },
      'time-limit-seconds': { type: 'string' },
      'default-limits': { type: 'boolean', default: false },
      json: { type: 'string' },
      only: { type: 'string' },
    },
  });
  const messages = Number(values.messages);
  const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 32) : Number(values.seed);
  if (!Number.isSafeInteger(messages) || messages < 1) throw new Error('--messages must be a positive integer');
  if (!Number.isSafeInteger(seed) || seed < 0) throw new Error('--seed must be a non-negative integer');
  const timeLimitMs = values['time-limit-seconds'] ? Number(values['time-limit-seconds']) * 1000 : Math.max(120_000, messages * 2); // 2 ms per message is ~10× the usual pace
  const result = await runFuzz({
    seed,
    messages,
    connections: Number(values.connections),
    rounds: Number(values.rounds),
    timeLimitMs,
    defaultLimits: values['default-limits'],
    ...(values.only ? { only: values.only.split(',') } : {}),
    log: (line) => console.log(line),
  });
  console.log(summarize(result));
  if (values.json) writeFileSync(values.json, JSON.stringify(result, null, 1));
  if (result.problems.length > 0) {
    console.log(
      `reproduce with: npm run fuzz -- --messages ${messages} --seed ${seed} --connections ${values.connections} --rounds ${values.rounds}`,
    );
    process.exitCode = 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  });
}

/** Open file descriptors of a local process (Linux /proc), or null where that is not available. */
function countFds(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return null;
  }
}
