/**
 * Faulty feed adapters are contained: garbage ticks are rejected and counted per reason, an
 * adapter that throws, rejects, fails later, hangs in start() or in stop() is restarted with
 * backoff, its topics report `stale`/`feed_down` until it is back, and other feeds' clients see
 * no gap meanwhile.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { systemClock } from '../src/core/clock.ts';
import { TICK_REJECT_REASONS, type FeedTick } from '../src/core/tick.ts';
import { defineFeed, type FeedAdapter, type FeedContext } from '../src/feed/adapter.ts';
import { FeedSupervisor, type SupervisorHooks } from '../src/feed/supervisor.ts';
import { createGateway } from '../src/gateway.ts';
import { stopAfterTest, useClient, type Frame, type TestClient } from './helpers.ts';

/** Emits a valid quote on `topic` every 5 ms, timestamps strictly increasing. */
const steadyFeed = (name: string, topic: string) =>
  defineFeed({
    name,
    description: 'well-behaved test feed',
    optionsSchema: z.object({}),
    create: (): FeedAdapter => {
      let timer: NodeJS.Timeout | null = null;
      let n = 0;
      return {
        start(ctx: FeedContext) {
          timer = setInterval(() => {
            const bid = 100 + (n++ % 50) / 100;
            ctx.emit({
              topic,
              kind: 'quote',
              ts: ctx.clock.now(),
              bid,
              ask: Math.round((bid + 0.01) * 100) / 100,
              bidSize: 100,
              askSize: 200,
            });
          }, 5);
        },
        stop() {
          if (timer) clearInterval(timer);
        },
      };
    },
  });

async function startWith(definitions: unknown[], feeds: { adapter: string }[], logger?: pino.Logger) {
  const gw = stopAfterTest(
    createGateway(
      { host: '127.0.0.1', port: 0, logLevel: 'silent', feeds, liveness: { staleAfterMs: 2000, checkIntervalMs: 25 } },
      { feedDefinitions: definitions as never, ...(logger ? { logger } : {}) },
    ),
  );
  const { port } = await gw.start();
  return { port, stream: `ws://127.0.0.1:${port}/v1/stream`, http: `http://127.0.0.1:${port}` };
}

const client = (url: string): Promise<TestClient> => useClient(url);

/** Every tick entry of `topic` (snapshots and ticks), in arrival order. */
function entries(c: TestClient, topic: string): Frame[] {
  return c.frames.filter((f) => (f.t === 'ticks' || f.t === 'snapshot') && f.topic === topic).flatMap((f) => f.ticks as Frame[]);
}

function expectConsecutive(seqs: number[]): void {
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
}

