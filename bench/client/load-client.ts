/**
 * Load-client process: many raw `net` sockets, each doing the WebSocket upgrade itself and
 * subscribing to its topics, counting ticks by reading WebSocket frame headers and just enough
 * MessagePack (see msgpack-scan.ts). Started by the harness (client-pool.ts) over IPC.
 *
 * Per connection it tracks, per topic, the next expected `seq`: a tick is counted once when its
 * seq is the expected one; a jump is a gap (ticks missing), a repeat is a duplicate. That is how
 * the harness proves "every published tick counted exactly once".
 *
 * Reads go into one shared buffer (`onread`), so a read allocates nothing; a frame split across
 * reads is completed in a small per-connection carry buffer (FrameReader).
 */
import net from 'node:net';
import * as hdr from 'hdr-histogram-js';
import { Unpackr } from 'msgpackr';
import { emit, serveIpc } from '../lib/ipc.ts';
import { KIND_ACK, KIND_ERROR, KIND_SLOW, KIND_TICKS, scanFrame } from './msgpack-scan.ts';
import {
  OP_BINARY,
  OP_CLOSE,
  OP_CONT,
  OP_PING,
  OP_PONG,
  OP_TEXT,
  FrameReader,
  checkUpgradeResponse,
  clientFrame,
  handshakeRequest,
  headerSize,
  newKey,
  textFrame,
} from './ws-wire.ts';

/**
 * tickgate: MessagePack frames (raw uWS and ws speak it too); socketio: Engine.IO v4 with binary
 * attachments; centrifuge: centrifuge 0.15's JSON protocol (text frames of newline-separated replies).
 */
export type ClientProtocol = 'tickgate' | 'socketio' | 'centrifuge';

export interface ConnSpec {
  /** Topic indexes (into the process's `topics` list) this connection subscribes to. */
  topics: number[];
  /** Stop reading right after the subscription is acknowledged (the slow consumer in S4). */
  slow?: boolean;
  /**
   * tickgate protocol: the entries to send in the subscribe request instead of the topic names
   * (S6 sends patterns such as `*.SYM042.*`); `topics` still lists every topic they expand to,
   * which is what the connection counts.
   */
  request?: string[];
}

export interface ClientInit {
  host: string;
  port: number;
  protocol: ClientProtocol;
  topics: string[];
  conns: ConnSpec[];
  /** Decode ts of every tick and record latency. */
  latency: boolean;
  /** Also decode every frame with msgpackr and cross-check the fast scanner (slow; for tests). */
  verify: boolean;
  connectConcurrency: number;
  /**
   * Spread the connections over this many loopback source addresses (127.0.0.2, .3, …) instead of
   * 127.0.0.1: each address has its own ephemeral port range (28k ports here), which tens of
   * thousands of connections plus the TIME_WAIT sockets of the previous step would otherwise crowd,
   * making connect() itself slow. 0 or absent: the default source address.
   */
  sourceAddresses?: number;
  /** Per topic, the seq already published before the connections subscribe (S6 primes every topic first). */
  startSeq?: number[];
  /** Extra fields of the tickgate subscribe request (S6: `{snapshot: false}`). */
  subscribeExtra?: Record<string, unknown>;
}

export interface ConnectResult {
  opened: number;
  failed: number;
  ms: number;
  firstError: string | null;
}

export interface ClientReport {
  conns: number;
  /** Ticks counted (each seq once per connection and topic); slow consumers excluded. */
  ticks: number;
  tickFrames: number;
  /** All frames received (control frames included). */
  frames: number;
  bytes: number;
  reads: number;
  gaps: number;
  dups: number;
  decodeErrors: number;
  verifyErrors: number;
  errorFrames: number;
  firstErrorFrame: string | null;
  /** Ticks still expected (sum over connections of published − last seq seen), excluding slow ones. */
  missing: number;
  /** Connections that had not seen every published tick (excluding slow ones). */
  incomplete: number;
  closedByServer: number;
  closeCodes: Record<string, number>;
  firstTickAt: number;
  lastTickAt: number;
  cpuUserUs: number;
  cpuSystemUs: number;
  wallMs: number;
  rssBytes: number;
  /** Latency histogram (µs), compressed base64; null when not in latency mode. */
  histogram: string | null;
  negativeLatencies: number;
  slow: SlowReport[];
}

