/**
 * Test doubles for the transport's unit tests (*.test.ts beside each collaborator): a fake uWS
 * socket that decodes what it is sent, and a real MemoryBus on a ManualClock. Not used by the
 * gateway itself.
 */
import { Identity } from '../auth/identity.ts';
import type { BusSink, EncodedBatch, TopicView } from '../bus/bus.ts';
import { MemoryBus } from '../bus/memory-bus.ts';
import { ManualClock } from '../core/clock.ts';
import type { FeedTick } from '../core/tick.ts';
import { createMetrics } from '../metrics/metrics.ts';
import { unpackFrame } from '../protocol/codec.ts';
import type { WireFormat } from '../protocol/frames.ts';
import { Session, type Socket } from './session.ts';

// biome-ignore lint/suspicious/noExplicitAny: decoded JSON/MessagePack read field by field in assertions
export type Frame = Record<string, any>;

/** The parts of a uWS WebSocket the transport calls, recording what happens. */
export class FakeSocket {
  readonly frames: Frame[] = [];
  readonly topics = new Set<string>();
  ended: { code: number; reason: string } | null = null;
  bufferedAmount = 0;

  constructor(readonly session: Session) {}

  static open(format: WireFormat = 'msgpack', identity = Identity.anonymous(), id = 1): FakeSocket {
    return new FakeSocket(new Session(id, format, '127.0.0.1', identity));
  }

  /** Typed as the uWS socket for code under test; only the methods below exist. */
  get ws(): Socket {
    return this as unknown as Socket;
  }

  getUserData(): Session {
    return this.session;
  }

  send(message: Uint8Array | string, isBinary: boolean): number {
    this.frames.push((isBinary ? unpackFrame(message as Uint8Array) : JSON.parse(message as string)) as Frame);
    return 1;
  }

  cork(fn: () => void): this {
    fn();
    return this;
  }

  end(code: number, reason: string): void {
    this.ended = { code, reason };
  }

  subscribe(topic: string): boolean {
    this.topics.add(topic);
    return true;
  }

  unsubscribe(topic: string): boolean {
    return this.topics.delete(topic);
  }

  getBufferedAmount(): number {
    return this.bufferedAmount;
  }

  /** Frames of type `t`, in arrival order. */
  of(t: string): Frame[] {
    return this.frames.filter((f) => f.t === t);
  }
}

/** Records what a bus hands its sink. */
export class RecordingSink implements BusSink {
  readonly topics: TopicView[] = [];
  readonly batches: { topic: string; seqs: number[] }[] = [];
  onTopic(view: TopicView): void {
    this.topics.push(view);
  }
  onBatch(batch: EncodedBatch): void {
    this.batches.push({ topic: batch.topic.parsed.topic, seqs: batch.ticks.map((t) => t.seq) });
  }
}

/** A MemoryBus on a ManualClock with a recording sink, and a helper to publish quotes. */
export function testBus(options: { historyMaxTicks?: number } = {}) {
  const clock = new ManualClock();
  const bus = new MemoryBus({ clock, maxTicksPerFrame: 64, epoch: 7, ...options });
  const sink = new RecordingSink();
  bus.setSink(sink);
  const publish = (topic: string, bid: number): void => {
    const tick: FeedTick = { topic, kind: 'quote', ts: clock.now(), bid, ask: bid + 0.01, bidSize: 100, askSize: 100 };
    const result = bus.publish(tick, 'test');
    if (!result.ok) throw new Error(`tick rejected: ${result.reason}`);
    bus.flush();
  };
  return { clock, bus, sink, publish };
}

export function testMetrics() {
  return createMetrics(undefined, { processMetrics: false });
}

/** The value of a prom-client counter or gauge for one label set (0 when never set). */
export async function metricValue(
  metric: { get(): Promise<{ values: { labels: object; value: number }[] }> },
  labels: Record<string, string> = {},
): Promise<number> {
  const { values } = await metric.get();
  const match = values.find((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val));
  return match?.value ?? 0;
}
