import type { ConnSpec } from '../client/load-client.ts';
import { finishReport, newReport, pairedRatios, runCells, serversFor, type Cell, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ratio, si, withSpread } from '../lib/stats.ts';
import { runWorkload, SERVER_LABELS, type ServerName, type WorkloadResult } from '../lib/workload-run.ts';
import { topicNames } from '../servers/workload.ts';
import { describeThroughput } from './s1-throughput.ts';

/** S6 compares tickgate with raw uWS (and centrifuge when asked); the per-topic-Set baselines add nothing here. */
const S6_SERVERS: readonly ServerName[] = ['tickgate', 'uws', 'centrifuge'];
/** One client in this many watches the whole market with one pattern instead of a watchlist. */
const MONITOR_EVERY = 100;
/** Entries of a watchlist sent as one-topic patterns (`*.SYMnnn.*`) to tickgate. */
const PATTERNS_PER_WATCHLIST = 10;
/** Before the clients connect the server has run this long (memory settles, see S3). */
const MEMORY_SETTLE_MS = 8000;

/** Deterministic pseudo-random (mulberry32), so every server gets the same watchlists. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface Watchlists {
  conns: ConnSpec[];
  subscriptions: number;
  monitors: number;
  patternEntries: number;
}

/**
 * `clients` watchlists of `watch` distinct topics out of `topics` names; every MONITOR_EVERY-th
 * client subscribes to the whole market instead (`equity.*.quote`). For tickgate the monitors
 * and PATTERNS_PER_WATCHLIST entries of each watchlist go as patterns; the other servers get
 * the same subscriptions expanded to topic names (`usePatterns` false).
 */
export function watchlists(topicNames: readonly string[], clients: number, watch: number, usePatterns: boolean): Watchlists {
  const n = topicNames.length;
  const all = topicNames.map((_, i) => i);
  const conns: ConnSpec[] = [];
  let subscriptions = 0;
  let monitors = 0;
  let patternEntries = 0;
  for (let c = 0; c < clients; c++) {
    if (c % MONITOR_EVERY === MONITOR_EVERY - 1) {
      monitors++;
      subscriptions += n;
      if (usePatterns) patternEntries++;
      conns.push(usePatterns ? { topics: all, request: ['equity.*.quote'] } : { topics: all });
      continue;
    }
    // Partial Fisher–Yates: the first `watch` entries of a shuffled 0..n-1.
    const next = rng(c + 1);
    const pick = all.slice();
    const k = Math.min(watch, n);
    for (let i = 0; i < k; i++) {
      const j = i + Math.floor(next() * (n - i));
      [pick[i], pick[j]] = [pick[j]!, pick[i]!];
    }
    const topics = pick.slice(0, k);
    subscriptions += k;
    if (!usePatterns) {
      conns.push({ topics });
      continue;
    }
    // equity.SYM042.quote -> *.SYM042.* : a pattern that matches exactly that topic here.
    const request = topics.map((t, i) => (i < PATTERNS_PER_WATCHLIST ? `*.${topicNames[t]!.split('.')[1]}.*` : topicNames[t]!));
    patternEntries += Math.min(PATTERNS_PER_WATCHLIST, k);
    conns.push({ topics, request });
  }
  return { conns, subscriptions, monitors, patternEntries };
}

