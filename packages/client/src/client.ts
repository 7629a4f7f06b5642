import { decode } from '@msgpack/msgpack';
import { backoffDelay, type BackoffOptions } from './backoff.ts';
import { BookKeeper, type OrderBook } from './book.ts';
import { Emitter } from './emitter.ts';
import type { BarTick } from './entries.ts';
import {
  CloseCode,
  MAX_RESUME_POSITIONS,
  PROTOCOL_VERSION,
  type AckFrame,
  type DayStats,
  type GapReason,
  type RequestId,
  type ResumePosition,
  type ServerFrame,
  type SlowFrame,
  type TopicResult,
  type WelcomeFrame,
  type WireBook,
} from './protocol.ts';
import { isPattern, parseTopic, topicError, TopicPattern } from './topic.ts';

/** The browser WebSocket surface the SDK uses; `ws` in Node provides the same. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ConnectOptions {
  /** Credentials, sent as the `token` query parameter. */
  token?: string;
  /** Server frame format; msgpack (default) or json. */
  format?: 'msgpack' | 'json';
  /** Reconnect backoff (the shared policy, full jitter by default). Defaults: 250 ms initial, 15 s cap. */
  reconnect?: Partial<BackoffOptions> & { enabled?: boolean };
  /** Dead-connection detection: ping after `intervalMs` of silence; reconnect after `timeoutMs` with nothing received. */
  heartbeat?: { intervalMs?: number; timeoutMs?: number };
  /** WebSocket implementation. Browser build: defaults to globalThis.WebSocket. Node build: defaults to the `ws` package. */
  WebSocket?: WebSocketConstructor;
}

export interface SubscribeOptions {
  /** At most this many updates per second per topic (the gateway picks a tier); omit for every tick. */
  maxRate?: number;
  /** Send each topic's last value on subscribe (default true). */
  snapshot?: boolean;
}

/** One tick as handed to handlers: the wire entry plus where it came from. */
export interface Tick {
  topic: string;
  epoch: number;
  seq: number;
  /** Event time and gateway time, epoch ms. */
  ts: number;
  gts: number;
  bid?: number;
  ask?: number;
  bidSize?: number;
  askSize?: number;
  price?: number;
  size?: number;
  /** True for a snapshot (last value) rather than a live tick. */
  snapshot: boolean;
  /** On rate-limited delivery: how many ticks this one stands for. */
  conflated?: number;
  /** Gateway time → receipt, ms. */
  latencyMs: number;
}

export interface ClientEvents {
  open: () => void;
  close: (code: number, reason: string) => void;
  reconnecting: (attempt: number, delayMs: number) => void;
  /**
   * Seqs `from`..`to` of `topic` were missed (undefined when unknown, e.g. the gateway restarted).
   * `lost`: the gateway announced ticks lost upstream (a `status` `gap` frame, behind NATS).
   */
  gap: (topic: string, from: number | undefined, to: number | undefined, reason: GapReason) => void;
  /**
   * The topic's sequence starts over in `epoch` (a `status` `reset` frame: behind NATS, the ingest
   * restarted without continuing its sequence). The client dropped the topic's position; the
   * topic's next frame (seq 1 of `epoch`) is the new baseline. Drop any value cached for the topic.
   */
  reset: (topic: string, epoch: number) => void;
  stale: (topic: string, reason: string) => void;
  recovered: (topic: string) => void;
  /** The gateway downgraded (or restored) delivery because this client reads too slowly. */
  slow: (frame: SlowFrame) => void;
  /** An error frame from the gateway (bad request, limit), with the id of the request it answers (null if none). */
  error: (code: string, message: string, id: RequestId | null) => void;
  /**
   * Raw-frame hook: every decoded frame from the gateway, before the client acts on it (ticks not
   * yet de-duplicated). For tools that need the wire as it is, like the recorder.
   */
  frame: (frame: ServerFrame) => void;
  ack: (ack: AckFrame) => void;
  /** Topics taken away because this identity's entitlements changed. */
  revoked: (topics: string[], reason: string) => void;
  /** The token expires soon (`expiring`: call refresh()), or a refresh was accepted. */
  auth: (state: 'expiring' | 'refreshed', expiresAt: number | null) => void;
  /** The first frame of every connection: protocol version, epoch, rate tiers, limits. */
  welcome: (frame: WelcomeFrame) => void;
  /** A book topic's local book changed: after its snapshot, and after each update whose checksum verified. */
  book: (topic: string, book: OrderBook) => void;
  /**
   * A book update's checksum did not match the local book (it diverged): the SDK dropped the book
   * and resubscribed the topic for a fresh snapshot; `book` events resume with it.
   */
  bookResync: (topic: string, seq: number, expected: number, computed: number) => void;
  /** Day statistics of the instrument of `topic`, as carried by a snapshot frame. */
  stats: (topic: string, stats: DayStats) => void;
  /** An update of a bar topic: the open bar (`final: false`) or a closed one's last value. */
  bar: (topic: string, bar: BarTick) => void;
}

