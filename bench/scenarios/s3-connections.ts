import { warmPool, type ClientPool } from '../lib/client-pool.ts';
import { finishReport, newReport, pairedRatios, runCells, serversFor, type Cell, type Ctx } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';
import { agg, fixed, ratio, si, withSpread } from '../lib/stats.ts';
import { topicNames } from '../servers/workload.ts';
import { protocolOf, SERVER_LABELS, SERVER_NAMES, ServerProc, type ServerName } from '../lib/workload-run.ts';

export interface IdleResult {
  conns: number;
  openMs: number;
  connsPerSec: number;
  before: MemorySample;
  after: MemorySample;
  /**
   * Per connection: anonymous RSS (heap, malloc, stacks) where Linux reports it, else total RSS,
   * less the growth of V8's young generation (see youngPerConnBytes).
   */
  rssPerConnBytes: number;
  /** Per connection: anonymous RSS growth as measured, the young generation's growth included. */
  rssGrossPerConnBytes: number;
  /**
   * Per connection: growth of the young generation's resident size. V8 doubles it when many bytes
   * survive its scavenges (a connection storm) and, with the memory reducer off, never shrinks it:
   * a one-off of a few MB (at most 2 × --max-semi-space-size), whatever the number of connections.
   */
  youngPerConnBytes: number;
  /** Per connection: total RSS, file-backed pages (code) included. */
  rssTotalPerConnBytes: number;
  heapPerConnBytes: number;
  /** Server CPU time (user + system) while the connections opened, per connection: what opening one costs the server. */
  cpuPerConnUs: number;
  gcAvailable: boolean;
}

/**
 * RSS moves on its own, by about as much as a few thousand idle uWS connections cost:
 * - tsx runs its module loader in a worker thread that keeps giving memory back for seconds after
 *   start-up (2–6 MB); with V8's memory reducer off (--no-memory-reducer) it is done within ~7 s;
 * - after the first full GC a process gives a few MB of start-up garbage back ~3 s later.
 * So the servers of a repeat are started together, each gets WARMUP_CONNS connections opened and
 * closed and a first full GC right away, and a server's "before" is taken no earlier than STARTUP_SETTLE_MS after it
 * started and WARMUP_SETTLE_MS after its warm-up; "after" is taken SETTLE_MS after its connections
 * are open. Each figure is the lower of two samples, each after a forced full GC. The waits
 * overlap across servers, so a repeat pays them about once.
 */
const STARTUP_SETTLE_MS = 8000;
const WARMUP_SETTLE_MS = 5000;
const SETTLE_MS = 2200;
const WARMUP_CONNS = 50;
/** Loopback source addresses the connections are spread over (each has its own ephemeral port range). */
const SOURCE_ADDRESSES = 8;

interface MemorySample {
  rss: number;
  rssAnon: number;
  rssFile: number;
  heapUsed: number;
  /** Live JavaScript objects (code spaces left out), lowest of several forced GCs; NaN where the server cannot tell (centrifuge). */
  heapObjects: number;
  /** V8's compiled code, and the young generation's reserved size: one-off growth, not per connection (see WARMUP_CONNS). */
  heapCode: number;
  heapNewSpace: number;
  heapNewSpacePhysical: number;
  gcAvailable: boolean;
}

/** What a server reports: the V8 heap figures only where it runs on V8 (not centrifuge). */
type Reported = Partial<MemorySample> & Omit<MemorySample, 'heapObjects' | 'heapCode' | 'heapNewSpace' | 'heapNewSpacePhysical'>;

async function sampleMemory(proc: ServerProc): Promise<MemorySample> {
  const a = (await proc.memory(true)) as unknown as Reported;
  await new Promise((r) => setTimeout(r, 200));
  const b = (await proc.memory(true)) as unknown as Reported;
  return {
    rss: Math.min(a.rss, b.rss),
    rssAnon: Math.min(a.rssAnon, b.rssAnon),
    rssFile: Math.min(a.rssFile, b.rssFile),
    heapUsed: Math.min(a.heapUsed, b.heapUsed),
    heapObjects: Math.min(a.heapObjects ?? NaN, b.heapObjects ?? NaN),
    heapCode: b.heapCode ?? NaN,
    heapNewSpace: b.heapNewSpace ?? NaN,
    heapNewSpacePhysical: b.heapNewSpacePhysical ?? NaN,
    gcAvailable: b.gcAvailable,
  };
}