export interface SlowReport {
  index: number;
  ticks: number;
  /** Ticks skipped over (the server dropped frames for this connection). */
  gaps: number;
  expected: number;
  closeCode: number | null;
  closedBy: string | null;
  /** Slow-consumer notices the server sent (tickgate: `{t:"slow", state}`), in order. */
  notices: string[];
}

const clock = () => performance.timeOrigin + performance.now();

const SHARED = Buffer.allocUnsafe(256 * 1024);
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

// ---- process-wide counters (reset by `arm`) ------------------------------------
let totalTicks = 0;
let tickFrames = 0;
let frames = 0;
let bytes = 0;
let reads = 0;
let gaps = 0;
let dups = 0;
let decodeErrors = 0;
let verifyErrors = 0;
let errorFrames = 0;
let firstErrorFrame: string | null = null;
let negativeLatencies = 0;
let firstTickAt = 0;
let lastTickAt = 0;
let readNow = 0;
let latencyFrom = Infinity;
let hist: hdr.Histogram | null = null;
let armCpu = process.cpuUsage();
let armAt = clock();

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

function recordTs(ts: number): void {
  if (ts < latencyFrom) return;
  const us = Math.round((readNow - ts) * 1000);
  if (us < 0) {
    negativeLatencies++;
    hist!.recordValue(0);
  } else hist!.recordValue(us);
}

let init: ClientInit;
let topicIndex = new Map<string, number>();

const CONNECT_TIMEOUT_MS = 20_000;

const ST_CONNECTING = 0;
const ST_HANDSHAKE = 1;
const ST_OPEN = 2;
const ST_CLOSED = 3;

