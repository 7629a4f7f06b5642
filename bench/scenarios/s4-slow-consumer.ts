import { finishReport, newReport, runCells, serversFor, type Cell, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ms, si } from '../lib/stats.ts';
import { runWorkload, SERVER_LABELS, type ServerName, type WorkloadResult } from '../lib/workload-run.ts';
import { describeLatency, latencyOf } from './s2-latency.ts';

const DEFAULT_SERVERS: ServerName[] = ['tickgate', 'uws', 'ws'];
/** --quick keeps S4 to tickgate and its ceiling to stay inside the time budget. */
const QUICK_SERVERS: ServerName[] = ['tickgate', 'uws'];
const WITH = ' + slow consumer';

/** What happened to the slow consumer, in words. */
function fate(r: WorkloadResult): string {
  const s = r.slow[0];
  if (!s) return '–';
  const got = `got ${si(s.ticks)}/${si(s.expected)} ticks`;
  const dropped = s.gaps > 0 ? `, ${si(s.gaps)} skipped (dropped or conflated by the server)` : '';
  const closed = s.closeCode !== null ? `, closed ${s.closeCode}` : s.closedBy ? `, ${s.closedBy}` : ', still open';
  const notices = s.notices.length ? `, told: ${s.notices.join(' → ')}` : '';
  return `${got}${dropped}${notices}${closed}`;
}

