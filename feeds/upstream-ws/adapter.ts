import { backoffDelay } from '@tickgate/client/backoff';
import WebSocket from 'ws';
import type { FeedTick } from '../../src/core/tick.ts';
import { isValidTopic, makeTopic } from '../../src/core/topic.ts';
import type { FeedAdapter, FeedContext, InterestAware } from '../../src/feed/adapter.ts';
import { CHANNELS, type Channel, type UpstreamProtocol } from './mapping.ts';

export interface UpstreamWsAdapterOptions {
  readonly url: string;
  readonly protocol: UpstreamProtocol;
  /** Topics are `<assetClass>.<SYMBOL>.<quote|trade>`. */
  readonly assetClass: string;
  /**
   * The topic symbols this feed serves. A pattern with `*` for the symbol expands to these; an
   * exact topic outside the list is not subscribed. Absent: any exact topic is subscribed, and
   * `*` symbols subscribe nothing.
   */
  readonly symbols?: readonly string[] | undefined;
  /** Topics and patterns subscribed upstream always, whatever clients ask (the fallback list). */
  readonly static: readonly string[];
  /**
   * Most time without a sign of life from the upstream (a message, or a WebSocket ping it sends;
   * with nothing subscribed, also the pong to our ping) before the feed is declared down. While
   * connected with nothing subscribed and pings off, silence is expected and not checked.
   */
  readonly heartbeatTimeoutMs: number;
  /** We ping the upstream this often (0: never). */
  readonly pingIntervalMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnect: { readonly initialMs: number; readonly maxMs: number };
  readonly headers?: Readonly<Record<string, string>> | undefined;
  /** Jitter source; tests pass a fixed one. */
  readonly random?: () => number;
}

export interface UpstreamWsStats {
  connects: number;
  /** Connection attempts after a drop (successful or not). */
  reconnectAttempts: number;
  disconnects: number;
  messages: number;
  /** Ticks accepted by ctx.emit. */
  ticks: number;
  /** Ticks ctx.emit refused (counted by the gateway too, by reason). */
  rejected: number;
  /** Messages that were not JSON or did not map (logged, skipped). */
  malformed: number;
  /** Acks, heartbeats and other messages without ticks. */
  control: number;
  /** Ticks for topics nobody asked for (late after an unsubscribe, or an upstream's extras); dropped. */
  unsolicited: number;
  /** Upstream timestamps older than the topic's previous one, raised to it (the bus refuses ts going backwards). */
  tsClamped: number;
  upstreamErrors: number;
  /** Times the heartbeat deadline passed (each one fails the feed). */
  silences: number;
  /** Streams currently subscribed upstream. */
  subscribedStreams: number;
}

/**
 * The shared backoff policy (@tickgate/client/backoff) with equal jitter: uniform in [cap/2, cap],
 * cap = min(max, initial × 2^attempt). Never zero (a flapping upstream is not hammered) and spread
 * (many gateways do not return at once).
 */
export function reconnectDelay(attempt: number, options: { initialMs: number; maxMs: number }, random: () => number = Math.random): number {
  return backoffDelay(attempt, { initialDelayMs: options.initialMs, maxDelayMs: options.maxMs, jitter: 'equal' }, random);
}

const WARN_EVERY_MS = 10_000;
const MAX_CACHED_SYMBOLS = 10_000;

interface Want {
  readonly symbol: string;
  readonly channel: Channel;
  readonly topic: string;
}

/** One run, from start() to stop() or failure; callbacks of an older run see `stopped`. */
interface Run {
  readonly ctx: FeedContext;
  stopped: boolean;
  conn: Conn | null;
  attempt: number;
  reconnectTimer: NodeJS.Timeout | null;
  readonly heartbeatTimer: NodeJS.Timeout;
  readonly pingTimer: NodeJS.Timeout | null;
  /** ctx.clock time of the last sign of life. */
  lastLifeAt: number;
}

interface Conn {
  readonly ws: WebSocket;
  open: boolean;
  /** Streams subscribed on this connection (sent; acks are not awaited). */
  readonly subscribed: Set<string>;
  gotData: boolean;
}

