import WebSocket from 'ws';

/**
 * A client written from docs/protocol.md alone (not the SDK, not TestClient): JSON format, records
 * every frame with its arrival time, and checks the delivery invariant of §7.4 per topic:
 * every seq arrives exactly once and in order, or the client was told before the jump —
 * a `gap` subscribe result, a `status` frame `gap` with the exact missed range, or a `status`
 * frame `reset` (new epoch) — §6.9. Anything else is a silent loss, a duplicate or a silent
 * epoch change, and is counted.
 */
export interface TopicTally {
  delivered: number;
  reportedGaps: number;
  silentLost: number;
  duplicates: number;
  silentEpochChanges: number;
  resets: number;
  longestPauseMs: number;
}

// biome-ignore lint/suspicious/noExplicitAny: decoded JSON/MessagePack read field by field in assertions
type Frame = Record<string, any>;

interface TopicState {
  /** A `gap` subscribe result came; the next snapshot's distance is reported, not silent. */
  toldGap: boolean;
  epoch: number | null;
  last: number | null;
  lastAt: number;
  tally: TopicTally;
}

export class WireChecker {
  readonly frames: { at: number; frame: Frame }[] = [];
  readonly violations: string[] = [];
  readonly topics = new Map<string, TopicState>();
  closeCode: number | null = null;
  reconnects = 0;
  /** `gap` subscribe results and `gap` status frames seen, by reason. */
  readonly gapReasons = new Map<string, number>();
  private waiters: (() => void)[] = [];
  private nextId = 1;
  /** Resume positions sent, per topic: where a `replayed` result continues from. */
  private readonly resumed = new Map<string, { epoch: number; seq: number }>();

  private ws: WebSocket;

  private constructor(
    ws: WebSocket,
    private readonly now: () => number,
  ) {
    this.ws = ws;
    this.attach(ws);
  }

  private attach(ws: WebSocket): void {
    ws.on('message', (data: Buffer) => {
      if (ws !== this.ws) return;
      const frame = JSON.parse(data.toString('utf8')) as Frame;
      const at = this.now();
      this.frames.push({ at, frame });
      this.apply(frame, at);
      const w = this.waiters;
      this.waiters = [];
      for (const f of w) f();
    });
    ws.on('close', (code) => {
      if (ws === this.ws) this.closeCode = code;
    });
    ws.on('error', () => undefined);
  }

