/**
 * The dashboard's connection to the gateway, behind a small declarative interface
 * (`StreamClient`): the page says which topics/patterns it wants at which max rate, and gets
 * callbacks. `SdkStreamClient` implements it on the protocol SDK (@tickgate/client, browser
 * build): the SDK owns the protocol (frames, resume positions, gap detection, backoff, dead
 * connection detection); this file only maps the page's wishes onto SDK subscriptions.
 *
 * Guarantees to the listener (the SDK's):
 * - onTicks is called in arrival order; per topic, seqs only increase (entries at or below the
 *   last seen seq, e.g. an overlapping replay, are dropped).
 * - onGap reports every hole the client can see: a seq jump on every-tick delivery, or a resume
 *   the gateway could not honour (ack result `gap`). Conflated (rate-limited) frames skip seqs by
 *   design and are not gaps.
 * - After a reconnect the SDK asks the gateway to replay what was missed (`resume`); a new
 *   gateway run (new epoch) is reported once, as onEpochChanged, instead of as one
 *   `epoch_changed` gap per topic.
 */
import {
  CloseCode,
  isBarTick,
  isBookTick,
  TickgateClient,
  type BarTick,
  type DayStats,
  type GapReason,
  type OrderBook,
  type SlowFrame,
  type Subscription,
  type Tick,
  type WebSocketConstructor,
  type WireTick,
} from '@tickgate/client';
export type ConnectionState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'live'; readonly server: string; readonly epoch: number }
  | { readonly kind: 'reconnecting'; readonly attempt: number; readonly retryAt: number; readonly reason: string }
  | { readonly kind: 'closed' };

export interface GapInfo {
  readonly reason: GapReason;
  /** First and last missed seq, when known. */
  readonly from?: number;
  readonly to?: number;
}

export interface StreamListener {
  onState(state: ConnectionState): void;
  /** The gateway's welcome; `rateTiers` is empty when the gateway has no per-subscription max rate. */
  onWelcome(info: { server: string; epoch: number; rateTiers: readonly number[] }): void;
  onEpochChanged(previous: number, current: number): void;
  onTicks(topic: string, ticks: readonly WireTick[], snapshot: boolean): void;
  onGap(topic: string, gap: GapInfo): void;
  onTopicStatus(topic: string, stale: boolean, reason: string): void;
  onSlow(frame: SlowFrame): void;
  /** The max rate the gateway granted for the latest subscribe (0: every tick). */
  onRateGranted(rate: number): void;
  onServerError(code: string, message: string): void;
  onRtt(ms: number): void;
  /** A book topic's verified local book (kept by the SDK) changed. */
  onBook?(topic: string, book: OrderBook): void;
  /** A book diverged from the gateway's; the SDK asked for a fresh snapshot. */
  onBookResync?(topic: string): void;
  /** Bar updates of a bar topic; `snapshot`: the history the subscribe brought (oldest first). */
  onBar?(topic: string, bar: BarTick, snapshot: boolean): void;
  /** Day statistics from a snapshot frame. */
  onStats?(topic: string, stats: DayStats): void;
  /** The gateway subscribed an exact topic that has never had data (ack result `pending`). */
  onPending?(topic: string): void;
}

export interface StreamClient {
  /** Declarative: converge the gateway's subscriptions for this connection (and every later one) to these. */
  setWanted(entries: readonly string[], maxRate: number): void;
  readonly reconnects: number;
  close(): void;
}

export interface SdkStreamClientOptions {
  /** Reconnect backoff (the SDK's shared policy): attempt n waits up to min(maxDelayMs, initialDelayMs · 2^n). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** RTT probe interval; a connection silent for 4 intervals is dropped and reconnected (SDK heartbeat). */
  pingIntervalMs?: number;
  /** Entries per subscribe request (the protocol allows 1000; messages must fit maxMessageBytes). */
  entriesPerRequest?: number;
  /** WebSocket implementation (tests); default the browser's. */
  WebSocket?: WebSocketConstructor;
}

export class SdkStreamClient implements StreamClient {
  private readonly client: TickgateClient;
  reconnects = 0;
  private everConnected = false;
  private lastClose = 'connecting';
  private pingTimer: ReturnType<typeof setInterval> | null = null;

  private wanted: string[] = [];
  private wantedRate = 0;
  /** SDK subscriptions, one per request-sized chunk of entries, all at `heldRate`. */
  private subs: Subscription[] = [];
  private heldRate = 0;
  /** The gateway's rate tiers; null until the first welcome (nothing is subscribed before it). */
  private rateTiers: readonly number[] | null = null;
  private epoch: number | null = null;
  /** This connection reached a new gateway run: its per-topic `epoch_changed` gaps are that one event. */
  private restarted = false;

  private readonly pingIntervalMs: number;
  private readonly entriesPerRequest: number;
  /** Quotes and trades go to onTicks; bars to onBar; book entries only through the SDK's verified `book` event. */
  private readonly onTick = (tick: Tick) => {
    if (isBookTick(tick)) return;
    if (isBarTick(tick)) this.listener.onBar?.(tick.topic, tick, tick.snapshot);
    else this.listener.onTicks(tick.topic, [tick as unknown as WireTick], tick.snapshot);
  };

