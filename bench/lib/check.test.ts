import { describe, expect, it } from 'vitest';
import { checkReports, checkTable, verdictOf } from './check.ts';
import type { ScenarioReport } from './report.ts';
import { agg } from './stats.ts';

function report(
  scenario: string,
  runs: { variant: string; server: string; label?: string; repeat: number; result: Record<string, unknown> }[],
): ScenarioReport {
  return { scenario, runs: runs.map((r) => ({ label: r.server, ...r })) } as unknown as ScenarioReport;
}

describe('bench --check', () => {
  it('a verdict needs every repeat on one side of the target; straddling is inconclusive', () => {
    expect(verdictOf(agg([0.96, 0.97, 1.0]), '>=', 0.95)).toBe('met');
    expect(verdictOf(agg([0.8, 0.85, 0.9]), '>=', 0.95)).toBe('missed');
    expect(verdictOf(agg([0.9, 0.96, 1.0]), '>=', 0.95)).toBe('inconclusive');
    expect(verdictOf(agg([1.1, 1.3]), '<=', 1.2)).toBe('inconclusive');
    expect(verdictOf(agg([]), '<=', 1.2)).toBe('no data');
  });

  it('pairs tickgate with raw uWS per repeat and ignores S2’s unbatched tickgate cell', () => {
    const s1 = report('S1', [
      { variant: 'tpf=1', server: 'tickgate', repeat: 0, result: { ticksPerSec: 90 } },
      { variant: 'tpf=1', server: 'uws', repeat: 0, result: { ticksPerSec: 100 } },
      { variant: 'tpf=1', server: 'tickgate', repeat: 1, result: { ticksPerSec: 99 } },
      { variant: 'tpf=1', server: 'uws', repeat: 1, result: { ticksPerSec: 100, otherLoadPct: 45 } },
      // a repeat where raw uWS failed has no pair
      { variant: 'tpf=1', server: 'tickgate', repeat: 2, result: { ticksPerSec: 10 } },
    ]);
    const s2 = report('S2', [
      { variant: '2.00k ticks/s', server: 'tickgate', repeat: 0, result: { latency: { p99: 1 } } },
      {
        variant: '2.00k ticks/s',
        server: 'tickgate',
        label: 'tickgate (maxTicksPerFrame=1)',
        repeat: 0,
        result: { latency: { p99: 100 } },
      },
      { variant: '2.00k ticks/s', server: 'uws', repeat: 0, result: { latency: { p99: 1 } } },
    ]);
    const s3 = report('S3', [
      { variant: '2500 conns', server: 'tickgate', repeat: 0, result: { rssPerConnBytes: 3000, heapPerConnBytes: 512, connsPerSec: 900 } },
      { variant: '2500 conns', server: 'uws', repeat: 0, result: { rssPerConnBytes: 1000, heapPerConnBytes: 10, connsPerSec: 1000 } },
      {
        variant: '10000 conns',
        server: 'tickgate',
        repeat: 0,
        result: { rssPerConnBytes: 1400, heapPerConnBytes: 100, connsPerSec: 1000 },
      },
      { variant: '10000 conns', server: 'uws', repeat: 0, result: { rssPerConnBytes: 1000, heapPerConnBytes: 10, connsPerSec: 1000 } },
    ]);
    const rows = checkReports([s1, s2, s3]);
    const by = (id: string) => rows.find((r) => r.target.id === id)!;
    expect(by('S1 tpf=1').values.n).toBe(2);
    expect(by('S1 tpf=1').values.min).toBeCloseTo(0.9);
    expect(by('S1 tpf=1').verdict).toBe('inconclusive');
    expect(by('S1 tpf=10').verdict).toBe('no data');
    expect(by('S2 2k').values.median).toBe(1);
    expect(by('S2 2k').verdict).toBe('met');
    expect(by('S2 10k').verdict).toBe('no data');
    // The sweep step closest to 10,000 connections is the one checked.
    expect(by('S3 rss').variant).toBe('10000 conns');
    expect(by('S3 rss').values.median).toBeCloseTo(1.4);
    expect(by('S3 heap').values.median).toBeCloseTo(100 / 1024);
    expect(by('S3 heap').verdict).toBe('met');
    expect(by('S3 conn/s').verdict).toBe('met');
    const table = checkTable(rows);
    expect(table.rows).toHaveLength(7);
    expect(table.rows[0]!.at(-1)).toBe('? inconclusive (2 repeats: spread unknown, 1 noisy)');
    expect(table.rows[1]!.at(-1)).toBe('– no data');
    expect(table.rows[2]!.at(-1)).toBe('✓ met (1 repeat: spread unknown)');
    expect(table.rows[0]![4]).toBe('±5%');
  });
});
