/**
 * `npm run bench -- --check`: the ratios of a run (tickgate ÷ raw uWS, paired per repeat) against
 * the targets of issue 16, with a verdict that respects the spread: a target is met or missed
 * only when every repeat agrees; when the repeats straddle the target (the gap is smaller than
 * the spread) the verdict is "inconclusive". Reads the scenario reports' `runs`, so it works on
 * any results directory. Not a test: timings on a shared machine cannot fail a build.
 */
import type { ScenarioReport, Table } from './report.ts';
import { agg, fixed, ratio, si, type Agg } from './stats.ts';

export type Verdict = 'met' | 'missed' | 'inconclusive' | 'no data';

export interface Target {
  id: string;
  scenario: string;
  measure: string;
  /** Lower bound (≥) or upper bound (≤). */
  op: '>=' | '<=';
  bound: number;
  /** `ratio`: tickgate ÷ raw uWS from the same repeat; `kb`: tickgate's own value in KB. */
  unit: 'ratio' | 'kb';
  /** The value of one run's result (per repeat). */
  metric: (result: Record<string, unknown>) => number;
  /** Which of the scenario's variants (cells measured under the same conditions) this reads. */
  variant: (report: ScenarioReport) => string | null;
}

const num = (x: unknown): number => (typeof x === 'number' ? x : NaN);
const p99 = (r: Record<string, unknown>) => num((r.latency as Record<string, unknown> | null)?.p99);

/** S2's variant name for a rate, as s2-latency.ts writes it. */
const rateVariant = (rate: number) => `${si(rate)} ticks/s`;

/** S3: the plain run, else the sweep step closest to 10,000 connections (where the issue measured). */
function s3Variant(report: ScenarioReport): string | null {
  const variants = [...new Set((report.runs as { variant: string }[]).map((r) => r.variant))];
  if (variants.includes('')) return '';
  const steps = variants.map((v) => ({ v, n: Number.parseInt(v, 10) })).filter((x) => Number.isFinite(x.n));
  steps.sort((a, b) => Math.abs(a.n - 10_000) - Math.abs(b.n - 10_000));
  return steps[0]?.v ?? null;
}

export const TARGETS: Target[] = [
  {
    id: 'S1 tpf=1',
    scenario: 'S1',
    measure: 'S1 delivered ticks/s, 1 tick/frame',
    op: '>=',
    bound: 0.95,
    unit: 'ratio',
    metric: (r) => num(r.ticksPerSec),
    variant: () => 'tpf=1',
  },
  {
    id: 'S1 tpf=10',
    scenario: 'S1',
    measure: 'S1 delivered ticks/s, 10 ticks/frame',
    op: '>=',
    bound: 0.95,
    unit: 'ratio',
    metric: (r) => num(r.ticksPerSec),
    variant: () => 'tpf=10',
  },
  {
    id: 'S2 2k',
    scenario: 'S2',
    measure: 'S2 p99 at 2k ticks/s',
    op: '<=',
    bound: 1.2,
    unit: 'ratio',
    metric: p99,
    variant: () => rateVariant(2000),
  },
  {
    id: 'S2 10k',
    scenario: 'S2',
    measure: 'S2 p99 at 10k ticks/s',
    op: '<=',
    bound: 1.2,
    unit: 'ratio',
    metric: p99,
    variant: () => rateVariant(10_000),
  },
  {
    id: 'S3 rss',
    scenario: 'S3',
    measure: 'S3 RSS per idle connection',
    op: '<=',
    bound: 1.5,
    unit: 'ratio',
    metric: (r) => num(r.rssPerConnBytes),
    variant: s3Variant,
  },
  {
    id: 'S3 heap',
    scenario: 'S3',
    measure: 'S3 JS heap per idle connection',
    op: '<=',
    bound: 0.3,
    unit: 'kb',
    metric: (r) => num(r.heapPerConnBytes) / 1024,
    variant: s3Variant,
  },
  {
    id: 'S3 conn/s',
    scenario: 'S3',
    measure: 'S3 connections opened per second',
    op: '>=',
    bound: 0.9,
    unit: 'ratio',
    metric: (r) => num(r.connsPerSec),
    variant: s3Variant,
  },
];

interface Run {
  variant: string;
  server: string;
  label: string;
  repeat: number;
  result?: Record<string, unknown>;
}

export interface CheckRow {
  target: Target;
  variant: string | null;
  values: Agg;
  tickgate: Agg;
  uws: Agg;
  verdict: Verdict;
  /** Repeats (of those paired) in which another process used more than 30 % of a core during a run. */
  noisy: number;
}