  constructor(
    url: string,
    private readonly listener: StreamListener,
    options: SdkStreamClientOptions = {},
  ) {
    this.pingIntervalMs = options.pingIntervalMs ?? 2000;
    this.entriesPerRequest = options.entriesPerRequest ?? 200;
    listener.onState({ kind: 'connecting', attempt: 0 });
    const client = new TickgateClient(url, {
      reconnect: { initialDelayMs: options.initialDelayMs ?? 250, maxDelayMs: options.maxDelayMs ?? 3000 },
      heartbeat: { intervalMs: this.pingIntervalMs, timeoutMs: 4 * this.pingIntervalMs },
      ...(options.WebSocket ? { WebSocket: options.WebSocket } : {}),
    });
    this.client = client;
    client.on('welcome', (w) => {
      this.restarted = this.epoch !== null && w.epoch !== this.epoch;
      if (this.restarted) listener.onEpochChanged(this.epoch!, w.epoch);
      this.epoch = w.epoch;
      this.everConnected = true;
      this.rateTiers = Array.isArray(w.rateTiers) ? w.rateTiers : [];
      listener.onWelcome({ server: w.server, epoch: w.epoch, rateTiers: this.rateTiers });
      listener.onState({ kind: 'live', server: w.server, epoch: w.epoch });
      this.startPings();
      this.sync();
    });
    client.on('close', (code, reason) => {
      this.lastClose = reason === 'heartbeat timeout' ? 'no data from the gateway' : describeClose(code, reason);
      this.stopPings();
    });
    client.on('reconnecting', (attempt, delayMs) => {
      if (this.everConnected) this.reconnects++;
      listener.onState({ kind: 'reconnecting', attempt, retryAt: Date.now() + delayMs, reason: this.lastClose });
    });
    client.on('gap', (topic, from, to, reason: GapReason) => {
      if (reason === 'epoch_changed' && this.restarted) return; // told once, as onEpochChanged
      const gap: { reason: GapReason; from?: number; to?: number } = { reason };
      if (from !== undefined) gap.from = from;
      if (to !== undefined) gap.to = to;
      listener.onGap(topic, gap);
    });
    client.on('stale', (topic, reason) => listener.onTopicStatus(topic, true, reason));
    client.on('recovered', (topic) => listener.onTopicStatus(topic, false, 'recovered'));
    client.on('slow', (frame) => listener.onSlow(frame));
    client.on('error', (code, message) => listener.onServerError(code, message));
    client.on('ack', (ack) => {
      if (ack.op !== 'subscribe') return;
      listener.onRateGranted(ack.maxRate ?? 0);
      for (const r of ack.results ?? []) if (r.status === 'pending') listener.onPending?.(r.topic);
    });
    client.on('book', (topic, book) => listener.onBook?.(topic, book));
    client.on('bookResync', (topic) => listener.onBookResync?.(topic));
    client.on('stats', (topic, stats) => listener.onStats?.(topic, stats));
  }

  setWanted(entries: readonly string[], maxRate: number): void {
    this.wanted = [...new Set(entries)];
    this.wantedRate = maxRate;
    this.sync();
  }

  close(): void {
    this.stopPings();
    void this.client.close();
    this.listener.onState({ kind: 'closed' });
  }

  private startPings(): void {
    this.stopPings();
    this.pingTimer = setInterval(() => {
      this.client.ping().then(
        (ms) => this.listener.onRtt(ms),
        () => {}, // the connection dropped: the SDK reconnects and says so
      );
    }, this.pingIntervalMs);
  }

  private stopPings(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.pingTimer = null;
  }

  /**
   * Takes the SDK subscriptions from what is held to what is wanted. New subscriptions are made
   * before old ones are dropped, so the SDK unsubscribes only entries nobody wants any more.
   */
  private sync(): void {
    if (this.rateTiers === null) return;
    const rate = this.rateTiers.length > 0 ? this.wantedRate : 0;
    const wanted = new Set(this.wanted);
    const keep: Subscription[] = [];
    const drop: Subscription[] = [];
    const add: string[] = [];
    if (rate !== this.heldRate) {
      // A new rate applies to every entry: re-subscribing an entry replaces its rate.
      drop.push(...this.subs);
      add.push(...wanted);
    } else {
      const held = new Set<string>();
      for (const sub of this.subs) {
        if (sub.entries.every((e) => wanted.has(e))) keep.push(sub);
        else {
          drop.push(sub);
          // Entries of a partly unwanted chunk that are still wanted go into a new chunk.
          add.push(...sub.entries.filter((e) => wanted.has(e)));
        }
        for (const e of sub.entries) held.add(e);
      }
      add.push(...[...wanted].filter((e) => !held.has(e)));
    }
    for (let i = 0; i < add.length; i += this.entriesPerRequest) {
      keep.push(this.client.subscribe(add.slice(i, i + this.entriesPerRequest), this.onTick, rate > 0 ? { maxRate: rate } : {}));
    }
    for (const sub of drop) sub.unsubscribe();
    this.subs = keep;
    this.heldRate = rate;
  }
}

function describeClose(code: number, reason: string): string {
  const known: Record<number, string> = {
    [CloseCode.GOING_AWAY]: 'gateway shutting down',
    [CloseCode.ABNORMAL]: 'connection lost',
    [CloseCode.POLICY]: 'too slow for too long',
    [CloseCode.SLOW_CONSUMER]: 'slow consumer',
    [CloseCode.CLIENT_HEARTBEAT_TIMEOUT]: 'no data from the gateway',
  };
  const what = known[code] ?? `closed ${code}`;
  return reason ? `${what} (${reason})` : what;
}
