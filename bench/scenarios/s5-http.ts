import autocannon from 'autocannon';
import { warmPool, type ClientPool } from '../lib/client-pool.ts';
import { finishReport, newReport, runCells, serversFor, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ms, si, withSpread } from '../lib/stats.ts';
import { topicNames } from '../servers/workload.ts';
import { ServerProc } from '../lib/workload-run.ts';

/** autocannon's latency histogram has millisecond resolution. */
function wholeMs(x: number): string {
  return !Number.isFinite(x) ? '–' : x < 1 ? '<1' : x.toFixed(0);
}

interface EndpointResult {
  path: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  bytesPerSec: number;
}

interface HttpResult {
  wsConns: number;
  endpoints: EndpointResult[];
}

/**
 * tickgate's HTTP endpoints under autocannon while `wsConns` WebSocket connections are open
 * (each subscribed to a topic, idle). Every topic has a last value (one tick each), so the
 * snapshot endpoint answers 200.
 */
async function measureHttp(ctx: Ctx, paths: string[]): Promise<HttpResult> {
  const o = ctx.o;
  const names = topicNames(o.topics);
  const poolReady = warmPool(o.clientProcs, o.verbose);
  const proc = await ServerProc.start('tickgate', {
    topicCount: o.topics,
    maxTicksPerFrame: null,
    maxBackpressureBytes: 4 * 1024 * 1024,
    nofile: o.httpConns + 2048,
    verbose: o.verbose,
  });
  let pool: ClientPool | null = null;
  try {
    await proc.prime();
    if (o.httpConns > 0) {
      pool = await poolReady;
      await pool.setup({
        port: proc.port,
        protocol: 'tickgate',
        topics: names,
        conns: Array.from({ length: o.httpConns }, (_, i) => ({ topics: [i % o.topics] })),
        latency: false,
        verify: false,
      });
      const c = await pool.connect(300_000);
      if (c.failed > 0) throw new Error(`${c.failed} of ${o.httpConns} WebSocket connections failed: ${c.firstError}`);
    }
    const endpoints: EndpointResult[] = [];
    for (const p of paths) {
      const r = await autocannon({
        url: `http://127.0.0.1:${proc.port}${p}`,
        connections: o.httpConnections,
        duration: o.httpDurationSec,
        pipelining: 1,
        timeout: 10,
      });
      endpoints.push({
        path: p,
        reqPerSec: r.requests.average,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        maxMs: r.latency.max,
        requests: r.requests.total,
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        bytesPerSec: r.throughput.average,
      });
    }
    return { wsConns: o.httpConns, endpoints };
  } finally {
    await pool?.reset().catch(() => {});
    await proc.stop();
  }
}

export async function runS5(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  const paths = ['/metrics', '/healthz', `/v1/snapshot/${topicNames(1)[0]}`];
  const report = newReport(
    ctx,
    'S5',
    'HTTP endpoints',
    `autocannon (${o.httpConnections} connections, ${o.httpDurationSec} s per endpoint, no pipelining) against tickgate's ` +
      `${paths.join(', ')} while ${o.httpConns} WebSocket connections are open and subscribed. tickgate only: these are tickgate's endpoints. ` +
      'autocannon runs in the harness process, on the same two cores.',
    { conns: o.httpConns, httpConnections: o.httpConnections, httpDurationSec: o.httpDurationSec, paths, repeats: o.repeats },
  );
  if (serversFor(ctx, ['tickgate']).length === 0) {
    report.notes.push('tickgate not selected (or unavailable): nothing to measure.');
    return finishReport(report);
  }
  const [out] = await runCells(ctx, report, [{ variant: '', server: 'tickgate', run: () => measureHttp(ctx, paths) }], (r) =>
    r.endpoints.map((e) => `${e.path} ${si(e.reqPerSec)} req/s p99 ${ms(e.p99Ms)} ms`).join('; '),
  );
  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  const rs = out!.results.map((x) => x.value);
  for (const p of paths) {
    const es = rs.map((r) => r.endpoints.find((e) => e.path === p)!).filter(Boolean);
    if (!es.length) {
      rows.push([p, '–', '–', '–', '–', out!.errors[0]?.split('\n')[0]?.slice(0, 60) ?? 'failed']);
      continue;
    }
    const a = {
      reqPerSec: agg(es.map((e) => e.reqPerSec)),
      p50Ms: agg(es.map((e) => e.p50Ms)),
      p99Ms: agg(es.map((e) => e.p99Ms)),
      bytesPerSec: agg(es.map((e) => e.bytesPerSec)),
    };
    const bad = es.reduce((s, e) => s + e.non2xx + e.errors + e.timeouts, 0);
    rows.push([
      p,
      withSpread(a.reqPerSec, si),
      wholeMs(a.p50Ms.median),
      wholeMs(a.p99Ms.median),
      fixed(a.bytesPerSec.median / 1e6, 1),
      bad ? `✗ ${bad} non-2xx/errors` : '✓',
    ]);
    summaryRows.push({ path: p, ...a, bad });
  }
  report.tables.push({
    title: `S5 HTTP — tickgate with ${o.httpConns} WebSocket connections open, median of ${o.repeats}`,
    columns: ['endpoint', 'req/s', 'p50 (ms)', 'p99 (ms)', 'MB/s', 'all 2xx'],
    rows,
    note: 'autocannon records latency in whole milliseconds ("<1" = under a millisecond).',
  });
  report.summary = { rows: summaryRows };
  return finishReport(report);
}
