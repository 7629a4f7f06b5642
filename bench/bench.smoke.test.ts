import { afterAll, describe, expect, it } from 'vitest';
import { stopSharedPool } from './lib/client-pool.ts';
import { runWorkload, type ServerName, type WorkloadResult } from './lib/workload-run.ts';
import { watchlists } from './scenarios/s6-watchlists.ts';
import { centrifugeUnavailable } from './servers/centrifuge-build.ts';
import { topicNames } from './servers/workload.ts';

/**
 * Keeps the benchmark harness honest, never measures speed: short S1 (max rate) and S2 (open
 * loop, latency) runs with a few clients against the raw uWS baseline and tickgate, asserting
 * that every published tick was counted exactly once on every connection and that the fast
 * frame scanner agreed with a full msgpackr decode of every frame (verify mode).
 */

const SERVERS: ServerName[] = ['uws', 'tickgate'];

function expectExact(r: WorkloadResult): void {
  const c = r.correctness;
  expect(r.publishedTicks).toBeGreaterThan(0);
  expect(c.expected).toBeGreaterThan(0);
  expect({ delivered: c.delivered, missing: c.missing, gaps: c.gaps, dups: c.dups }).toEqual({
    delivered: c.expected,
    missing: 0,
    gaps: 0,
    dups: 0,
  });
  expect({
    decodeErrors: c.decodeErrors,
    verifyErrors: c.verifyErrors,
    errorFrames: c.errorFrames,
    closedByServer: c.closedByServer,
  }).toEqual({
    decodeErrors: 0,
    verifyErrors: 0,
    errorFrames: 0,
    closedByServer: 0,
  });
  expect(c.exact).toBe(true);
}

/**
 * S1 at max rate with 25 ticks per topic per turn: frames (or centrifuge publications) of 10, 10
 * and 5, so frame splitting is exercised.
 */
const S1_SMOKE = {
  clients: 12,
  topicCount: 6,
  maxTicksPerFrame: 10,
  spec: { mode: 'max', durationMs: 1500, ticksPerTopicPerTurn: 25, rate: 0, maxTurnsPerSec: 300 },
  latency: false,
  warmupMs: 0,
  clientProcs: 2,
  maxBackpressureBytes: 4 * 1024 * 1024,
} as const;

/** S2 open loop at 2,000 ticks/s with 64-tick frames; the first 200 ms are not timed. */
const S2_SMOKE = {
  clients: 12,
  topicCount: 6,
  maxTicksPerFrame: 64,
  spec: { mode: 'rate', durationMs: 1500, ticksPerTopicPerTurn: 0, rate: 2000 },
  latency: true,
  warmupMs: 200,
  clientProcs: 2,
  maxBackpressureBytes: 4 * 1024 * 1024,
} as const;

describe('bench harness smoke', () => {
  afterAll(() => stopSharedPool());

  for (const server of SERVERS) {
    it(`S1 (max rate, 10-tick frames) against ${server}: every published tick counted once`, async () => {
      const r = await runWorkload({ ...S1_SMOKE, server, verify: true });
      expectExact(r);
      expect(r.maxTicksPerFrame).toBe(10);
      expect(r.ticksPerFrame).toBeGreaterThan(1);
      expect(r.ticksPerFrame).toBeLessThanOrEqual(10);
    });

    it(`S2 (open loop, latency) against ${server}: exact counts and a latency for every timed tick`, async () => {
      const r = await runWorkload({ ...S2_SMOKE, server, verify: true });
      expectExact(r);
      const l = r.latency!;
      expect(l).not.toBeNull();
      // Ticks created in the warm-up are counted but not timed.
      expect(l.count).toBeGreaterThan(0);
      expect(l.count).toBeLessThanOrEqual(r.correctness.delivered);
      expect(l.p50).toBeGreaterThanOrEqual(0);
      expect(l.p99).toBeGreaterThanOrEqual(l.p50);
      expect(l.max).toBeGreaterThanOrEqual(l.p99);
    });
  }

  for (const server of SERVERS) {
    it(`S6 (watchlists, patterns for tickgate, primed topics) against ${server}: every tick counted once per subscription`, async () => {
      // 100 clients: 99 watchlists of 8 of 20 topics, one whole-market monitor.
      const w = watchlists(topicNames(20), 100, 8, server === 'tickgate');
      const r = await runWorkload({
        server,
        clients: w.conns.length,
        topicCount: 20,
        maxTicksPerFrame: null,
        spec: { mode: 'max', durationMs: 1000, ticksPerTopicPerTurn: 1, rate: 0, maxTurnsPerSec: 200 },
        latency: false,
        warmupMs: 0,
        clientProcs: 2,
        verify: true,
        maxBackpressureBytes: 4 * 1024 * 1024,
        conns: w.conns,
        prime: true,
        subscribeExtra: { snapshot: false },
        memorySettleMs: 0,
      });
      expectExact(r);
      expect(r.subscriptions).toBe(w.subscriptions);
      expect(r.memoryAfter!.heapUsed).toBeGreaterThan(0);
    });
  }

  // The centrifuge baseline needs Go and Debian's centrifuge sources; without them it is skipped
  // (the reason is printed). The first run builds it into bench/.cache/ (10–30 s).
  const noCentrifuge = centrifugeUnavailable();
  if (noCentrifuge) console.warn(`bench smoke: centrifuge baseline tests skipped: ${noCentrifuge}`);
  describe.skipIf(noCentrifuge !== null)('centrifuge 0.15 baseline', () => {
    it('S1 with 10-tick publications: every tick counted once, publications (not frames) counted', { timeout: 240_000 }, async () => {
      const r = await runWorkload({ ...S1_SMOKE, server: 'centrifuge', verify: false });
      expectExact(r);
      // 25 ticks per turn in publications of 10, 10 and 5.
      expect(r.ticksPerFrame).toBeGreaterThan(5);
      expect(r.ticksPerFrame).toBeLessThanOrEqual(10);
      expect(r.serverSettings.version).toMatch(/centrifuge 0\.15/);
    });

    it('S2 open loop: exact counts and a latency for every timed tick', { timeout: 240_000 }, async () => {
      const r = await runWorkload({ ...S2_SMOKE, server: 'centrifuge', verify: false });
      expectExact(r);
      const l = r.latency!;
      expect(l.count).toBeGreaterThan(0);
      expect(l.p50).toBeGreaterThanOrEqual(0);
      expect(l.p99).toBeGreaterThanOrEqual(l.p50);
      // Go's wall clock and the client's performance clock agree: no tick arrives before it was published.
      expect(l.p50).toBeLessThan(1000);
    });
  });
});