export async function runS6(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  const servers = serversFor(ctx, S6_SERVERS);
  const { s6Clients: clients, s6Topics: topics, s6Watch: watch } = o;
  const names = topicNames(topics);
  const sample = watchlists(names, clients, watch, true);
  const report = newReport(
    ctx,
    'S6',
    'Watchlists',
    `${clients} clients, each subscribed to ${watch} of ${topics} topics (a deterministic pseudo-random watchlist per client); ` +
      `every ${MONITOR_EVERY}th client (${sample.monitors}) watches the whole market instead. tickgate gets ${PATTERNS_PER_WATCHLIST} entries of each watchlist as one-topic patterns ` +
      '(`*.SYM042.*`) and the monitors as `equity.*.quote`; raw uWS (and centrifuge) get the same subscriptions expanded to topic names. ' +
      `${si(sample.subscriptions)} subscriptions in all. Every topic has one tick published before the clients connect (so patterns expand at subscribe time); ` +
      `subscribe requests ask for no snapshot. Memory: the server's anonymous RSS and heap (after a forced full GC, ${MEMORY_SETTLE_MS / 1000} s after start) before the clients connect ` +
      'and after every subscription is acknowledged, ÷ subscriptions (connection cost included: compare S3). Time to subscribe: first connect to last ack. ' +
      `Then the publisher runs at max rate for ${o.durationSec} s, one tick per topic per turn; delivered ticks/s counts every tick on every subscription.`,
    {
      servers,
      clients,
      topics,
      watch,
      subscriptions: sample.subscriptions,
      monitors: sample.monitors,
      patternEntries: sample.patternEntries,
      durationSec: o.durationSec,
      repeats: o.repeats,
    },
  );
  const cells: Cell<WorkloadResult>[] = servers.map((server) => ({
    variant: '',
    server,
    run: () => {
      const w = watchlists(names, clients, watch, server === 'tickgate');
      return runWorkload({
        server,
        clients,
        topicCount: topics,
        maxTicksPerFrame: null,
        spec: { mode: 'max', durationMs: o.durationSec * 1000, ticksPerTopicPerTurn: 1, rate: 0 },
        latency: false,
        warmupMs: 0,
        clientProcs: o.clientProcs,
        verify: o.verify,
        maxBackpressureBytes: 4 * 1024 * 1024,
        verbose: o.verbose,
        conns: w.conns,
        prime: true,
        subscribeExtra: { snapshot: false },
        memorySettleMs: MEMORY_SETTLE_MS,
      });
    },
  }));
  const perSub = (r: WorkloadResult, key: 'rssAnon' | 'heapUsed') =>
    r.memoryBefore && r.memoryAfter ? (r.memoryAfter[key] - r.memoryBefore[key]) / Math.max(1, r.subscriptions) : NaN;
  const outcomes = await runCells(
    ctx,
    report,
    cells,
    (r) => `${fixed(perSub(r, 'rssAnon'), 0)} B RSS/sub, subscribed in ${fixed(r.connectMs / 1000, 2)} s; ${describeThroughput(r)}`,
  );

  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  for (const out of outcomes) {
    const label = SERVER_LABELS[out.cell.server];
    const rs = out.results.map((x) => x.value);
    if (!rs.length) {
      rows.push([label, '–', '–', '–', '–', '–', '–', out.errors[0]?.split('\n')[0]?.slice(0, 60) ?? 'failed']);
      continue;
    }
    const a = {
      rssPerSubBytes: agg(rs.map((r) => perSub(r, 'rssAnon'))),
      heapPerSubBytes: agg(rs.map((r) => perSub(r, 'heapUsed'))),
      subscribeMs: agg(rs.map((r) => r.connectMs)),
      ticksPerSec: agg(rs.map((r) => r.ticksPerSec)),
      serverCpuPct: agg(rs.map((r) => r.serverCpuPct)),
    };
    const exact = rs.every((r) => r.correctness.exact);
    rows.push([
      label,
      withSpread(a.rssPerSubBytes, (x) => fixed(x, 0)),
      fixed(a.heapPerSubBytes.median, 0),
      withSpread(a.subscribeMs, (x) => fixed(x / 1000, 2)),
      withSpread(a.ticksPerSec, si),
      `${fixed(a.serverCpuPct.median, 0)}%`,
      exact ? '✓' : '✗',
      out.errors.length ? `${out.errors.length} failed` : '',
    ]);
    summaryRows.push({ server: out.cell.server, label, exact, ...a });
  }
  report.tables.push({
    title: `S6 watchlists — ${clients} clients × ${watch} of ${topics} topics (${si(sample.subscriptions)} subscriptions), median of ${o.repeats}`,
    columns: ['server', 'RSS/sub (B, anon)', 'heap/sub (B)', 'time to subscribe (s)', 'delivered ticks/s', 'server CPU', 'exact', ''],
    rows,
    note: 'exact ✓ = every tick published after the subscriptions was counted exactly once on every subscription. centrifuge’s heap is Go’s live heap.',
  });
  const tg = outcomes.find((x) => x.cell.server === 'tickgate');
  const summaryRatios: unknown[] = [];
  if (tg?.results.length) {
    const baselines = outcomes.filter((x) => x.cell.server !== 'tickgate');
    const measures: [string, (r: WorkloadResult) => number][] = [
      ['RSS per subscription (lower is better)', (r) => perSub(r, 'rssAnon')],
      ['time to subscribe (lower is better)', (r) => r.connectMs],
      ['delivered ticks/s (higher is better)', (r) => r.ticksPerSec],
    ];
    const ratioRows = measures.map(([name, metric]) => {
      const row = [name];
      for (const b of baselines) {
        const a = agg(pairedRatios(tg, b, metric));
        row.push(a.n ? withSpread(a, ratio) : '–');
        summaryRatios.push({ measure: name, baseline: b.cell.server, ratio: a });
      }
      return row;
    });
    report.tables.push({
      title: 'S6 tickgate ÷ baseline (paired per repeat)',
      columns: ['', ...baselines.map((b) => `vs ${SERVER_LABELS[b.cell.server]}`)],
      rows: ratioRows,
    });
  }
  report.summary = { rows: summaryRows, ratios: summaryRatios };
  return finishReport(report);
}
