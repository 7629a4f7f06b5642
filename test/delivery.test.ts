import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineFeed, type FeedContext } from '../src/feed/adapter.ts';
import { createGateway } from '../src/gateway.ts';
import { quote, settle, stopAfterTest, type TestClient, useClient, useGateway, type Frame, type Started } from './helpers.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));
const client = (url: string) => useClient(url);
const seqsOf = (c: TestClient, topic: string) =>
  c.frames
    .filter((f) => (f.t === 'ticks' || f.t === 'snapshot') && f.topic === topic)
    .flatMap((f) => f.ticks.map((t: Frame) => t.seq as number));

describe('resume', () => {
  it('replays exactly the seqs missed while disconnected', async () => {
    const s = await useGateway();
    const topic = 'equity.RES.quote';
    const first = await client(s.stream);
    await first.request({ op: 'subscribe', id: 1, topics: [topic] });
    for (let i = 0; i < 40; i++) s.gw.bus.publish(quote(topic, 10 + i / 100), 'test');
    await settle(first);
    const seen = seqsOf(first, topic);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));

    s.gw.disconnectClients(1012, 'test restart');
    await first.whenClosed();
    expect(first.closeCode).toBe(1012);
    for (let i = 0; i < 25; i++) s.gw.bus.publish(quote(topic, 11 + i / 100), 'test');
    await nextTurn();

    const second = await client(s.stream);
    const ack = await second.request({ op: 'subscribe', id: 2, topics: [topic], resume: { [topic]: { epoch: s.gw.bus.epoch, seq: 40 } } });
    expect(ack.results).toEqual([{ topic, status: 'replayed', count: 25 }]);
    expect(ack.snapshots).toBe(0);
    for (let i = 0; i < 5; i++) s.gw.bus.publish(quote(topic, 12 + i / 100), 'test');
    await settle(second);
    expect(seqsOf(second, topic)).toEqual(Array.from({ length: 30 }, (_, i) => i + 41));
  });

  it('reports a gap with the missed range when the history no longer holds the position, then a snapshot', async () => {
    const s = await useGateway({ bus: { historyMaxTicks: 10 } });
    const topic = 'equity.OLD.quote';
    for (let i = 0; i < 50; i++) s.gw.bus.publish(quote(topic, 10 + i / 100), 'test');
    await nextTurn();
    const c = await client(s.stream);
    const ack = await c.request({ op: 'subscribe', id: 1, topics: [topic], resume: { [topic]: { epoch: s.gw.bus.epoch, seq: 5 } } });
    expect(ack.results).toEqual([{ topic, status: 'gap', reason: 'too_old', from: 6, to: 49 }]);
    const snap = await c.waitFor((f) => f.t === 'snapshot');
    expect(snap.ticks[0].seq).toBe(50);
  });

  it('reports a gap when the epoch changed (gateway restarted), then a snapshot', async () => {
    const s = await useGateway();
    const topic = 'fx.EURUSD.quote';
    s.gw.bus.publish(quote(topic, 1.08), 'test');
    await nextTurn();
    const c = await client(s.stream);
    const ack = await c.request({
      op: 'subscribe',
      id: 1,
      topics: [topic],
      resume: { [topic]: { epoch: s.gw.bus.epoch - 1000, seq: 900 } },
    });
    expect(ack.results).toEqual([{ topic, status: 'gap', reason: 'epoch_changed' }]);
    expect(ack.snapshots).toBe(1);
  });

  it('replays at most 10,000 ticks per request; topics past the budget get a replay_limit gap and a snapshot', async () => {
    const s = await useGateway({ bus: { historyMaxTicks: 10_000 } });
    for (let i = 0; i < 8000; i++) {
      s.gw.bus.publish(quote('equity.AAA.quote', 10 + (i % 100) / 100), 'test');
      s.gw.bus.publish(quote('equity.BBB.quote', 10 + (i % 100) / 100), 'test');
      if (i % 1000 === 0) await nextTurn();
    }
    await nextTurn();
    const c = await client(s.stream);
    const epoch = s.gw.bus.epoch;
    const ack = await c.request({
      op: 'subscribe',
      id: 1,
      topics: ['equity.AAA.quote', 'equity.BBB.quote'],
      resume: { 'equity.AAA.quote': { epoch, seq: 0 }, 'equity.BBB.quote': { epoch, seq: 0 } },
    });
    expect(ack.results).toEqual([
      { topic: 'equity.AAA.quote', status: 'replayed', count: 8000 },
      { topic: 'equity.BBB.quote', status: 'gap', reason: 'replay_limit', from: 1, to: 7999 },
    ]);
    const snap = await c.waitFor((f) => f.t === 'snapshot');
    expect(snap).toMatchObject({ topic: 'equity.BBB.quote' });
    expect(snap.ticks[0].seq).toBe(8000);
  });

  it('rejects malformed resume positions and maxRate values with an error frame', async () => {
    const s = await useGateway();
    const c = await client(s.stream);
    const bad = await c.request({
      op: 'subscribe',
      id: 1,
      topics: ['fx.EURUSD.quote'],
      resume: { 'fx.EURUSD.quote': { epoch: 'x', seq: 1 } },
    });
    expect(bad).toMatchObject({ t: 'error', code: 'TG_ERR_INVALID_REQUEST', id: 1 });
    const rate = await c.request({ op: 'subscribe', id: 2, topics: ['fx.EURUSD.quote'], maxRate: -4 });
    expect(rate).toMatchObject({ t: 'error', code: 'TG_ERR_INVALID_REQUEST', id: 2 });
  });
});