function metric(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('a feed that emits garbage', () => {
  it('has each bad tick rejected and counted by reason, its good ticks delivered, other feeds untouched, and logs rate-limited', async () => {
    const GOOD = 'equity.GARB.quote';
    const ROUNDS = 20;
    const BURST = 50_000;
    let finished = false;
    const garbage = defineFeed({
      name: 'garbage',
      description: 'emits one good tick and one bad tick per rejection reason every 5 ms',
      optionsSchema: z.object({}),
      create: (): FeedAdapter => {
        let timer: NodeJS.Timeout | null = null;
        return {
          start(ctx: FeedContext) {
            let round = 0;
            timer = setInterval(() => {
              const now = ctx.clock.now();
              const q = (over: Record<string, unknown>, topic = GOOD) =>
                ({ topic, kind: 'quote', ts: now, bid: 50, ask: 50.02, bidSize: 300, askSize: 400, ...over }) as unknown as FeedTick;
              ctx.emit(q({}));
              if (round >= ROUNDS) {
                finished = true;
                return;
              }
              round++;
              const bad: unknown[] = [
                null, // invalid_tick
                q({ topic: 'equity.bad symbol.quote' }), // invalid_topic
                q({ kind: 'candle' }), // invalid_kind ('book' is a kind now)
                { topic: GOOD, kind: 'trade', ts: now, price: 50, size: 100 }, // channel_mismatch
                q({ ts: now / 1000 }), // invalid_timestamp: seconds, not ms
                q({ ts: now - 60_000 }), // timestamp_backwards
                q({ bid: Number.NaN }), // invalid_price
                q({ bid: 50, ask: 5e9 }), // absurd_price
                q({ bidSize: -100 }), // invalid_size
                q({ askSize: 2e12 }), // absurd_size
                q({ bidSize: 0.5 }), // fractional_size
                q({ bid: 50.05, ask: 50.01 }), // crossed_quote
              ];
              for (const tick of bad) expect(ctx.emit(tick as FeedTick)).toBe(false);
              // A burst of garbage in one callback: counted exactly, cheap, logged once.
              if (round === 1) for (let i = 0; i < BURST; i++) ctx.emit(q({ bid: -i }));
            }, 5);
          },
          stop() {
            if (timer) clearInterval(timer);
          },
        };
      },
    });
    const logLines: { feed?: string; reason?: string; msg?: string }[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n')) if (line) logLines.push(JSON.parse(line) as { msg?: string });
        done();
      },
    });
    const s = await startWith(
      [garbage, steadyFeed('steady', 'equity.STEADY.quote')],
      [{ adapter: 'garbage' }, { adapter: 'steady' }],
      pino({ level: 'warn' }, sink),
    );
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.*'] });
    const deadline = Date.now() + 10_000;
    while (!finished && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(finished).toBe(true);
    await c.request({ op: 'ping', id: 2 }); // everything published so far has reached the client

    const text = await (await fetch(`${s.http}/metrics`)).text();
    const expected: Record<string, number> = {
      invalid_tick: ROUNDS,
      invalid_topic: ROUNDS,
      invalid_kind: ROUNDS,
      channel_mismatch: ROUNDS,
      invalid_timestamp: ROUNDS,
      timestamp_backwards: ROUNDS,
      invalid_price: ROUNDS + BURST,
      absurd_price: ROUNDS,
      invalid_size: ROUNDS,
      absurd_size: ROUNDS,
      fractional_size: ROUNDS,
      crossed_quote: ROUNDS,
    };
    for (const reason of TICK_REJECT_REASONS) {
      expect(metric(text, `tickgate_ticks_rejected_total{feed="garbage",reason="${reason}"}`), reason).toBe(expected[reason] ?? 0);
      expect(metric(text, `tickgate_ticks_rejected_total{feed="steady",reason="${reason}"}`), reason).toBe(0);
    }
    // Only the good tick of each round was accepted; the garbage created no topic.
    expect(metric(text, 'tickgate_ticks_in_total{feed="garbage"}')).toBeGreaterThanOrEqual(ROUNDS + 1);
    const topics = (await (await fetch(`${s.http}/v1/topics`)).json()) as { topics: { topic: string }[] };
    expect(topics.topics.map((t) => t.topic).sort()).toEqual(['equity.GARB.quote', 'equity.STEADY.quote']);

    // The client got every good tick of both feeds, seqs consecutive, every value sane.
    const garb = entries(c, GOOD);
    expectConsecutive(garb.map((t) => t.seq as number));
    for (const t of garb) expect(t).toMatchObject({ bid: 50, ask: 50.02, bidSize: 300, askSize: 400 });
    expectConsecutive(entries(c, 'equity.STEADY.quote').map((t) => t.seq as number));
    expect(c.frames.filter((f) => f.t === 'status' || f.t === 'error')).toEqual([]);

    // Logged once per feed and reason every 10 s (then only counted), not once per tick.
    const rejectLogs = logLines.filter((l) => l.msg?.startsWith('tick rejected'));
    expect([...new Set(rejectLogs.map((l) => l.reason))].sort()).toEqual(Object.keys(expected).sort());
    expect(rejectLogs.length).toBeLessThan(2 * Object.keys(expected).length); // BURST + 20 rounds × 12 ticks: ~50 000 refused
    expect(rejectLogs.every((l) => l.feed === 'garbage')).toBe(true);
  });
});

