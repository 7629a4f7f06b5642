import { finishReport, newReport, pairedRatios, runCells, serversFor, type Cell, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ratio, si, withSpread } from '../lib/stats.ts';
import { runWorkload, SERVER_LABELS, SERVER_NAMES, type WorkloadResult } from '../lib/workload-run.ts';

/** Targets from the issues (raw uWS: issue 16's ≥ 0.95×; ws and Socket.IO: an earlier issue's); reported, never asserted (centrifuge has none: the table shows by how much). */
const TARGETS: Partial<Record<string, { min: number; text: string }>> = {
  uws: { min: 0.95, text: '≥ 0.95×' },
  ws: { min: 10, text: '≥ 10×' },
  socketio: { min: 30, text: '≥ 30×' },
};
const DEFAULT_BATCHING_TARGET = 5e6;

function check(r: WorkloadResult): string {
  const c = r.correctness;
  if (c.exact) return '✓';
  const bits = [];
  if (c.missing) bits.push(`${si(c.missing)} missing`);
  if (c.gaps) bits.push(`${si(c.gaps)} gaps`);
  if (c.dups) bits.push(`${si(c.dups)} dups`);
  if (c.decodeErrors) bits.push(`${c.decodeErrors} decode errors`);
  if (c.verifyErrors) bits.push(`${c.verifyErrors} verify errors`);
  if (c.closedByServer) bits.push(`${c.closedByServer} closed`);
  if (c.delivered !== c.expected && bits.length === 0) bits.push(`${si(c.delivered)}/${si(c.expected)}`);
  return `✗ ${bits.join(', ')}`;
}

/**
 * What limited a run: the server process (a core busy), a load-client process (≥ 85% of a core:
 * the harness itself was the ceiling), or the machine (both cores busy between them).
 */
export function boundBy(r: WorkloadResult): string {
  if (r.clientCpuMaxPct >= 85) return 'client ⚠';
  if (r.serverCpuPct >= 85) return 'server';
  if (r.machine && r.machine.busyPct >= 95) return 'machine';
  return '–';
}

export function describeThroughput(r: WorkloadResult): string {
  return `${si(r.ticksPerSec)} ticks/s, ${si(r.framesPerSec)} frames/s, server CPU ${fixed(r.serverCpuPct, 0)}%, client CPU ${fixed(r.clientCpuPct, 0)}% ${check(r)}`;
}