describe('max rate (conflation)', () => {
  it('maxRate 4 gets at most 4 updates/s per topic with the latest value and conflated counts, while the raw rate is over 200/s', async () => {
    const s = await useGateway();
    const topic = 'equity.FAST.quote';
    s.gw.bus.publish(quote(topic, 100), 'test');
    await nextTurn();
    const slow = await client(s.stream);
    const full = await client(s.stream);
    const ack = await slow.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'], maxRate: 4 });
    expect(ack.maxRate).toBe(4);
    await full.request({ op: 'subscribe', id: 1, topics: [topic] });

    const start = Date.now();
    let published = 1;
    const durationMs = 1600;
    while (Date.now() - start < durationMs) {
      for (let i = 0; i < 3; i++, published++) s.gw.bus.publish(quote(topic, 100 + (published % 500) / 100), 'test');
      await new Promise((r) => setTimeout(r, 5));
    }
    const elapsed = (Date.now() - start) / 1000;
    await settle(full);
    await new Promise((r) => setTimeout(r, 300)); // one more conflation period to flush the last value
    await settle(slow);

    const rawRate = (published - 1) / elapsed;
    expect(rawRate).toBeGreaterThan(200);
    expect(seqsOf(full, topic)).toHaveLength(published); // snapshot + every tick

    const frames = slow.frames.filter((f) => f.t === 'ticks' && f.topic === topic);
    expect(frames.length).toBeGreaterThanOrEqual(4);
    expect(frames.length).toBeLessThanOrEqual(Math.ceil((elapsed + 0.3) * 4) + 1);
    for (const f of frames) expect(f.ticks).toHaveLength(1);
    // Conflated counts account for every tick after the snapshot, and the last frame is the latest value.
    const snapshotSeq = slow.frames.find((f) => f.t === 'snapshot' && f.topic === topic)!.ticks[0].seq;
    const total = frames.reduce((n, f) => n + f.conflated, 0);
    expect(snapshotSeq + total).toBe(published);
    expect(frames.at(-1)!.ticks[0].seq).toBe(published);
    // seq jumps equal the conflated counts
    let prev = snapshotSeq;
    for (const f of frames) {
      expect(f.ticks[0].seq - prev).toBe(f.conflated);
      prev = f.ticks[0].seq;
    }
  });
});

describe('rate changes', () => {
  it('a held topic switched from a rate tier to every tick restarts from a snapshot, so its seq jump is explained', async () => {
    const s = await useGateway();
    const topic = 'equity.TIER.quote';
    for (let i = 0; i < 5; i++) s.gw.bus.publish(quote(topic, 10 + i), 'test');
    await nextTurn();
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: [topic], maxRate: 4 });
    for (let i = 0; i < 5; i++) s.gw.bus.publish(quote(topic, 20 + i), 'test');
    await nextTurn();
    const ack = await c.request({ op: 'subscribe', id: 2, topics: [topic] });
    expect(ack).toMatchObject({ maxRate: 0, snapshots: 1, results: [{ topic, status: 'snapshot' }] });
    const snap = await c.waitFor((f) => f.t === 'snapshot' && f.ticks[0].seq === 10);
    expect(snap.topic).toBe(topic);
  });
});

