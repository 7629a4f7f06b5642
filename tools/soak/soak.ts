/**
 * Soak test: a `tickgate serve` child with the default simulated feeds, steady subscribers that
 * check every seq, and churn (clients connecting, subscribing, unsubscribing and disconnecting
 * every second). Every few seconds it samples the gateway's /metrics — RSS, heap used (right
 * after a forced full GC, so the number is live data, not GC timing), active handles, open fds,
 * event-loop lag — prints a table, fits a least-squares line per metric (slope per minute, over
 * the samples after a warm-up), and writes tools/soak/results/soak.json and soak.md.
 *
 *   npm run soak -- --minutes 3 [--sample-seconds 5] [--steady 10] [--churn 10] [--warmup-seconds 60] [--no-gc]
 *
 * The default warm-up (60 s, or a third of a shorter run) covers start-up and the per-topic
 * resume history filling to its age bound (bus.historyMaxAgeMs, 60 s): after that, with steady
 * load and churn, every fitted line should be flat.
 * Everything runs against 127.0.0.1, bounded by --minutes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Unpackr } from 'msgpackr';
import WebSocket from 'ws';
import { Random } from '../../src/core/random.ts';

const BIN = fileURLToPath(new URL('../../bin/tickgate-dev.js', import.meta.url));
const GC_PRELOAD = new URL('../gc-preload.mjs', import.meta.url).href;
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

export interface SoakOptions {
  minutes: number;
  sampleSeconds: number;
  /** Subscribers that stay for the whole run and check seqs. */
  steady: number;
  /** New short-lived clients per second. */
  churnPerSecond: number;
  /** Samples before this are left out of the fitted slopes (start-up, JIT, pools filling). */
  warmupSeconds: number;
  /** Force a full GC in the gateway before each sample (default). */
  gcBeforeSample: boolean;
  seed: number;
  log: (line: string) => void;
}

export interface SoakSample {
  t: number; // seconds since start
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  handles: number;
  fds: number;
  lagP99Ms: number;
  lagMaxMs: number;
  connections: number;
  subscriptions: number;
  ticksInPerSec: number;
  framesOutPerSec: number;
  cpuPct: number;
}

type MetricKey =
  | 'rssMiB'
  | 'heapUsedMiB'
  | 'heapTotalMiB'
  | 'externalMiB'
  | 'handles'
  | 'fds'
  | 'lagP99Ms'
  | 'connections'
  | 'subscriptions';
const FITTED: readonly { key: MetricKey; label: string; unit: string }[] = [
  { key: 'rssMiB', label: 'RSS', unit: 'MiB' },
  { key: 'heapUsedMiB', label: 'heap used (after GC)', unit: 'MiB' },
  { key: 'heapTotalMiB', label: 'heap total', unit: 'MiB' },
  { key: 'externalMiB', label: 'external memory', unit: 'MiB' },
  { key: 'handles', label: 'active handles', unit: '' },
  { key: 'fds', label: 'open fds', unit: '' },
  { key: 'lagP99Ms', label: 'event-loop lag p99', unit: 'ms' },
  { key: 'connections', label: 'connections', unit: '' },
  { key: 'subscriptions', label: 'subscriptions', unit: '' },
];

export interface Fit {
  metric: string;
  unit: string;
  first: number;
  last: number;
  mean: number;
  /** Least-squares slope, per minute. */
  slopePerMin: number;
  /** slope × fitted duration, as a share of the mean (how much the line rises over the run). */
  risePct: number;
}