/**
 * Streams ticks from an external JSON WebSocket. What it subscribes follows client interest: the
 * first client asking for a topic (or a pattern) makes it subscribe the upstream streams behind
 * it, the last one leaving makes it unsubscribe; `static` topics stay subscribed regardless.
 * Interest changes in one event-loop turn go out as one (un)subscribe message.
 *
 * Connection: `start()` resolves once the first connection is open (a failure rejects, and the
 * supervisor retries with its own backoff). A dropped connection is reopened by the adapter with
 * exponential backoff and jitter (`reconnectDelay`), and everything wanted is subscribed again.
 *
 * Heartbeat deadline: when nothing arrives for `heartbeatTimeoutMs` (connected but silent, or
 * reconnects failing), the adapter closes the socket and calls `ctx.fail`: the gateway marks the
 * feed down, which marks its topics stale for clients (status frames, reason `feed_down`),
 * counts tickgate_feed_failures_total and restarts the adapter after a backoff; the restarted
 * adapter reconnects and gets the current interest replayed.
 *
 * Messages: every mapped tick of a wanted topic is emitted in arrival order, stamped with the
 * upstream's event time when the mapping has one (raised to the topic's previous one if it is
 * older: per topic, timestamps never go backwards), else `ctx.clock.now()` on arrival. Malformed
 * messages are counted, logged (rate-limited) and skipped; see `stats()`.
 */
export class UpstreamWsAdapter implements FeedAdapter, InterestAware {
  private run: Run | null = null;
  private readonly interest = new Set<string>();
  /** stream → the pairs it carries; what should be subscribed now. */
  private desired = new Map<string, Want[]>();
  /** Topics whose ticks are emitted. */
  private activeTopics = new Set<string>();
  private syncQueued = false;
  private nextRequestId = 1;
  private readonly topicCache = new Map<string, [string | null, string | null]>();
  /** Per topic, the last upstream timestamp emitted. */
  private readonly lastTs = new Map<string, number>();
  private readonly counters: Omit<UpstreamWsStats, 'subscribedStreams'> = {
    connects: 0,
    reconnectAttempts: 0,
    disconnects: 0,
    messages: 0,
    ticks: 0,
    rejected: 0,
    malformed: 0,
    control: 0,
    unsolicited: 0,
    tsClamped: 0,
    upstreamErrors: 0,
    silences: 0,
  };
  private readonly limited = new Map<string, { at: number; suppressed: number }>();
  private readonly filtering: boolean;

  constructor(readonly options: UpstreamWsAdapterOptions) {
    this.filtering = typeof options.protocol.stream === 'function';
  }

  stats(): UpstreamWsStats {
    return { ...this.counters, subscribedStreams: this.run?.conn?.subscribed.size ?? 0 };
  }

  async start(ctx: FeedContext): Promise<void> {
    if (this.run !== null) throw new Error('adapter is already running');
    if (ctx.signal.aborted) return;
    const { heartbeatTimeoutMs, pingIntervalMs } = this.options;
    // The supervisor replays current interest once start() resolves.
    this.interest.clear();
    this.recompute();
    const check = Math.max(10, Math.min(1000, Math.floor(heartbeatTimeoutMs / 4)));
    const run: Run = {
      ctx,
      stopped: false,
      conn: null,
      attempt: 0,
      reconnectTimer: null,
      lastLifeAt: ctx.clock.now(),
      heartbeatTimer: setInterval(() => this.checkHeartbeat(run), check),
      pingTimer: pingIntervalMs > 0 ? setInterval(() => this.ping(run), pingIntervalMs) : null,
    };
    this.run = run;
    ctx.signal.addEventListener('abort', () => this.end(run), { once: true });
    try {
      await this.connect(run, true);
    } catch (err) {
      this.end(run);
      throw err;
    }
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (run === null) return;
    const ws = run.conn?.ws;
    this.end(run);
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 1000);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  interestChanged(entry: string, interested: boolean): void {
    const parts = entry.split('.');
    if (parts.length !== 3 || (parts[0] !== '*' && parts[0] !== this.options.assetClass)) return;
    if (interested) this.interest.add(entry);
    else this.interest.delete(entry);
    if (this.syncQueued) return;
    this.syncQueued = true;
    // One (un)subscribe message for all changes made in this turn (a client subscribing 50 topics).
    queueMicrotask(() => {
      this.syncQueued = false;
      this.recompute();
      if (this.run !== null && !this.run.stopped) this.sync(this.run);
    });
  }

