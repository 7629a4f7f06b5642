import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterEach, expect, it } from 'vitest';
import { quote } from '../helpers.ts';
import { ensureStream } from '../../src/bus/nats/stream.ts';
import { Subjects } from '../../src/bus/nats/subjects.ts';
import { describeNats, natsServerBin, startIngest, startNatsGateway, uniquePrefix } from './helpers.ts';
import { startNatsCluster, type NatsClusterHandle } from './nats-server.ts';
import { WireChecker } from './wire-checker.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

/** The name of the node leading `stream` (asked of any reachable node). */
async function streamLeader(cluster: NatsClusterHandle, stream: string): Promise<string> {
  const nc = await connect({ servers: cluster.nodes.filter((n) => n.running).map((n) => n.url) });
  try {
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    return info.cluster?.leader ?? '';
  } finally {
    await nc.close();
  }
}

const TOPICS = Array.from({ length: 8 }, (_, i) => `fx.C${i}.quote`);

/**
 * Issue 13: a real 3-node cluster on loopback (routes, JetStream, the stream at replicas 3).
 * The stream leader is SIGKILLed mid-stream and later started again: every client's every seq is
 * delivered once and in order or reported; the longest pause a client sees is measured.
 */
describeNats('3-node NATS cluster', () => {
  it('killing the stream leader, which the ingest and the gateway are connected to, mid-stream leaves no silent gap', async () => {
    const cluster = await startNatsCluster(natsServerBin!, 3);
    cleanup.push(() => cluster.stop());
    const prefix = uniquePrefix();
    const stream = `S_${prefix}`;
    // The worst case: the stream is created first, then the ingest and the gateway both connect
    // to its leader (given as their only seed URL; they learn the other nodes from it), which is
    // then killed: both lose their connection while the stream elects a new leader.
    const nc = await connect({ servers: cluster.urls });
    await ensureStream(nc, new Subjects(prefix), { stream, maxAgeMs: 60_000, maxMsgsPerSubject: 1000, storage: 'file', replicas: 3 });
    await nc.close();
    const leader = await streamLeader(cluster, stream);
    const victim = cluster.nodes.find((n) => n.name === leader)!;
    expect(victim).toBeDefined();
    const setup = { url: victim.url, prefix, jetstream: true, replicas: 3 };
    const ingest = await startIngest(setup);
    cleanup.push(() => ingest.stop());
    const g = await startNatsGateway(setup);
    cleanup.push(() => g.gw.stop());
    const c = await WireChecker.connect(g.stream);
    cleanup.push(async () => c.close());
    await c.subscribe(['fx.*.quote']);
    await g.nats.settled();
    let px = 1;
    const feed = setInterval(() => {
      px += 0.0001;
      for (const t of TOPICS) ingest.bus.publish(quote(t, px), 'sim');
    }, 5);
    cleanup.push(async () => clearInterval(feed));
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) >= 50), 10_000);

    const before = c.lastSeq(TOPICS[0]!);
    await victim.kill();
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) >= before + 300), 20_000);
    await victim.start();
    await cluster.healthy();
    const back = c.lastSeq(TOPICS[0]!);
    await c.until(() => TOPICS.every((t) => c.lastSeq(t) >= back + 100), 20_000);
    clearInterval(feed);

    expect(c.violations.slice(0, 5)).toEqual([]);
    const total = c.total();
    expect(total).toMatchObject({ silentLost: 0, duplicates: 0, silentEpochChanges: 0 });
    console.log(
      `cluster leader kill: delivered ${total.delivered}, reported as gaps ${total.reportedGaps}, longest pause ${Math.round(total.longestPauseMs)} ms`,
    );
  }, 60_000);
});