export async function runS4(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  // centrifuge is an S1–S3 baseline only.
  const servers = serversFor(ctx, o.servers ? o.servers.filter((s) => s !== 'centrifuge') : o.quick ? QUICK_SERVERS : DEFAULT_SERVERS);
  const report = newReport(
    ctx,
    'S4',
    'Slow consumer',
    `The S2 workload (${o.clients} clients × ${o.topics} topics, ${si(o.s4Rate)} ticks/s open loop, ${o.s4DurationSec} s) run twice per server: ` +
      'once as is, once with one extra connection subscribed to every topic that stops reading right after its subscription ack. ' +
      "The other clients' p99 must not move. Afterwards the slow connection reads again, which shows what the server did to it " +
      `(dropped frames, downgraded or closed it, or buffered everything). tickgate runs with its own defaults (slow-consumer steps, see settings below); ` +
      `raw uWS drops frames beyond a ${si(o.s4BackpressureBytes)} B send buffer; ws and Socket.IO buffer without limit.`,
    {
      servers,
      clients: o.clients,
      topics: o.topics,
      rate: o.s4Rate,
      durationSec: o.s4DurationSec,
      backpressureBytes: o.s4BackpressureBytes,
      maxTicksPerFrame: o.latencyTpf,
      repeats: o.repeats,
    },
  );
  const run = (server: ServerName, slow: boolean) =>
    runWorkload({
      server,
      clients: o.clients,
      topicCount: o.topics,
      maxTicksPerFrame: o.latencyTpf,
      spec: { mode: 'rate', durationMs: o.s4DurationSec * 1000, ticksPerTopicPerTurn: 0, rate: o.s4Rate },
      latency: true,
      warmupMs: o.warmupSec * 1000,
      clientProcs: o.clientProcs,
      verify: o.verify,
      slowConsumers: slow ? 1 : 0,
      maxBackpressureBytes: o.s4BackpressureBytes,
      verbose: o.verbose,
    });
  const cells: Cell<WorkloadResult>[] = [];
  for (const server of servers) {
    cells.push({ variant: '', server, label: SERVER_LABELS[server], run: () => run(server, false) });
    cells.push({ variant: '', server, label: `${SERVER_LABELS[server]}${WITH}`, run: () => run(server, true) });
  }
  const outcomes = await runCells(ctx, report, cells, (r) => `${describeLatency(r)}${r.slow.length ? `; slow: ${fate(r)}` : ''}`);
  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  for (const server of servers) {
    const label = SERVER_LABELS[server];
    const base = outcomes.find((x) => x.cell.server === server && x.cell.label === label)!;
    const slow = outcomes.find((x) => x.cell.server === server && x.cell.label === `${label}${WITH}`)!;
    const deltas: number[] = [];
    const rel: number[] = [];
    for (const x of slow.results) {
      const y = base.results.find((r) => r.repeat === x.repeat);
      if (!y) continue;
      const a = latencyOf(x.value).p99;
      const b = latencyOf(y.value).p99;
      deltas.push(a - b);
      rel.push(b > 0 ? a / b : NaN);
    }
    const p99Base = agg(base.results.map((x) => latencyOf(x.value).p99));
    const p99Slow = agg(slow.results.map((x) => latencyOf(x.value).p99));
    const d = agg(deltas);
    const rr = agg(rel);
    // "Did not move": within 20% or 0.5 ms, whichever is larger (the machine's run-to-run noise is larger than either).
    const moved = d.n > 0 && d.median > Math.max(0.5, 0.2 * p99Base.median);
    const last = slow.results[slow.results.length - 1]?.value;
    const othersExact = slow.results.every((x) => x.value.correctness.exact);
    const rssGrowth = agg(
      slow.results
        .map((x) => {
          const y = base.results.find((r) => r.repeat === x.repeat);
          return y ? x.value.serverRssBytes - y.value.serverRssBytes : NaN;
        })
        .filter(Number.isFinite),
    );
    const stats = last?.serverStats ?? {};
    const after = last?.serverStatsAfter ?? {};
    const dropped = Math.max(Number(stats.droppedFrames ?? 0), Number(after.droppedFrames ?? 0));
    const serverSide = [
      'droppedFrames' in stats ? `${si(dropped)} frames dropped` : null,
      typeof stats.maxBufferedBytes === 'number' ? `buffered ${si(stats.maxBufferedBytes)} B at end` : null,
      Number.isFinite(rssGrowth.median) ? `RSS ${rssGrowth.median >= 0 ? '+' : ''}${si(rssGrowth.median)} B` : null,
      ...Object.entries(after)
        .filter(([k]) => k.startsWith('slow_'))
        .map(([k, v]) => `${k.slice(5)} ×${String(v)}`),
    ]
      .filter(Boolean)
      .join(', ');
    rows.push([
      label,
      ms(p99Base.median),
      ms(p99Slow.median),
      d.n ? `${d.median >= 0 ? '+' : ''}${ms(d.median)} (${fixed(rr.median, 2)}×)` : '–',
      d.n ? (moved ? '✗ moved' : '✓') : '–',
      othersExact ? '✓' : '✗',
      last ? fate(last) : (slow.errors[0]?.split('\n')[0]?.slice(0, 60) ?? '–'),
      serverSide || '–',
    ]);
    summaryRows.push({
      server,
      label,
      p99Base,
      p99Slow,
      deltaMs: d,
      moved,
      othersExact,
      slow: last?.slow ?? [],
      serverStats: stats,
      serverStatsAfter: after,
      rssGrowth,
    });
    if (last) report.notes.push(`${label} settings: ${JSON.stringify(last.serverSettings)}`);
    const untouched = last?.slow.every((x) => x.ticks === x.expected && x.gaps === 0 && x.closeCode === null && x.notices.length === 0);
    if (last && untouched) {
      report.notes.push(
        `${label}: the stalled reader got every tick once it read again and the server took no action: the kernel's socket buffers absorbed the backlog ` +
          `before the server's limits were reached. Run longer (e.g. --s4-duration 10) to see the server's policy act.`,
      );
    }
  }
  report.tables.push({
    title: `S4 slow consumer — others' p99 (ms) without and with one stalled reader, ${si(o.s4Rate)} ticks/s, median of ${o.repeats}`,
    columns: ['server', 'p99 alone', 'p99 with slow', 'Δ p99', 'unmoved', 'others exact', 'slow consumer', 'server side'],
    rows,
    note: '"unmoved" ✓ = Δ p99 within max(0.5 ms, 20%). "skipped" ticks are seq gaps the slow connection saw once it read again.',
  });
  report.summary = { rows: summaryRows };
  return finishReport(report);
}