/** As in lib/scenario.ts: foreign CPU use (% of one core) above which a run is flagged noisy. */
const NOISY_OTHER_LOAD_PCT = 30;
const isNoisy = (r: Record<string, unknown> | undefined) => typeof r?.otherLoadPct === 'number' && r.otherLoadPct > NOISY_OTHER_LOAD_PCT;

/** tickgate's own cell is the one labelled plain "tickgate" (S2 also runs a maxTicksPerFrame=1 variant of it). */
function results(runs: Run[], variant: string, server: string): Map<number, Record<string, unknown>> {
  const out = new Map<number, Record<string, unknown>>();
  for (const r of runs) {
    if (r.variant !== variant || r.server !== server || !r.result) continue;
    if (server === 'tickgate' && r.label !== 'tickgate') continue;
    out.set(r.repeat, r.result);
  }
  return out;
}

export function verdictOf(values: Agg, op: '>=' | '<=', bound: number): Verdict {
  if (values.n === 0) return 'no data';
  const ok = (x: number) => (op === '>=' ? x >= bound : x <= bound);
  // Met (missed) only when the whole min–max range of the repeats is on that side of the bound.
  if (ok(values.min) && ok(values.max)) return 'met';
  if (!ok(values.min) && !ok(values.max)) return 'missed';
  return 'inconclusive';
}

export function checkReports(reports: ScenarioReport[]): CheckRow[] {
  return TARGETS.map((target) => {
    const report = reports.find((r) => r.scenario === target.scenario);
    const variant = report ? target.variant(report) : null;
    const empty = agg([]);
    if (!report || variant === null)
      return { target, variant, values: empty, tickgate: empty, uws: empty, verdict: 'no data' as Verdict, noisy: 0 };
    const runs = report.runs as Run[];
    const tg = results(runs, variant, 'tickgate');
    const uws = results(runs, variant, 'uws');
    const values: number[] = [];
    let noisy = 0;
    for (const [repeat, t] of tg) {
      if (target.unit === 'kb') {
        values.push(target.metric(t));
        if (isNoisy(t)) noisy++;
        continue;
      }
      const u = uws.get(repeat);
      if (!u) continue;
      const d = target.metric(u);
      if (d > 0) {
        values.push(target.metric(t) / d);
        if (isNoisy(t) || isNoisy(u)) noisy++;
      }
    }
    const a = agg(values);
    return {
      target,
      variant,
      values: a,
      tickgate: agg([...tg.values()].map(target.metric)),
      uws: agg([...uws.values()].map(target.metric)),
      verdict: verdictOf(a, target.op, target.bound),
      noisy,
    };
  });
}

const MARK: Record<Verdict, string> = { met: '✓ met', missed: '✗ missed', inconclusive: '? inconclusive', 'no data': '– no data' };

function fmtValue(x: number, unit: 'ratio' | 'kb'): string {
  return unit === 'kb' ? `${fixed(x, 2)} KB` : ratio(x);
}

/** Why a verdict is weaker than it looks: too few repeats to know the spread, or a busy machine. */
function caveat(r: CheckRow): string {
  if (r.verdict === 'no data') return '';
  const bits = [];
  if (r.values.n < 3) bits.push(`${r.values.n} repeat${r.values.n === 1 ? '' : 's'}: spread unknown`);
  if (r.noisy > 0) bits.push(`${r.noisy} noisy`);
  return bits.length ? ` (${bits.join(', ')})` : '';
}

export function checkTable(rows: CheckRow[]): Table {
  return {
    title: 'Targets (issue 16): tickgate ÷ raw uWS, paired per repeat',
    columns: ['measure', 'target', 'median', 'range over repeats', 'spread', 'repeats', 'verdict'],
    rows: rows.map((r) => {
      const v = r.values;
      const unit = r.target.unit;
      return [
        r.target.measure,
        `${r.target.op === '>=' ? '≥' : '≤'} ${unit === 'kb' ? `${r.target.bound} KB` : `${r.target.bound}×`}`,
        v.n ? fmtValue(v.median, unit) : '–',
        v.n ? `${fmtValue(v.min, unit)} – ${fmtValue(v.max, unit)}` : '–',
        v.n > 1 ? `±${fixed(v.spreadPct, 0)}%` : v.n === 1 ? 'one repeat' : '–',
        String(v.n),
        MARK[r.verdict] + caveat(r),
      ];
    }),
    note:
      'met / missed: every repeat is on that side of the target; inconclusive: the repeats straddle it (the gap is smaller than the spread). ' +
      'Under 3 repeats the spread is unknown, and "noisy" counts repeats where other processes used > 30 % of a core during a run: ' +
      'run with --repeats 5 on a quiet machine before claiming anything. Ratios come from runs of the same repeat only.',
  };
}