describe('a feed that fails', () => {
  it('is restarted with backoff after a throw, a rejection and ctx.fail; its topic goes stale (feed_down) and recovers; others see no gap', async () => {
    const starts: number[] = [];
    let runs = 0;
    const flaky = defineFeed({
      name: 'flaky',
      description: 'fails in every way before it settles',
      optionsSchema: z.object({}),
      create: (): FeedAdapter => {
        let timer: NodeJS.Timeout | null = null;
        return {
          start(ctx: FeedContext) {
            starts.push(Date.now());
            const run = ++runs;
            if (run === 2) throw new Error('throws in start');
            if (run === 3) return Promise.reject(new Error('rejects in start'));
            let n = 0;
            timer = setInterval(() => {
              ctx.emit({
                topic: 'equity.FLAKY.quote',
                kind: 'quote',
                ts: ctx.clock.now(),
                bid: 10,
                ask: 10.01,
                bidSize: 100,
                askSize: 100,
              });
              // Runs 1 and 4 emit a few ticks and then lose their "upstream".
              if ((run === 1 || run === 4) && ++n === 20) ctx.fail(new Error('upstream lost'));
            }, 5);
            return undefined;
          },
          stop() {
            if (timer) clearInterval(timer);
            if (runs === 4) throw new Error('stop() throws too'); // logged, not fatal
          },
        };
      },
    });
    const s = await startWith([flaky, steadyFeed('steady', 'equity.STEADY.quote')], [{ adapter: 'flaky' }, { adapter: 'steady' }]);
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });

    const down = await c.waitFor((f) => f.t === 'status' && f.topic === 'equity.FLAKY.quote' && f.reason === 'feed_down', {
      timeoutMs: 5000,
    });
    expect(down.status).toBe('stale');
    const health = (await (await fetch(`${s.http}/healthz`)).json()) as { feeds: Record<string, string> };
    expect(health.feeds.steady).toBe('running');
    // Two failures, then ctx.fail twice: run 5 streams for good.
    await c.waitFor((f) => f.t === 'status' && f.topic === 'equity.FLAKY.quote' && f.status === 'live', {
      from: c.frames.indexOf(down),
      timeoutMs: 10_000,
    });
    const deadline = Date.now() + 15_000;
    while (runs < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(5);
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.FLAKY.quote', { from: c.frames.length });

    // Backoff: every restart waited at least initialMs / 2 (full jitter over [initial/2, cap]).
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(120);
    const text = await (await fetch(`${s.http}/metrics`)).text();
    expect(metric(text, 'tickgate_feed_failures_total{feed="flaky"}')).toBe(4);
    expect(metric(text, 'tickgate_feed_restarts_total{feed="flaky"}')).toBe(4);
    expect(metric(text, 'tickgate_feed_up{feed="flaky"}')).toBe(1);
    expect(metric(text, 'tickgate_feed_failures_total{feed="steady"}')).toBe(0);

    // Seqs are the bus's: the flaky topic continues across restarts; the steady one never skipped.
    await c.request({ op: 'ping', id: 9 });
    expectConsecutive(entries(c, 'equity.FLAKY.quote').map((t) => t.seq as number));
    expectConsecutive(entries(c, 'equity.STEADY.quote').map((t) => t.seq as number));
    expect(c.frames.some((f) => f.t === 'status' && f.topic === 'equity.STEADY.quote')).toBe(false);
  });

  it('does not hold other feeds back while it hangs in start()', async () => {
    let started = 0;
    const hanging = defineFeed({
      name: 'hanging',
      description: 'start() never settles',
      optionsSchema: z.object({}),
      create: (): FeedAdapter => ({
        start() {
          started++;
          return new Promise<void>(() => {});
        },
        stop() {},
      }),
    });
    const s = await startWith([hanging, steadyFeed('steady', 'equity.STEADY.quote')], [{ adapter: 'hanging' }, { adapter: 'steady' }]);
    const c = await client(s.stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.STEADY.quote'] });
    await c.waitForCount((f) => f.t === 'ticks', 20);
    expect(started).toBe(1);
    const health = (await (await fetch(`${s.http}/healthz`)).json()) as { feeds: Record<string, string> };
    expect(health.feeds).toMatchObject({ hanging: 'starting', steady: 'running' });
    const text = await (await fetch(`${s.http}/metrics`)).text();
    expect(metric(text, 'tickgate_feed_up{feed="hanging"}')).toBe(0);
    expectConsecutive(entries(c, 'equity.STEADY.quote').map((t) => t.seq as number));
  });
});

/** The supervisor on its own, with short timeouts: hangs are timed out and retried. */
describe('FeedSupervisor with a hanging adapter', () => {
  const backoff = { initialMs: 20, maxMs: 40, resetAfterMs: 60_000, startTimeoutMs: 150, stopTimeoutMs: 150 };
  const logger = pino({ level: 'silent' });
  function hooks(events: string[]): SupervisorHooks {
    return {
      publish: () => true,
      up: (_id, up) => events.push(up ? 'up' : 'down'),
      failed: () => events.push('failed'),
      restarted: () => events.push('restarted'),
      currentInterest: () => [],
    };
  }

  it('counts a start() that never settles as a failure and starts again after a backoff', async () => {
    const events: string[] = [];
    let starts = 0;
    const adapter: FeedAdapter = {
      start() {
        starts++;
        if (starts === 1) return new Promise<void>(() => {});
        return undefined;
      },
      stop() {},
    };
    const sup = new FeedSupervisor('hang-start', adapter, hooks(events), logger, systemClock, backoff);
    sup.start();
    const deadline = Date.now() + 3000;
    while (sup.state !== 'running' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(sup.state).toBe('running');
    expect(starts).toBe(2);
    expect(sup.lastError).toBeNull();
    expect(events).toEqual(['failed', 'down', 'restarted', 'up']);
    await sup.stop();
  });

  it('restarts an adapter whose stop() never settles, and shuts down anyway', async () => {
    const events: string[] = [];
    let starts = 0;
    let fail: ((err: unknown) => void) | null = null;
    const adapter: FeedAdapter = {
      start(ctx: FeedContext) {
        starts++;
        fail = (err) => ctx.fail(err);
      },
      stop() {
        return new Promise<void>(() => {}); // never settles
      },
    };
    const sup = new FeedSupervisor('hang-stop', adapter, hooks(events), logger, systemClock, backoff);
    sup.start();
    await new Promise((r) => setTimeout(r, 20));
    expect(sup.state).toBe('running');
    fail!(new Error('upstream lost'));
    const deadline = Date.now() + 3000;
    while (starts < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    expect(starts).toBe(2); // restarted although the first run's stop() still hangs
    const t0 = Date.now();
    await sup.stop(); // bounded by stopTimeoutMs, not forever
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(sup.state).toBe('stopped');
  });
});
