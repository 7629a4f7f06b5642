import type { TopicBus } from '../bus/bus.ts';
import { systemClock, systemTimers, type Clock, type TimerHandle, type Timers } from '../core/clock.ts';
import type { WireEntry } from '../core/tick.ts';
import { parseTopic } from '../core/topic.ts';
import { conflateBars, mergeBookUpdates } from '../market/book-merge.ts';
import type { EntriesFrame } from '../protocol/frames.ts';

/**
 * Estimated heap cost of one held tick (the WireTick object with its boxed doubles, and its
 * array slot) and of one held frame. Calibrated by `npm run measure:delayed` (see
 * docs/security.md, "Delayed tier"): measured 282 bytes of heap per held one-tick frame
 * (Node 20, x64), against 288 estimated.
 */
export const HELD_TICK_BYTES = 160;
export const HELD_FRAME_BYTES = 128;
/** setTimeout fires at once for anything above 2^31-1 ms; longer waits re-arm in chunks. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

interface Held {
  releaseAt: number;
  epoch: number;
  ticks: WireEntry[];
  /** Ticks this entry stands for (> ticks.length once conflated). */
  represents: number;
}

/** One (topic, delay): the frames its delayed subscribers will get, oldest first. */
interface DelayLine {
  readonly topic: string;
  readonly delayMs: number;
  subscribers: number;
  items: Held[];
  head: number;
  bytes: number;
  /** 0: every frame kept; otherwise frames in one bucket of this many ms are merged into one. */
  quantumMs: number;
  timer: TimerHandle | null;
  /** The newest tick released to subscribers (for HTTP snapshots of delayed identities). */
  released: WireEntry | undefined;
  /**
   * How merged entries collapse: quotes and trades keep the newest tick; a book keeps the net of
   * its updates (a dropped level change would corrupt a client's book); bars keep every closed
   * bar plus the newest (docs/protocol.md §17).
   */
  readonly net: (entries: readonly WireEntry[]) => WireEntry[];
}

export interface DelayedOptions {
  /** All delay lines together hold at most this many (estimated) bytes. */
  maxBytes: number;
}

/**
 * Delayed tiers: identities entitled only to delayed data get every tick `delayMs` late, from
 * the same feed. One delay line per (topic, delay), shared by every subscriber of that pair and
 * published once per frame to the tier's own uWS topics. Guarantees:
 * - memory: the lines together stay under `maxBytes` (estimated, see HELD_TICK_BYTES): each line
 *   may use maxBytes / lines. A full line conflates its frames into time buckets that double in
 *   width (each bucket keeps its last tick, and the released frame's `conflated` field says how
 *   many ticks it stands for, as conflation tiers do), instead of growing. Buckets span the whole
 *   line on purpose: folding only the oldest entries into the next one would either release a
 *   newer tick early or keep moving the head's release time back, so nothing would ever be released;
 * - never early: an entry is released at (its newest tick's arrival + delayMs) or later;
 * - release: a line is dropped, timer and all, when its last subscriber leaves;
 * - long delays re-arm their timer in chunks of at most MAX_TIMER_MS.
 * Nothing is held for topics without delayed subscribers.
 */
export class DelayedTiers {
  private readonly lines = new Map<string, DelayLine>();
  /** Topic → its lines (one per delay), so a frame touches only its own topic's lines. */
  private readonly byTopic = new Map<string, DelayLine[]>();
  private bytes = 0;
  /** Ticks merged away by conflation since start (for tests and logs). */
  conflatedTicks = 0;

  constructor(
    private readonly options: DelayedOptions,
    private readonly publish: (topic: string, delayMs: number, frame: EntriesFrame) => void,
    private readonly clock: Clock = systemClock,
    private readonly onConflating: (topic: string, delayMs: number, quantumMs: number) => void = () => {},
    /** Release timers; Node's by default (a ManualClock in tests, so a delay needs no real wait). */
    private readonly timers: Timers = systemTimers,
  ) {}