/** Ordinary least squares y = a + b·x; returns b. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i]!;
    sy += ys[i]!;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

function metricValue(text: string, name: string, labels = ''): number {
  const prefix = labels ? `${name}{${labels}} ` : `${name} `;
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(prefix) || (!labels && line.startsWith(`${name}{`))) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}

// ---- clients -----------------------------------------------------------------------------------

const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

interface Stats {
  steadyTicks: number;
  steadyGaps: string[];
  steadyClosed: string[];
  churnOpened: number;
  churnFailed: number;
  churnClosedByServer: Record<string, number>;
  churnSubscribes: number;
  churnUnsubscribes: number;
}

interface SteadyClient {
  ws: WebSocket;
  done: boolean;
}

function steadyClient(port: number, i: number, stats: Stats): SteadyClient {
  const kinds = [
    { format: 'msgpack', topics: ['equity.*.*', 'fx.*.quote'], maxRate: 0 },
    { format: 'json', topics: ['fx.*.quote'], maxRate: 0 },
    { format: 'msgpack', topics: ['*.*.*'], maxRate: 4 },
    { format: 'msgpack', topics: ['equity.AAPL.quote', 'equity.MSFT.trade', 'fx.EURUSD.quote'], maxRate: 0 },
  ] as const;
  const kind = kinds[i % kinds.length]!;
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?format=${kind.format}`);
  const c: SteadyClient = { ws, done: false };
  const next = new Map<string, number>();
  const conflatedSeen = new Set<string>();
  ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', id: 1, topics: kind.topics, maxRate: kind.maxRate })));
  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const f = (isBinary ? unpackr.unpack(data) : JSON.parse(data.toString('utf8'))) as {
      t: string;
      topic: string;
      ticks: { seq: number }[];
      conflated?: number;
    };
    if (f.t !== 'ticks' && f.t !== 'snapshot') {
      if (f.t === 'error' || f.t === 'slow') stats.steadyGaps.push(`steady ${i}: ${JSON.stringify(f).slice(0, 160)}`);
      return;
    }
    for (const t of f.ticks) {
      const want = next.get(f.topic);
      if (f.t === 'snapshot' || want === undefined) {
        next.set(f.topic, t.seq + 1);
        continue;
      }
      stats.steadyTicks++;
      if (f.conflated !== undefined) {
        // Rate-limited: the seq jumps by `conflated` from the tier's previous frame, which for the
        // first frame after a subscribe may predate the snapshot (docs/protocol.md §5.8): a repeat
        // is ignored, and the jump is checked from the second conflated frame on.
        if (t.seq < want) continue;
        if (conflatedSeen.has(f.topic) && t.seq !== want - 1 + f.conflated && stats.steadyGaps.length < 50) {
          stats.steadyGaps.push(`steady ${i} ${f.topic}: conflated ${f.conflated} after seq ${want - 1}, got ${t.seq}`);
        }
        conflatedSeen.add(f.topic);
      } else if (t.seq !== want && stats.steadyGaps.length < 50) {
        stats.steadyGaps.push(`steady ${i} ${f.topic}: expected ${want}, got ${t.seq}`);
      }
      next.set(f.topic, t.seq + 1);
    }
  });
  ws.on('close', (code) => {
    if (!c.done) stats.steadyClosed.push(`steady ${i} closed with ${code}`);
  });
  ws.on('error', () => {});
  return c;
}

const CHURN_ENTRIES = [
  'equity.*.quote',
  'fx.*.quote',
  '*.*.*',
  'equity.AAPL.*',
  'equity.MSFT.quote',
  'fx.USDJPY.quote',
  'equity.*.trade',
  'crypto.BTCUSD.quote',
];

/** A short-lived client: connects, subscribes, maybe unsubscribes, leaves after 0.5–5 s. */
function churnClient(port: number, rng: Random, stats: Stats, live: Set<WebSocket>, run: { ending: boolean }): void {
  const format = rng.next() < 0.3 ? 'json' : 'msgpack';
  const ws = new WebSocket(`ws://127.0.0.1:${port}/v1/stream?format=${format}`);
  live.add(ws);
  const pick = () => CHURN_ENTRIES[rng.int(CHURN_ENTRIES.length)]!;
  const lifetime = 500 + rng.int(4500);
  const timers: NodeJS.Timeout[] = [];
  let closedByUs = false;
  ws.on('open', () => {
    stats.churnOpened++;
    const topics = [pick(), pick()];
    ws.send(JSON.stringify({ op: 'subscribe', id: 1, topics, ...(rng.next() < 0.3 ? { maxRate: [1, 2, 4, 10][rng.int(4)] } : {}) }));
    stats.churnSubscribes++;
    if (rng.next() < 0.5) {
      timers.push(
        setTimeout(() => {
          if (ws.readyState !== WebSocket.OPEN) return;
          ws.send(JSON.stringify({ op: 'unsubscribe', id: 2, topics: [topics[0]] }));
          stats.churnUnsubscribes++;
        }, rng.int(lifetime)),
      );
    }
    timers.push(
      setTimeout(() => {
        closedByUs = true;
        if (rng.next() < 0.7) ws.close(1000);
        else ws.terminate(); // no close handshake: the gateway sees the TCP connection drop
      }, lifetime),
    );
  });
  ws.on('message', () => {}); // read and discard
  ws.on('error', () => {
    if (!closedByUs && !run.ending) stats.churnFailed++;
  });
  ws.on('close', (code) => {
    for (const t of timers) clearTimeout(t);
    live.delete(ws);
    if (!closedByUs && !run.ending) stats.churnClosedByServer[code] = (stats.churnClosedByServer[code] ?? 0) + 1;
  });
}