describe('slow consumers, in visible steps', () => {
  const slowConfig = {
    transport: { maxBackpressureBytes: 8 * 1024 * 1024 },
    slowConsumer: { softLimitBytes: 64 * 1024, recoverBelowBytes: 16 * 1024, maxSlowMs: 1500, checkIntervalMs: 25 },
  };
  /** This describe's gateway, for the helpers below. */
  let s: Started;

  const actions = async (action: string) => {
    const text = await (await fetch(`${s.http}/metrics`)).text();
    return Number(new RegExp(`tickgate_slow_consumer_actions_total\\{action="${action}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  };
  /** Publishes bursts on `topic` until the slow-consumer action has happened `count` times (bounded). */
  async function overloadUntil(topic: string, action: string, count = 1) {
    let n = 0;
    for (let round = 0; round < 2000; round++) {
      for (let i = 0; i < 200; i++, n++) s.gw.bus.publish(quote(topic, 100 + (n % 100) / 100), 'test');
      await new Promise((r) => setTimeout(r, 5));
      if (round % 4 === 0 && (await actions(action)) >= count) return;
    }
    throw new Error(`no ${action} after 2000 rounds`);
  }

  it('downgrades a client that stops reading, tells it, then closes it with 1008, while a normal client keeps full rate', async () => {
    s = await useGateway(slowConfig);
    const topic = 'equity.BURST.quote';
    const slow = await client(s.stream);
    const normal = await client(s.stream);
    await slow.request({ op: 'subscribe', id: 1, topics: [topic] });
    await normal.request({ op: 'subscribe', id: 1, topics: [topic] });
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    await overloadUntil(topic, 'downgrade');
    await overloadUntil(topic, 'close_timeout'); // still not reading: the time limit closes it
    socket.resume();
    await slow.whenClosed();
    expect(slow.closeCode).toBe(1008);
    expect(slow.closeReason).toMatch(/slow consumer/);
    const notice = slow.frames.find((f) => f.t === 'slow');
    expect(notice).toMatchObject({ state: 'downgraded', topics: [topic], maxRate: 1 });
    expect(await actions('close_timeout')).toBe(1);

    await settle(normal);
    const seqs = seqsOf(normal, topic);
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
    expect(seqs.length).toBe(s.gw.bus.topic(topic)!.last!.seq);
  });

  it('recovers a downgraded client once it drains: a recovered notice, a snapshot, then every tick again', async () => {
    s = await useGateway({ ...slowConfig, slowConsumer: { ...slowConfig.slowConsumer, maxSlowMs: 60_000 } });
    const topic = 'equity.WAVE.quote';
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: [topic] });
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    await overloadUntil(topic, 'downgrade');
    socket.resume();
    const recovered = await c.waitFor((f) => f.t === 'slow' && f.state === 'recovered', { timeoutMs: 10_000 });
    expect(recovered.topics).toEqual([topic]);
    const at = c.frames.indexOf(recovered);
    expect(c.frames[at + 1]).toMatchObject({ t: 'snapshot', topic });
    const snapSeq = c.frames[at + 1]!.ticks[0].seq;
    for (let i = 0; i < 10; i++) s.gw.bus.publish(quote(topic, 99), 'test');
    await settle(c);
    const after = c.frames
      .slice(at + 2)
      .filter((f) => f.t === 'ticks')
      .flatMap((f) => f.ticks.map((t: Frame) => t.seq));
    expect(after).toEqual(Array.from({ length: 10 }, (_, i) => snapSeq + 1 + i));
    expect(c.closeCode).toBeNull();
  });
});

describe('liveness', () => {
  it('a paused feed makes its topics stale, with a status frame, and they recover when it resumes', async () => {
    let control: { paused: boolean; ctx: FeedContext | null } = { paused: false, ctx: null };
    const pausable = defineFeed({
      name: 'pausable',
      description: 'emits every 10 ms unless paused',
      optionsSchema: z.object({}),
      create: () => {
        let timer: NodeJS.Timeout | null = null;
        return {
          start(ctx: FeedContext) {
            control.ctx = ctx;
            timer = setInterval(() => {
              if (!control.paused) ctx.emit(quote('equity.PAUSE.quote', 10, ctx.clock.now()));
            }, 10);
          },
          stop() {
            if (timer) clearInterval(timer);
          },
        };
      },
    });
    const gw = stopAfterTest(
      createGateway(
        {
          host: '127.0.0.1',
          port: 0,
          logLevel: 'silent',
          feeds: [{ adapter: 'pausable' }],
          liveness: { staleAfterMs: 200, checkIntervalMs: 25 },
        },
        { feedDefinitions: [pausable] as never },
      ),
    );
    const { port } = await gw.start();
    const s = { gw, port, stream: `ws://127.0.0.1:${port}/v1/stream`, http: `http://127.0.0.1:${port}` };
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.PAUSE.quote'] });
    await c.waitFor((f) => f.t === 'ticks');

    control.paused = true;
    const stale = await c.waitFor((f) => f.t === 'status');
    expect(stale).toMatchObject({ topic: 'equity.PAUSE.quote', status: 'stale', reason: 'no_ticks' });
    const listed = (await (await fetch(`${s.http}/v1/topics`)).json()) as { topics: Frame[] };
    expect(listed.topics[0]).toMatchObject({ topic: 'equity.PAUSE.quote', status: 'stale' });
    expect(listed.topics[0]!.ageMs).toBeGreaterThanOrEqual(200);

    control.paused = false;
    const live = await c.waitFor((f) => f.t === 'status' && f.status === 'live');
    expect(live.reason).toBe('recovered');

    // A failing adapter marks its topics stale at once; the restarted adapter brings them back.
    const from = c.frames.length;
    control.ctx!.fail(new Error('upstream lost'));
    const down = await c.waitFor((f) => f.t === 'status', { from });
    expect(down).toMatchObject({ status: 'stale', reason: 'feed_down' });
    const back = await c.waitFor((f) => f.t === 'status' && f.status === 'live', { from, timeoutMs: 10_000 });
    expect(back.reason).toBe('recovered');
    control = { paused: false, ctx: null };
  });
});
