/**
 * The tick path in one process, without sockets: what tickgate's JavaScript costs per tick next to
 * what a raw uWS publisher's costs, and what each piece of the hot path buys, side by side.
 *
 *   npm run bench:tick-path                 # 5 repeats (about 40 s)
 *   npm run bench:tick-path -- --repeats 3 --ticks 500000
 *
 * Every case runs in its own child process (a fresh heap, so one case's garbage is not another's
 * GC time); the cases of a repeat run back to back and the repeats interleave, so a noisy moment
 * hits all cases alike. Reported: ns per tick (median, ± half the min–max range), GC time per
 * million ticks (PerformanceObserver 'gc'), and the ratio to the case's baseline, paired per repeat.
 * Writes bench/results/tick-path.{json,md}.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MemoryBus } from '../../src/bus/memory-bus.ts';
import { FlatTickRing, TickRing } from '../../src/bus/tick-ring.ts';
import { systemClock } from '../../src/core/clock.ts';
import type { WireEntry } from '../../src/core/tick.ts';
import { packFrame } from '../../src/protocol/codec.ts';
import { TicksFrameEncoder, ticksFramePrefix } from '../../src/protocol/ticks-encoder.ts';
import { agg, fixed } from '../lib/stats.ts';
import { FrameBatcher, makeTick, topicNames } from '../servers/workload.ts';

const TOPICS = topicNames(100);
const EPOCH = 1_765_000_000_000;
/** Bytes every case produced: reported, so no case's work can be optimised away unseen. */
let bytesOut = 0;

interface CaseResult {
  nsPerTick: number;
  gcMsPerMillion: number;
  /** Encoded bytes (history cases: ticks held) in the measured run; 0 would mean the case did nothing. */
  bytesOut: number;
}

/** One measured case: runs `ticks` ticks through its code and returns the wall time in ms. */
type Case = (ticks: number) => Promise<number> | number;

interface CaseSpec {
  name: string;
  /** The case it is compared with (its own row when it is the baseline). */
  baseline: string;
  what: string;
  run: Case;
}

/** Publishes `perTopic` ticks per topic per turn, turn after turn, yielding to the event loop like a feed callback. */
function publishTurns(
  ticks: number,
  perTopic: number,
  publish: (i: number, topic: string, now: number, n: number) => void,
  endTurn: () => void,
): Promise<void> {
  let n = 0;
  return new Promise((resolve) => {
    const turn = () => {
      const now = performance.timeOrigin + performance.now();
      for (let t = 0; t < TOPICS.length; t++) for (let j = 0; j < perTopic; j++) publish(t, TOPICS[t]!, now, n++);
      endTurn();
      if (n >= ticks) resolve();
      else setImmediate(turn);
    };
    setImmediate(turn);
  });
}

function timed(run: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  return Promise.resolve(run()).then(() => performance.now() - start);
}

/** The whole in-process tick path: publish (validation, seq, gateway time) → flush → encode → a sink that only counts bytes. */
function busCase(ticksPerFrame: number): Case {
  return (ticks) => {
    const bus = new MemoryBus({ clock: systemClock, maxTicksPerFrame: ticksPerFrame });
    bus.setSink({ onTopic() {}, onBatch: (b) => void (bytesOut += b.packed.byteLength) });
    return timed(() =>
      publishTurns(
        ticks,
        10,
        (_i, topic, now, n) => bus.publish(makeTick(topic, now, n), 'bench'),
        () => {},
      ).then(() => bus.flush()),
    );
  };
}

/** The raw uWS baseline's publisher (bench/servers/workload.ts FrameBatcher: a wire object per tick, msgpackr per frame). */
function rawCase(ticksPerFrame: number): Case {
  return (ticks) => {
    const batcher = new FrameBatcher(TOPICS, ticksPerFrame, (_i, _t, b) => void (bytesOut += b.byteLength));
    return timed(() =>
      publishTurns(
        ticks,
        10,
        (i, topic, now, n) => batcher.publish(i, makeTick(topic, now, n)),
        () => batcher.endTurn(),
      ),
    );
  };
}

