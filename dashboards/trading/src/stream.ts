/**
 * The dashboard's connection to the gateway, behind a small declarative interface
 * (`StreamClient`): the page says which topics/patterns it wants at which max rate, and gets
 * callbacks. `ProtocolStreamClient` speaks protocol v1 directly (WebSocket, binary MessagePack
 * frames decoded with @msgpack/msgpack, JSON requests). When the SDK in src/client/ is ready,
 * an adapter implementing `StreamClient` on top of it replaces this file and nothing else changes.
 *
 * Guarantees to the listener:
 * - onTicks is called in arrival order; per topic, seqs only increase (entries at or below the
 *   last seen seq, e.g. an overlapping replay, are dropped).
 * - onGap reports every hole the client can see: a seq jump on every-tick delivery, or a resume
 *   the gateway could not honour (ack result `gap`). Conflated (rate-limited) frames skip seqs by
 *   design and are not gaps.
 * - After a reconnect to the same gateway run (same epoch) the client asks the gateway to replay
 *   what it missed (`resume`); after a restart (new epoch) it drops every seq and says so
 *   (onEpochChanged).
 */
import { Decoder } from '@msgpack/msgpack';
import type { WireTick } from '../../../src/core/tick.ts';
import { isPattern, TopicPattern } from '../../../src/core/topic.ts';
import type { AckFrame, ServerFrame, SlowFrame, WelcomeFrame } from '../../../src/protocol/frames.ts';

export type ConnectionState =
  | { readonly kind: 'connecting'; readonly attempt: number }
  | { readonly kind: 'live'; readonly server: string; readonly epoch: number }
  | { readonly kind: 'reconnecting'; readonly attempt: number; readonly retryAt: number; readonly reason: string }
  | { readonly kind: 'closed' };

export interface GapInfo {
  readonly reason: 'missed' | 'epoch_changed' | 'too_old' | 'unknown_seq' | 'replay_limit';
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
}

export interface StreamClient {
  /** Declarative: converge the gateway's subscriptions for this connection (and every later one) to these. */
  setWanted(entries: readonly string[], maxRate: number): void;
  readonly reconnects: number;
  close(): void;
}

export interface ProtocolClientOptions {
  /** Backoff before reconnect attempt n: min(maxMs, baseMs · 2^(n−1)), times a random 0.5–1 (jitter). */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** Application ping interval (RTT, and a silent connection is detected after 4 intervals). */
  pingIntervalMs?: number;
  /** Entries per subscribe/unsubscribe request (the protocol allows 1000; messages must fit maxMessageBytes). */
  entriesPerRequest?: number;
}

const CLOSE_NORMAL = 1000;

export class ProtocolStreamClient implements StreamClient {
  private ws: WebSocket | null = null;
  private readonly decoder = new Decoder();
  private attempt = 0;
  reconnects = 0;
  private everConnected = false;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private lastMessageAt = 0;
  private readonly pingsSent = new Map<string, number>();
  private nextId = 1;

  private wanted: string[] = [];
  private wantedRate = 0;
  /** What this connection holds on the gateway (entries sent in a subscribe), and at which rate. */
  private held = new Set<string>();
  private heldRate = 0;
  private welcome: WelcomeFrame | null = null;
  private epoch: number | null = null;
  /** Per concrete topic: last seq seen, within `epoch`. */
  private readonly lastSeq = new Map<string, number>();

  private readonly backoffBaseMs: number;
  private readonly backoffMaxMs: number;
  private readonly pingIntervalMs: number;
  private readonly entriesPerRequest: number;

  constructor(
    private readonly url: string,
    private readonly listener: StreamListener,
    options: ProtocolClientOptions = {},
  ) {
    this.backoffBaseMs = options.backoffBaseMs ?? 250;
    this.backoffMaxMs = options.backoffMaxMs ?? 3000;
    this.pingIntervalMs = options.pingIntervalMs ?? 2000;
    this.entriesPerRequest = options.entriesPerRequest ?? 200;
    this.connect();
  }

  setWanted(entries: readonly string[], maxRate: number): void {
    this.wanted = [...new Set(entries)];
    this.wantedRate = maxRate;
    this.sync();
  }

  close(): void {
    this.closed = true;
    this.stopTimers();
    this.ws?.close(CLOSE_NORMAL, 'page closed');
    this.listener.onState({ kind: 'closed' });
  }

