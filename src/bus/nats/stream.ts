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
import { FEED_HEADER } from './ingest-publisher.ts';
import type { Subjects } from './subjects.ts';

export interface TickStreamOptions {
  stream: string;
  maxAgeMs: number;
  maxMsgsPerSubject: number;
  storage: 'file' | 'memory';
}

/**
 * Creates the stream that keeps every frame published under `<prefix>.>`, or brings an existing
 * one's limits in line with the config (the storage kind of an existing stream cannot change).
 * Frames are published with core NATS publish; the stream captures them server-side.
 */
export async function ensureStream(nc: NatsConnection, subjects: Subjects, options: TickStreamOptions): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const limits = {
    subjects: [subjects.all],
    max_age: nanos(options.maxAgeMs),
    max_msgs_per_subject: options.maxMsgsPerSubject,
    discard: DiscardPolicy.Old,
    allow_direct: true,
    // The server refuses a duplicate window longer than max_age (the 2-minute default is).
    duplicate_window: nanos(Math.min(120_000, options.maxAgeMs)),
  } satisfies Partial<StreamConfig>;
  try {
    await jsm.streams.info(options.stream);
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
      await jsm.streams.add({ name: options.stream, storage: options.storage === 'memory' ? StorageType.Memory : StorageType.File, ...limits });
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
    this.js = jetstream(nc);
  }

  /** The newest stored frame of `topic`, or null when the stream holds none. */
  async last(topic: string): Promise<StoredFrame | null> {
    this.jsm ??= jetstreamManager(this.nc);
    const jsm = await this.jsm;
    let m;
    try {
      m = await jsm.streams.getMessage(this.stream, { last_by_subj: this.subjects.of(topic) });
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.NoMessageFound) return null;
      throw err;
    }
    return m === null ? null : { streamSeq: m.seq, feedId: m.header?.get(FEED_HEADER) || null, storedAt: m.time.getTime(), data: m.data };
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
