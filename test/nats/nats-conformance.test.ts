import { afterAll } from 'vitest';
import type { BusSink, PublishResult, TopicBus, TopicView } from '../../src/bus/bus.ts';
import { runBusConformance, runBusHistoryConformance, type BusFactoryOptions } from '../../src/bus/bus.conformance.ts';
import { NatsBus } from '../../src/bus/nats/nats-bus.ts';
import type { FeedTick, WireEntry } from '../../src/core/tick.ts';
import { MemoryBus } from '../../src/bus/memory-bus.ts';
import { NatsIngestPublisher } from '../../src/bus/nats/ingest-publisher.ts';
import { NatsLink } from '../../src/bus/nats/link.ts';
import { Subjects } from '../../src/bus/nats/subjects.ts';
import { createLogger } from '../../src/logger.ts';
import { describeNats, natsUrl, uniquePrefix } from './helpers.ts';

const logger = createLogger('silent');
const linkOptions = (url: string) => ({ url, reconnectTimeWaitMs: 100, reconnectJitterMs: 50, pingIntervalMs: 10_000 });

/** The ingest side as `tickgate ingest` wires it (src/ingest.ts), without feeds or HTTP. */
class IngestSide {
  readonly link: NatsLink;
  readonly publisher: NatsIngestPublisher;
  constructor(
    readonly bus: MemoryBus,
    url: string,
    prefix: string,
  ) {
    this.link = new NatsLink({ ...linkOptions(url), name: 'conformance-ingest' }, { up() {}, down() {} }, logger);
    this.publisher = new NatsIngestPublisher(this.link, new Subjects(prefix), { framesOut: 0, framesDropped: 0 });
    bus.setSink(this.publisher);
  }
  async flushNats(): Promise<void> {
    const nc = this.link.connection;
    if (nc !== null && this.link.connected) await nc.flush();
  }
}

/**
 * The TopicBus contract is one object that is published to and delivers to a sink. Over NATS
 * those are two processes: `publish` happens at ingest (its MemoryBus stamps and encodes), and
 * the sink hangs off the serving gateway's NatsBus. This adapter joins one such pair into one
 * TopicBus — publish, epoch and topicCount from the ingest side; the sink, topic views, last
 * values and resume history from the serve side, i.e. everything a client sees went through a
 * real nats-server — and passes the suite a `settle` that waits for NATS round trips instead of
 * one event-loop turn.
 */
class IngestServePair implements TopicBus {
  constructor(
    private readonly ingest: IngestSide,
    readonly serve: NatsBus,
  ) {}

  get epoch(): number {
    return this.ingest.bus.epoch;
  }

  get topicCount(): number {
    return this.ingest.bus.topicCount;
  }

  setSink(sink: BusSink): void {
    this.serve.setSink(sink);
  }

  publish(tick: FeedTick, feedId: string): PublishResult {
    return this.ingest.bus.publish(tick, feedId);
  }

  flush(): void {
    this.ingest.bus.flush();
  }

  topic(topic: string): TopicView | undefined {
    return this.serve.topic(topic);
  }

  topics(): IterableIterator<TopicView> {
    return this.serve.topics();
  }

  replayAfter(topic: string, afterSeq: number): WireEntry[] | null {
    return this.serve.replayAfter(topic, afterSeq);
  }

  /** Everything published so far has reached the serve side's sink. */
  async settle(): Promise<void> {
    await new Promise<void>((r) => setImmediate(r)); // the ingest MemoryBus flushes on the next turn
    await this.ingest.flushNats(); // ingest → server: PUBs processed, MSGs queued to the gateway
    await this.serve.settled(); // server → gateway: a PONG after those MSGs
  }

  async close(): Promise<void> {
    await this.ingest.bus.close(); // flushes pending ticks, refuses new ones
    await this.settle();
    live.delete(this);
    this.ingest.publisher.close();
    await this.ingest.link.close();
    await this.serve.close();
  }
}

const live = new Set<IngestServePair>();

async function createPair(options: BusFactoryOptions & { historyMaxTicks?: number }): Promise<TopicBus> {
  const url = natsUrl!;
  const prefix = uniquePrefix();
  const ingest = new IngestSide(
    new MemoryBus({
      clock: options.clock,
      maxTicksPerFrame: options.maxTicksPerFrame,
      ...(options.maxTopicsPerFeed === undefined ? {} : { maxTopicsPerFeed: options.maxTopicsPerFeed }),
    }),
    url,
    prefix,
  );
  ingest.link.start();
  await ingest.link.ready();
  const serve = new NatsBus({
    clock: options.clock,
    historyMaxTicks: options.historyMaxTicks ?? 1000,
    historyMaxAgeMs: 60_000,
    link: linkOptions(url),
    subjectPrefix: prefix,
    stream: null,
    logger,
    hooks: { connection() {}, streamRead() {} },
    counters: { framesIn: 0 },
  });
  serve.interest('*.*.*', true); // every topic: the suite has no clients to express interest
  serve.start();
  await serve.settled();
  const pair = new IngestServePair(ingest, serve);
  live.add(pair);
  return pair;
}

const settleAll = async () => {
  await Promise.all([...live].map((p) => p.settle()));
};

describeNats('NATS bus (ingest MemoryBus → nats-server → serving NatsBus)', () => {
  afterAll(async () => {
    await Promise.all([...live].map((p) => p.close().catch(() => undefined)));
  });
  runBusConformance('ingest → NATS → NatsBus', createPair, { settle: settleAll });
  runBusHistoryConformance('ingest → NATS → NatsBus', createPair, { settle: settleAll });
});