  private connect(): void {
    this.listener.onState({ kind: 'connecting', attempt: this.attempt });
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.scheduleReconnect(`cannot open ${this.url}: ${(err as Error).message}`);
      return;
    }
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    ws.onmessage = (ev: MessageEvent) => this.onMessage(ev.data);
    ws.onclose = (ev: CloseEvent) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.stopTimers();
      if (!this.closed) this.scheduleReconnect(describeClose(ev.code, ev.reason));
    };
    // An error is always followed by close; the close handler reconnects.
    ws.onerror = () => {};
  }

  /**
   * Gives up on the current socket at once (a half-open connection may take minutes to report
   * its close) and schedules a reconnect.
   */
  private abandon(code: number): void {
    const ws = this.ws;
    this.ws = null;
    this.stopTimers();
    ws?.close(code);
    if (!this.closed) this.scheduleReconnect(describeClose(code, ''));
  }

  private scheduleReconnect(reason: string): void {
    this.attempt++;
    if (this.everConnected) this.reconnects++;
    const delay = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (this.attempt - 1)) * (0.5 + Math.random() / 2);
    this.listener.onState({ kind: 'reconnecting', attempt: this.attempt, retryAt: Date.now() + delay, reason });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  private stopTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
    this.pingsSent.clear();
  }

  private send(request: object): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(request));
  }

  private onMessage(data: unknown): void {
    this.lastMessageAt = Date.now();
    let frame: ServerFrame;
    try {
      frame = (typeof data === 'string' ? JSON.parse(data) : this.decoder.decode(new Uint8Array(data as ArrayBuffer))) as ServerFrame;
    } catch (err) {
      this.listener.onServerError('CLIENT_DECODE', `undecodable frame: ${(err as Error).message}`);
      return;
    }
    switch (frame.t) {
      case 'welcome':
        this.onWelcome(frame);
        break;
      case 'ticks': {
        const fresh = this.advance(frame.topic, frame.ticks, frame.conflated !== undefined || this.heldRate > 0);
        if (fresh.length > 0) this.listener.onTicks(frame.topic, fresh, false);
        break;
      }
      case 'snapshot': {
        const tick = frame.ticks[0];
        if (tick === undefined) break;
        this.lastSeq.set(frame.topic, tick.seq);
        this.listener.onTicks(frame.topic, frame.ticks, true);
        break;
      }
      case 'ack':
        if (frame.op === 'subscribe') this.onSubscribeAck(frame);
        break;
      case 'status':
        this.listener.onTopicStatus(frame.topic, frame.status === 'stale', frame.reason);
        break;
      case 'slow':
        this.listener.onSlow(frame);
        break;
      case 'error':
        this.listener.onServerError(frame.code, frame.message);
        break;
      case 'pong': {
        const sent = this.pingsSent.get(String(frame.id));
        if (sent !== undefined) {
          this.pingsSent.delete(String(frame.id));
          this.listener.onRtt(performance.now() - sent);
        }
        break;
      }
      default:
        break; // a robust client ignores frame kinds it does not know
    }
  }

  private onWelcome(frame: WelcomeFrame): void {
    if (frame.v !== 1) {
      this.listener.onServerError('CLIENT_VERSION', `unsupported protocol version ${frame.v}; this dashboard speaks v1`);
      this.closed = true;
      this.ws?.close(CLOSE_NORMAL, 'unsupported protocol version');
      return;
    }
    if (this.epoch !== null && frame.epoch !== this.epoch) {
      this.lastSeq.clear();
      this.listener.onEpochChanged(this.epoch, frame.epoch);
    }
    this.epoch = frame.epoch;
    this.welcome = frame;
    this.attempt = 0;
    this.everConnected = true;
    this.held = new Set();
    this.heldRate = 0;
    this.listener.onWelcome({ server: frame.server, epoch: frame.epoch, rateTiers: Array.isArray(frame.rateTiers) ? frame.rateTiers : [] });
    this.listener.onState({ kind: 'live', server: frame.server, epoch: frame.epoch });
    this.startPings();
    this.sync();
  }

  private startPings(): void {
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    let n = 0;
    this.pingTimer = setInterval(() => {
      // A connection that has said nothing for four intervals (no ticks, no pong) is dead: reconnect.
      if (Date.now() - this.lastMessageAt > 4 * this.pingIntervalMs) {
        this.abandon(4000);
        return;
      }
      const id = `p${++n}`;
      this.pingsSent.set(id, performance.now());
      if (this.pingsSent.size > 8) this.pingsSent.delete(this.pingsSent.keys().next().value!);
      this.send({ op: 'ping', id });
    }, this.pingIntervalMs);
  }

  /** Drops entries already seen, reports holes on every-tick delivery, and returns the new entries. */
  private advance(topic: string, ticks: readonly WireTick[], conflated: boolean): readonly WireTick[] {
    const last = this.lastSeq.get(topic);
    let fresh = ticks;
    if (last !== undefined) {
      const first = ticks[0];
      if (first !== undefined && first.seq <= last) fresh = ticks.filter((t) => t.seq > last);
      const next = fresh[0];
      if (!conflated && next !== undefined && next.seq > last + 1) {
        this.listener.onGap(topic, { reason: 'missed', from: last + 1, to: next.seq - 1 });
      }
    }
    const newest = fresh[fresh.length - 1];
    if (newest !== undefined) this.lastSeq.set(topic, newest.seq);
    return fresh;
  }

  private onSubscribeAck(frame: AckFrame): void {
    this.listener.onRateGranted(frame.maxRate ?? 0);
    for (const r of frame.results ?? []) {
      if (r.status === 'gap') {
        const gap: GapInfo = { reason: r.reason };
        if (r.from !== undefined) Object.assign(gap, { from: r.from });
        if (r.to !== undefined) Object.assign(gap, { to: r.to });
        this.listener.onGap(r.topic, gap);
      }
    }
  }

  /** Sends the subscribes and unsubscribes that take the connection from `held` to `wanted`. */
  private sync(): void {
    if (this.welcome === null || this.ws?.readyState !== WebSocket.OPEN) return;
    const rate = this.welcome.rateTiers?.length ? this.wantedRate : 0;
    const wanted = new Set(this.wanted);
    const remove = [...this.held].filter((e) => !wanted.has(e));
    // A new rate applies to every entry: re-subscribing an entry replaces its rate.
    const add = rate !== this.heldRate ? [...wanted] : [...wanted].filter((e) => !this.held.has(e));
    for (const chunk of chunks(remove, this.entriesPerRequest)) {
      this.send({ op: 'unsubscribe', id: this.nextId++, topics: chunk });
      for (const e of chunk) {
        this.held.delete(e);
        this.forgetTopicsOf(e);
      }
    }
    for (const chunk of chunks(add, this.entriesPerRequest)) {
      const request: Record<string, unknown> = { op: 'subscribe', id: this.nextId++, topics: chunk };
      if (rate > 0) request.maxRate = rate;
      const resume = this.resumeFor(chunk);
      if (resume !== null) request.resume = resume;
      this.send(request);
      for (const e of chunk) this.held.add(e);
    }
    this.heldRate = rate;
  }

  /** Positions to resume from, for topics of these entries seen earlier in this epoch. */
  private resumeFor(entries: readonly string[]): Record<string, { epoch: number; seq: number }> | null {
    if (this.epoch === null || this.lastSeq.size === 0) return null;
    const exact = new Set(entries.filter((e) => !isPattern(e)));
    const patterns = entries.filter(isPattern).map((p) => new TopicPattern(p));
    const out: Record<string, { epoch: number; seq: number }> = {};
    let n = 0;
    for (const [topic, seq] of this.lastSeq) {
      if (n >= this.entriesPerRequest) break;
      const [assetClass, symbol, channel] = topic.split('.') as [string, string, string];
      const parsed = { topic, assetClass, symbol, channel };
      if (exact.has(topic) || patterns.some((p) => p.matches(parsed))) {
        out[topic] = { epoch: this.epoch, seq };
        n++;
      }
    }
    return n > 0 ? out : null;
  }

  /** An unsubscribed entry's topics start from scratch if wanted again (snapshot, no gap). */
  private forgetTopicsOf(entry: string): void {
    if (!isPattern(entry)) {
      this.lastSeq.delete(entry);
      return;
    }
    const pattern = new TopicPattern(entry);
    for (const topic of [...this.lastSeq.keys()]) {
      const [assetClass, symbol, channel] = topic.split('.') as [string, string, string];
      if (pattern.matches({ topic, assetClass, symbol, channel })) this.lastSeq.delete(topic);
    }
  }
}

function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

function describeClose(code: number, reason: string): string {
  const known: Record<number, string> = {
    1001: 'gateway shutting down',
    1006: 'connection lost',
    1008: 'too slow for too long',
    1013: 'slow consumer',
    4000: 'no data from the gateway',
  };
  const what = known[code] ?? `closed ${code}`;
  return reason ? `${what} (${reason})` : what;
}
