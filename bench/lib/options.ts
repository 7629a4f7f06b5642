import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR } from './ipc.ts';
import { SERVER_NAMES, type ServerName } from './workload-run.ts';

export const SCENARIOS = ['S1', 'S2', 'S3', 'S4', 'S5', 'S6', 'S7'] as const;
export type ScenarioId = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: ScenarioId[];
  /** Servers asked for on the command line (each scenario also has its own default list). */
  servers: ServerName[] | null;
  quick: boolean;
  clients: number;
  topics: number;
  durationSec: number;
  repeats: number;
  tpf: number[];
  framesPerTurn: number;
  rates: number[];
  latencyTpf: number;
  conns: number;
  /** S6: clients, topics, topics per watchlist. */
  s6Clients: number;
  s6Topics: number;
  s6Watch: number;
  /** S3 sweep: connection counts to measure in turn (`max`: 2500, 5000, 10000 and the most the open-file limit allows); null: --conns only. */
  sweep: number[] | 'max' | null;
  /** --check: compare ratios with the targets (after running, or on the results in --out when no scenario is named). */
  check: boolean;
  checkOnly: boolean;
  httpConns: number;
  clientProcs: number;
  httpDurationSec: number;
  httpConnections: number;
  s4Rate: number;
  s4DurationSec: number;
  s4BackpressureBytes: number;
  warmupSec: number;
  maxStealPct: number;
  maxBusyPct: number;
  quietWaitSec: number;
  outDir: string;
  verify: boolean;
  verbose: boolean;
  /** Skip the extra tickgate maxTicksPerFrame=1 run in S2 that measures what batching adds. */
  batchingCheck: boolean;
  /** Only rebuild summary.md and chart.svg from the results already in outDir. */
  renderOnly: boolean;
  argv: string[];
}

export const HELP = `Usage: npm run bench -- [options]

Runs tickgate and the baseline servers (raw uWebSockets.js, ws, Socket.IO, centrifuge) through the same
workloads and writes bench/results/<scenario>.json|.md, summary.md and chart.svg.

Scenarios (--scenario, default all):
  S1  throughput: clients × topics, publisher at max rate, swept over ticks per frame
  S2  latency: open-loop publishing at fixed rates, creation-to-receipt percentiles
  S3  idle connections: RSS per connection and time to open them
  S4  slow consumer: S2 plus one client that stops reading; the others' p99 must not move
  S5  HTTP: autocannon against /metrics, /healthz, /v1/snapshot/<topic> (tickgate only)
  S6  watchlists: 2,000 clients × 100 of 1,000 topics (some by pattern): memory per subscription,
      time to subscribe, delivered ticks/s (tickgate, raw uWS, centrifuge)
  S7  order-book fan-out to 1,000 subscribers, every update vs maxRate (tickgate only)

Options (defaults in brackets; --quick changes the ones marked *):
  -s, --scenario LIST       S1,S2,S3,S4,S5,S6,S7
      --servers LIST        tickgate,uws,ws,socketio,centrifuge (each scenario keeps only those it
                            supports; centrifuge, S1-S3 and S6, runs only when named: it needs Go)
  -q, --quick               short runs, one repeat: finishes in under 2 minutes
      --clients N           connections in S1, S2, S4 [1000]
      --topics N            topics [100]
  -d, --duration SEC        publishing time per run, S1 and S2 [10] *1.5
  -r, --repeats N           repeats; reports median and spread [3] *1
      --tpf LIST            S1 ticks-per-frame sweep [1,10]
      --frames-per-turn N   S1 frames per topic per publisher turn [10]
      --rates LIST          S2 open-loop levels, ticks/s [2000,10000]
      --latency-tpf N       S2/S4 max ticks per frame [64]
      --conns N             S3 idle connections [10000] *2000
      --sweep LIST|max      S3: measure at each of these connection counts instead (max: 2500,5000,10000
                            and the most the open-file hard limit allows), to show per-connection cost is flat
      --s6-clients N        S6 clients [2000]
      --s6-topics N         S6 topics [1000]
      --s6-watch N          S6 topics per watchlist [100]
      --http-conns N        S5 WebSocket connections held open [10000] *1000
      --http-duration SEC   S5 autocannon time per endpoint [10] *2
      --http-connections N  S5 autocannon connections [10]
      --s4-rate N           S4 ticks/s [5000]
      --s4-duration SEC     S4 publishing time per run [10] *4
      --s4-backpressure B   S4 raw uWS send-buffer limit (tickgate uses its own config) [1048576]
      --client-procs N      load-client processes [2]
      --warmup SEC          latency warm-up excluded from histograms [1] *0.3
      --max-steal PCT       wait until CPU steal is below this before each repeat [10]
      --max-busy PCT        ... and other load below this [25]
      --quiet-wait SEC      give up waiting for a quiet machine after this [60] *2
      --no-batching-check   S2: skip the tickgate maxTicksPerFrame=1 comparison run
      --verify              clients also decode every frame with msgpackr and cross-check (slow)
      --out DIR             results directory [bench/results]
      --render-only         only rebuild summary.md and chart.svg from the results in --out
      --check               compare tickgate ÷ raw uWS ratios with the targets and print a verdict table;
                            alone: checks the results already in --out; with --scenario: runs, then checks
  -v, --verbose             show child process output
  -h, --help
`;

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

