import { Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import type { FeedTick } from '../core/tick.ts';
import type { RecordedFile, RecordingWriter } from './writer.ts';

/** What the recorder logs through; the CLI prints these lines on stderr. */
export interface RecorderLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface RecorderOptions {
  /** The gateway's stream URL, e.g. ws://127.0.0.1:9001/v1/stream. */
  url: string;
  /** Topics and patterns to record (`equity.*.quote`, `fx.EURUSD.quote`). */
  topics: string[];
  writer: RecordingWriter;
  logger?: RecorderLogger;
  /** Reconnect backoff after the connection drops (full jitter); default 250 ms doubling up to 10 s. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Opening handshake limit; default 5 s. */
  connectTimeoutMs?: number;
  /** After each ticks frame is written: the total number of ticks recorded so far (progress, tests). */
  onTicks?: (total: number) => void;
  /** The recording stopped by itself (the gateway refused the subscription after a reconnect). */
  onFatal?: (err: Error) => void;
  /** For tests: the jitter source. */
  random?: () => number;
}

export interface RecorderStats {
  ticks: number;
  frames: number;
  /** Seqs the recorder never received in the same epoch (slow-consumer conflation, unresumable reconnects). */
  missed: number;
  reconnects: number;
  topics: number;
}

/** Gateway frames the recorder reads (see src/protocol/frames.ts); decoded loosely. */
interface Frame {
  t?: unknown;
  id?: unknown;
  topic?: unknown;
  topics?: unknown;
  epoch?: unknown;
  ticks?: unknown;
  code?: unknown;
  message?: unknown;
  results?: unknown;
  status?: unknown;
  reason?: unknown;
  state?: unknown;
  conflated?: unknown;
}

interface WireEntry {
  seq: number;
  ts: number;
  bid?: number;
  ask?: number;
  bidSize?: number;
  askSize?: number;
  price?: number;
  size?: number;
}

const quiet: RecorderLogger = { info() {}, warn() {}, error() {} };
/** The protocol's limit on resume positions per subscribe request. */
const MAX_RESUME = 1000;
const WARN_EVERY_MS = 10_000;

/**
 * Records a running gateway's ticks: connects as an ordinary WebSocket client, subscribes to the
 * topics (no snapshots: the file holds what happened while recording) and writes every entry of
 * every `ticks` frame, in arrival order, through a RecordingWriter.
 *
 * When the connection drops it reconnects with backoff and resubscribes with resume positions,
 * so the gateway replays what it still holds from the gap; seqs that are lost anyway are counted
 * in `missed` and logged. `stop()` closes the connection, then flushes and closes the files.
 */
export class Recorder {
  private readonly unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });
  private readonly logger: RecorderLogger;
  private readonly positions = new Map<string, { epoch: number; seq: number }>();
  private ws: WebSocket | null = null;
  private stopping = false;
  /** Set once the first subscription was acknowledged: only then does a drop lead to reconnects. */
  private everSubscribed = false;
  private nextId = 1;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private lastGapWarnAt = 0;
  private readonly counters = { ticks: 0, frames: 0, missed: 0, reconnects: 0 };
  private stopped: Promise<RecordedFile[]> | null = null;

  private constructor(private readonly options: RecorderOptions) {
    this.logger = options.logger ?? quiet;
  }

  /** Connects and subscribes; rejects when the gateway cannot be reached or refuses the topics. */
  static async start(options: RecorderOptions): Promise<Recorder> {
    const recorder = new Recorder(options);
    await recorder.connect();
    return recorder;
  }

  stats(): RecorderStats {
    return { ...this.counters, topics: this.positions.size };
  }

  /** Closes the connection, then writes and closes every file. Idempotent. */
  stop(): Promise<RecordedFile[]> {
    this.stopped ??= (async () => {
      this.stopping = true;
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      const ws = this.ws;
      if (ws && ws.readyState !== WebSocket.CLOSED) {
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
        ws.close(1000, 'recorder stopping');
        // A gateway that does not answer the close handshake must not hold the files open.
        const timer = setTimeout(() => ws.terminate(), 2000);
        await closed;
        clearTimeout(timer);
      }
      return this.options.writer.close();
    })();
    return this.stopped;
  }

  /** One connection: resolves once the subscription is acknowledged. */
  private connect(): Promise<void> {
    const { url, topics } = this.options;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: this.options.connectTimeoutMs ?? 5000, perMessageDeflate: false });
      this.ws = ws;
      const subscribeId = this.nextId++;
      let settled = false;
      let acked = false;
      const settle = (err: Error | null) => {
        if (settled) return;
        settled = true;
        if (err) reject(err);
        else resolve();
      };
      ws.on('open', () => {
        const resume: Record<string, { epoch: number; seq: number }> = {};
        let n = 0;
        for (const [topic, pos] of this.positions) {
          if (n++ >= MAX_RESUME) break;
          resume[topic] = pos;
        }
        ws.send(JSON.stringify({ op: 'subscribe', id: subscribeId, topics, snapshot: false, ...(n > 0 ? { resume } : {}) }));
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        let frame: Frame;
        try {
          frame = (isBinary ? this.unpackr.unpack(data) : JSON.parse(data.toString('utf8'))) as Frame;
        } catch (err) {
          this.logger.warn({ err: (err as Error).message }, 'undecodable frame from the gateway; skipped');
          return;
        }
        if (frame.t === 'ticks') this.onTicks(frame);
        else if (frame.id === subscribeId && frame.t === 'ack') {
          this.attempt = 0;
          this.everSubscribed = true;
          acked = true;
          this.reportResume(frame);
          settle(null);
        } else if (frame.id === subscribeId && frame.t === 'error') {
          const err = new Error(`the gateway refused the subscription: ${String(frame.code)} ${String(frame.message)}`);
          const reconnecting = this.everSubscribed;
          settle(err);
          if (reconnecting && !this.stopping) this.fatal(err);
        } else if (frame.t === 'slow') {
          this.logger.warn({ state: frame.state, topics: frame.topics }, 'the gateway reports this recorder as a slow consumer; ticks may be conflated');
        } else if (frame.t === 'status') {
          this.logger.info({ topic: frame.topic, status: frame.status, reason: frame.reason }, 'topic status');
        }
      });
      ws.on('error', (err) => {
        if (!settled) settle(new Error(`cannot connect to ${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err }));
        else this.logger.warn({ err: err.message }, 'connection error');
      });
      ws.on('close', (code, reason) => {
        settle(new Error(`connection to ${url} closed before the subscription was acknowledged (${code} ${reason.toString()})`));
        if (this.ws !== ws || this.stopping || !this.everSubscribed) return;
        this.ws = null;
        if (acked) this.logger.warn({ code, reason: reason.toString() }, 'disconnected from the gateway; reconnecting');
        this.scheduleReconnect();
      });
    });
  }

  private scheduleReconnect(): void {
    const { initialMs, maxMs } = this.options.reconnect ?? { initialMs: 250, maxMs: 10_000 };
    const cap = Math.min(maxMs, initialMs * 2 ** Math.min(this.attempt, 30));
    const delay = Math.floor((this.options.random ?? Math.random)() * cap);
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.stopping) return;
      this.counters.reconnects++;
      this.connect().catch((err: Error) => {
        this.logger.warn({ err: err.message, attempt: this.attempt }, 'reconnect failed');
        // A failed attempt ends in 'close', which schedules the next one.
      });
    }, delay);
  }

  /** A refused subscription after a reconnect cannot fix itself: stop and report. */
  private fatal(err: Error): void {
    this.logger.error({ err: err.message }, 'recording stopped');
    void this.stop()
      .catch(() => {})
      .finally(() => this.options.onFatal?.(err));
  }

  private reportResume(ack: Frame): void {
    if (!Array.isArray(ack.results)) return;
    for (const r of ack.results as { topic: string; status: string; reason?: string; from?: number; to?: number }[]) {
      if (r.status !== 'gap') continue;
      const missed = typeof r.from === 'number' && typeof r.to === 'number' ? r.to - r.from + 1 : undefined;
      if (missed !== undefined) this.counters.missed += missed;
      this.logger.warn({ topic: r.topic, reason: r.reason, from: r.from, to: r.to }, 'ticks missed while disconnected could not be replayed');
    }
  }

  private onTicks(frame: Frame): void {
    const topic = frame.topic;
    const epoch = frame.epoch;
    if (typeof topic !== 'string' || typeof epoch !== 'number' || !Array.isArray(frame.ticks)) return;
    this.counters.frames++;
    const entries = frame.ticks as WireEntry[];
    const last = this.positions.get(topic);
    const first = entries[0];
    if (first && last && last.epoch === epoch && first.seq > last.seq + 1 && frame.conflated === undefined) {
      this.counters.missed += first.seq - last.seq - 1;
      const now = Date.now();
      if (now - this.lastGapWarnAt >= WARN_EVERY_MS) {
        this.lastGapWarnAt = now;
        this.logger.warn({ topic, after: last.seq, next: first.seq, missedSoFar: this.counters.missed }, 'seq gap: ticks missing from the recording');
      }
    }
    const { writer } = this.options;
    for (const e of entries) {
      let tick: FeedTick;
      if (e.bid !== undefined) {
        tick = { topic, ts: e.ts, kind: 'quote', bid: e.bid, ask: e.ask!, bidSize: e.bidSize!, askSize: e.askSize! };
      } else {
        tick = { topic, ts: e.ts, kind: 'trade', price: e.price!, size: e.size! };
      }
      writer.write(tick);
      this.counters.ticks++;
    }
    const lastEntry = entries[entries.length - 1];
    if (lastEntry) {
      if (last) {
        last.epoch = epoch;
        last.seq = lastEntry.seq;
      } else {
        this.positions.set(topic, { epoch, seq: lastEntry.seq });
      }
    }
    this.options.onTicks?.(this.counters.ticks);
  }
}
