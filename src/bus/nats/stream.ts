import {
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { systemClock, type Clock } from '../../core/clock.ts';
import type { WireTick } from '../../core/tick.ts';
import { unpackFrame } from '../../protocol/codec.ts';
import { FEED_HEADER } from './ingest-publisher.ts';
import type { Subjects } from './subjects.ts';

export interface TickStreamOptions {
  stream: string;
  maxAgeMs: number;
  maxMsgsPerSubject: number;
  storage: 'file' | 'memory';
  replicas: number;
}

/**
 * How long one JetStream API request may take. Short: while a cluster elects a new stream leader
 * requests go unanswered, and callers (stream reads holding live frames, the ingest's
 * republishing) must not wait for nats.js's 5 s default.
 */
export const JS_API_TIMEOUT_MS = 1_500;

/**
 * Creates the stream that keeps every frame published under `<prefix>.>`, or brings an existing
 * one's limits in line with the config (the storage kind of an existing stream cannot change).
 * Frames are published with core NATS publish; the stream captures them server-side.
 */
export async function ensureStream(nc: NatsConnection, subjects: Subjects, options: TickStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS });
  const limits = {
    subjects: [subjects.all],
    max_age: nanos(options.maxAgeMs),
    max_msgs_per_subject: options.maxMsgsPerSubject,
    discard: DiscardPolicy.Old,
    allow_direct: true,
    // The server refuses a duplicate window longer than max_age (the 2-minute default is).
    duplicate_window: nanos(Math.min(120_000, options.maxAgeMs)),
    num_replicas: options.replicas,
  } satisfies Partial<StreamConfig>;
  try {
    await jsm.streams.info(options.stream);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      await jsm.streams.add({
        name: options.stream,
        storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File,
        ...limits,
      });
      return;
    }
    throw err;
  }
  await jsm.streams.update(options.stream, limits);
}

/** One stored frame: its stream position, when the server stored it, and the frame bytes. */
export interface StoredFrame {
  streamSeq: number;
  /** The publishing feed's id (FEED_HEADER), or null. */
  feedId: string | null;
  storedAt: number;
  data: Uint8Array;
}

/**
 * Reads frames of one topic back from the stream (cold path: a subscribe for a topic the gateway
 * has no live state for). Works with nats-server 2.9: single-subject filters
 * (`filter_subject`), STREAM.MSG.GET for the last message per subject.
 */
export class TickStreamReader {
  private jsm: Promise<JetStreamManager> | null = null;
  private readonly js: JetStreamClient;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
    private readonly stream: string,
  ) {
    this.js = jetstream(nc, { timeout: JS_API_TIMEOUT_MS });
  }

  /** The newest stored frame of `topic`, or null when the stream holds none. */
  async last(topic: string): Promise<StoredFrame | null> {
    this.jsm ??= jetstreamManager(this.nc, { timeout: JS_API_TIMEOUT_MS });
    const jsm = await this.jsm;
    let m: Awaited<ReturnType<typeof jsm.streams.getMessage>>;
    try {
      m = await jsm.streams.getMessage(this.stream, { last_by_subj: this.subjects.of(topic) });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      throw err;
    }
    return m === null ? null : { streamSeq: m.seq, feedId: m.header?.get(FEED_HEADER) || null, storedAt: m.time.getTime(), data: m.data };
  }

  /** The first stored frame of `topic` at or after `startTime` (server time), or null (none within 250 ms). */
  async first(topic: string, startTime: number): Promise<StoredFrame | null> {
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subjects.of(topic),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(startTime).toISOString(),
    });
    try {
      const batch = await consumer.fetch({ max_messages: 1, expires: 250 });
      for await (const m of batch)
        return { streamSeq: m.seq, feedId: m.headers?.get(FEED_HEADER) || null, storedAt: m.info.timestampNanos / 1e6, data: m.data };
      return null;
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }

  /**
   * The stored frames of `topic` from `startTime` (epoch ms, server time) up to and including
   * stream position `untilSeq`, oldest first, through an ordered (ephemeral) consumer.
   * Stops early when `stop()` returns true (checked per frame).
   */
  async *range(topic: string, startTime: number, untilSeq: number, stop: () => boolean): AsyncGenerator<StoredFrame> {
    const consumer = await this.js.consumers.get(this.stream, {
      // A string, not an array: `filter_subjects` needs nats-server 2.10.
      filter_subjects: this.subjects.of(topic),
      deliver_policy: DeliverPolicy.StartTime,
      opt_start_time: new Date(startTime).toISOString(),
    });
    try {
      for (;;) {
        const batch = await consumer.fetch({ max_messages: 512, expires: 1_000 });
        let got = 0;
        for await (const m of batch) {
          got++;
          if (m.seq > untilSeq) return;
          yield { streamSeq: m.seq, feedId: m.headers?.get(FEED_HEADER) || null, storedAt: m.info.timestampNanos / 1e6, data: m.data };
          if (m.seq === untilSeq || stop()) return;
        }
        if (got === 0) return; // nothing more within the fetch expiry
      }
    } finally {
      await consumer.delete().catch(() => undefined);
    }
  }
}