  /** Stops a run: timers, socket, and any callback still pending for it. */
  private end(run: Run): void {
    if (run.stopped) return;
    run.stopped = true;
    clearInterval(run.heartbeatTimer);
    if (run.pingTimer) clearInterval(run.pingTimer);
    if (run.reconnectTimer) clearTimeout(run.reconnectTimer);
    const conn = run.conn;
    run.conn = null;
    if (conn) {
      if (conn.open) conn.ws.close(1000, 'feed stopping');
      else conn.ws.terminate();
    }
    if (this.run === run) this.run = null;
  }

  private connect(run: Run, first: boolean): Promise<void> {
    const { url, connectTimeoutMs, headers } = this.options;
    const { ctx } = run;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { handshakeTimeout: connectTimeoutMs, ...(headers ? { headers: { ...headers } } : {}) });
      const conn: Conn = { ws, open: false, subscribed: new Set(), gotData: false };
      run.conn = conn;
      const current = () => !run.stopped && run.conn === conn;
      let settled = false;
      ws.on('open', () => {
        if (!current()) return;
        conn.open = true;
        settled = true;
        this.counters.connects++;
        run.lastLifeAt = ctx.clock.now();
        ctx.logger.info({ url, attempt: run.attempt }, first ? 'connected to upstream' : 'reconnected to upstream');
        this.sync(run);
        resolve();
      });
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        if (!current()) return;
        run.lastLifeAt = ctx.clock.now();
        if (!conn.gotData) {
          conn.gotData = true;
          run.attempt = 0; // the connection works: the next drop starts the backoff afresh
        }
        this.onMessage(run, isBinary ? data : data.toString('utf8'));
      });
      ws.on('ping', () => {
        if (current()) run.lastLifeAt = ctx.clock.now();
      });
      ws.on('pong', () => {
        // Our own ping's answer shows the socket is alive, not that data flows: it counts only
        // while no data is expected.
        if (current() && !this.expectsData(conn)) run.lastLifeAt = ctx.clock.now();
      });
      ws.on('error', (err: Error) => {
        if (!current()) return;
        if (!settled) {
          settled = true;
          const why = (err as NodeJS.ErrnoException).code ?? err.message;
          if (first) reject(new Error(`cannot connect to upstream ${url}: ${why}`, { cause: err }));
          else this.limitedLog(ctx, 'connect', 'warn', { url, err: why, attempt: run.attempt }, 'reconnect attempt failed');
        } else {
          this.limitedLog(ctx, 'socket', 'warn', { url, err: err.message }, 'upstream socket error');
        }
      });
      ws.on('close', (code: number, reason: Buffer) => {
        if (!current()) return;
        run.conn = null;
        if (conn.open) {
          this.counters.disconnects++;
          ctx.logger.warn({ url, code, reason: reason.toString() }, 'upstream disconnected; reconnecting');
        } else if (!settled) {
          settled = true;
          if (first) reject(new Error(`upstream ${url} closed the connection during the handshake (${code})`));
        }
        if (first && !conn.open) return; // start() fails; the supervisor retries
        this.scheduleReconnect(run);
      });
    });
  }

  private scheduleReconnect(run: Run): void {
    const delay = reconnectDelay(run.attempt, this.options.reconnect, this.options.random);
    run.attempt++;
    run.reconnectTimer = setTimeout(() => {
      run.reconnectTimer = null;
      if (run.stopped) return;
      this.counters.reconnectAttempts++;
      // A failed attempt ends in 'close', which schedules the next one.
      this.connect(run, false).catch(() => {});
    }, delay);
  }

  /** Data is expected while something is subscribed, or always from an upstream that pushes without subscriptions. */
  private expectsData(conn: Conn): boolean {
    return !this.filtering || conn.subscribed.size > 0;
  }

  private checkHeartbeat(run: Run): void {
    if (run.stopped) return;
    const { ctx } = run;
    const conn = run.conn;
    // Connected, nothing subscribed and no pings of ours: silence is expected, nothing to check.
    if (conn?.open && !this.expectsData(conn) && this.options.pingIntervalMs === 0) run.lastLifeAt = ctx.clock.now();
    const silentMs = ctx.clock.now() - run.lastLifeAt;
    if (silentMs <= this.options.heartbeatTimeoutMs) return;
    this.counters.silences++;
    const connected = run.conn?.open === true;
    ctx.logger.error(
      { url: this.options.url, silentMs: Math.round(silentMs), heartbeatTimeoutMs: this.options.heartbeatTimeoutMs, connected },
      'upstream silent past the heartbeat deadline: feed down, its topics are stale until it recovers',
    );
    this.end(run);
    ctx.fail(
      new Error(
        `upstream ${this.options.url} silent for ${Math.round(silentMs)} ms (heartbeatTimeoutMs ${this.options.heartbeatTimeoutMs}, ${connected ? 'connected' : 'not connected'})`,
      ),
    );
  }

  private ping(run: Run): void {
    const conn = run.conn;
    if (run.stopped || !conn?.open) return;
    try {
      conn.ws.ping();
    } catch {
      // A socket that is closing; 'close' handles it.
    }
  }

  /** Recomputes what should be subscribed from `static` and client interest. */
  private recompute(): void {
    const { protocol, assetClass } = this.options;
    const desired = new Map<string, Want[]>();
    const active = new Set<string>();
    const entries = new Set([...this.options.static, ...this.interest]);
    for (const entry of entries) {
      for (const { symbol, channel } of this.expand(entry)) {
        const topic = makeTopic(assetClass, symbol, channel);
        if (active.has(topic)) continue;
        const stream = protocol.stream?.(symbol, channel) ?? null;
        if (stream === null) continue;
        active.add(topic);
        const wants = desired.get(stream);
        if (wants) wants.push({ symbol, channel, topic });
        else desired.set(stream, [{ symbol, channel, topic }]);
      }
    }
    this.desired = desired;
    this.activeTopics = active;
  }

  private expand(entry: string): { symbol: string; channel: Channel }[] {
    const [, sym, ch] = entry.split('.') as [string, string, string];
    const channels = ch === '*' ? CHANNELS : (CHANNELS as readonly string[]).includes(ch) ? [ch as Channel] : [];
    const known = this.options.symbols;
    const symbols = sym === '*' ? (known ?? []) : known === undefined || known.includes(sym) ? [sym] : [];
    const out: { symbol: string; channel: Channel }[] = [];
    for (const symbol of symbols) {
      if (!isValidTopic(makeTopic(this.options.assetClass, symbol, 'quote'))) continue;
      for (const channel of channels) out.push({ symbol, channel });
    }
    return out;
  }

  /** Brings the connection's subscriptions in line with `desired`. */
  private sync(run: Run): void {
    const conn = run.conn;
    const { protocol } = this.options;
    if (!conn?.open || !protocol.subscribe) return;
    const remove = [...conn.subscribed].filter((s) => !this.desired.has(s));
    const add = [...this.desired.keys()].filter((s) => !conn.subscribed.has(s));
    const nextId = () => this.nextRequestId++;
    if (remove.length > 0 && protocol.unsubscribe) {
      for (const m of protocol.unsubscribe(remove, nextId)) conn.ws.send(JSON.stringify(m));
      for (const s of remove) conn.subscribed.delete(s);
      run.ctx.logger.info({ streams: remove }, 'unsubscribed upstream');
    }
    if (add.length > 0) {
      // Data is expected from now on: the heartbeat window starts here.
      if (!this.expectsData(conn)) run.lastLifeAt = run.ctx.clock.now();
      for (const m of protocol.subscribe(add, nextId)) conn.ws.send(JSON.stringify(m));
      for (const s of add) conn.subscribed.add(s);
      run.ctx.logger.info({ streams: add }, 'subscribed upstream');
    }
  }

  /** `<assetClass>.<symbol>.<kind>`, cached; null for a symbol that makes no valid topic. */
  private topicFor(symbol: string, kind: Channel): string | null {
    let pair = this.topicCache.get(symbol);
    if (pair === undefined) {
      if (this.topicCache.size >= MAX_CACHED_SYMBOLS) this.topicCache.clear();
      const q = makeTopic(this.options.assetClass, symbol, 'quote');
      pair = isValidTopic(q) ? [q, makeTopic(this.options.assetClass, symbol, 'trade')] : [null, null];
      this.topicCache.set(symbol, pair);
    }
    return kind === 'quote' ? pair[0] : pair[1];
  }

  private onMessage(run: Run, data: string | Buffer): void {
    const { ctx } = run;
    const { protocol } = this.options;
    this.counters.messages++;
    let msg: unknown;
    try {
      msg = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
    } catch {
      this.malformed(ctx, 'not JSON', data);
      return;
    }
    let ticks: ReturnType<typeof protocol.map>;
    try {
      const err = protocol.error?.(msg) ?? null;
      if (err !== null) {
        this.counters.upstreamErrors++;
        this.limitedLog(ctx, 'upstream-error', 'warn', { message: err }, 'the upstream reported an error');
        return;
      }
      ticks = protocol.map(msg);
    } catch (err) {
      this.malformed(ctx, (err as Error).message, data);
      return;
    }
    if (ticks === null) {
      this.counters.control++;
      return;
    }
    for (const t of ticks) {
      const topic = this.topicFor(t.symbol, t.kind);
      if (topic === null) {
        this.malformed(ctx, `symbol ${JSON.stringify(t.symbol).slice(0, 40)} makes no valid topic`, data);
        continue;
      }
      if (this.filtering && !this.activeTopics.has(topic)) {
        this.counters.unsolicited++;
        continue;
      }
      let ts: number;
      if (t.ts === undefined) {
        ts = ctx.clock.now();
      } else {
        // Venues may stamp a late message earlier than the last one of its topic; keep order.
        const last = this.lastTs.get(topic) ?? 0;
        if (t.ts < last) {
          ts = last;
          this.counters.tsClamped++;
        } else {
          ts = t.ts;
          this.lastTs.set(topic, ts);
        }
      }
      const tick: FeedTick =
        t.kind === 'quote'
          ? { topic, ts, kind: 'quote', bid: t.bid, ask: t.ask, bidSize: t.bidSize, askSize: t.askSize }
          : { topic, ts, kind: 'trade', price: t.price, size: t.size };
      if (ctx.emit(tick)) this.counters.ticks++;
      else this.counters.rejected++;
    }
  }

  private malformed(ctx: FeedContext, reason: string, data: string | Buffer): void {
    this.counters.malformed++;
    const text = typeof data === 'string' ? data : `<${data.length} binary bytes>`;
    this.limitedLog(
      ctx,
      'malformed',
      'warn',
      { reason, message: text.slice(0, 200), malformedTotal: this.counters.malformed },
      'malformed upstream message skipped',
    );
  }

  /** Logs the first occurrence of `key` at once, then at most once per 10 s with how many were suppressed. */
  private limitedLog(ctx: FeedContext, key: string, level: 'warn' | 'error', obj: Record<string, unknown>, msg: string): void {
    const now = ctx.clock.now();
    const state = this.limited.get(key);
    if (state && now - state.at < WARN_EVERY_MS) {
      state.suppressed++;
      return;
    }
    const suppressed = state?.suppressed ?? 0;
    this.limited.set(key, { at: now, suppressed: 0 });
    ctx.logger[level](suppressed > 0 ? { ...obj, suppressedSinceLastLog: suppressed } : obj, msg);
  }
}