  changed(topic: string, delayMs: number, delta: number): void {
    const key = lineKey(topic, delayMs);
    let line = this.lines.get(key);
    if (!line) {
      if (delta <= 0) return;
      line = {
        topic,
        delayMs,
        subscribers: 0,
        items: [],
        head: 0,
        bytes: 0,
        quantumMs: 0,
        timer: null,
        released: undefined,
        net: netFor(topic),
      };
      this.lines.set(key, line);
      const same = this.byTopic.get(topic);
      if (same) same.push(line);
      else this.byTopic.set(topic, [line]);
      // Every line's share just shrank: trim the others now so the total bound holds at once.
      for (const other of this.lines.values()) this.fit(other);
    }
    line.subscribers += delta;
    // Dropped once the turn ends with no subscriber, so a resubscribe in the same turn (token
    // refresh re-deriving subscriptions) keeps what the line holds.
    if (line.subscribers <= 0) {
      const l = line;
      queueMicrotask(() => {
        if (l.subscribers <= 0 && this.lines.get(key) === l) this.drop(key, l);
      });
    }
  }

  get active(): boolean {
    return this.lines.size > 0;
  }

  /** Estimated bytes held by all lines. */
  get heldBytes(): number {
    return this.bytes;
  }

  get lineCount(): number {
    return this.lines.size;
  }

  /** Called per published frame while any delay line exists. */
  hold(topic: string, epoch: number, ticks: readonly WireEntry[], now = this.clock.now()): void {
    const lines = this.byTopic.get(topic);
    if (lines === undefined) return;
    for (const line of lines) {
      this.push(line, { releaseAt: now + line.delayMs, epoch, ticks: ticks.slice(), represents: ticks.length });
    }
  }

  /** The newest tick a delayed identity of `delayMs` may see on `topic` from a live line, if any. */
  released(topic: string, delayMs: number): WireEntry | undefined {
    return this.lines.get(lineKey(topic, delayMs))?.released;
  }

  private push(line: DelayLine, item: Held): void {
    const last = line.items.length > line.head ? line.items[line.items.length - 1]! : undefined;
    if (last !== undefined && line.quantumMs > 0 && bucket(last, line.quantumMs) === bucket(item, line.quantumMs)) {
      this.merge(line, last, item);
    } else {
      line.items.push(item);
      this.account(line, HELD_FRAME_BYTES + item.ticks.length * HELD_TICK_BYTES);
    }
    this.fit(line);
    if (line.timer === null) this.arm(line);
  }

  /** Folds `newer` into `into`: the net of both (line.net) and the later release time survive. */
  private merge(line: DelayLine, into: Held, newer: Held): void {
    const before = into.ticks.length;
    into.ticks = line.net(into.ticks.concat(newer.ticks));
    into.represents += newer.represents;
    into.releaseAt = newer.releaseAt;
    into.epoch = newer.epoch;
    this.conflatedTicks += before + newer.ticks.length - into.ticks.length;
    this.account(line, (into.ticks.length - before) * HELD_TICK_BYTES);
  }

  /** Conflates the line into wider buckets until it fits its share of maxBytes. */
  private fit(line: DelayLine): void {
    const share = this.options.maxBytes / Math.max(1, this.lines.size);
    while (line.bytes > share && line.items.length - line.head > 1) {
      const span = Math.max(1, line.items[line.items.length - 1]!.releaseAt - line.items[line.head]!.releaseAt);
      const entries = line.items.length - line.head;
      line.quantumMs = line.quantumMs === 0 ? Math.max(1, Math.ceil((2 * span) / entries)) : line.quantumMs * 2;
      this.onConflating(line.topic, line.delayMs, line.quantumMs);
      const kept: Held[] = [];
      for (let i = line.head; i < line.items.length; i++) {
        const item = line.items[i]!;
        const prev = kept[kept.length - 1];
        if (prev !== undefined && bucket(prev, line.quantumMs) === bucket(item, line.quantumMs)) {
          this.merge(line, prev, item);
          this.account(line, -(HELD_FRAME_BYTES + item.ticks.length * HELD_TICK_BYTES));
        } else {
          if (item.ticks.length > 1) {
            // A multi-tick frame alone in its bucket still shrinks to its net (a quote: its newest tick).
            const before = item.ticks.length;
            item.ticks = line.net(item.ticks);
            const extra = before - item.ticks.length;
            this.conflatedTicks += extra;
            this.account(line, -extra * HELD_TICK_BYTES);
          }
          kept.push(item);
        }
      }
      line.items = kept;
      line.head = 0;
    }
    // A single frame larger than the share (maxTicksPerFrame × HELD_TICK_BYTES) is kept: bounded by the frame size.
  }

