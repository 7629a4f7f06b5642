import { connect as natsConnect } from '@nats-io/transport-node';
import { connect, type TickgateClient } from '@tickgate/client';
import { expect, it, onTestFinished } from 'vitest';
import { packFrame } from '../../src/protocol/codec.ts';
import { quote } from '../helpers.ts';
import { describeNats, flushIngest, natsUrl, startIngest, startNatsGateway, uniquePrefix, until } from './helpers.ts';

const TOPIC = 'fx.EURUSD.quote';

/**
 * The SDK against a real gateway on NATS: the `status` frames `gap` (ticks lost upstream) and
 * `reset` (the topic's sequence starts over in a new epoch) of protocol §6.9, as §14.1 says a
 * client handles them.
 */
describeNats('SDK: status gap and reset from a gateway on NATS', () => {
  it('a gap status is one `lost` gap event with the exact range (no second `missed` gap for the jump); a reset drops the position and the new epoch is the baseline', async () => {
    const setup = { url: natsUrl!, prefix: uniquePrefix(), jetstream: false };
    const first = await startIngest(setup);
    onTestFinished(() => first.stop());
    const g = await startNatsGateway(setup);
    onTestFinished(() => g.gw.stop());

    const client: TickgateClient = connect(g.stream, { reconnect: { enabled: false } });
    onTestFinished(() => client.close());
    const log: string[] = [];
    client.on('gap', (topic, from, to, reason) => log.push(`gap ${topic} ${from}..${to} ${reason}`));
    client.on('recovered', (topic) => log.push(`recovered ${topic}`)); // gap/reset say nothing about liveness
    client.on('stale', (topic) => log.push(`stale ${topic}`));
    client.on('reset', (topic, epoch) => log.push(`reset ${topic} ${epoch === second?.bus.epoch ? 'E2' : epoch}`));
    const sub = client.subscribe(TOPIC, (tick) =>
      log.push(`tick ${tick.epoch === first.bus.epoch ? 'E1' : tick.epoch === second?.bus.epoch ? 'E2' : tick.epoch} #${tick.seq}`),
    );
    await sub.ready; // pending: no value yet
    await g.nats.settled();

    for (let i = 0; i < 3; i++) first.bus.publish(quote(TOPIC, 1 + i / 1000), 'sim');
    await flushIngest(first);
    await until(() => client.position(TOPIC)?.seq === 3, 'seqs 1..3 at the client');

    // Seqs 4..7 never reach NATS (lost upstream): the next frame the gateway relays is seq 8.
    const nc = await natsConnect({ servers: natsUrl! });
    onTestFinished(() => nc.close());
    const now = Date.now();
    const wire = { seq: 8, ts: now, gts: now, bid: 1.1, ask: 1.11, bidSize: 100, askSize: 300 };
    nc.publish(`${setup.prefix}.${TOPIC}`, packFrame({ t: 'ticks', topic: TOPIC, epoch: first.bus.epoch, ticks: [wire] }));
    await nc.flush();
    await until(() => client.position(TOPIC)?.seq === 8, 'seq 8 at the client');

    // The ingest restarts without a stream: seqs start over in a new epoch.
    await first.stop();
    let second: Awaited<ReturnType<typeof startIngest>> | undefined;
    second = await startIngest(setup);
    onTestFinished(() => second!.stop());
    for (let i = 0; i < 2; i++) second.bus.publish(quote(TOPIC, 2 + i / 1000), 'sim');
    await flushIngest(second);
    await until(
      () => client.position(TOPIC)?.epoch === second!.bus.epoch && client.position(TOPIC)?.seq === 2,
      'seqs 1..2 of the new epoch at the client',
    );

    expect(log).toEqual([
      'tick E1 #1',
      'tick E1 #2',
      'tick E1 #3',
      `gap ${TOPIC} 4..7 lost`, // before the frame that jumps over them
      'tick E1 #8',
      `reset ${TOPIC} E2`, // before the first frame of the new epoch
      'tick E2 #1',
      'tick E2 #2',
    ]);
    expect(client.stats).toMatchObject({ gaps: 1, resets: 1, duplicates: 0 });
  }, 30_000);
});
