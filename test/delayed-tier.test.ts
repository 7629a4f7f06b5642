import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../src/core/clock.ts';
import type { WireQuote } from '../src/core/tick.ts';
import type { TicksFrame } from '../src/protocol/frames.ts';
import { DelayedTiers, MAX_TIMER_MS } from '../src/transport/delayed.ts';
import type { Transport } from '../src/transport/server.ts';
import { quote, startGateway, TestClient, type Started } from './helpers.ts';

/** Issue 12: the delayed tier has a hard memory bound, releases memory, and survives long delays. */
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const heapAfterGc = () => {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};
const MiB = 1_048_576;

function tick(seq: number, now: number): WireQuote {
  return {
    seq,
    ts: now - 3.25,
    gts: now,
    bid: 100 + (seq % 997) / 100,
    ask: 100.01 + (seq % 997) / 100,
    bidSize: 100 + (seq % 7),
    askSize: 300,
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('DelayedTiers', () => {
  it('keeps a 15-minute delay line under its byte bound (heap measured after GC) and frees it when the last subscriber leaves', async () => {
    const clock = new ManualClock();
    const maxBytes = 8 * MiB;
    const tiers = new DelayedTiers({ maxBytes }, () => {}, clock);
    const delay = 15 * 60_000;
    const topics = ['equity.A.quote', 'equity.B.quote', 'equity.C.quote', 'equity.D.quote'];
    const before = heapAfterGc();
    for (const t of topics) tiers.changed(t, delay, 1);
    // 200,000 one-tick frames over 10 simulated minutes: unbounded, about 55 MiB.
    for (let i = 1; i <= 200_000; i++) {
      clock.advance(3);
      tiers.hold(topics[i % 4]!, 1, [tick(Math.ceil(i / 4), clock.now())]);
    }
    expect(tiers.heldBytes).toBeLessThanOrEqual(maxBytes);
    expect(tiers.conflatedTicks).toBeGreaterThan(0);
    const held = heapAfterGc() - before;
    expect(held).toBeLessThan(maxBytes * 1.1);
    for (const t of topics) tiers.changed(t, delay, -1);
    await Promise.resolve(); // lines are dropped when the turn ends with no subscriber
    expect(tiers.lineCount).toBe(0);
    expect(tiers.heldBytes).toBe(0);
    expect(heapAfterGc() - before).toBeLessThan(1 * MiB);
    tiers.stop();
  });

  it('conflates a full line into frames that say how many ticks they stand for, never early and never losing the newest', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const clock = { now: () => Date.now() };
    const frames: TicksFrame[] = [];
    const tiers = new DelayedTiers({ maxBytes: 64 * 1024 }, (_t, _d, f) => frames.push(f as TicksFrame), clock);
    const topic = 'fx.EURUSD.quote';
    tiers.changed(topic, 60_000, 1);
    const sentAt = new Map<number, number>();
    for (let seq = 1; seq <= 5000; seq++) {
      vi.advanceTimersByTime(2);
      sentAt.set(seq, Date.now());
      tiers.hold(topic, 1, [tick(seq, Date.now())]);
    }
    expect(tiers.heldBytes).toBeLessThanOrEqual(64 * 1024);
    vi.advanceTimersByTime(70_000);
    const represented = frames.reduce((n, f) => n + (f.conflated ?? f.ticks.length), 0);
    expect(represented).toBe(5000);
    expect(frames.some((f) => (f.conflated ?? 0) > 1)).toBe(true);
    expect(frames.at(-1)!.ticks.at(-1)!.seq).toBe(5000);
    const seqs = frames.flatMap((f) => f.ticks.map((t) => t.seq));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    tiers.stop();
  });

  it('waits out a delay longer than 2^31-1 ms instead of firing at once', () => {
    vi.useFakeTimers({ now: 0 });
    const frames: TicksFrame[] = [];
    const tiers = new DelayedTiers({ maxBytes: MiB }, (_t, _d, f) => frames.push(f as TicksFrame), { now: () => Date.now() });
    const delay = MAX_TIMER_MS + 1_000_000;
    tiers.changed('fx.EURUSD.quote', delay, 1);
    tiers.hold('fx.EURUSD.quote', 1, [tick(1, 0)]);
    vi.advanceTimersByTime(10);
    expect(frames).toHaveLength(0);
    vi.advanceTimersByTime(MAX_TIMER_MS);
    expect(frames).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(1_000_000);
    expect(frames).toHaveLength(1);
    tiers.stop();
  });
});

describe('delayed tier through the gateway', () => {
  let s: Started | null = null;
  afterEach(async () => {
    await s?.gw.stop();
    s = null;
  });

  it('conflates a full delay line, tells the subscriber with `conflated`, and frees the line when it leaves', async () => {
    const KEY = 'key-for-retail-web-01';
    s = await startGateway({
      auth: { enabled: true, apiKeys: [{ key: KEY, name: 'retail', topics: ['fx.*.quote'], delayMs: 300 }] },
      limits: { maxDelayedBytes: MiB },
    });
    const topic = 'fx.EURUSD.quote';
    const c = await TestClient.connect(`${s.stream}?token=${KEY}`);
    await c.request({ op: 'subscribe', id: 1, topics: [topic] });
    const stats = () => (s!.gw as unknown as { transport: Transport }).transport.delayedStats; // the gateway keeps its transport private
    for (let i = 0; i < 20_000; i++) {
      s.gw.bus.publish(quote(topic, 1 + (i % 100) / 1000), 'test');
      if (i % 64 === 63) s.gw.bus.flush();
    }
    s.gw.bus.flush();
    expect(stats().heldBytes).toBeLessThanOrEqual(MiB);
    const last = await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === 20_000, { timeoutMs: 5000 });
    expect(last).toBeDefined();
    const frames = c.frames.filter((f) => f.t === 'ticks');
    expect(frames.some((f) => f.conflated > 1)).toBe(true);
    expect(frames.reduce((n, f) => n + (f.conflated ?? f.ticks.length), 0)).toBe(20_000);
    await c.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(stats()).toEqual({ lines: 0, heldBytes: 0 });
  });
});
