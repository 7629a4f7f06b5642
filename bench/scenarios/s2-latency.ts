import type { LatencySummary } from '../lib/client-pool.ts';
import { finishReport, newReport, pairedRatios, runCells, serversFor, type Cell, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ms, ratio, si, withSpread } from '../lib/stats.ts';
import { runWorkload, SERVER_LABELS, SERVER_NAMES, type WorkloadResult } from '../lib/workload-run.ts';

export function latencyOf(r: WorkloadResult): LatencySummary {
  return r.latency ?? { count: 0, p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
}

export function describeLatency(r: WorkloadResult): string {
  const l = latencyOf(r);
  return `p50 ${ms(l.p50)} ms, p99 ${ms(l.p99)} ms, max ${ms(l.max)} ms over ${si(l.count)} ticks ${r.correctness.exact ? '✓' : '✗ not exact'}`;
}

const NO_BATCH = 'tickgate (maxTicksPerFrame=1)';

export async function runS2(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  const servers = serversFor(ctx, SERVER_NAMES);
  const params = {
    servers,
    clients: o.clients,
    topics: o.topics,
    rates: o.rates,
    durationSec: o.durationSec,
    warmupSec: o.warmupSec,
    maxTicksPerFrame: o.latencyTpf,
    repeats: o.repeats,
    clientProcs: o.clientProcs,
    batchingCheck: o.batchingCheck,
  };
  const report = newReport(
    ctx,
    'S2',
    'Latency',
    `${o.clients} clients on ${o.topics} topics; ticks are published open loop at a fixed rate (round-robin over topics) for ${o.durationSec} s. ` +
      'Each tick carries its scheduled send time as `ts` (its creation at the feed), so a server or publisher that falls behind shows up as latency. ' +
      'Latency = receipt time at the client − ts, both `performance.timeOrigin + performance.now()`, in an HDR histogram (1 µs … 120 s, 3 digits), ' +
      `first ${o.warmupSec} s excluded. Frames carry at most ${o.latencyTpf} ticks of one topic (ticks of a topic due in the same event-loop turn share a frame). ` +
      'The publisher spins on setImmediate to keep its schedule, so server CPU is not reported here.',
    params,
  );
  const run = (server: (typeof servers)[number], rate: number, tpf: number) =>
    runWorkload({
      server,
      clients: o.clients,
      topicCount: o.topics,
      maxTicksPerFrame: tpf,
      spec: { mode: 'rate', durationMs: o.durationSec * 1000, ticksPerTopicPerTurn: 0, rate },
      latency: true,
      warmupMs: o.warmupSec * 1000,
      clientProcs: o.clientProcs,
      verify: o.verify,
      maxBackpressureBytes: 4 * 1024 * 1024,
      verbose: o.verbose,
    });
  const cells: Cell<WorkloadResult>[] = [];
  for (const rate of o.rates) {
    const variant = `${si(rate)} ticks/s`;
    for (const server of servers) cells.push({ variant, server, run: () => run(server, rate, o.latencyTpf) });
    if (o.batchingCheck && servers.includes('tickgate') && o.latencyTpf > 1) {
      cells.push({ variant, server: 'tickgate', label: NO_BATCH, run: () => run('tickgate', rate, 1) });
    }
  }
  const outcomes = await runCells(ctx, report, cells, describeLatency);

  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  for (const out of outcomes) {
    const label = out.cell.label ?? SERVER_LABELS[out.cell.server];
    const rs = out.results.map((x) => x.value);
    if (rs.length === 0) {
      rows.push([label, out.cell.variant, '–', '–', '–', '–', '–', '–', '–', '–', out.errors[0]?.split('\n')[0]?.slice(0, 60) ?? 'failed']);
      continue;
    }
    const l = rs.map(latencyOf);
    const a = {
      p50: agg(l.map((x) => x.p50)),
      p90: agg(l.map((x) => x.p90)),
      p99: agg(l.map((x) => x.p99)),
      p999: agg(l.map((x) => x.p999)),
      max: agg(l.map((x) => x.max)),
      count: agg(l.map((x) => x.count)),
      ticksPerSec: agg(rs.map((r) => r.ticksPerSec)),
      clientCpuPct: agg(rs.map((r) => r.clientCpuPct)),
      publisherMaxLagMs: agg(rs.map((r) => r.publisherMaxLagMs)),
    };
    const exact = rs.every((r) => r.correctness.exact);
    rows.push([
      label,
      out.cell.variant,
      withSpread(a.p50, ms),
      ms(a.p90.median),
      withSpread(a.p99, ms),
      ms(a.p999.median),
      ms(a.max.median),
      si(a.count.median),
      si(a.ticksPerSec.median),
      `${fixed(a.clientCpuPct.median, 0)}%`,
      exact ? '✓' : '✗',
    ]);
    summaryRows.push({ variant: out.cell.variant, server: out.cell.server, label, exact, ...a });
  }
  report.tables.push({
    title: `S2 latency (ms, creation → receipt) — ${o.clients} clients × ${o.topics} topics, open loop, median of ${o.repeats}`,
    columns: ['server', 'rate', 'p50', 'p90', 'p99', 'p99.9', 'max', 'samples', 'delivered/s', 'client CPU', 'exact'],
    rows,
    note: 'exact ✓ = every published tick was counted exactly once on every connection.',
  });

  const ratioRows: string[][] = [];
  const summaryRatios: unknown[] = [];
  const baselines = servers.filter((s) => s !== 'tickgate');
  for (const rate of o.rates) {
    const v = `${si(rate)} ticks/s`;
    const tg = outcomes.find((x) => x.cell.variant === v && x.cell.server === 'tickgate' && !x.cell.label);
    if (!tg || tg.results.length === 0) continue;
    const row = [v];
    for (const b of baselines) {
      const bo = outcomes.find((x) => x.cell.variant === v && x.cell.server === b)!;
      const a = agg(pairedRatios(tg, bo, (r) => latencyOf(r).p99));
      const target = b === 'uws' ? ` ${a.median <= 1.2 ? '✓' : '✗'} (≤ 1.2×)` : '';
      row.push(a.n ? `${withSpread(a, ratio)}${target}` : '–');
      summaryRatios.push({ variant: v, baseline: b, p99Ratio: a });
    }
    const nb = outcomes.find((x) => x.cell.variant === v && x.cell.label === NO_BATCH);
    if (nb) {
      const deltas: number[] = [];
      for (const x of tg.results) {
        const y = nb.results.find((r) => r.repeat === x.repeat);
        if (y) deltas.push(latencyOf(x.value).p99 - latencyOf(y.value).p99);
      }
      const d = agg(deltas);
      row.push(d.n ? `${d.median >= 0 ? '+' : ''}${ms(d.median)} ms ${d.median <= 1 ? '✓' : '✗'} (≤ +1 ms)` : '–');
      summaryRatios.push({ variant: v, batchingAddsP99Ms: d });
    }
    ratioRows.push(row);
  }
  if (ratioRows.length) {
    const hasNb = outcomes.some((x) => x.cell.label === NO_BATCH);
    report.tables.push({
      title: 'S2 tickgate p99 ÷ baseline p99 (paired per repeat; lower is better)',
      columns: ['rate', ...baselines.map((b) => `vs ${SERVER_LABELS[b]}`), ...(hasNb ? ['p99 added by batching'] : [])],
      rows: ratioRows,
      note: hasNb
        ? '"added by batching" = tickgate p99 at its batching minus tickgate p99 with maxTicksPerFrame=1, same repeat.'
        : undefined,
    });
  }
  const overloaded = outcomes.filter((x) => x.results.some((r) => r.value.publisherMaxLagMs > 50));
  for (const x of overloaded) {
    const lag = Math.max(...x.results.map((r) => r.value.publisherMaxLagMs));
    report.notes.push(
      `${x.cell.label ?? SERVER_LABELS[x.cell.server]} at ${x.cell.variant}: the server's event loop fell up to ${ms(lag)} ms behind the schedule (it cannot sustain this rate); the latency shows it.`,
    );
  }
  report.summary = { rows: summaryRows, ratios: summaryRatios };
  return finishReport(report);
}