export interface ClientStats {
  frames: number;
  ticks: number;
  gaps: number;
  duplicates: number;
  /** `status` `reset` frames handled (a topic's sequence started over in a new epoch). */
  resets: number;
  reconnects: number;
  /** Latest gateway-time → receipt latency (ms). */
  lastLatencyMs: number;
}

const OPEN = 1;

interface Position {
  epoch: number;
  seq: number;
}

type Handler = (tick: Tick) => void;

/** A live subscription: call `unsubscribe()`, or iterate it with `for await`. */
export class Subscription implements AsyncIterable<Tick> {
  private readonly queue: Tick[] = [];
  private wake: (() => void) | null = null;
  private ended = false;
  /** Ticks dropped from the async-iterator queue because the consumer fell 10,000 behind. */
  iteratorDropped = 0;
  /** Resolves with the gateway's ack to the first subscribe. */
  readonly ready: Promise<AckFrame>;
  resolveReady!: (ack: AckFrame) => void;
  rejectReady!: (err: Error) => void;
  readonly patterns: readonly TopicPattern[];

  constructor(
    readonly entries: readonly string[],
    readonly options: Required<SubscribeOptions>,
    readonly handler: Handler | undefined,
    private readonly onUnsubscribe: (s: Subscription) => void,
  ) {
    this.patterns = entries.filter(isPattern).map((p) => new TopicPattern(p));
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // callers who never await it must not see an unhandled rejection
  }

  matches(topic: string): boolean {
    if (this.entries.includes(topic)) return true;
    if (this.patterns.length === 0) return false;
    const parsed = parseTopic(topic);
    return this.patterns.some((p) => p.matches(parsed));
  }

  deliver(tick: Tick): void {
    if (this.handler) {
      this.handler(tick);
      // With a handler, queue only for an active iterator.
      if (!this.iterating) return;
    }
    if (this.queue.length >= 10_000) {
      this.queue.shift();
      this.iteratorDropped++;
    }
    this.queue.push(tick);
    this.wake?.();
  }

  private iterating = false;

  unsubscribe(): void {
    if (this.ended) return;
    this.ended = true;
    this.onUnsubscribe(this);
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Tick> {
    this.iterating = true;
    try {
      for (;;) {
        const next = this.queue.shift();
        if (next !== undefined) {
          yield next;
          continue;
        }
        if (this.ended) return;
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = null;
      }
    } finally {
      this.iterating = false;
    }
  }
}

/**
 * A tickgate client: connects, subscribes, and keeps the stream whole across reconnects.
 *
 * - Tracks the last (epoch, seq) of every topic and resubscribes with those positions after a
 *   reconnect, so the gateway replays what was missed; anything it cannot replay is reported as
 *   a `gap` event, never silently skipped.
 * - Reconnects with exponential backoff and full jitter; detects dead connections by silence.
 */
export class TickgateClient extends Emitter<ClientEvents> {
  state: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  readonly stats: ClientStats = { frames: 0, ticks: 0, gaps: 0, duplicates: 0, resets: 0, reconnects: 0, lastLatencyMs: 0 };
  /** Resolves when the first connection opens; rejects if the client is closed before that. */
  readonly opened: Promise<void>;
  private resolveOpened!: () => void;
  private rejectOpened!: (err: Error) => void;

  private ws: WebSocketLike | null = null;
  private readonly subscriptions = new Set<Subscription>();
  private readonly positions = new Map<string, Position>();
  private readonly pendingAcks = new Map<number, Subscription>();
  private readonly routeCache = new Map<string, Subscription[]>();
  private readonly books = new BookKeeper();
  /** Latest day statistics per instrument (`<assetClass>.<SYMBOL>`). */
  private readonly dayStatsByInstrument = new Map<string, DayStats>();
  /** Topics whose epoch change an ack already reported, so the first new-epoch tick is no second gap. */
  private readonly reportedEpochGap = new Set<string>();
  private readonly pings = new Map<number, { sentAt: number; resolve: (rttMs: number) => void; reject: (err: Error) => void }>();
  private nextId = 1;
  private attempt = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private lastReceivedAt = 0;
  private readonly backoff: BackoffOptions;
  private readonly reconnectEnabled: boolean;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private url: string;