  private arm(line: DelayLine): void {
    const next = line.items[line.head];
    if (!next) return;
    const wait = Math.min(MAX_TIMER_MS, Math.max(0, next.releaseAt - this.clock.now()));
    line.timer = this.timers.setTimeout(() => this.release(line), wait);
  }

  private release(line: DelayLine): void {
    line.timer = null;
    const now = this.clock.now();
    while (line.head < line.items.length && line.items[line.head]!.releaseAt <= now) {
      const item = line.items[line.head]!;
      line.items[line.head++] = undefined as unknown as Held; // let it be collected now
      this.account(line, -(HELD_FRAME_BYTES + item.ticks.length * HELD_TICK_BYTES));
      line.released = item.ticks[item.ticks.length - 1];
      const frame: EntriesFrame = { t: 'ticks', topic: line.topic, epoch: item.epoch, ticks: item.ticks };
      if (item.represents > item.ticks.length) frame.conflated = item.represents;
      this.publish(line.topic, line.delayMs, frame);
    }
    if (line.head > 1024 && line.head * 2 > line.items.length) {
      line.items = line.items.slice(line.head);
      line.head = 0;
    }
    if (line.head === line.items.length) {
      line.items = [];
      line.head = 0;
      line.quantumMs = 0; // an empty line starts again at full resolution
    }
    this.arm(line);
  }

  private account(line: DelayLine, delta: number): void {
    line.bytes += delta;
    this.bytes += delta;
  }

  private drop(key: string, line: DelayLine): void {
    if (line.timer) this.timers.clearTimeout(line.timer);
    line.timer = null;
    this.bytes -= line.bytes;
    line.bytes = 0;
    line.items = [];
    line.head = 0;
    this.lines.delete(key);
    const same = this.byTopic.get(line.topic)?.filter((l) => l !== line) ?? [];
    if (same.length > 0) this.byTopic.set(line.topic, same);
    else this.byTopic.delete(line.topic);
  }

  stop(): void {
    for (const [key, line] of this.lines) this.drop(key, line);
  }
}

const lineKey = (topic: string, delayMs: number) => `${delayMs}\u0000${topic}`;
const bucket = (item: Held, quantumMs: number) => Math.floor(item.releaseAt / quantumMs);

/**
 * The value a delayed identity may see over HTTP: the newest tick that is at least `delayMs`
 * old, from the live delay line or the bus history; undefined when none old enough is held
 * (never a fresher one).
 */
export function delayedValue(bus: TopicBus, tiers: DelayedTiers, topic: string, delayMs: number, now: number): WireEntry | undefined {
  const view = bus.topic(topic);
  const last = view?.last;
  if (view === undefined || last === undefined) return undefined;
  const cutoff = now - delayMs;
  if (view.lastUpdate <= cutoff) return last;
  const fromLine = tiers.released(topic, delayMs);
  let best: WireEntry | undefined = fromLine !== undefined && fromLine.gts <= cutoff ? fromLine : undefined;
  // The oldest afterSeq the history can still replay from: binary search (replayAfter is all-or-nothing).
  let lo = 0;
  let hi = last.seq;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (bus.replayAfter(topic, mid) === null) lo = mid + 1;
    else hi = mid;
  }
  const held = bus.replayAfter(topic, lo) ?? [];
  for (const t of held) if (t.gts <= cutoff && (best === undefined || t.seq > best.seq)) best = t;
  return best;
}

const newestOnly = (entries: readonly WireEntry[]): WireEntry[] => [entries[entries.length - 1]!];
const bookNet = (entries: readonly WireEntry[]): WireEntry[] => [mergeBookUpdates(entries)];

/** How a delay line of `topic` conflates (see DelayLine.net). */
function netFor(topic: string): (entries: readonly WireEntry[]) => WireEntry[] {
  const channel = parseTopic(topic).channel;
  if (channel === 'book') return bookNet;
  if (channel.startsWith('bar_')) return conflateBars;
  return newestOnly;
}