interface Prepared {
  proc: ServerProc;
  startedAt: number;
  warmedAt: number;
}

function connsFor(n: number, topics: number) {
  return Array.from({ length: n }, (_, i) => ({ topics: [i % topics] }));
}

/** Starts every server of a repeat at once and warms each up in turn; resolves per server. */
function prepareGroup(
  servers: ServerName[],
  o: { conns: number; topics: number; clientProcs: number; verbose: boolean },
): Map<ServerName, Promise<Prepared>> {
  const names = topicNames(o.topics);
  const poolReady = warmPool(o.clientProcs, o.verbose);
  const group = new Map<ServerName, Promise<Prepared>>();
  let previous: Promise<unknown> = Promise.resolve();
  for (const server of servers) {
    const startedAt = Date.now();
    const started = ServerProc.start(server, {
      topicCount: o.topics,
      maxTicksPerFrame: null,
      maxBackpressureBytes: 4 * 1024 * 1024,
      nofile: o.conns + 1024,
      exposeGc: true,
      nodeFlags: ['--no-memory-reducer'],
      verbose: o.verbose,
    });
    const after = previous;
    const prepared = (async () => {
      const proc = await started;
      try {
        await after; // warm-ups share the client pool: one at a time
        const pool = await poolReady;
        await pool.setup({
          port: proc.port,
          protocol: protocolOf(server),
          topics: names,
          conns: connsFor(Math.min(WARMUP_CONNS, o.conns), o.topics),
          latency: false,
          verify: false,
        });
        await pool.connect(120_000);
        await pool.reset();
        // The first full GC frees start-up garbage whose pages go back to the OS only seconds
        // later: run it now, so that happens during the wait and not between "before" and "after".
        await proc.memory(true);
      } catch (err) {
        await proc.stop();
        throw err;
      }
      return { proc, startedAt, warmedAt: Date.now() };
    })();
    prepared.catch(() => {});
    previous = prepared.catch(() => {});
    group.set(server, prepared);
  }
  return group;
}