class Conn {
  readonly socket: net.Socket;
  state = ST_CONNECTING;
  head = '';
  readonly key = newKey();
  private readonly reader = new FrameReader();
  /** Next expected seq per subscribed topic (parallel to spec.topics). */
  readonly next: number[];
  readonly single: boolean;
  private readonly slots: Map<number, number> | null;
  ticks = 0;
  gaps = 0;
  readonly notices: string[] = [];
  subscribed = false;
  closeCode: number | null = null;
  closedBy: string | null = null;
  paused = false;
  private onReady: ((err: string | null) => void) | null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly index: number,
    readonly spec: ConnSpec,
    onReady: (err: string | null) => void,
  ) {
    this.onReady = onReady;
    this.next = spec.topics.map((t) => (init.startSeq?.[t] ?? 0) + 1);
    this.single = spec.topics.length === 1;
    // A watchlist of 100 topics (or a whole-market pattern) would make indexOf the client's hot spot.
    this.slots = spec.topics.length > 8 ? new Map(spec.topics.map((t, k) => [t, k])) : null;
    this.socket = net.connect({
      host: init.host,
      port: init.port,
      ...(init.sourceAddresses ? { localAddress: `127.0.0.${2 + (index % init.sourceAddresses)}` } : {}),
      noDelay: true,
      onread: {
        buffer: SHARED,
        callback: (n: number) => {
          this.onRead(n);
          return true;
        },
      },
    });
    // A connection that is not subscribed within this time counts as failed instead of hanging the run.
    this.timer = setTimeout(() => {
      this.ready(`no subscription ack within ${CONNECT_TIMEOUT_MS} ms (state ${this.state})`);
    }, CONNECT_TIMEOUT_MS);
    this.socket.on('connect', () => {
      this.state = ST_HANDSHAKE;
      const path =
        init.protocol === 'socketio'
          ? '/socket.io/?EIO=4&transport=websocket'
          : init.protocol === 'centrifuge'
            ? '/connection/websocket'
            : '/v1/stream';
      this.socket.write(handshakeRequest(init.host, init.port, path, this.key));
    });
    this.socket.on('error', (err) => {
      this.closedBy ??= `error: ${err.message}`;
      this.ready(err.message);
    });
    this.socket.on('close', () => {
      if (this.state !== ST_CLOSED) {
        this.state = ST_CLOSED;
        this.closedBy ??= 'eof';
      }
      this.ready('closed before subscription was acknowledged');
    });
  }

  private ready(err: string | null): void {
    const cb = this.onReady;
    if (cb === null) return;
    this.onReady = null;
    clearTimeout(this.timer);
    cb(err);
  }

  private send(frame: Buffer): void {
    if (this.state !== ST_CLOSED) this.socket.write(frame);
  }

  private subscribe(): void {
    const topics = this.spec.topics.map((i) => init.topics[i]!);
    if (init.protocol === 'centrifuge') {
      // One frame: connect (method 0, omitted) then one subscribe command (method 1) per channel;
      // the reply to the last id acknowledges the lot.
      const cmds = [
        `{"id":1,"params":{}}`,
        ...topics.map((t, k) => `{"id":${k + 2},"method":1,"params":{"channel":${JSON.stringify(t)}}}`),
      ];
      this.send(textFrame(cmds.join('\n')));
      return;
    }
    const req = JSON.stringify({ op: 'subscribe', id: 1, topics: this.spec.request ?? topics, ...init.subscribeExtra });
    this.send(textFrame(init.protocol === 'socketio' ? `42["subscribe",${req}]` : req));
  }

  onRead(n: number): void {
    if (n <= 0 || this.state === ST_CLOSED) return;
    bytes += n;
    if (this.state === ST_HANDSHAKE) {
      this.head += SHARED.toString('latin1', 0, n);
      const end = this.head.indexOf('\r\n\r\n');
      if (end < 0) return;
      const problem = checkUpgradeResponse(this.head.slice(0, end), this.key);
      if (problem !== null) {
        this.ready(problem);
        this.socket.destroy();
        return;
      }
      // latin1 maps bytes 1:1 to chars, so string offsets are byte offsets.
      const start = end + 4 - (this.head.length - n);
      this.head = '';
      this.state = ST_OPEN;
      if (init.protocol !== 'socketio') this.subscribe();
      // Bytes after the head in this read are already WebSocket frames.
      if (start < n) this.onBytes(SHARED, start, n);
      return;
    }
    reads++;
    readNow = clock();
    this.onBytes(SHARED, 0, n);
  }

  private onBytes(buf: Buffer, start: number, end: number): void {
    this.reader.push(buf, start, end, this.onFrameBound);
  }

  private readonly onFrameBound = (buf: Buffer, at: number, end: number): boolean => {
    this.onFrame(buf, at, end);
    return this.state !== ST_CLOSED;
  };

  private onFrame(buf: Buffer, at: number, end: number): void {
    frames++;
    const b0 = buf[at]!;
    const opcode = b0 & 0x0f;
    const start = at + headerSize(buf, at);
    if (buf[at + 1]! & 0x80) {
      decodeErrors++; // servers must not mask
      return;
    }
    if ((b0 & 0x80) === 0 || opcode === OP_CONT) {
      decodeErrors++; // no server here fragments messages; the client does not reassemble
      return;
    }
    if (opcode === OP_BINARY) this.onBinary(buf, start, end);
    else if (opcode === OP_TEXT) {
      if (init.protocol === 'centrifuge') this.onCentrifuge(buf.toString('utf8', start, end));
      else this.onText(buf.toString('utf8', start, Math.min(end, start + 256)));
    } else if (opcode === OP_PING) this.send(clientFrame(OP_PONG, Buffer.from(buf.subarray(start, end))));
    else if (opcode === OP_CLOSE) {
      this.closeCode = end - start >= 2 ? buf.readUInt16BE(start) : 1005;
      this.closedBy = 'server';
      this.send(clientFrame(OP_CLOSE, Buffer.from(buf.subarray(start, Math.min(end, start + 2)))));
      this.state = ST_CLOSED;
      this.socket.end();
      this.ready(`closed by server (${this.closeCode})`);
    }
  }

  /** Socket.IO over Engine.IO v4: open, connect to "/", answer pings. Tick payloads arrive as binary attachments. */
  private onText(text: string): void {
    if (init.protocol !== 'socketio') return;
    if (text === '2') this.send(textFrame('3'));
    else if (text.startsWith('0{')) this.send(textFrame('40'));
    else if (text.startsWith('40')) this.subscribe();
    else if (text.startsWith('44')) {
      this.ready(`socket.io connect error: ${text}`);
    }
  }

  private onBinary(buf: Buffer, start: number, end: number): void {
    const verify = init.verify;
    // Slow consumers read their backlog late on purpose: their ticks must not enter the others' latency.
    const timed = init.latency && !this.spec.slow;
    const r = scanFrame(buf, start, end, verify || timed, timed ? recordTs : null, verify);
    if (r === null) {
      decodeErrors++;
      return;
    }
    if (verify) this.crossCheck(buf, start, end, r.kind, r.tickCount, r.firstSeq, r.lastSeq, r.topicStart, r.topicEnd);
    if (r.kind === KIND_TICKS) {
      tickFrames++;
      let slot = 0;
      if (!this.single) {
        slot = this.slotOf(topicIndex.get(buf.toString('latin1', r.topicStart, r.topicEnd)));
        if (slot < 0) {
          decodeErrors++; // a topic this connection never asked for
          return;
        }
      }
      this.count(slot, r.firstSeq, r.lastSeq, r.tickCount);
    } else if (r.kind === KIND_ACK) {
      this.subscribed = true;
      this.ready(null);
      if (this.spec.slow) this.pause();
    } else if (r.kind === KIND_SLOW) {
      try {
        const f = unpackr.unpack(buf.subarray(start, end)) as { state?: string; bufferedBytes?: number };
        this.notices.push(`${f.state ?? '?'} at ${f.bufferedBytes ?? '?'} B`);
      } catch {
        decodeErrors++;
      }
    } else if (r.kind === KIND_ERROR) {
      errorFrames++;
      if (firstErrorFrame === null) {
        try {
          firstErrorFrame = JSON.stringify(unpackr.unpack(buf.subarray(start, end)));
        } catch {
          firstErrorFrame = '(undecodable error frame)';
        }
      }
    }
  }

  /** This connection's slot for a topic index, or -1 when it never asked for that topic. */
  private slotOf(idx: number | undefined): number {
    if (idx === undefined) return -1;
    if (this.slots !== null) return this.slots.get(idx) ?? -1;
    return this.spec.topics.indexOf(idx);
  }

  /** Counts a run of consecutive seqs on one of this connection's topics: once each, gaps and repeats apart. */
  private count(slot: number, firstSeq: number, lastSeq: number, tickCount: number): void {
    const expected = this.next[slot]!;
    let counted = tickCount;
    let repeated = 0;
    if (firstSeq > expected) this.gaps += firstSeq - expected;
    else if (firstSeq < expected) {
      repeated = Math.min(tickCount, expected - firstSeq);
      counted -= repeated;
    }
    if (this.spec.slow) {
      // Slow consumers are reported on their own (what the server did to them), not in the totals.
      if (counted > 0) {
        this.next[slot] = lastSeq + 1;
        this.ticks += counted;
      }
      return;
    }
    if (firstSeq > expected) gaps += firstSeq - expected;
    dups += repeated;
    if (counted > 0) {
      this.next[slot] = lastSeq + 1;
      this.ticks += counted;
      totalTicks += counted;
      if (firstTickAt === 0) firstTickAt = readNow;
      lastTickAt = readNow;
    }
  }

  /**
   * centrifuge 0.15 JSON protocol: a text frame holds up to 4 replies, one per line. Replies with an
   * id answer our commands; the others are pushes, a publication being
   * `{"result":{"channel":C,"data":{"data":{"ticks":[{seq,ts,...},...]}}}}` (the baseline's payload).
   * Publications, not frames, are counted as tick frames; every tick's `ts` (its publish time) is timed.
   */
  private onCentrifuge(text: string): void {
    const lastId = this.spec.topics.length + 1;
    let from = 0;
    while (from < text.length) {
      let nl = text.indexOf('\n', from);
      if (nl < 0) nl = text.length;
      const line = text.slice(from, nl);
      from = nl + 1;
      if (line.length === 0) continue;
      let reply: {
        id?: number;
        error?: unknown;
        result?: { channel?: string; data?: { data?: { ticks?: { seq: number; ts: number }[] } } };
      };
      try {
        reply = JSON.parse(line) as typeof reply;
      } catch {
        decodeErrors++;
        continue;
      }
      if (reply.error !== undefined) {
        errorFrames++;
        firstErrorFrame ??= line.slice(0, 200);
        if (reply.id !== undefined) this.ready(`centrifuge error reply: ${line.slice(0, 200)}`);
        continue;
      }
      if (reply.id !== undefined) {
        if (reply.id === lastId) {
          this.subscribed = true;
          this.ready(null);
          if (this.spec.slow) this.pause();
        }
        continue;
      }
      const ticks = reply.result?.data?.data?.ticks;
      const channel = reply.result?.channel;
      if (!ticks || channel === undefined) continue; // a ping (empty reply) or another push type
      if (ticks.length === 0) {
        decodeErrors++;
        continue;
      }
      tickFrames++;
      const idx = topicIndex.get(channel);
      const slot = this.slotOf(idx);
      if (slot < 0) {
        decodeErrors++;
        continue;
      }
      if (init.latency && !this.spec.slow) for (const t of ticks) recordTs(t.ts);
      this.count(slot, ticks[0]!.seq, ticks[ticks.length - 1]!.seq, ticks.length);
    }
  }

  /** Verify mode: a standard decoder must agree with the fast scanner. */
  private crossCheck(
    buf: Buffer,
    start: number,
    end: number,
    kind: number,
    count: number,
    first: number,
    last: number,
    ts: number,
    te: number,
  ): void {
    let decoded: Record<string, unknown>;
    try {
      decoded = unpackr.unpack(buf.subarray(start, end)) as Record<string, unknown>;
    } catch {
      verifyErrors++;
      return;
    }
    if (decoded.t !== 'ticks') {
      if (kind === KIND_TICKS) verifyErrors++;
      return;
    }
    const ticks = decoded.ticks as { seq: number; ts: number }[];
    const ok =
      kind === KIND_TICKS &&
      Array.isArray(ticks) &&
      ticks.length === count &&
      ticks[0]?.seq === first &&
      ticks[ticks.length - 1]?.seq === last &&
      ticks.every((t, i) => t.seq === first + i && typeof t.ts === 'number') &&
      decoded.topic === buf.toString('latin1', ts, te) &&
      (!this.single || decoded.topic === init.topics[this.spec.topics[0]!]);
    if (!ok) verifyErrors++;
  }

  pause(): void {
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    this.paused = false;
    this.socket.resume();
  }

  /** Ticks published to this connection's topics that it has not seen yet. */
  deficit(published: number[]): number {
    let d = 0;
    for (let i = 0; i < this.spec.topics.length; i++) {
      const p = published[this.spec.topics[i]!] ?? 0;
      d += Math.max(0, p - (this.next[i]! - 1));
    }
    return d;
  }

  expected(published: number[]): number {
    let e = 0;
    for (const t of this.spec.topics) e += (published[t] ?? 0) - (init.startSeq?.[t] ?? 0);
    return e;
  }

  close(): void {
    this.state = ST_CLOSED;
    this.socket.destroy();
  }
}