function quoteFrame(count: number, seq: number): WireEntry[] {
  const now = EPOCH + 123.456;
  return Array.from({ length: count }, (_, i) => ({
    seq: seq + i,
    ts: now + i,
    gts: now + i + 0.25,
    bid: 100.12 + i / 100,
    ask: 100.13 + i / 100,
    bidSize: 300,
    askSize: 500,
  }));
}

function encodeCase(kind: 'msgpackr' | 'tickgate', count: number): Case {
  return (ticks) => {
    const entries = quoteFrame(count, 1000);
    const topic = TOPICS[0]!;
    const frame = { t: 'ticks' as const, topic, epoch: EPOCH, ticks: entries };
    const encoder = new TicksFrameEncoder();
    const prefix = ticksFramePrefix(topic, EPOCH);
    const frames = Math.ceil(ticks / count);
    return timed(() => {
      for (let f = 0; f < frames; f++) {
        bytesOut += kind === 'msgpackr' ? packFrame(frame).byteLength : encoder.encode(prefix, 'quote', entries, 0, count).byteLength;
      }
    });
  };
}

/** A wire quote per tick (as the bus makes it), held in its topic's resume history of 1,000, as objects or as numbers. */
function historyCase(kind: 'objects' | 'numbers'): Case {
  return (ticks) => {
    const rings = TOPICS.map(() => (kind === 'objects' ? new TickRing(1000, 60_000) : new FlatTickRing('quote', 1000, 60_000)));
    const seqs = TOPICS.map(() => 0);
    return timed(() =>
      publishTurns(
        ticks,
        10,
        (i, topic, now, n) => {
          const t = makeTick(topic, now, n);
          rings[i]!.push({ seq: ++seqs[i]!, ts: t.ts, gts: now, bid: t.bid, ask: t.ask, bidSize: t.bidSize, askSize: t.askSize });
          bytesOut += 1;
        },
        () => {},
      ),
    );
  };
}

const CASES: CaseSpec[] = [
  {
    name: 'raw uWS publisher, 10 ticks/frame',
    baseline: 'raw uWS publisher, 10 ticks/frame',
    what: 'FrameBatcher: wire object, msgpackr per frame',
    run: rawCase(10),
  },
  {
    name: 'tickgate bus, 10 ticks/frame',
    baseline: 'raw uWS publisher, 10 ticks/frame',
    what: 'MemoryBus publish → flush → encode; validation, seq, history, metrics hook',
    run: busCase(10),
  },
  {
    name: 'raw uWS publisher, 1 tick/frame',
    baseline: 'raw uWS publisher, 1 tick/frame',
    what: 'as above, a frame per tick',
    run: rawCase(1),
  },
  { name: 'tickgate bus, 1 tick/frame', baseline: 'raw uWS publisher, 1 tick/frame', what: 'as above, a frame per tick', run: busCase(1) },
  {
    name: 'encode 10 quotes: msgpackr',
    baseline: 'encode 10 quotes: msgpackr',
    what: 'packFrame (msgpackr 2.1.3)',
    run: encodeCase('msgpackr', 10),
  },
  {
    name: 'encode 10 quotes: TicksFrameEncoder',
    baseline: 'encode 10 quotes: msgpackr',
    what: 'src/protocol/ticks-encoder.ts, same bytes',
    run: encodeCase('tickgate', 10),
  },
  {
    name: 'history of 1,000: objects',
    baseline: 'history of 1,000: objects',
    what: 'TickRing: the wire objects themselves',
    run: historyCase('objects'),
  },
  {
    name: 'history of 1,000: numbers',
    baseline: 'history of 1,000: objects',
    what: 'FlatTickRing: a Float64Array row per tick',
    run: historyCase('numbers'),
  },
];

async function child(name: string, ticks: number): Promise<void> {
  const spec = CASES.find((c) => c.name === name);
  if (!spec) throw new Error(`unknown case "${name}"`);
  await spec.run(Math.min(ticks, 50_000)); // warm-up: JIT, buffers
  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  observer.observe({ entryTypes: ['gc'] });
  bytesOut = 0;
  const ms = await spec.run(ticks);
  await new Promise((r) => setImmediate(r)); // let the observer deliver
  observer.disconnect();
  const result: CaseResult = { nsPerTick: (ms * 1e6) / ticks, gcMsPerMillion: (gcMs * 1e6) / ticks, bytesOut };
  process.stdout.write(JSON.stringify(result));
}

