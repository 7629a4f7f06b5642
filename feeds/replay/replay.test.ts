import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/core/clock.ts';
import type { FeedTick } from '../../src/core/tick.ts';
import { readAllTicks } from '../../src/record/reader.ts';
import { collectingContext, type CollectingContext } from '../shared/testing.ts';
import { replayFeed, replayOptionsSchema, type ReplayAdapter } from './index.ts';
import { SAMPLE_PATH, SAMPLE_SECONDS, sampleTicks } from './make-sample.ts';

const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tickgate-replay-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Ctx extends CollectingContext {
  /** ctx.clock time at each emit. */
  emittedAt: number[];
  infos: object[];
  /** Resolves once `pred` holds (checked after every emit and log line); rejects after `timeoutMs`. */
  until(pred: number | (() => boolean), timeoutMs?: number): Promise<void>;
}

/** A collecting context that also records when each tick was emitted and can be awaited. */
function context(clock: Clock = systemClock, onEmit?: (ctx: Ctx) => void): Ctx {
  const base = collectingContext(clock);
  const emittedAt: number[] = [];
  const infos: object[] = [];
  let waiters: (() => void)[] = [];
  const wake = () => {
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const ctx: Ctx = {
    ...base,
    logger: {
      ...base.logger,
      info: (obj) => {
        infos.push(obj);
        wake();
      },
      warn: (obj) => {
        base.warnings.push(obj);
        wake();
      },
    },
    emittedAt,
    infos,
    emit(tick) {
      if (tick.kind === 'quote' || tick.kind === 'trade') base.ticks.push(tick);
      emittedAt.push(clock.now());
      onEmit?.(ctx);
      wake();
      return true;
    },
    async until(pred, timeoutMs = 5000) {
      const done = typeof pred === 'number' ? () => base.ticks.length >= pred : pred;
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        const left = deadline - Date.now();
        if (left <= 0)
          throw new Error(`timed out with ${base.ticks.length} ticks, ${infos.length} infos, ${base.warnings.length} warnings`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
  return ctx;
}

function create(options: Record<string, unknown>): ReplayAdapter {
  return replayFeed.create(replayOptionsSchema.parse(options)) as ReplayAdapter;
}

const payload = ({ ts: _ts, ...rest }: FeedTick) => rest;

describe('replay options', () => {
  it('defaults, resolves paths, expands directories in name order, and explains bad values', () => {
    const o = replayOptionsSchema.parse({ file: 'feeds/replay/fixtures/sample.csv' });
    expect(o).toEqual({ files: [fixture('sample.csv')], format: 'auto', speed: 1, loop: false, burstSize: 1000, maxGapMs: undefined });
    expect(replayOptionsSchema.parse({ file: fixture(''), speed: 'max' }).files).toEqual([
      fixture('sample.csv'),
      fixture('sample.ndjson'),
      fixture('sim-15s.msgpack.gz'),
    ]);
    const missing = replayOptionsSchema.safeParse({ file: ['feeds/replay/fixtures/sample.csv', 'nope.msgpack'] });
    expect(missing.error?.issues[0]).toMatchObject({ path: ['file', 1] });
    expect(missing.error?.issues[0]?.message).toMatch(
      /^cannot read .*nope\.msgpack: ENOENT \(relative paths start at the current directory/,
    );
    expect(replayOptionsSchema.safeParse({ file: 'x', speed: 0 }).error?.issues[0]?.message).toMatch(/positive number .* or "max"/);
    expect(replayOptionsSchema.safeParse({ file: fixture('sample.csv'), sped: 2 }).success).toBe(false);
  });
});

describe('replay adapter', () => {
  it('the checked-in sample is 15 s of the simulators, as make-sample.ts writes it', async () => {
    const ticks = await readAllTicks(SAMPLE_PATH);
    expect(ticks).toEqual(sampleTicks());
    expect(ticks.length).toBeGreaterThan(4000);
    expect(ticks.at(-1)!.ts - ticks[0]!.ts).toBeGreaterThan((SAMPLE_SECONDS - 0.2) * 1000);
    expect(readFileSync(SAMPLE_PATH).length).toBeLessThan(300 * 1024);
    expect(new Set(ticks.map((t) => t.topic.split('.')[0]))).toEqual(new Set(['equity', 'fx']));
  });

  it('keeps the recorded spacing at N× speed: ts_i = start + (recorded_i − recorded_0) / speed, never emitted early', async () => {
    const recorded = await readAllTicks(SAMPLE_PATH);
    const speed = 50; // 15 s in 0.3 s
    const ctx = context();
    const adapter = create({ file: SAMPLE_PATH, speed });
    const t0 = performance.now();
    adapter.start(ctx);
    await ctx.until(recorded.length);
    const elapsed = performance.now() - t0;
    await ctx.until(() => ctx.infos.length > 0); // 'replay finished'
    await adapter.stop();
    expect(ctx.ticks.map(payload)).toEqual(recorded.map(payload));
    const start = ctx.ticks[0]!.ts;
    const bad = ctx.ticks.filter((t, i) => Math.abs(t.ts - start - (recorded[i]!.ts - recorded[0]!.ts) / speed) > 1e-3);
    expect(bad).toEqual([]);
    // Emitted at or after its due time (the clock is the same one that stamps them).
    expect(ctx.ticks.filter((t, i) => ctx.emittedAt[i]! < t.ts)).toEqual([]);
    const span = (recorded.at(-1)!.ts - recorded[0]!.ts) / speed;
    expect(elapsed).toBeGreaterThanOrEqual(span - 1);
    expect(elapsed).toBeLessThan(span + 1500);
    expect(adapter.stats()).toMatchObject({ emitted: recorded.length, passes: 1, skipped: 0 });
    expect(ctx.infos).toContainEqual(expect.objectContaining({ emitted: recorded.length, passes: 1 }));
  });

  it('replays as fast as possible in bounded bursts, yielding to the event loop between them', async () => {
    const recorded = await readAllTicks(SAMPLE_PATH);
    const burstSize = 200;
    let turn = 0;
    const perTurn = new Map<number, number>();
    let ticking = true;
    const tick = () => {
      turn++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const ctx = context(systemClock, () => perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1));
    const adapter = create({ file: SAMPLE_PATH, speed: 'max', burstSize });
    adapter.start(ctx);
    await ctx.until(recorded.length);
    ticking = false;
    await adapter.stop();
    expect(ctx.ticks.map(payload)).toEqual(recorded.map(payload));
    // Other callbacks ran many times during the replay, and no turn held much more than a burst.
    expect(perTurn.size).toBeGreaterThanOrEqual(Math.floor(recorded.length / (2 * burstSize)));
    expect(Math.max(...perTurn.values())).toBeLessThanOrEqual(2 * burstSize);
    // ts is the clock at emission: non-decreasing.
    expect(ctx.ticks.every((t, i) => i === 0 || t.ts >= ctx.ticks[i - 1]!.ts)).toBe(true);
  });

  it('loops with increasing timestamps across passes, and shortens long gaps with maxGapMs', async () => {
    const csv = fixture('sample.csv');
    const recorded = await readAllTicks(csv); // 5 ticks over 250 ms
    const ctx = context();
    const adapter = create({ file: csv, speed: 10, loop: true });
    adapter.start(ctx);
    await ctx.until(15);
    await adapter.stop();
    expect(ctx.ticks.slice(0, 15).map(payload)).toEqual([...recorded, ...recorded, ...recorded].map(payload));
    expect(ctx.ticks.every((t, i) => i === 0 || t.ts >= ctx.ticks[i - 1]!.ts)).toBe(true);
    expect(adapter.stats().passes).toBeGreaterThanOrEqual(2);

    // Recordings are ordered per topic, not across topics: looping keeps each topic's ts increasing.
    const skewed = join(dir, 'skewed.ndjson');
    const q = (topic: string, dt: number) =>
      JSON.stringify({ topic, ts: 1_767_364_200_000 + dt, bid: 1, ask: 1.0001, bidSize: 1, askSize: 1 });
    writeFileSync(
      skewed,
      [q('fx.EURUSD.quote', 10), q('fx.GBPUSD.quote', 0), q('fx.EURUSD.quote', 20), q('fx.GBPUSD.quote', 12)].join('\n'),
    );
    const k = context();
    const looping = create({ file: skewed, speed: 4, loop: true });
    looping.start(k);
    await k.until(12);
    await looping.stop();
    for (const topic of ['fx.EURUSD.quote', 'fx.GBPUSD.quote']) {
      const ts = k.ticks.filter((t) => t.topic === topic).map((t) => t.ts);
      expect(
        ts.every((t, i) => i === 0 || t > ts[i - 1]!),
        `${topic}: ${ts.join(', ')}`,
      ).toBe(true);
    }

    // A recording with an hour's pause: cut to 20 ms.
    const gap = join(dir, 'gap.ndjson');
    writeFileSync(
      gap,
      [0, 1, 3_600_001]
        .map((dt) => JSON.stringify({ topic: 'fx.EURUSD.quote', ts: 1_767_364_200_000 + dt, bid: 1, ask: 1.0001, bidSize: 1, askSize: 1 }))
        .join('\n'),
    );
    const g = context();
    const t0 = performance.now();
    const gapped = create({ file: gap, maxGapMs: 20 });
    gapped.start(g);
    await g.until(3);
    await gapped.stop();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(g.ticks[1]!.ts - g.ticks[0]!.ts).toBeCloseTo(1, 6);
    expect(g.ticks[2]!.ts - g.ticks[1]!.ts).toBeCloseTo(20, 6);
  });

  it('a restarted run continues after the last tick emitted; stop() and abort end emission at once', async () => {
    const recorded = await readAllTicks(SAMPLE_PATH);
    const adapter = create({ file: SAMPLE_PATH, speed: 'max', burstSize: 50 });
    const first = context(systemClock, (c) => {
      if (c.ticks.length === 1234) c.controller.abort();
    });
    adapter.start(first);
    await first.until(1234);
    await adapter.stop();
    expect(first.ticks).toHaveLength(1234);
    const second = context();
    adapter.start(second);
    await second.until(recorded.length - 1234);
    await adapter.stop();
    expect([...first.ticks, ...second.ticks].map(payload)).toEqual(recorded.map(payload));
    expect(() => adapter.start(context())).not.toThrow();
    await adapter.stop();
  });

  it('fails start() for an unreadable file, and logs (not fails) invalid or truncated data', async () => {
    const gone = join(dir, 'gone.csv');
    writeFileSync(gone, 'ts,topic,price,size\n');
    const adapter = create({ file: gone });
    rmSync(gone);
    expect(() => adapter.start(context())).toThrow(/cannot read .*gone\.csv: ENOENT/);

    const bytes = readFileSync(SAMPLE_PATH);
    const cut = join(dir, 'cut.msgpack.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const ctx = context();
    const truncated = create({ file: cut, speed: 'max' });
    truncated.start(ctx);
    await ctx.until(() => ctx.infos.length > 0);
    await truncated.stop();
    expect(ctx.failures).toEqual([]);
    expect(ctx.warnings).toContainEqual(expect.objectContaining({ kind: 'truncated' }));
    expect(truncated.stats().skipped).toBe(1);

    // Nothing valid to replay: looping must not spin.
    const empty = join(dir, 'empty.ndjson');
    writeFileSync(empty, 'garbage\n');
    const e = context();
    const idle = create({ file: empty, loop: true, speed: 'max' });
    idle.start(e);
    await e.until(() => e.warnings.some((w) => 'files' in w));
    await idle.stop();
    expect(idle.stats()).toMatchObject({ emitted: 0, passes: 1 });
  });
});