let conns: Conn[] = [];

async function connectAll(): Promise<ConnectResult> {
  const t0 = clock();
  let opened = 0;
  let failed = 0;
  let firstError: string | null = null;
  let nextIndex = 0;
  const total = init.conns.length;
  conns = new Array<Conn>(total);
  await new Promise<void>((resolve) => {
    if (total === 0) return resolve();
    let done = 0;
    const launch = () => {
      if (nextIndex >= total) return;
      const i = nextIndex++;
      conns[i] = new Conn(i, init.conns[i]!, (err) => {
        if (err === null) opened++;
        else {
          failed++;
          firstError ??= err;
        }
        done++;
        if (done === total) resolve();
        else launch();
      });
    };
    for (let k = 0; k < Math.min(init.connectConcurrency, total); k++) launch();
  });
  return { opened, failed, ms: clock() - t0, firstError };
}

function arm(from: number): void {
  totalTicks = tickFrames = frames = bytes = reads = 0;
  gaps = dups = decodeErrors = verifyErrors = errorFrames = negativeLatencies = 0;
  firstTickAt = lastTickAt = 0;
  latencyFrom = from;
  hist = init.latency ? newHistogram() : null;
  armCpu = process.cpuUsage();
  armAt = clock();
}

function outstanding(published: number[]): { missing: number; incomplete: number } {
  let missing = 0;
  let incomplete = 0;
  for (const c of conns) {
    if (c.spec.slow) continue;
    const d = c.deficit(published);
    if (d > 0) {
      missing += d;
      incomplete++;
    }
  }
  return { missing, incomplete };
}