export async function runS1(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  const servers = serversFor(ctx, SERVER_NAMES);
  const maxTpf = Math.max(...o.tpf);
  const params = {
    servers,
    clients: o.clients,
    topics: o.topics,
    durationSec: o.durationSec,
    repeats: o.repeats,
    ticksPerFrame: o.tpf,
    framesPerTopicPerTurn: o.framesPerTurn,
    clientProcs: o.clientProcs,
    verify: o.verify,
  };
  const report = newReport(
    ctx,
    'S1',
    'Throughput',
    `${o.clients} clients, each subscribed to one of ${o.topics} topics; the publisher runs as fast as each server's event loop allows ` +
      `for ${o.durationSec} s, publishing ${o.framesPerTurn} frames per topic per turn (ticks per turn per topic = frames × ticks per frame). ` +
      'Delivered ticks/s counts ticks received by all clients from the first publish to the last tick received (queues drained). ' +
      'Server CPU is the server process (publisher included, as one core = 100%); client CPU is all load-client processes together.',
    params,
  );
  const base = (tpf: number | null, ticksPerTurn: number) => ({
    clients: o.clients,
    topicCount: o.topics,
    maxTicksPerFrame: tpf,
    spec: { mode: 'max' as const, durationMs: o.durationSec * 1000, ticksPerTopicPerTurn: ticksPerTurn, rate: 0 },
    latency: false,
    warmupMs: 0,
    clientProcs: o.clientProcs,
    verify: o.verify,
    maxBackpressureBytes: 4 * 1024 * 1024,
    verbose: o.verbose,
  });
  const cells: Cell<WorkloadResult>[] = [];
  for (const tpf of o.tpf) {
    for (const server of servers) {
      cells.push({ variant: `tpf=${tpf}`, server, run: () => runWorkload({ server, ...base(tpf, o.framesPerTurn * tpf) }) });
    }
  }
  const defaultVariant = `default batching, ${o.framesPerTurn * maxTpf} ticks/topic/turn`;
  if (servers.includes('tickgate')) {
    cells.push({
      variant: defaultVariant,
      server: 'tickgate',
      label: 'tickgate',
      run: () => runWorkload({ server: 'tickgate', ...base(null, o.framesPerTurn * maxTpf) }),
    });
  }
  const outcomes = await runCells(ctx, report, cells, describeThroughput);

  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  for (const out of outcomes) {
    const rs = out.results.map((x) => x.value);
    const label = out.cell.label ?? SERVER_LABELS[out.cell.server];
    if (rs.length === 0) {
      rows.push([
        label,
        out.cell.variant,
        '–',
        '–',
        '–',
        '–',
        '–',
        '–',
        '–',
        '–',
        '–',
        out.errors[0]?.split('\n')[0]?.slice(0, 60) ?? 'failed',
      ]);
      continue;
    }
    const a = {
      ticksPerSec: agg(rs.map((r) => r.ticksPerSec)),
      framesPerSec: agg(rs.map((r) => r.framesPerSec)),
      bytesPerSec: agg(rs.map((r) => r.bytesPerSec)),
      serverCpuPct: agg(rs.map((r) => r.serverCpuPct)),
      clientCpuPct: agg(rs.map((r) => r.clientCpuPct)),
      clientCpuMaxPct: agg(rs.map((r) => r.clientCpuMaxPct)),
      framesPerRead: agg(rs.map((r) => r.framesPerRead)),
      ticksPerFrame: agg(rs.map((r) => r.ticksPerFrame)),
    };
    const clientBound = a.clientCpuMaxPct.median >= 85;
    const bounds = [...new Set(rs.map(boundBy))].join('/');
    const exact = rs.every((r) => r.correctness.exact);
    rows.push([
      label,
      out.cell.variant.startsWith('default') ? `default (${rs[0]!.maxTicksPerFrame})` : String(rs[0]!.maxTicksPerFrame),
      withSpread(a.ticksPerSec, si),
      si(a.framesPerSec.median),
      `${fixed(a.bytesPerSec.median / 1e6, 1)}`,
      fixed(a.ticksPerFrame.median, 1),
      `${fixed(a.serverCpuPct.median, 0)}%`,
      `${fixed(a.clientCpuPct.median, 0)}%`,
      fixed(a.framesPerRead.median, 1),
      bounds,
      exact ? '✓' : rs.map(check).find((c) => c !== '✓')!,
      out.errors.length ? `${out.errors.length} failed` : '',
    ]);
    summaryRows.push({ variant: out.cell.variant, server: out.cell.server, label, maxTicksPerFrame: rs[0]!.maxTicksPerFrame, exact, ...a });
    if (clientBound) {
      report.warnings.push(
        `${label} ${out.cell.variant}: a load-client process used ${fixed(a.clientCpuMaxPct.median, 0)}% of a core; the client may have been the limit.`,
      );
    }
  }
  report.tables.push({
    title: `S1 throughput — ${o.clients} clients × ${o.topics} topics, ${o.durationSec} s at max rate, median of ${o.repeats}`,
    columns: [
      'server',
      'max ticks/frame',
      'delivered ticks/s',
      'frames/s',
      'MB/s',
      'ticks/frame',
      'server CPU',
      'client CPU',
      'frames/read',
      'bound by',
      'exact',
      '',
    ],
    rows,
    note:
      'exact ✓ = every published tick was counted exactly once on every connection. server CPU = the server process in % of one core; ' +
      'client CPU = all load-client processes together. bound by: "server" = server process ≥ 85% of a core; "client ⚠" = a load-client process ≥ 85% ' +
      '(the harness, not the server, may have been the limit); "machine" = both cores busy between them.',
  });

  // Ratios inside each variant, from the same repeat.
  const ratioRows: string[][] = [];
  const summaryRatios: unknown[] = [];
  const baselines = servers.filter((s) => s !== 'tickgate');
  for (const tpf of o.tpf) {
    const v = `tpf=${tpf}`;
    const batching = `${tpf} tick${tpf > 1 ? 's' : ''}/frame`;
    const tg = outcomes.find((x) => x.cell.variant === v && x.cell.server === 'tickgate');
    if (tg && tg.results.length > 0) {
      const row = [`tickgate, ${batching}`];
      for (const b of baselines) {
        const bo = outcomes.find((x) => x.cell.variant === v && x.cell.server === b)!;
        const a = agg(pairedRatios(tg, bo, (r) => r.ticksPerSec));
        const t = TARGETS[b];
        const verdict = t ? ` ${a.median >= t.min ? '✓' : '✗'} (${t.text})` : '';
        row.push(a.n ? `${withSpread(a, ratio)}${verdict}` : '–');
        summaryRatios.push({ variant: v, server: 'tickgate', baseline: b, ratio: a, target: t?.min ?? null });
      }
      ratioRows.push(row);
    }
    // The ceiling against the same baselines: shows whether a target is within physical reach here.
    const uws = outcomes.find((x) => x.cell.variant === v && x.cell.server === 'uws');
    if (uws && uws.results.length > 0 && baselines.length > 1) {
      const row = [`raw uWS (ceiling), ${batching}`];
      for (const b of baselines) {
        if (b === 'uws') {
          row.push('1×');
          continue;
        }
        const bo = outcomes.find((x) => x.cell.variant === v && x.cell.server === b)!;
        const a = agg(pairedRatios(uws, bo, (r) => r.ticksPerSec));
        row.push(a.n ? withSpread(a, ratio) : '–');
        summaryRatios.push({ variant: v, server: 'uws', baseline: b, ratio: a });
      }
      ratioRows.push(row);
    }
  }
  if (ratioRows.length) {
    report.tables.push({
      title: 'S1 delivered ticks/s ÷ baseline (paired per repeat)',
      columns: ['', ...baselines.map((b) => `vs ${SERVER_LABELS[b]}`)],
      rows: ratioRows,
      note:
        'Targets from the issue are reported, not asserted. The raw uWS rows show how far the ceiling itself is from each baseline on this machine: ' +
        'a tickgate target above that is out of reach here. Only ratios from the same run mean anything on a noisy machine.',
    });
  }
  const def = outcomes.find((x) => x.cell.variant === defaultVariant);
  if (def?.results.length) {
    const a = agg(def.results.map((x) => x.value.ticksPerSec));
    report.notes.push(
      `tickgate with its own default batching (maxTicksPerFrame ${def.results[0]!.value.maxTicksPerFrame}, ${o.framesPerTurn * maxTpf} ticks per topic per turn): ` +
        `${si(a.median)} ticks/s — target ≥ ${si(DEFAULT_BATCHING_TARGET)} ${a.median >= DEFAULT_BATCHING_TARGET ? '✓' : '✗'}.`,
    );
  }
  report.notes.push(
    'Both cores are shared by the server and the load clients (loopback); on loopback the sender’s send() also runs the receiver’s TCP stack, so server CPU is mostly kernel time.',
  );
  report.summary = { rows: summaryRows, ratios: summaryRatios };
  return finishReport(report);
}