  /**
   * After a lost connection (§10.5, §14): connects to `base` and subscribes `entries` again with
   * the last `(epoch, seq)` of every topic held, so what was missed is replayed or reported.
   */
  async reconnect(base: string, entries: string[]): Promise<Frame> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws').replace(/\/v1\/stream.*$/, '')}/v1/stream?format=json`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    this.ws = ws;
    this.closeCode = null;
    this.reconnects++;
    this.attach(ws);
    const resume: Record<string, { epoch: number; seq: number }> = {};
    for (const [topic, st] of this.topics) if (st.epoch !== null && st.last !== null) resume[topic] = { epoch: st.epoch, seq: st.last };
    return this.subscribe(entries, resume);
  }

  /** `url`: ws://host:port (the checker appends /v1/stream?format=json). */
  static connect(base: string, now: () => number = () => performance.now()): Promise<WireChecker> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${base.replace(/^http/, 'ws').replace(/\/v1\/stream.*$/, '')}/v1/stream?format=json`);
      const c = new WireChecker(ws, now);
      ws.once('open', () => resolve(c));
      ws.once('error', reject);
    });
  }

  /** Subscribes and resolves with the ack (or error) frame. */
  async subscribe(topics: string[], resume?: Record<string, { epoch: number; seq: number }>): Promise<Frame> {
    const id = this.nextId++;
    const from = this.frames.length;
    for (const [topic, p] of Object.entries(resume ?? {})) this.resumed.set(topic, p);
    this.ws.send(JSON.stringify({ op: 'subscribe', id, topics, ...(resume ? { resume } : {}) }));
    return this.waitFor((f) => (f.t === 'ack' || f.t === 'error') && f.id === id, from);
  }

  async waitFor(pred: (f: Frame) => boolean, from = 0, timeoutMs = 10_000): Promise<Frame> {
    const deadline = Date.now() + timeoutMs;
    for (let i = from; ; ) {
      for (; i < this.frames.length; i++) if (pred(this.frames[i]!.frame)) return this.frames[i]!.frame;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`checker: timed out; last frames ${JSON.stringify(this.frames.slice(-2).map((f) => f.frame))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Resolves once `check()` holds (re-evaluated on every frame). */
  async until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    await this.waitFor(() => check(), 0, timeoutMs).catch(async (e) => {
      if (!check()) throw e;
    });
  }

  lastSeq(topic: string): number {
    return this.topics.get(topic)?.last ?? 0;
  }

  close(): void {
    this.ws.close();
  }

  /** Sum over topics. */
  total(): TopicTally {
    const sum: TopicTally = {
      delivered: 0,
      reportedGaps: 0,
      silentLost: 0,
      duplicates: 0,
      silentEpochChanges: 0,
      resets: 0,
      longestPauseMs: 0,
    };
    for (const { tally } of this.topics.values()) {
      sum.delivered += tally.delivered;
      sum.reportedGaps += tally.reportedGaps;
      sum.silentLost += tally.silentLost;
      sum.duplicates += tally.duplicates;
      sum.silentEpochChanges += tally.silentEpochChanges;
      sum.resets += tally.resets;
      sum.longestPauseMs = Math.max(sum.longestPauseMs, tally.longestPauseMs);
    }
    return sum;
  }

  private state(topic: string): TopicState {
    let s = this.topics.get(topic);
    if (s === undefined) {
      s = {
        toldGap: false,
        epoch: null,
        last: null,
        lastAt: 0,
        tally: { delivered: 0, reportedGaps: 0, silentLost: 0, duplicates: 0, silentEpochChanges: 0, resets: 0, longestPauseMs: 0 },
      };
      this.topics.set(topic, s);
    }
    return s;
  }

  private apply(f: Frame, at: number): void {
    switch (f.t) {
      case 'ack':
        for (const r of (f.results ?? []) as Frame[]) {
          if (typeof r.topic !== 'string') continue;
          const s = this.state(r.topic);
          const p = this.resumed.get(r.topic);
          // §5.2, §5.7: a newly added topic continues after its replay, or restarts from its
          // snapshot / first tick; a `gap` result tells what was missed.
          if (r.status === 'replayed' && p !== undefined) {
            s.epoch = p.epoch;
            s.last = p.seq;
          } else if (r.status === 'gap') {
            this.gapReasons.set(String(r.reason), (this.gapReasons.get(String(r.reason)) ?? 0) + 1);
            s.toldGap = true; // the snapshot that follows is the new baseline; the distance was reported
          } else {
            s.last = null;
          }
        }
        return;
      case 'snapshot': {
        const s = this.state(f.topic);
        const tick = f.ticks?.[0];
        if (tick && s.last !== null && s.epoch === f.epoch && tick.seq > s.last + 1) {
          if (s.toldGap) s.tally.reportedGaps += tick.seq - s.last - 1;
          else {
            s.tally.silentLost += tick.seq - s.last - 1;
            this.violations.push(`${f.topic}: snapshot ${tick.seq} after ${s.last} without a gap result`);
          }
        }
        s.toldGap = false;
        s.epoch = f.epoch;
        if (tick) s.last = tick.seq;
        return;
      }
      case 'status': {
        const s = this.state(f.topic);
        if (f.status === 'gap') {
          this.gapReasons.set('status:lost', (this.gapReasons.get('status:lost') ?? 0) + 1);
          if (s.last !== null && f.from !== s.last + 1)
            this.violations.push(`${f.topic}: gap status from ${f.from} but last seen ${s.last}`);
          s.tally.reportedGaps += f.to - f.from + 1;
          s.last = f.to;
        } else if (f.status === 'reset') {
          s.tally.resets++;
          s.epoch = f.epoch;
          s.last = null;
        }
        return;
      }
      case 'ticks': {
        const s = this.state(f.topic);
        if (s.epoch !== null && f.epoch !== s.epoch) {
          s.tally.silentEpochChanges++;
          this.violations.push(`${f.topic}: epoch ${s.epoch} -> ${f.epoch} without a reset`);
          s.last = null;
        }
        s.epoch = f.epoch;
        for (const t of f.ticks as Frame[]) {
          const seq = t.seq as number;
          if (s.last !== null && seq <= s.last) {
            s.tally.duplicates++;
            this.violations.push(`${f.topic}: seq ${seq} again (last ${s.last})`);
            continue;
          }
          if (s.last !== null && seq > s.last + 1) {
            s.tally.silentLost += seq - s.last - 1;
            this.violations.push(`${f.topic}: silent jump ${s.last} -> ${seq}`);
          }
          if (s.lastAt !== 0) s.tally.longestPauseMs = Math.max(s.tally.longestPauseMs, at - s.lastAt);
          s.lastAt = at;
          s.last = seq;
          s.tally.delivered++;
        }
        return;
      }
      default:
        return;
    }
  }
}
