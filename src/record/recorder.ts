import { TickgateClient, topicError, type GapReason, type ServerFrame, type TicksFrame, type WebSocketConstructor } from '@tickgate/client';
import WebSocket from 'ws';
import { systemClock, type Clock } from '../core/clock.ts';
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
  /** Reconnect backoff after the connection drops (the SDK's policy, full jitter); default 250 ms doubling up to 10 s. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Opening handshake limit; default 5 s. */
  connectTimeoutMs?: number;
  /** Rate-limits the gap warnings; the system clock by default. */
  clock?: Clock;
  /** After each ticks frame is written: the total number of ticks recorded so far (progress, tests). */
  onTicks?: (total: number) => void;
  /** The recording stopped by itself (the gateway refused the subscription after a reconnect). */
  onFatal?: (err: Error) => void;
}

export interface RecorderStats {
  ticks: number;
  frames: number;
  /** Seqs the recorder never received in the same epoch (slow-consumer conflation, unresumable reconnects). */
  missed: number;
  reconnects: number;
  topics: number;
}

const quiet: RecorderLogger = { info() {}, warn() {}, error() {} };
const WARN_EVERY_MS = 10_000;

/**
 * Records a running gateway's ticks. It is an ordinary client built on the SDK (@tickgate/client):
 * the SDK connects, subscribes (no snapshots: the file holds what happened while recording),
 * reconnects with the shared backoff and resubscribes with resume positions, and reports every
 * hole it cannot replay as a `gap`. The recorder reads the wire through the SDK's raw-frame hook
 * and writes every entry of every `ticks` frame, in arrival order, through a RecordingWriter.
 * `stop()` closes the connection, then flushes and closes the files.
 */
export class Recorder {
  private readonly logger: RecorderLogger;
  private readonly client: TickgateClient;
  /** Last seq written per topic (a resumed replay never overlaps, but a duplicate must not be written twice). */
  private readonly written = new Map<string, { epoch: number; seq: number }>();
  private stopping = false;
  private everSubscribed = false;
  private lastConnectError: Error | null = null;
  private lastGapWarnAt = Number.NEGATIVE_INFINITY;
  private readonly counters = { ticks: 0, frames: 0, missed: 0 };
  private stopped: Promise<RecordedFile[]> | null = null;

  private constructor(private readonly options: RecorderOptions) {
    this.logger = options.logger ?? quiet;
    const handshakeTimeout = options.connectTimeoutMs ?? 5000;
    const recorder = this;
    // `ws` with a handshake limit, remembering why a connection attempt failed (ECONNREFUSED...).
    class RecorderSocket extends WebSocket {
      constructor(url: string) {
        super(url, { handshakeTimeout, perMessageDeflate: false });
        this.on('error', (err) => (recorder.lastConnectError = err));
      }
    }
    const { initialMs, maxMs } = options.reconnect ?? { initialMs: 250, maxMs: 10_000 };
    this.client = new TickgateClient(options.url, {
      WebSocket: RecorderSocket as unknown as WebSocketConstructor,
      reconnect: { initialDelayMs: initialMs, maxDelayMs: maxMs },
    });
    this.client.on('frame', (frame) => this.onFrame(frame));
    this.client.on('gap', (topic, from, to, reason) => this.onGap(topic, from, to, reason));
    this.client.on('close', (code, reason) => {
      if (this.everSubscribed && !this.stopping) this.logger.warn({ code, reason }, 'disconnected from the gateway; reconnecting');
    });
    this.client.on('error', (code, message, id) => {
      // The recorder's only requests are its subscribe (resent after each reconnect) and pings, so an
      // error answering a request is a refused resubscribe, which cannot fix itself: stop and report.
      if (id === null || !this.everSubscribed || this.stopping) return;
      this.fatal(new Error(`the gateway refused the subscription: ${code} ${message}`));
    });
  }

  /** Connects and subscribes; rejects when the gateway cannot be reached or refuses the topics. */
  static async start(options: RecorderOptions): Promise<Recorder> {
    const recorder = new Recorder(options);
    try {
      await recorder.subscribe();
    } catch (err) {
      recorder.stopping = true;
      await recorder.client.close();
      throw err;
    }
    return recorder;
  }