// ---- the run ------------------------------------------------------------------------------------

export interface SoakResult {
  options: Omit<SoakOptions, 'log'>;
  machine: { cpus: number; cpuModel: string; memGiB: number; node: string; loadAvgStart: number[]; loadAvgEnd: number[] };
  samples: SoakSample[];
  fits: Fit[];
  stats: Stats;
  gatewayExit: { code: number | null; signal: string | null } | null;
  problems: string[];
}

async function startGateway(gc: boolean): Promise<{
  child: ChildProcess;
  port: number;
  exit: () => { code: number | null; signal: string | null } | null;
  exited: Promise<unknown>;
}> {
  const args = [
    ...(gc ? ['--expose-gc', '--import', GC_PRELOAD] : []),
    BIN,
    'serve',
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--log-level',
    'warn',
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exit: { code: number | null; signal: string | null } | null = null;
  child.stdout!.on('data', (d: Buffer) => {
    if (out.length < 100_000) out += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    if (out.length < 100_000) out += d.toString();
  });
  const exited = once(child, 'exit').then(([code, signal]) => {
    exit = { code: code as number | null, signal: signal as string | null };
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /stream\s+ws:\/\/127\.0\.0\.1:(\d+)\/v1\/stream/.exec(out);
    if (m) return { child, port: Number(m[1]), exit: () => exit, exited };
    if (exit || Date.now() > deadline) throw new Error(`gateway did not start: ${out.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const log = opts.log;
  const stats: Stats = {
    steadyTicks: 0,
    steadyGaps: [],
    steadyClosed: [],
    churnOpened: 0,
    churnFailed: 0,
    churnClosedByServer: {},
    churnSubscribes: 0,
    churnUnsubscribes: 0,
  };
  const loadAvgStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
  const gw = await startGateway(opts.gcBeforeSample);
  const base = `http://127.0.0.1:${gw.port}`;
  const rng = new Random(opts.seed);
  const samples: SoakSample[] = [];
  const problems: string[] = [];
  const steady: SteadyClient[] = [];
  const live = new Set<WebSocket>();
  const run = { ending: false };
  log(
    `soak: ${opts.minutes} min, gateway pid ${gw.child.pid} on 127.0.0.1:${gw.port} (default simulated feeds), ${opts.steady} steady clients, ${opts.churnPerSecond} new clients/s, sample every ${opts.sampleSeconds} s${opts.gcBeforeSample ? ' after a forced GC' : ''}`,
  );
  const header = `${'t (s)'.padStart(6)} ${'RSS MiB'.padStart(8)} ${'heap MiB'.padStart(9)} ${'handles'.padStart(7)} ${'fds'.padStart(5)} ${'lag p99'.padStart(8)} ${'lag max'.padStart(8)} ${'conns'.padStart(6)} ${'subs'.padStart(6)} ${'ticks/s'.padStart(8)} ${'frames/s'.padStart(9)} ${'CPU %'.padStart(6)}`;
  log(header);
  const started = performance.now();
  const endAt = started + opts.minutes * 60_000;
  for (let i = 0; i < opts.steady; i++) steady.push(steadyClient(gw.port, i, stats));
  const churn = setInterval(() => {
    for (let i = 0; i < opts.churnPerSecond; i++) churnClient(gw.port, rng, stats, live, run);
  }, 1000);
  let prev: { t: number; ticksIn: number; framesOut: number; cpu: number } | null = null;
  try {
    while (performance.now() < endAt && gw.exit() === null) {
      const wait = Math.min(opts.sampleSeconds * 1000, endAt - performance.now());
      if (wait < opts.sampleSeconds * 500 && samples.length > 0) break; // no sliver of a last interval
      await Promise.race([new Promise((r) => setTimeout(r, wait)), gw.exited]);
      if (gw.exit() !== null) break;
      if (opts.gcBeforeSample) {
        gw.child.kill('SIGUSR2');
        await new Promise((r) => setTimeout(r, 100));
      }
      const text = await (await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const t = (performance.now() - started) / 1000;
      const ticksIn = metricValue(text, 'tickgate_ticks_in_total');
      const framesOut = metricValue(text, 'tickgate_frames_out_total');
      const cpu = metricValue(text, 'process_cpu_seconds_total');
      const dt = prev ? t - prev.t : Number.NaN;
      const s: SoakSample = {
        t: Math.round(t * 10) / 10,
        rssMiB: metricValue(text, 'process_resident_memory_bytes') / 2 ** 20,
        heapUsedMiB: metricValue(text, 'nodejs_heap_size_used_bytes') / 2 ** 20,
        heapTotalMiB: metricValue(text, 'nodejs_heap_size_total_bytes') / 2 ** 20,
        externalMiB: metricValue(text, 'nodejs_external_memory_bytes') / 2 ** 20,
        handles: metricValue(text, 'nodejs_active_handles_total'),
        fds: metricValue(text, 'process_open_fds'),
        lagP99Ms: metricValue(text, 'nodejs_eventloop_lag_p99_seconds') * 1000,
        lagMaxMs: metricValue(text, 'nodejs_eventloop_lag_max_seconds') * 1000,
        connections: metricValue(text, 'tickgate_connections'),
        subscriptions: metricValue(text, 'tickgate_subscriptions'),
        ticksInPerSec: prev ? (ticksIn - prev.ticksIn) / dt : Number.NaN,
        framesOutPerSec: prev ? (framesOut - prev.framesOut) / dt : Number.NaN,
        cpuPct: prev ? ((cpu - prev.cpu) / dt) * 100 : Number.NaN,
      };
      prev = { t, ticksIn, framesOut, cpu };
      samples.push(s);
      const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
      log(
        `${f(s.t, 0).padStart(6)} ${f(s.rssMiB).padStart(8)} ${f(s.heapUsedMiB).padStart(9)} ${f(s.handles, 0).padStart(7)} ${f(s.fds, 0).padStart(5)} ${f(s.lagP99Ms).padStart(8)} ${f(s.lagMaxMs).padStart(8)} ${f(s.connections, 0).padStart(6)} ${f(s.subscriptions, 0).padStart(6)} ${f(s.ticksInPerSec, 0).padStart(8)} ${f(s.framesOutPerSec, 0).padStart(9)} ${f(s.cpuPct, 0).padStart(6)}`,
      );
    }
  } finally {
    clearInterval(churn);
    run.ending = true; // what follows is the test tearing down, not the gateway closing anyone
    for (const c of steady) {
      c.done = true;
      c.ws.close();
    }
    for (const ws of live) ws.terminate();
  }
  const exitBefore = gw.exit();
  if (exitBefore) problems.push(`the gateway exited during the soak (code ${exitBefore.code}, signal ${exitBefore.signal})`);
  else {
    gw.child.kill('SIGTERM');
    await Promise.race([gw.exited, new Promise((r) => setTimeout(r, 10_000))]);
    const exit = gw.exit();
    if (exit === null) {
      gw.child.kill('SIGKILL');
      problems.push('the gateway did not exit within 10 s of SIGTERM');
    } else if (exit.code !== 0) problems.push(`the gateway exited with code ${exit.code} on SIGTERM`);
  }
  if (stats.steadyGaps.length > 0)
    problems.push(`steady clients saw ${stats.steadyGaps.length} gaps or unexpected frames: ${stats.steadyGaps.slice(0, 3).join('; ')}`);
  if (stats.steadyClosed.length > 0) problems.push(`steady clients were disconnected: ${stats.steadyClosed.slice(0, 3).join('; ')}`);

  const fitted = samples.filter((s) => s.t >= opts.warmupSeconds);
  const fits: Fit[] = FITTED.map(({ key, label, unit }) => {
    const ys = fitted.map((s) => s[key]);
    const xs = fitted.map((s) => s.t / 60);
    const b = slope(xs, ys);
    const mean = ys.reduce((a, y) => a + y, 0) / Math.max(1, ys.length);
    const span = xs.length > 1 ? xs[xs.length - 1]! - xs[0]! : 0;
    return {
      metric: label,
      unit,
      first: ys[0] ?? Number.NaN,
      last: ys[ys.length - 1] ?? Number.NaN,
      mean,
      slopePerMin: b,
      risePct: mean !== 0 ? ((b * span) / Math.abs(mean)) * 100 : 0,
    };
  });
  return {
    options: {
      minutes: opts.minutes,
      sampleSeconds: opts.sampleSeconds,
      steady: opts.steady,
      churnPerSecond: opts.churnPerSecond,
      warmupSeconds: opts.warmupSeconds,
      gcBeforeSample: opts.gcBeforeSample,
      seed: opts.seed,
    },
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? '?',
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      loadAvgStart,
      loadAvgEnd: os.loadavg().map((x) => Math.round(x * 100) / 100),
    },
    samples,
    fits,
    stats,
    gatewayExit: gw.exit(),
    problems,
  };
}

export function fitTable(fits: readonly Fit[]): string {
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  return [
    '| metric | first | last | mean | slope per minute | rise over the fitted window |',
    '|---|---:|---:|---:|---:|---:|',
    ...fits.map(
      (x) =>
        `| ${x.metric}${x.unit ? ` (${x.unit})` : ''} | ${f(x.first)} | ${f(x.last)} | ${f(x.mean)} | ${x.slopePerMin >= 0 ? '+' : ''}${f(x.slopePerMin, 3)} | ${x.risePct >= 0 ? '+' : ''}${f(x.risePct, 1)} % |`,
    ),
  ].join('\n');
}

function markdown(r: SoakResult): string {
  const f = (x: number, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
  return [
    `# Soak: ${r.options.minutes} min`,
    '',
    `\`npm run soak -- --minutes ${r.options.minutes}\` — ${new Date().toISOString()}; ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memGiB} GiB, Node ${r.machine.node}; load average at start ${r.machine.loadAvgStart.join(' / ')}, at end ${r.machine.loadAvgEnd.join(' / ')} (other work on the machine shows up as lag).`,
    '',
    `Gateway: \`tickgate serve\` with the default simulated feeds (sim-equity, sim-fx) and default config. Load: ${r.options.steady} steady subscribers (every seq checked), ${r.options.churnPerSecond} new clients per second that subscribe, sometimes unsubscribe, and leave after 0.5–5 s (70 % with a close frame, 30 % by dropping TCP). ${r.options.gcBeforeSample ? 'Heap used is sampled right after a forced full GC (live data).' : 'Heap used is sampled as is (includes garbage).'} Slopes: least squares over the samples after the first ${r.options.warmupSeconds} s.`,
    '',
    '## Over time',
    '',
    '| t (s) | RSS MiB | heap used MiB | heap total MiB | handles | open fds | lag p99 ms | lag max ms | connections | subscriptions | ticks in/s | frames out/s | CPU % |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.samples.map(
      (s) =>
        `| ${f(s.t, 0)} | ${f(s.rssMiB)} | ${f(s.heapUsedMiB)} | ${f(s.heapTotalMiB)} | ${f(s.handles, 0)} | ${f(s.fds, 0)} | ${f(s.lagP99Ms)} | ${f(s.lagMaxMs)} | ${f(s.connections, 0)} | ${f(s.subscriptions, 0)} | ${f(s.ticksInPerSec, 0)} | ${f(s.framesOutPerSec, 0)} | ${f(s.cpuPct, 0)} |`,
    ),
    '',
    '## Fitted slopes',
    '',
    fitTable(r.fits),
    '',
    '## Clients',
    '',
    `Steady: ${r.stats.steadyTicks} ticks, ${r.stats.steadyGaps.length} gaps, ${r.stats.steadyClosed.length} disconnects. Churn: ${r.stats.churnOpened} connections opened, ${r.stats.churnSubscribes} subscribes, ${r.stats.churnUnsubscribes} unsubscribes, ${r.stats.churnFailed} failed, closed by the server: ${JSON.stringify(r.stats.churnClosedByServer)}.`,
    '',
    r.problems.length === 0
      ? 'No problems: the gateway stayed up, steady clients saw every seq, and it exited 0 on SIGTERM.'
      : `Problems:\n${r.problems.map((p) => `- ${p}`).join('\n')}`,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      minutes: { type: 'string', default: '3' },
      'sample-seconds': { type: 'string', default: '5' },
      steady: { type: 'string', default: '10' },
      churn: { type: 'string', default: '10' },
      'warmup-seconds': { type: 'string' },
      'no-gc': { type: 'boolean', default: false },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: RESULTS },
    },
  });
  const minutes = Number(values.minutes);
  if (!(minutes > 0 && minutes <= 24 * 60)) throw new Error('--minutes must be in (0, 1440]');
  const result = await runSoak({
    minutes,
    sampleSeconds: Number(values['sample-seconds']),
    steady: Number(values.steady),
    churnPerSecond: Number(values.churn),
    // Default warm-up: the resume history fills for bus.historyMaxAgeMs (60 s) before it plateaus.
    warmupSeconds: values['warmup-seconds'] !== undefined ? Number(values['warmup-seconds']) : Math.min(60, Math.round(minutes * 20)),
    gcBeforeSample: !values['no-gc'],
    seed: Number(values.seed),
    log: (line) => console.log(line),
  });
  console.log(`\nFitted over t ≥ ${result.options.warmupSeconds} s:\n${fitTable(result.fits)}`);
  console.log(
    `\nsteady clients: ${result.stats.steadyTicks} ticks, ${result.stats.steadyGaps.length} gaps; churn: ${result.stats.churnOpened} connections, closed by server ${JSON.stringify(result.stats.churnClosedByServer)}`,
  );
  for (const p of result.problems) console.log(`PROBLEM: ${p}`);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(`${values.out}/soak.json`, `${JSON.stringify(result, null, 1)}\n`);
  writeFileSync(`${values.out}/soak.md`, markdown(result));
  console.log(`wrote ${values.out}soak.json and soak.md`.replace('//', '/'));
  if (result.problems.length > 0) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  });
}