  constructor(
    url: string,
    private readonly options: ConnectOptions = {},
  ) {
    super();
    const u = new URL(url);
    if (options.format === 'json') u.searchParams.set('format', 'json');
    if (options.token) u.searchParams.set('token', options.token);
    this.url = u.toString();
    this.backoff = { initialDelayMs: options.reconnect?.initialDelayMs ?? 250, maxDelayMs: options.reconnect?.maxDelayMs ?? 15_000 };
    this.reconnectEnabled = options.reconnect?.enabled ?? true;
    this.heartbeatIntervalMs = options.heartbeat?.intervalMs ?? 5_000;
    this.heartbeatTimeoutMs = options.heartbeat?.timeoutMs ?? 15_000;
    this.opened = new Promise((resolve, reject) => {
      this.resolveOpened = resolve;
      this.rejectOpened = reject;
    });
    this.opened.catch(() => {});
    this.open();
  }

  /** Last position seen per topic: what the client resumes from after a reconnect. */
  position(topic: string): ResumePosition | undefined {
    return this.positions.get(topic);
  }

  /** The local order book of a subscribed book topic (check `valid`), kept and verified by the client. */
  book(topic: string): OrderBook | undefined {
    return this.books.get(topic);
  }

  /** The latest day statistics received for the instrument of `topic` (any of its channels). */
  dayStats(topic: string): DayStats | undefined {
    return this.dayStatsByInstrument.get(instrumentOf(topic));
  }

  subscribe(topics: string | readonly string[], handler?: Handler, options: SubscribeOptions = {}): Subscription {
    const entries = typeof topics === 'string' ? [topics] : [...topics];
    for (const t of entries) {
      const err = topicError(t, true);
      if (err) throw new Error(err);
    }
    const sub = new Subscription(entries, { maxRate: options.maxRate ?? 0, snapshot: options.snapshot ?? true }, handler, (s) =>
      this.drop(s),
    );
    this.subscriptions.add(sub);
    this.routeCache.clear();
    if (this.ws?.readyState === OPEN) this.sendSubscribe(sub);
    return sub;
  }

  /** Sends a fresh JWT for this connection (after an `auth` `expiring` event); later reconnects use it too. */
  refresh(token: string): void {
    this.options.token = token;
    const u = new URL(this.url);
    u.searchParams.set('token', token);
    this.url = u.toString();
    if (this.ws?.readyState === OPEN) this.ws.send(JSON.stringify({ op: 'refresh', id: this.nextId++, token }));
  }