  stats(): RecorderStats {
    return { ...this.counters, reconnects: this.client.stats.reconnects, topics: this.written.size };
  }

  /** Closes the connection, then writes and closes every file. Idempotent. */
  stop(): Promise<RecordedFile[]> {
    this.stopped ??= (async () => {
      this.stopping = true;
      // A gateway that does not answer the close handshake must not hold the files open.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.client.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, 2000)))]);
      clearTimeout(timer);
      return this.options.writer.close();
    })();
    return this.stopped;
  }

  private async subscribe(): Promise<void> {
    const { url, topics } = this.options;
    // The SDK checks topic syntax before sending (the gateway would refuse the same with TG_ERR_INVALID_TOPIC).
    const bad = topics.map((t) => [t, topicError(t, true)] as const).find(([, err]) => err !== null);
    if (bad) throw new Error(`cannot record "${bad[0]}": ${bad[1]}`);
    // The first connection must work: an unreachable gateway is an error, not something to retry.
    await new Promise<void>((resolve, reject) => {
      const off = [
        this.client.on('open', () => {
          for (const f of off) f();
          resolve();
        }),
        this.client.on('close', (code, reason) => {
          for (const f of off) f();
          const why = this.lastConnectError
            ? ((this.lastConnectError as NodeJS.ErrnoException).code ?? this.lastConnectError.message)
            : `closed ${code} ${reason}`;
          reject(new Error(`cannot connect to ${url}: ${why}`, { cause: this.lastConnectError }));
        }),
      ];
    });
    const sub = this.client.subscribe(topics, () => {}, { snapshot: false });
    try {
      await sub.ready;
    } catch (err) {
      const msg = (err as Error).message;
      throw new Error(
        /^TG_/.test(msg) ? `the gateway refused the subscription: ${msg.replace(': ', ' ')}` : `cannot subscribe at ${url}: ${msg}`,
      );
    }
    this.everSubscribed = true;
  }

  private fatal(err: Error): void {
    this.logger.error({ err: err.message }, 'recording stopped');
    void this.stop()
      .catch(() => {})
      .finally(() => this.options.onFatal?.(err));
  }

  private onGap(topic: string, from: number | undefined, to: number | undefined, reason: GapReason): void {
    const missed = from !== undefined && to !== undefined ? to - from + 1 : undefined;
    if (missed !== undefined) this.counters.missed += missed;
    const now = (this.options.clock ?? systemClock).now();
    if (reason !== 'missed' || now - this.lastGapWarnAt >= WARN_EVERY_MS) {
      if (reason === 'missed') this.lastGapWarnAt = now;
      this.logger.warn({ topic, reason, from, to, missedSoFar: this.counters.missed }, 'ticks missing from the recording');
    }
  }

  private onFrame(frame: ServerFrame): void {
    if (frame.t === 'ticks') this.onTicks(frame);
    else if (frame.t === 'slow')
      this.logger.warn(
        { state: frame.state, topics: frame.topics },
        'the gateway reports this recorder as a slow consumer; ticks may be conflated',
      );
    else if (frame.t === 'status') this.logger.info({ topic: frame.topic, status: frame.status, reason: frame.reason }, 'topic status');
  }

  private onTicks(frame: TicksFrame): void {
    const { topic, epoch } = frame;
    this.counters.frames++;
    let last = this.written.get(topic);
    const { writer } = this.options;
    for (const e of frame.ticks) {
      if (last !== undefined && last.epoch === epoch && e.seq <= last.seq) continue;
      const tick: FeedTick =
        'bid' in e
          ? { topic, ts: e.ts, kind: 'quote', bid: e.bid, ask: e.ask, bidSize: e.bidSize, askSize: e.askSize }
          : { topic, ts: e.ts, kind: 'trade', price: e.price, size: e.size };
      writer.write(tick);
      this.counters.ticks++;
      if (last === undefined) this.written.set(topic, (last = { epoch, seq: e.seq }));
      else {
        last.epoch = epoch;
        last.seq = e.seq;
      }
    }
    this.options.onTicks?.(this.counters.ticks);
  }
}
