import { afterAll, describe, expect, it } from 'vitest';
import { stopSharedPool } from './lib/client-pool.ts';
import { runWorkload, type ServerName, type WorkloadResult } from './lib/workload-run.ts';

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
  expect({ decodeErrors: c.decodeErrors, verifyErrors: c.verifyErrors, errorFrames: c.errorFrames, closedByServer: c.closedByServer }).toEqual({
    decodeErrors: 0,
    verifyErrors: 0,
    errorFrames: 0,
    closedByServer: 0,
  });
  expect(c.exact).toBe(true);
}

describe('bench harness smoke', () => {
  afterAll(() => stopSharedPool());

  for (const server of SERVERS) {
    it(`S1 (max rate, 10-tick frames) against ${server}: every published tick counted once`, async () => {
      const r = await runWorkload({
        server,
        clients: 12,
        topicCount: 6,
        maxTicksPerFrame: 10,
        // 25 ticks per topic per turn: frames of 10, 10 and 5, so frame splitting is exercised.
        spec: { mode: 'max', durationMs: 1500, ticksPerTopicPerTurn: 25, rate: 0, maxTurnsPerSec: 300 },
        latency: false,
        warmupMs: 0,
        clientProcs: 2,
        verify: true,
        maxBackpressureBytes: 4 * 1024 * 1024,
      });
      expectExact(r);
      expect(r.maxTicksPerFrame).toBe(10);
      expect(r.ticksPerFrame).toBeGreaterThan(1);
      expect(r.ticksPerFrame).toBeLessThanOrEqual(10);
    });

    it(`S2 (open loop, latency) against ${server}: exact counts and a latency for every timed tick`, async () => {
      const r = await runWorkload({
        server,
        clients: 12,
        topicCount: 6,
        maxTicksPerFrame: 64,
        spec: { mode: 'rate', durationMs: 1500, ticksPerTopicPerTurn: 0, rate: 2000 },
        latency: true,
        warmupMs: 200,
        clientProcs: 2,
        verify: true,
        maxBackpressureBytes: 4 * 1024 * 1024,
      });
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
});