function num(name: string, s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name} must be a non-negative number, got "${s}"`);
  return n;
}

export function parseOptions(argv: string[]): BenchOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    allowPositionals: false,
    options: {
      scenario: { type: 'string', short: 's' },
      servers: { type: 'string' },
      quick: { type: 'boolean', short: 'q' },
      clients: { type: 'string' },
      topics: { type: 'string' },
      duration: { type: 'string', short: 'd' },
      repeats: { type: 'string', short: 'r' },
      tpf: { type: 'string' },
      'frames-per-turn': { type: 'string' },
      rates: { type: 'string' },
      'latency-tpf': { type: 'string' },
      conns: { type: 'string' },
      sweep: { type: 'string' },
      's6-clients': { type: 'string' },
      's6-topics': { type: 'string' },
      's6-watch': { type: 'string' },
      check: { type: 'boolean' },
      'http-conns': { type: 'string' },
      'http-duration': { type: 'string' },
      'http-connections': { type: 'string' },
      's4-rate': { type: 'string' },
      's4-duration': { type: 'string' },
      's4-backpressure': { type: 'string' },
      'client-procs': { type: 'string' },
      warmup: { type: 'string' },
      'max-steal': { type: 'string' },
      'max-busy': { type: 'string' },
      'quiet-wait': { type: 'string' },
      'no-batching-check': { type: 'boolean' },
      verify: { type: 'boolean' },
      'render-only': { type: 'boolean' },
      out: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const scenarios = (values.scenario ? list(values.scenario).map((s) => s.toUpperCase()) : [...SCENARIOS]) as ScenarioId[];
  for (const s of scenarios) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario "${s}"; choose from ${SCENARIOS.join(', ')}`);
  let servers: ServerName[] | null = null;
  if (values.servers) {
    servers = list(values.servers) as ServerName[];
    for (const s of servers)
      if (!SERVER_NAMES.includes(s)) throw new Error(`unknown server "${s}"; choose from ${SERVER_NAMES.join(', ')}`);
  }
  const ints = (name: string, s: string | undefined, fallback: number[]) => {
    if (s === undefined) return fallback;
    const v = list(s).map((x) => num(name, x, 0));
    if (v.length === 0 || v.some((x) => x < 1 || !Number.isInteger(x))) throw new Error(`--${name} wants positive integers, got "${s}"`);
    return v;
  };
  const o: BenchOptions = {
    scenarios,
    servers,
    quick,
    clients: num('clients', values.clients, 1000),
    topics: num('topics', values.topics, 100),
    durationSec: num('duration', values.duration, quick ? 1.5 : 10),
    repeats: Math.max(1, Math.floor(num('repeats', values.repeats, quick ? 1 : 3))),
    tpf: ints('tpf', values.tpf, [1, 10]),
    framesPerTurn: num('frames-per-turn', values['frames-per-turn'], 10),
    rates: ints('rates', values.rates, [2000, 10000]),
    latencyTpf: num('latency-tpf', values['latency-tpf'], 64),
    conns: num('conns', values.conns, quick ? 2000 : 10000),
    s6Clients: num('s6-clients', values['s6-clients'], 2000),
    s6Topics: num('s6-topics', values['s6-topics'], 1000),
    s6Watch: num('s6-watch', values['s6-watch'], 100),
    sweep: values.sweep === undefined ? null : values.sweep.trim() === 'max' ? 'max' : ints('sweep', values.sweep, []),
    check: values.check ?? false,
    checkOnly: (values.check ?? false) && values.scenario === undefined,
    httpConns: num('http-conns', values['http-conns'], quick ? 1000 : 10000),
    httpDurationSec: num('http-duration', values['http-duration'], quick ? 2 : 10),
    httpConnections: num('http-connections', values['http-connections'], 10),
    s4Rate: num('s4-rate', values['s4-rate'], 5000),
    s4DurationSec: num('s4-duration', values['s4-duration'], quick ? 4 : 10),
    s4BackpressureBytes: num('s4-backpressure', values['s4-backpressure'], 1024 * 1024),
    clientProcs: Math.max(1, num('client-procs', values['client-procs'], 2)),
    warmupSec: num('warmup', values.warmup, quick ? 0.3 : 1),
    maxStealPct: num('max-steal', values['max-steal'], 10),
    maxBusyPct: num('max-busy', values['max-busy'], 25),
    quietWaitSec: num('quiet-wait', values['quiet-wait'], quick ? 2 : 60),
    outDir: path.resolve(values.out ?? path.join(BENCH_DIR, 'results')),
    verify: values.verify ?? false,
    verbose: values.verbose ?? false,
    batchingCheck: !(values['no-batching-check'] ?? false),
    renderOnly: values['render-only'] ?? false,
    argv,
  };
  if (o.topics < 1 || o.topics > 1000) throw new Error('--topics must be between 1 and 1000');
  if (o.s6Topics < 1 || o.s6Topics > 1000) throw new Error('--s6-topics must be between 1 and 1000');
  if (o.s6Watch < 1 || o.s6Watch > o.s6Topics) throw new Error('--s6-watch must be between 1 and --s6-topics');
  if (o.clients < 1) throw new Error('--clients must be at least 1');
  return o;
}