  /** Measures the round trip to the gateway (ms) with a ping request; rejects if the connection is not open or drops first. */
  ping(): Promise<number> {
    if (this.ws?.readyState !== OPEN) return Promise.reject(new Error('not connected'));
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ op: 'ping', id }));
    return new Promise((resolve, reject) => this.pings.set(id, { sentAt: performance.now(), resolve, reject }));
  }

  /** Closes for good: no reconnect. */
  close(): Promise<void> {
    this.state = 'closed';
    this.failPings('client closed');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopHeartbeat();
    this.rejectOpened(new Error('client closed'));
    const ws = this.ws;
    this.ws = null;
    if (!ws || ws.readyState > OPEN) return Promise.resolve();
    return new Promise((resolve) => {
      ws.onclose = () => resolve();
      ws.close(CloseCode.NORMAL, 'client closing');
    });
  }

  private drop(sub: Subscription): void {
    this.subscriptions.delete(sub);
    this.routeCache.clear();
    const stillWanted = new Set([...this.subscriptions].flatMap((s) => s.entries));
    const release = sub.entries.filter((e) => !stillWanted.has(e));
    // A topic no subscription wants any more starts afresh if subscribed again (snapshot, not a resume).
    for (const topic of [...this.positions.keys()]) {
      if (![...this.subscriptions].some((s) => s.matches(topic))) {
        this.positions.delete(topic);
        this.reportedEpochGap.delete(topic);
        this.books.delete(topic);
      }
    }
    if (release.length > 0 && this.ws?.readyState === OPEN) {
      this.ws.send(JSON.stringify({ op: 'unsubscribe', id: this.nextId++, topics: release }));
    }
  }

  private open(): void {
    const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor)
      throw new Error(
        'no WebSocket implementation: pass options.WebSocket, or import the Node build of @tickgate/client (it uses the ws package)',
      );
    if (this.state === 'closed') return;
    let ws: WebSocketLike;
    try {
      ws = new Ctor(this.url);
    } catch (err) {
      // e.g. a malformed URL in a browser: retry like any failed connection, and say why.
      this.emit('close', CloseCode.ABNORMAL, (err as Error).message);
      this.scheduleReconnect();
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      this.state = 'open';
      this.attempt = 0;
      this.lastReceivedAt = Date.now();
      this.startHeartbeat(ws);
      for (const sub of this.subscriptions) this.sendSubscribe(sub);
      this.resolveOpened();
      this.emit('open');
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      this.lastReceivedAt = Date.now();
      this.onFrame(ev.data);
    };
    ws.onerror = () => {
      // A close event always follows; reconnecting is handled there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopHeartbeat();
      this.failPings(`connection closed (${ev.code})`);
      for (const sub of this.pendingAcks.values()) sub.rejectReady(new Error(`connection closed (${ev.code}) before the ack`));
      this.pendingAcks.clear();
      this.emit('close', ev.code, ev.reason);
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.state === 'closed' || !this.reconnectEnabled) {
      this.state = 'closed';
      return;
    }
    this.state = 'reconnecting';
    const delay = backoffDelay(this.attempt, this.backoff);
    this.attempt++;
    this.stats.reconnects++;
    this.emit('reconnecting', this.attempt, delay);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open();
    }, delay);
  }

  private startHeartbeat(ws: WebSocketLike): void {
    this.stopHeartbeat();
    this.heartbeatTimer = setInterval(
      () => {
        const silentFor = Date.now() - this.lastReceivedAt;
        if (silentFor >= this.heartbeatTimeoutMs) {
          // Dead connection: no data and no pong. Drop it and reconnect.
          this.ws = null;
          this.stopHeartbeat();
          this.failPings('connection dead (heartbeat timeout)');
          for (const sub of this.pendingAcks.values()) sub.rejectReady(new Error('connection dead (heartbeat timeout) before the ack'));
          this.pendingAcks.clear();
          ws.onclose = null;
          ws.close(CloseCode.CLIENT_HEARTBEAT_TIMEOUT, 'heartbeat timeout');
          this.emit('close', CloseCode.ABNORMAL, 'heartbeat timeout');
          this.scheduleReconnect();
        } else if (silentFor >= this.heartbeatIntervalMs && ws.readyState === OPEN) {
          ws.send(JSON.stringify({ op: 'ping', id: this.nextId++ }));
        }
      },
      Math.max(100, Math.min(this.heartbeatIntervalMs, this.heartbeatTimeoutMs) / 2),
    );
  }

  private failPings(why: string): void {
    for (const p of this.pings.values()) p.reject(new Error(why));
    this.pings.clear();
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
  }

  private sendSubscribe(sub: Subscription): void {
    const id = this.nextId++;
    const resume: Record<string, Position> = {};
    let n = 0;
    // The protocol's limit; topics beyond it get a snapshot instead of a replay (and a `missed` gap if seqs jump).
    for (const [topic, pos] of this.positions) {
      if (n >= MAX_RESUME_POSITIONS) break;
      // A diverged book needs a fresh snapshot, not a replay onto levels that are wrong.
      if (sub.matches(topic) && !this.books.awaitingSnapshot(topic)) {
        resume[topic] = pos;
        n++;
      }
    }
    this.pendingAcks.set(id, sub);
    const request: Record<string, unknown> = { op: 'subscribe', id, topics: sub.entries, snapshot: sub.options.snapshot };
    if (sub.options.maxRate > 0) request.maxRate = sub.options.maxRate;
    if (Object.keys(resume).length > 0) request.resume = resume;
    this.ws!.send(JSON.stringify(request));
  }

  private onFrame(data: unknown): void {
    let frame: ServerFrame;
    try {
      frame = (typeof data === 'string' ? JSON.parse(data) : decode(data as ArrayBuffer)) as ServerFrame;
    } catch {
      this.emit('error', 'TG_CLIENT_DECODE', 'could not decode a frame from the gateway', null);
      return;
    }
    this.stats.frames++;
    this.emit('frame', frame);
    switch (frame.t) {
      case 'ticks':
      case 'snapshot':
        if (frame.t === 'snapshot' && frame.stats !== undefined) {
          this.dayStatsByInstrument.set(instrumentOf(frame.topic), frame.stats);
          this.emit('stats', frame.topic, frame.stats);
        }
        this.onTicks(
          frame.topic,
          frame.epoch,
          frame.ticks as unknown as Record<string, number>[],
          frame.t === 'snapshot',
          frame.t === 'ticks' ? frame.conflated : undefined,
        );
        break;
      case 'ack':
        this.onAck(frame);
        break;
      case 'status':
        if (frame.status === 'stale') this.emit('stale', frame.topic, frame.reason);
        else if (frame.status === 'live') this.emit('recovered', frame.topic);
        else if (frame.status === 'gap') this.onLost(frame.topic, frame.from, frame.to);
        else if (frame.status === 'reset') this.onReset(frame.topic, frame.epoch);
        break;
      case 'slow':
        this.emit('slow', frame);
        break;
      case 'error': {
        const sub = typeof frame.id === 'number' ? this.pendingAcks.get(frame.id) : undefined;
        if (sub) {
          this.pendingAcks.delete(frame.id as number);
          sub.rejectReady(new Error(`${frame.code}: ${frame.message}`));
        }
        this.emit('error', frame.code, frame.message, frame.id);
        break;
      }
      case 'welcome':
        if (frame.v !== PROTOCOL_VERSION) {
          // A gateway speaking another protocol version: continuing would misread its frames.
          this.emit(
            'error',
            'TG_CLIENT_VERSION',
            `unsupported protocol version ${String(frame.v)}; this client speaks v${PROTOCOL_VERSION}`,
            null,
          );
          void this.close();
          return;
        }
        this.emit('welcome', frame);
        break;
      case 'pong': {
        const p = this.pings.get(frame.id as number);
        if (p) {
          this.pings.delete(frame.id as number);
          p.resolve(performance.now() - p.sentAt);
        }
        break;
      }
      case 'revoked':
        this.emit('revoked', frame.topics, frame.reason);
        break;
      case 'auth':
        this.emit('auth', frame.state, frame.expiresAt);
        break;
      default:
        break; // a frame kind this version does not know: receipt alone keeps the heartbeat happy
    }
  }

  private onAck(ack: AckFrame): void {
    const sub = this.pendingAcks.get(ack.id as number);
    if (sub) {
      this.pendingAcks.delete(ack.id as number);
      sub.resolveReady(ack);
    }
    for (const result of ack.results ?? []) this.onResult(result);
    this.emit('ack', ack);
  }

  private onResult(result: TopicResult): void {
    if (result.status !== 'gap') return;
    if (result.reason === 'epoch_changed') this.reportedEpochGap.add(result.topic);
    this.stats.gaps++;
    this.emit('gap', result.topic, result.from, result.to, result.reason);
  }

  /**
   * Seqs `from`..`to` were lost upstream for good; the topic's next frame starts at `to + 1`
   * (protocol §6.9). Reported once, here, and the position moves past them so the jump in the next
   * frame is not reported a second time as `missed`.
   */
  private onLost(topic: string, from: number, to: number): void {
    this.stats.gaps++;
    this.emit('gap', topic, from, to, 'lost');
    const pos = this.positions.get(topic);
    if (pos !== undefined && pos.seq < to) this.positions.set(topic, { epoch: pos.epoch, seq: to });
  }

  /**
   * The topic's seqs start over in `epoch` (protocol §6.9): forget the old position, so the next
   * frame is accepted as the new baseline (no `missed` or `epoch_changed` gap for an announced
   * restart) and a reconnect before it asks for a snapshot, not a resume from the dead epoch.
   */
  private onReset(topic: string, epoch: number): void {
    this.positions.delete(topic);
    this.reportedEpochGap.delete(topic);
    this.stats.resets++;
    this.emit('reset', topic, epoch);
  }

  private onTicks(topic: string, epoch: number, entries: Record<string, number>[], snapshot: boolean, conflated: number | undefined): void {
    let pos = this.positions.get(topic);
    const now = performance.timeOrigin + performance.now();
    const subs = this.route(topic);
    for (const e of entries) {
      const seq = e.seq!;
      if (pos !== undefined && pos.epoch !== epoch && !this.reportedEpochGap.has(topic)) {
        // A new gateway epoch we were not told about in an ack (e.g. a pattern's topic that
        // reappeared later): what happened in between is unknown. Never silent.
        this.stats.gaps++;
        this.emit('gap', topic, undefined, undefined, 'epoch_changed');
      }
      if (pos !== undefined && !snapshot && pos.epoch === epoch) {
        if (seq <= pos.seq) {
          this.stats.duplicates++;
          continue;
        }
        // Conflated delivery skips seqs on purpose; everything else must be consecutive.
        if (conflated === undefined && seq > pos.seq + 1) {
          this.stats.gaps++;
          this.emit('gap', topic, pos.seq + 1, seq - 1, 'missed');
        }
      }
      pos = { epoch, seq };
      this.reportedEpochGap.delete(topic);
      const tick: Tick = { ...(e as unknown as Tick), topic, epoch, snapshot, latencyMs: now - e.gts! };
      if (conflated !== undefined) tick.conflated = conflated;
      this.stats.ticks++;
      this.stats.lastLatencyMs = tick.latencyMs;
      this.positions.set(topic, pos);
      const book = 'checksum' in e ? this.applyBook(topic, epoch, e as unknown as WireBook, snapshot) : undefined;
      for (const sub of subs) sub.deliver(tick);
      if (book !== undefined) this.emit('book', topic, book);
      else if ('final' in e) this.emit('bar', topic, tick as BarTick);
    }
  }

  /** Applies a book entry; on divergence resubscribes the topic for a fresh snapshot. Returns the book when it changed and verified. */
  private applyBook(topic: string, epoch: number, entry: WireBook, snapshot: boolean): OrderBook | undefined {
    const result = this.books.onEntry(topic, epoch, entry, snapshot);
    if (result === null) return undefined;
    if (!('expected' in result)) return result;
    if (result.snapshot) {
      // The gateway's own snapshot disagrees with its checksum: resubscribing would only repeat it.
      this.emit(
        'error',
        'TG_CLIENT_BOOK_CHECKSUM',
        `${topic} snapshot seq ${result.seq}: checksum ${result.expected}, computed ${result.computed}`,
        null,
      );
      return this.books.get(topic);
    }
    this.emit('bookResync', topic, result.seq, result.expected, result.computed);
    this.resubscribeFresh(topic);
    return undefined;
  }

  /**
   * Gets a fresh snapshot of one topic (docs/protocol.md §17.1): unsubscribes the entries that
   * cover it and subscribes them again, resuming every other topic they cover from its position
   * (replayed, so nothing is lost) and this one without (a snapshot). Without a connection, the
   * next reconnect does it (sendSubscribe leaves out a book that awaits a snapshot).
   */
  private resubscribeFresh(topic: string): void {
    const ws = this.ws;
    if (ws?.readyState !== OPEN) return;
    const parsed = parseTopic(topic);
    for (const sub of this.route(topic)) {
      const entries = sub.entries.filter((e) => e === topic || (isPattern(e) && new TopicPattern(e).matches(parsed)));
      ws.send(JSON.stringify({ op: 'unsubscribe', id: this.nextId++, topics: entries }));
      const resume: Record<string, Position> = {};
      for (const [t, pos] of this.positions) {
        if (t !== topic && entries.some((e) => e === t || (isPattern(e) && new TopicPattern(e).matches(parseTopic(t))))) resume[t] = pos;
      }
      const request: Record<string, unknown> = { op: 'subscribe', id: this.nextId++, topics: entries, snapshot: true };
      if (sub.options.maxRate > 0) request.maxRate = sub.options.maxRate;
      if (Object.keys(resume).length > 0) request.resume = resume;
      ws.send(JSON.stringify(request));
    }
  }

  private route(topic: string): Subscription[] {
    let subs = this.routeCache.get(topic);
    if (subs === undefined) {
      subs = [...this.subscriptions].filter((s) => s.matches(topic));
      this.routeCache.set(topic, subs);
    }
    return subs;
  }
}

/** `equity.AAPL.book` → `equity.AAPL`: day statistics are per instrument. */
function instrumentOf(topic: string): string {
  return topic.slice(0, topic.lastIndexOf('.'));
}

/** Connects to a tickgate gateway (`ws://host:port/v1/stream`). The client reconnects on its own. */
export function connect(url: string, options: ConnectOptions = {}): TickgateClient {
  return new TickgateClient(url, options);
}