/** The newest frame of every topic in the stream (an ingest continuing the stream's sequences). */
export interface StreamTail {
  /** The newest epoch among those frames; topics of older epochs are left out. */
  epoch: number;
  topics: { topic: string; feedId: string; last: WireTick }[];
}

/**
 * Reads the last frame of every subject under `<prefix>.>` with one ordered consumer
 * (`deliver_policy: last_per_subject`, nats-server 2.9) and returns the epoch and last tick per
 * topic, or null when the stream holds no frames. Bounded by `timeoutMs` (rejects after it).
 */
export async function readStreamTail(
  nc: NatsConnection,
  subjects: Subjects,
  stream: string,
  timeoutMs: number,
  clock: Clock = systemClock,
): Promise<StreamTail | null> {
  const deadline = clock.now() + timeoutMs;
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, { filter_subjects: subjects.all, deliver_policy: DeliverPolicy.LastPerSubject });
  const frames = new Map<string, { epoch: number; feedId: string; last: WireTick }>();
  try {
    let pending = (await consumer.info()).num_pending;
    while (pending > 0) {
      if (clock.now() > deadline) throw new Error(`reading the stream's last frames took over ${timeoutMs} ms`);
      const batch = await consumer.fetch({ max_messages: Math.min(pending, 1024), expires: 2_000 });
      let got = 0;
      for await (const m of batch) {
        got++;
        pending = m.info.pending;
        const frame = decodeTicks(m.data);
        if (frame === null) continue;
        frames.set(subjects.topicOf(m.subject), {
          epoch: frame.epoch,
          feedId: m.headers?.get(FEED_HEADER) || 'nats',
          last: frame.ticks[frame.ticks.length - 1]!,
        });
        if (pending === 0) break;
      }
      if (got === 0) break;
    }
  } finally {
    await consumer.delete().catch(() => undefined);
  }
  if (frames.size === 0) return null;
  let epoch = 0;
  for (const f of frames.values()) epoch = Math.max(epoch, f.epoch);
  const topics: StreamTail['topics'] = [];
  for (const [topic, f] of frames) if (f.epoch === epoch) topics.push({ topic, feedId: f.feedId, last: f.last });
  return { epoch, topics };
}

/** The epoch of the newest frame in the stream, or null (empty stream). */
export async function newestStreamEpoch(nc: NatsConnection, stream: string): Promise<number | null> {
  const jsm = await jetstreamManager(nc, { timeout: JS_API_TIMEOUT_MS });
  const info = await jsm.streams.info(stream);
  if (info.state.messages === 0) return null;
  const m = await jsm.streams.getMessage(stream, { seq: info.state.last_seq });
  return m === null ? null : (decodeTicks(m.data)?.epoch ?? null);
}

/** A `ticks` frame's epoch and ticks, or null when the bytes are not one (cold path). */
export function decodeTicks(data: Uint8Array): { epoch: number; ticks: WireTick[] } | null {
  try {
    const f = unpackFrame(data) as { t?: unknown; epoch?: unknown; ticks?: unknown };
    if (f.t !== 'ticks' || typeof f.epoch !== 'number' || !Array.isArray(f.ticks) || f.ticks.length === 0) return null;
    return { epoch: f.epoch, ticks: f.ticks as WireTick[] };
  } catch {
    return null;
  }
}