/** Waits until every (non-slow, still open) connection saw every published tick, or progress stalls. */
async function drain(published: number[], stallMs: number, maxMs: number): Promise<void> {
  const t0 = Date.now();
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    let missing = 0;
    for (const c of conns) {
      if (c.spec.slow || c.state === ST_CLOSED) continue;
      missing += c.deficit(published);
    }
    if (missing === 0) return;
    if (missing !== last) {
      last = missing;
      lastChange = Date.now();
    }
    if (Date.now() - lastChange > stallMs || Date.now() - t0 > maxMs) return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

function report(published: number[] | null): ClientReport {
  const cpu = process.cpuUsage(armCpu);
  const closeCodes: Record<string, number> = {};
  let closedByServer = 0;
  for (const c of conns) {
    if (c.closedBy === null || c.spec.slow) continue;
    const k = c.closeCode !== null ? String(c.closeCode) : c.closedBy;
    closeCodes[k] = (closeCodes[k] ?? 0) + 1;
    if (c.closedBy === 'server' || c.closedBy === 'eof' || c.closedBy.startsWith('error')) closedByServer++;
  }
  const out = published ? outstanding(published) : { missing: 0, incomplete: 0 };
  return {
    conns: conns.length,
    ticks: totalTicks,
    tickFrames,
    frames,
    bytes,
    reads,
    gaps,
    dups,
    decodeErrors,
    verifyErrors,
    errorFrames,
    firstErrorFrame,
    missing: out.missing,
    incomplete: out.incomplete,
    closedByServer,
    closeCodes,
    firstTickAt,
    lastTickAt,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    wallMs: clock() - armAt,
    rssBytes: process.memoryUsage.rss(),
    histogram: hist ? hdr.encodeIntoCompressedBase64(hist) : null,
    negativeLatencies,
    slow: conns
      .filter((c) => c.spec.slow)
      .map((c) => ({
        index: c.index,
        ticks: c.ticks,
        gaps: c.gaps,
        expected: published ? c.expected(published) : 0,
        closeCode: c.closeCode,
        closedBy: c.closedBy,
        notices: c.notices.slice(0, 10),
      })),
  };
}

serveIpc(
  {
    init(msg) {
      for (const c of conns) c?.close();
      conns = [];
      init = msg.init as ClientInit;
      topicIndex = new Map(init.topics.map((t, i) => [t, i]));
      arm(Infinity);
      return null;
    },
    connect: () => connectAll(),
    arm(msg) {
      arm(typeof msg.latencyFrom === 'number' ? msg.latencyFrom : Infinity);
      return null;
    },
    /** Light progress numbers, cheap enough to poll. */
    progress: () => ({ ticks: totalTicks, frames, lastTickAt }),
    async drain(msg) {
      await drain(msg.published as number[], (msg.stallMs as number) ?? 2000, (msg.maxMs as number) ?? 30_000);
      return null;
    },
    /** Lets slow consumers read again, so what the server did to them (closed? dropped?) becomes visible. */
    async releaseSlow(msg) {
      for (const c of conns) if (c.spec.slow && c.paused) c.resume();
      const deadline = Date.now() + ((msg.waitMs as number) ?? 2000);
      const published = msg.published as number[];
      while (Date.now() < deadline) {
        const pending = conns.some((c) => c.spec.slow && c.state !== ST_CLOSED && c.deficit(published) > 0);
        if (!pending) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      return null;
    },
    report: (msg) => report((msg.published as number[] | undefined) ?? null),
    closeAll() {
      for (const c of conns) c?.close();
      conns = [];
      return null;
    },
  },
  () => {
    for (const c of conns) c?.close();
  },
);
emit('ready');