function main(): void {
  const { values } = parseArgs({
    options: {
      repeats: { type: 'string', default: '5' },
      ticks: { type: 'string', default: '1000000' },
      out: { type: 'string', default: path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'results') },
      case: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const ticks = Number(values.ticks);
  const repeats = Number(values.repeats);
  if (values.help) {
    process.stdout.write('Usage: npm run bench:tick-path -- [--repeats N (5)] [--ticks N (1000000)] [--out DIR]\n');
    return;
  }
  if (!Number.isInteger(ticks) || ticks < 1000 || !Number.isInteger(repeats) || repeats < 1) {
    process.stderr.write('tick-path: --ticks must be an integer ≥ 1000 and --repeats ≥ 1\n');
    process.exit(2);
  }
  if (values.case) {
    void child(values.case, ticks);
    return;
  }
  const started = Date.now();
  const runs = new Map<string, CaseResult[]>(CASES.map((c) => [c.name, []]));
  for (let r = 0; r < repeats; r++) {
    for (const spec of CASES) {
      const out = execFileSync(
        process.execPath,
        ['--import', 'tsx', fileURLToPath(import.meta.url), '--case', spec.name, '--ticks', String(ticks)],
        {
          encoding: 'utf8',
          timeout: 120_000,
        },
      );
      runs.get(spec.name)!.push(JSON.parse(out) as CaseResult);
      process.stderr.write(`  [repeat ${r + 1}/${repeats}] ${spec.name}: ${fixed(runs.get(spec.name)!.at(-1)!.nsPerTick, 0)} ns/tick\n`);
    }
  }
  const rows = CASES.map((spec) => {
    const mine = runs.get(spec.name)!;
    const base = runs.get(spec.baseline)!;
    const ns = agg(mine.map((x) => x.nsPerTick));
    const gc = agg(mine.map((x) => x.gcMsPerMillion));
    const ratio = agg(mine.map((x, i) => x.nsPerTick / base[i]!.nsPerTick));
    return { case: spec.name, what: spec.what, baseline: spec.baseline, ns, gc, ratio };
  });
  const table = [
    '| case | what it runs | ns per tick | GC ms per 1M ticks | ÷ baseline (lower is faster) |',
    '| :--- | :--- | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.case} | ${r.what} | ${fixed(r.ns.median, 0)} ±${fixed(r.ns.spreadPct, 0)}% | ${fixed(r.gc.median, 0)} | ${r.baseline === r.case ? '1 (baseline)' : `${fixed(r.ratio.median, 2)}× ±${fixed(r.ratio.spreadPct, 0)}%`} |`,
    ),
  ].join('\n');
  const command = `npm run bench:tick-path -- --repeats ${repeats} --ticks ${ticks}`;
  const md = [
    '# Tick path in one process',
    '',
    `${ticks.toLocaleString('en')} ticks per case and repeat, 100 topics, 10 ticks per topic per turn; each case in a fresh process, ${repeats} repeats interleaved; median, ± half the min–max range; ratios paired per repeat. No sockets: this is the JavaScript a tick costs before uWS takes the frame.`,
    '',
    table,
    '',
    `Command: \`${command}\` · ${new Date(started).toISOString()} · Node ${process.version} · ${Math.round((Date.now() - started) / 1000)} s`,
    '',
  ].join('\n');
  writeFileSync(path.join(values.out, 'tick-path.md'), md);
  writeFileSync(
    path.join(values.out, 'tick-path.json'),
    `${JSON.stringify({ command, date: new Date(started).toISOString(), node: process.version, ticks, repeats, rows, runs: Object.fromEntries(runs) }, null, 2)}\n`,
  );
  process.stdout.write(`${table}\n\nwrote ${path.join(values.out, 'tick-path.md')}\n`);
}

main();
