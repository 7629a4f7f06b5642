import { headers as natsHeaders, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node';
import type { BusSink, EncodedBatch, TopicView } from '../bus.ts';
import type { NatsLink } from './link.ts';
import type { Subjects } from './subjects.ts';

/** The NATS header carrying the id of the feed that published a frame (topic views and liveness on the serve side). */
export const FEED_HEADER = 'Tickgate-Feed';

type PublishOptions = { headers: MsgHdrs };
interface Pending {
  subject: string;
  data: Uint8Array;
  options: PublishOptions;
}

/** Whether this process may publish now (the failover lease, src/bus/nats/lease.ts); always yes without one. */
export interface PublishGate {
  mayPublish(): boolean;
}

const alwaysOpen: PublishGate = { mayPublish: () => true };

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
 * At least once across NATS outages, within `maxBufferedBytes`: nats.js discards what it has not
 * written when a connection drops (each reconnect attempt resets its outbound buffer), and notices
 * a drop only a little after it happened. So every `confirmIntervalMs` a PING/PONG round trip
 * (`flush`) confirms the frames published before it; frames not yet confirmed when the connection
 * drops, and frames published while it is down, are published again, in order, before anything
 * newer once it is back. A frame may so reach NATS twice: gateways drop the second copy by seq.
 * Beyond `maxBufferedBytes` waiting frames are dropped and counted (gateways see the hole as a seq
 * jump, which clients are told about).
 */
export class NatsIngestPublisher implements BusSink {
  /** Precomputed per topic on its first appearance (cold path). */
  private readonly subjectOf = new Map<string, string>();
  /** Publish options per feed id, built once: the header is the only per-message metadata. */
  private readonly optionsOf = new Map<string, PublishOptions>();
  /** Published, not yet confirmed by a PONG, oldest first (append-only between confirmations). */
  private unconfirmed: Pending[] = [];
  private unconfirmedBytes = 0;
  /** Waiting for the connection, oldest first. */
  private backlog: Pending[] = [];
  private backlogBytes = 0;
  /** False from a lost connection until the owner says it is ready again (`reconnected`). */
  private online = true;
  /** Bumped on every loss: a PONG for an older connection confirms nothing. */
  private generation = 0;
  private confirming = false;
  private readonly timer: NodeJS.Timeout;
  /** Checked per frame (one compare); closed for good by fence(). */
  private gate: PublishGate = alwaysOpen;
  private fenced = false;

  constructor(
    private readonly link: NatsLink,
    private readonly subjects: Subjects,
    private readonly counters: IngestCounters,
    private readonly maxBufferedBytes = 16 * 1024 * 1024,
    confirmIntervalMs = 50,
  ) {
    this.timer = setInterval(() => this.confirm(), confirmIntervalMs);
    this.timer.unref();
  }

  /** The connection was lost: what was not confirmed waits, with everything published from now on. */
  disconnected(): void {
    this.online = false;
    this.generation++;
    this.backlog = this.unconfirmed.concat(this.backlog);
    this.backlogBytes += this.unconfirmedBytes;
    this.unconfirmed = [];
    this.unconfirmedBytes = 0;
    this.trimBacklog();
  }

  /**
   * The connection is back and ready (in JetStream mode: the stream exists again): publishes what
   * waited, in order, then publishes directly again.
   */
  reconnected(): void {
    const nc = this.link.connection;
    if (nc === null || !this.link.connected || this.fenced || !this.gate.mayPublish()) return;
    this.online = true;
    const backlog = this.backlog;
    this.backlog = [];
    this.backlogBytes = 0;
    for (const f of backlog) this.send(nc, f);
  }

  /** Frames wait (in the backlog) whenever `gate` says no; they go out once it says yes again. */
  setGate(gate: PublishGate): void {
    this.gate = gate;
  }

  /** Another process holds the lease: nothing is published any more, what waits is dropped. */
  fence(): void {
    this.fenced = true;
    this.online = false;
    this.backlog = [];
    this.backlogBytes = 0;
  }

  /** Stops the confirmation timer (the link is closed by its owner). */
  close(): void {
    clearInterval(this.timer);
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
    // encoder's reused buffer: hand it a copy (kept until confirmed).
    const frame: Pending = { subject, data: batch.packed.slice(), options };
    if (this.fenced) return;
    if (this.online && this.gate.mayPublish()) {
      this.send(nc, frame);
    } else {
      this.backlog.push(frame);
      this.backlogBytes += frame.data.byteLength;
      this.trimBacklog();
    }
  }

  private send(nc: NatsConnection, frame: Pending): void {
    nc.publish(frame.subject, frame.data, frame.options);
    this.counters.framesOut++;
    this.unconfirmed.push(frame);
    this.unconfirmedBytes += frame.data.byteLength;
    if (this.unconfirmedBytes > this.maxBufferedBytes) {
      // No PONG for that long (a silently dead connection): stop holding the oldest; they were
      // published, and most likely delivered.
      const keep = Math.floor(this.unconfirmed.length / 2);
      for (const f of this.unconfirmed.splice(0, this.unconfirmed.length - keep)) this.unconfirmedBytes -= f.data.byteLength;
    }
  }

  /** One PING/PONG at a time: when it returns, everything published before it reached the server. */
  private confirm(): void {
    // Frames that waited for the gate (a lease renewal came late) go out once it opens again.
    if (this.online && this.backlog.length > 0 && !this.fenced && this.gate.mayPublish()) this.reconnected();
    const nc = this.link.connection;
    if (nc === null || !this.online || this.confirming || this.unconfirmed.length === 0) return;
    const generation = this.generation;
    const count = this.unconfirmed.length;
    this.confirming = true;
    nc.flush().then(
      () => {
        this.confirming = false;
        if (generation !== this.generation) return;
        for (const f of this.unconfirmed.splice(0, count)) this.unconfirmedBytes -= f.data.byteLength;
      },
      () => {
        this.confirming = false; // the connection dropped: disconnected() moved them to the backlog
      },
    );
  }

  private trimBacklog(): void {
    if (this.backlogBytes <= this.maxBufferedBytes) return;
    let drop = 0;
    let bytes = this.backlogBytes;
    while (bytes > this.maxBufferedBytes && drop < this.backlog.length) bytes -= this.backlog[drop++]!.data.byteLength;
    // The oldest go: a gateway then sees one hole rather than one per topic at the end.
    this.backlog.splice(0, drop);
    this.backlogBytes = bytes;
    this.counters.framesDropped += drop;
  }

  private optionsFor(feedId: string): PublishOptions {
    const headers = natsHeaders();
    headers.set(FEED_HEADER, feedId);
    const options = { headers };
    this.optionsOf.set(feedId, options);
    return options;
  }
}