/** Opens `conns` idle, subscribed connections to a prepared server and measures what they cost it. */
async function measureIdle(
  group: Map<ServerName, Promise<Prepared>>,
  server: ServerName,
  o: { conns: number; topics: number; clientProcs: number; verbose: boolean },
): Promise<IdleResult> {
  const prepared = group.get(server)!;
  group.delete(server);
  // Every warm-up must be over before this measurement uses the shared client pool.
  await Promise.allSettled([...group.values()]);
  const { proc, startedAt, warmedAt } = await prepared;
  let pool: ClientPool | null = null;
  try {
    pool = await warmPool(o.clientProcs, o.verbose);
    const wait = Math.max(startedAt + STARTUP_SETTLE_MS, warmedAt + WARMUP_SETTLE_MS) - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const before = await sampleMemory(proc);
    await pool.setup({
      port: proc.port,
      protocol: protocolOf(server),
      topics: topicNames(o.topics),
      conns: connsFor(o.conns, o.topics),
      latency: false,
      verify: false,
      connectConcurrency: 256,
      // Thousands of connections per step, and the TIME_WAIT sockets of earlier steps: see ClientInit.
      sourceAddresses: SOURCE_ADDRESSES,
    });
    const cpu0 = await proc.cpu();
    const c = await pool.connect(300_000);
    const cpu1 = await proc.cpu();
    if (c.failed > 0) throw new Error(`${c.failed} of ${o.conns} connections failed: ${c.firstError}`);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const after = await sampleMemory(proc);
    // BENCH_HEAP_SNAPSHOT_DIR: also a heap snapshot of the server holding its connections (for
    // finding what a connection holds; a few seconds per 10,000 connections).
    const snapDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
    if (snapDir) await proc.heapSnapshot(snapDir, `${o.conns}conns`);
    const rssGrowth = Number.isFinite(after.rssAnon - before.rssAnon) ? after.rssAnon - before.rssAnon : after.rss - before.rss;
    // Only V8 servers report it (centrifuge: 0, Go has no separate young generation).
    const youngGrowth = Number.isFinite(after.heapNewSpacePhysical - before.heapNewSpacePhysical)
      ? after.heapNewSpacePhysical - before.heapNewSpacePhysical
      : 0;
    // Live objects where the server reports them (V8); else heapUsed (Go's live heap for centrifuge).
    const heapGrowth = Number.isFinite(after.heapObjects - before.heapObjects)
      ? after.heapObjects - before.heapObjects
      : after.heapUsed - before.heapUsed;
    return {
      conns: o.conns,
      openMs: c.ms,
      connsPerSec: (o.conns / c.ms) * 1000,
      before,
      after,
      rssPerConnBytes: (rssGrowth - youngGrowth) / o.conns,
      rssGrossPerConnBytes: rssGrowth / o.conns,
      youngPerConnBytes: youngGrowth / o.conns,
      rssTotalPerConnBytes: (after.rss - before.rss) / o.conns,
      heapPerConnBytes: heapGrowth / o.conns,
      cpuPerConnUs: cpu1.external === true ? NaN : (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / o.conns,
      gcAvailable: after.gcAvailable,
    };
  } finally {
    await pool?.reset().catch(() => {});
    await proc.stop();
  }
}

/** Connection counts of the sweep: `--sweep max` (or a list), capped by the open-file hard limit. */
export function sweepSteps(sweep: number[] | 'max' | null, conns: number, hardLimit: number): number[] {
  // The server needs a few dozen fds of its own; each step stays this far below the hard limit.
  const cap = Number.isFinite(hardLimit) ? Math.floor((hardLimit - 256) / 500) * 500 : Infinity;
  if (sweep === null) return [Math.min(conns, cap)];
  const wanted = sweep === 'max' ? [2500, 5000, 10000, cap] : sweep;
  return [...new Set(wanted.map((n) => Math.min(n, cap)).filter((n) => n > 0))].sort((a, b) => a - b);
}

export async function runS3(ctx: Ctx): Promise<ScenarioReport> {
  const o = ctx.o;
  const servers = serversFor(ctx, SERVER_NAMES);
  const hard = Number(ctx.machine.nofileHard);
  const steps = sweepSteps(o.sweep, o.conns, hard);
  const sweeping = o.sweep !== null;
  const variantOf = (n: number) => (sweeping ? `${n} conns` : '');
  const report = newReport(
    ctx,
    'S3',
    sweeping ? 'Idle connections (sweep)' : 'Idle connections',
    `${steps.join(', ')} connections${sweeping ? ' (one fresh server process per step)' : ''}, each upgraded and subscribed to one of ${o.topics} topics, no ticks flowing. ` +
      "RSS per connection = (server anonymous RSS after − before − growth of V8's young generation) ÷ connections — anonymous RSS (RssAnon: heap, malloc, stacks) leaves out file-backed code pages, " +
      'which come and go with the page cache and are not per-connection memory (the JSON has total RSS too); ' +
      "the young generation (V8's nursery for new objects) doubles when a connection storm's allocations survive its scavenges and, with the memory reducer off, never shrinks: " +
      'a one-off of a few MB whatever the number of connections, shown apart ("+ young gen") and left out of the ratio; ' +
      'each figure the lower of two samples after forced full GCs; ' +
      `"before" is taken at least ${STARTUP_SETTLE_MS / 1000} s after the server started (V8 memory reducer off, so tsx's loader thread has stopped shrinking) ` +
      `and ${WARMUP_SETTLE_MS / 1000} s after ${WARMUP_CONNS} warm-up connections were opened and closed; "after" ${SETTLE_MS / 1000} s after the last connection was acknowledged; ` +
      "JS heap per connection = growth of V8's live objects ÷ connections: the used size of every heap space except the code spaces " +
      '(compiled code grows by hundreds of KB as the JIT optimises the connection path, whatever the count) and the read-only space, ' +
      'each figure the lowest of several forced full GCs a turn apart (so floating garbage does not count); ' +
      "time to open = first connect to last subscription ack; server CPU per connection = the server process's user + system CPU time over that interval ÷ connections; " +
      `${o.clientProcs} client processes with 256 handshakes in flight each, connections spread over ${SOURCE_ADDRESSES} loopback source addresses. ` +
      `Open-file limits: the harness started with a soft limit of ${ctx.machine.nofileSoft} (hard ${ctx.machine.nofileHard}); each server process gets \`ulimit -n\` raised to connections + 1024, ` +
      "or to the hard limit where that is lower. centrifuge's heap column is Go's live heap (HeapAlloc after runtime.GC), not V8's.",
    {
      servers,
      conns: o.conns,
      steps,
      sweep: sweeping,
      topics: o.topics,
      repeats: o.repeats,
      clientProcs: o.clientProcs,
      nofileSoft: ctx.machine.nofileSoft,
      nofileHard: ctx.machine.nofileHard,
    },
  );
  const asked = Array.isArray(o.sweep) ? Math.max(...o.sweep) : o.sweep === 'max' ? 0 : o.conns;
  if (Math.max(...steps) < asked) {
    report.warnings.push(`connections capped at ${Math.max(...steps)}: the open-file hard limit is ${ctx.machine.nofileHard} per process`);
  }
  // The servers of the current repeat and step, started and warmed up together (see STARTUP_SETTLE_MS).
  let group = new Map<ServerName, Promise<Prepared>>();
  let groupConns = -1;
  const stopGroup = async () => {
    for (const p of group.values()) await p.then((x) => x.proc.stop()).catch(() => {});
    group = new Map();
  };
  const cells: Cell<IdleResult>[] = [];
  for (const n of steps) {
    const shared = { conns: n, topics: o.topics, clientProcs: o.clientProcs, verbose: o.verbose };
    for (const server of servers) {
      cells.push({
        variant: variantOf(n),
        server,
        run: async () => {
          // A new step (or a server left over from a skipped cell of the last one): start afresh.
          if (groupConns !== n || group.size === 0) {
            await stopGroup();
            group = prepareGroup(
              servers.filter((s) => !ctx.unavailable.has(s)),
              shared,
            );
            groupConns = n;
          }
          if (!group.has(server)) group.set(server, prepareGroup([server], shared).get(server)!);
          return measureIdle(group, server, shared);
        },
      });
    }
  }
  let outcomes: Awaited<ReturnType<typeof runCells<IdleResult>>>;
  try {
    outcomes = await runCells(
      ctx,
      report,
      cells,
      (r) => `${fixed(r.rssPerConnBytes / 1024, 2)} KB RSS/conn, opened in ${fixed(r.openMs / 1000, 2)} s`,
    );
  } finally {
    // Servers prepared for a cell that never ran (e.g. after a failure).
    await stopGroup();
  }
  const rows: string[][] = [];
  const summaryRows: unknown[] = [];
  for (const out of outcomes) {
    const label = SERVER_LABELS[out.cell.server];
    const rs = out.results.map((x) => x.value);
    const connsCol = sweeping ? [out.cell.variant.split(' ')[0]!] : [];
    if (!rs.length) {
      rows.push([label, ...connsCol, '–', '–', '–', '–', '–', '–', out.errors[0]?.split('\n')[0]?.slice(0, 60) ?? 'failed']);
      continue;
    }
    const a = {
      rssPerConnBytes: agg(rs.map((r) => r.rssPerConnBytes)),
      rssGrossPerConnBytes: agg(rs.map((r) => r.rssGrossPerConnBytes)),
      youngPerConnBytes: agg(rs.map((r) => r.youngPerConnBytes)),
      heapPerConnBytes: agg(rs.map((r) => r.heapPerConnBytes)),
      openMs: agg(rs.map((r) => r.openMs)),
      connsPerSec: agg(rs.map((r) => r.connsPerSec)),
      cpuPerConnUs: agg(rs.map((r) => r.cpuPerConnUs)),
    };
    rows.push([
      label,
      ...connsCol,
      withSpread(a.rssPerConnBytes, (x) => fixed(x / 1024, 2)),
      fixed(a.youngPerConnBytes.median / 1024, 2),
      fixed(a.heapPerConnBytes.median / 1024, 2),
      withSpread(a.openMs, (x) => fixed(x / 1000, 2)),
      si(a.connsPerSec.median),
      Number.isFinite(a.cpuPerConnUs.median) ? fixed(a.cpuPerConnUs.median, 0) : '–',
      '',
    ]);
    summaryRows.push({ server: out.cell.server, label, variant: out.cell.variant, conns: rs[0]!.conns, ...a });
  }
  report.tables.push({
    title: `S3 idle connections — ${sweeping ? `sweep over ${steps.join(', ')}` : steps[0]} subscribed connections, median of ${o.repeats}`,
    columns: [
      'server',
      ...(sweeping ? ['conns'] : []),
      'RSS/conn (KB, anon)',
      '+ young gen/conn (KB)',
      'JS heap/conn (KB)',
      'time to open (s)',
      'conns/s',
      'server CPU/conn (µs)',
      '',
    ],
    rows,
  });
  const summaryRatios: unknown[] = [];
  const ratioRows: string[][] = [];
  const baselineNames = servers.filter((s) => s !== 'tickgate');
  for (const n of steps) {
    const v = variantOf(n);
    const tg = outcomes.find((x) => x.cell.server === 'tickgate' && x.cell.variant === v);
    if (!tg?.results.length) continue;
    const row = [sweeping ? `RSS per connection, ${n} conns` : 'RSS per connection'];
    const openRow = [sweeping ? `conns/s, ${n} conns (higher is better)` : 'conns/s (higher is better)'];
    for (const b of baselineNames) {
      const bo = outcomes.find((x) => x.cell.server === b && x.cell.variant === v)!;
      // A baseline whose RSS did not grow measurably (≤ 0: page-granular noise at small counts) gives no ratio.
      const a = agg(pairedRatios(tg, bo, (r) => r.rssPerConnBytes));
      const c = agg(pairedRatios(tg, bo, (r) => r.connsPerSec));
      const target = b === 'uws' ? ` ${a.median <= 1.5 ? '✓' : '✗'} (≤ 1.5×)` : '';
      const ctarget = b === 'uws' ? ` ${c.median >= 0.9 ? '✓' : '✗'} (≥ 0.9×)` : '';
      row.push(a.n ? `${withSpread(a, ratio)}${target}` : '–');
      openRow.push(c.n ? `${withSpread(c, ratio)}${ctarget}` : '–');
      summaryRatios.push({ variant: v, conns: n, baseline: b, ratio: a, connsPerSecRatio: c });
    }
    ratioRows.push(row, openRow);
  }
  if (ratioRows.length) {
    report.tables.push({
      title: 'S3 tickgate ÷ baseline (RSS: lower is better)',
      columns: ['', ...baselineNames.map((b) => `vs ${SERVER_LABELS[b]}`)],
      rows: ratioRows,
    });
  }
  if (sweeping && steps.length > 1) {
    // Flatness: per-connection cost at each step, and the slope between the two largest steps
    // (what one more connection costs at scale), projected to 100,000 connections.
    const cols = steps.map((n) => `${n}`);
    const flat: string[][] = [];
    for (const server of servers) {
      const perStep = steps.map((n) => {
        const out = outcomes.find((x) => x.cell.server === server && x.cell.variant === variantOf(n));
        return out?.results.length ? agg(out.results.map((r) => r.value.rssPerConnBytes)).median : NaN;
      });
      const [n1, n2] = [steps[steps.length - 2]!, steps[steps.length - 1]!];
      const [p1, p2] = [perStep[steps.length - 2]!, perStep[steps.length - 1]!];
      const slope = (p2 * n2 - p1 * n1) / (n2 - n1);
      flat.push([
        SERVER_LABELS[server],
        ...perStep.map((x) => fixed(x / 1024, 2)),
        fixed(slope / 1024, 2),
        Number.isFinite(slope) ? `${fixed((slope * 100_000) / 1048576, 0)} MB` : '–',
      ]);
    }
    report.tables.push({
      title: 'S3 sweep — RSS per connection (KB, anon) at each step',
      columns: ['server', ...cols, 'slope (KB/conn)', '100k conns ≈'],
      rows: flat,
      note: `slope = (total growth at ${steps[steps.length - 1]} − total growth at ${steps[steps.length - 2]}) ÷ the difference in connections: what one more connection costs at scale; "100k conns" extrapolates that slope (RSS above the idle process).`,
    });
  }
  report.notes.push(
    'RSS is page-granular and includes allocator slack, so small differences are noise; the heap column shows what JavaScript objects cost per connection.',
  );
  report.summary = { rows: summaryRows, ratios: summaryRatios };
  return finishReport(report);
}
