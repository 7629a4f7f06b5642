import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';
import type { BusSink, EncodedBatch, TopicView } from '../bus.ts';
import type { NatsLink } from './link.ts';
import type { Subjects } from './subjects.ts';

/** The NATS header carrying the id of the feed that published a frame (topic views and liveness on the serve side). */
export const FEED_HEADER = 'Tickgate-Feed';

type PublishOptions = { headers: MsgHdrs };

export interface IngestCounters {
  framesOut: number;
  framesDropped: number;
}

/**
 * The ingest side of the NATS bus: the sink of the ingest process's MemoryBus. The MemoryBus has
 * already validated and stamped every tick (seq, epoch, gateway time) and encoded each frame once;
 * this forwards those bytes unchanged to `<prefix>.<topic>`, so every gateway serves identical
 * seqs and bytes. A `Tickgate-Feed` header names the feed (one header object per feed, built once).
 *
 * Guarantees: frames of one topic are published in seq order (one connection, one subject).
 * Batching: nats.js queues publishes and writes them to the socket once per microtask (or inline
 * past 32 KiB), and the MemoryBus hands over all frames of an event-loop turn together, so a turn's
 * frames leave in one or a few writes. Core publish (no JetStream ack round trip): in JetStream
 * mode the stream captures the same messages server-side.
 *
 * While NATS is unreachable, frames wait here (nats.js discards what is published while it is
 * disconnected: each reconnect attempt resets its outbound buffer), up to `maxBufferedBytes`, and
 * are published in order as soon as the connection is back, before any newer frame; frames beyond
 * the bound are dropped and counted (gateways see the hole as a seq jump, which clients are told
 * about). In JetStream mode the stream then holds them too, so gateways read back what they
 * missed. A connection that dies silently loses what was published until nats.js notices
 * (about pingInterval × 2).
 */
export class NatsIngestPublisher implements BusSink {
  /** Precomputed per topic on its first appearance (cold path). */
  private readonly subjectOf = new Map<string, string>();
  /** Publish options per feed id, built once: the header is the only per-message metadata. */
  private readonly optionsOf = new Map<string, PublishOptions>();
  /** Frames published while disconnected, oldest first, and their total size. */
  private backlog: { subject: string; data: Uint8Array; options: PublishOptions }[] = [];
  private backlogBytes = 0;

  constructor(
    private readonly link: NatsLink,
    private readonly subjects: Subjects,
    private readonly counters: IngestCounters,
    private readonly maxBufferedBytes = 16 * 1024 * 1024,
  ) {}

  /** Called by the owner when the link is up again: publishes what waited, in order. */
  reconnected(): void {
    const nc = this.link.connection;
    if (nc === null || this.backlog.length === 0) return;
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const f of backlog) nc.publish(f.subject, f.data, f.options);
    this.counters.framesOut += backlog.length;
  }

  onTopic(view: TopicView): void {
    this.subjectOf.set(view.parsed.topic, this.subjects.of(view.parsed.topic));
  }

  onBatch(batch: EncodedBatch): void {
    const nc = this.link.connection;
    if (nc === null) {
      this.counters.framesDropped++;
      return;
    }
    const topic = batch.topic.parsed.topic;
    const subject = this.subjectOf.get(topic) ?? this.subjects.of(topic);
    const options = this.optionsOf.get(batch.topic.feedId) ?? this.optionsFor(batch.topic.feedId);
    // nats.js keeps a reference until its next socket write, and `packed` may point into the
    // encoder's reused buffer: hand it a copy.
    const data = batch.packed.slice();
    if (this.link.connected) {
      nc.publish(subject, data, options);
      this.counters.framesOut++;
    } else if (this.backlogBytes + data.byteLength <= this.maxBufferedBytes) {
      this.backlog.push({ subject, data, options });
      this.backlogBytes += data.byteLength;
    } else {
      this.counters.framesDropped++;
    }
  }

  private optionsFor(feedId: string): PublishOptions {
    const headers = natsHeaders();
    headers.set(FEED_HEADER, feedId);
    const options = { headers };
    this.optionsOf.set(feedId, options);
    return options;
  }
}
