import type { GitInfo, MachineInfo, QuietResult } from './machine.ts';
import { waitForQuiet } from './machine.ts';
import type { BenchOptions, ScenarioId } from './options.ts';
import type { ScenarioReport } from './report.ts';
import { OPTIONAL_SERVERS, SERVER_LABELS, ServerStartError, type ServerName } from './workload-run.ts';

export interface Ctx {
  o: BenchOptions;
  machine: MachineInfo;
  git: GitInfo;
  command: string;
  log(line: string): void;
  /** Servers that could not start in an earlier cell of the current scenario, with the reason; later cells skip them. */
  unavailable: Map<ServerName, string>;
}

/**
 * The scenario's default servers, narrowed by --servers, minus servers known not to start.
 * Optional baselines (centrifuge) run only when --servers names them.
 */
export function serversFor(ctx: Ctx, defaults: readonly ServerName[]): ServerName[] {
  const chosen = ctx.o.servers ? defaults.filter((s) => ctx.o.servers!.includes(s)) : defaults.filter((s) => !OPTIONAL_SERVERS.includes(s));
  return chosen.filter((s) => !ctx.unavailable.has(s));
}

export function newReport(
  ctx: Ctx,
  scenario: ScenarioId,
  title: string,
  description: string,
  params: Record<string, unknown>,
): ScenarioReport {
  return {
    scenario,
    title,
    description,
    command: ctx.command,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    durationSec: 0,
    quick: ctx.o.quick,
    machine: ctx.machine,
    git: ctx.git,
    params,
    quiet: [],
    tables: [],
    summary: {},
    runs: [],
    notes: [],
    warnings: [],
  };
}

export function finishReport(r: ScenarioReport): ScenarioReport {
  r.finishedAt = new Date().toISOString();
  r.durationSec = (Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 1000;
  return r;
}

export async function quietBeforeRepeat(ctx: Ctx, report: ScenarioReport): Promise<void> {
  const q: QuietResult = await waitForQuiet({
    maxStealPct: ctx.o.maxStealPct,
    maxBusyPct: ctx.o.maxBusyPct,
    maxWaitMs: ctx.o.quietWaitSec * 1000,
  });
  report.quiet.push(q);
  if (!q.quiet && q.last) {
    const msg = `machine not quiet after ${(q.waitedMs / 1000).toFixed(0)} s (steal ${q.last.stealPct.toFixed(1)}%, busy ${q.last.busyPct.toFixed(0)}%); measuring anyway`;
    ctx.log(`  ! ${msg}`);
    report.warnings.push(msg);
  }
}

/** Foreign CPU use (% of one core) during a run above which the run is flagged as noisy. */
const OTHER_LOAD_WARN_PCT = 30;

export interface Cell<R> {
  /** Groups cells measured under the same conditions (ratios are taken inside a variant). */
  variant: string;
  server: ServerName;
  /** Row label; defaults to the server's label. */
  label?: string;
  run(): Promise<R>;
}

export interface CellOutcome<R> {
  cell: Cell<R>;
  /** One entry per repeat that succeeded, with its repeat index. */
  results: { repeat: number; value: R }[];
  errors: string[];
}

/**
 * Runs every cell `repeats` times: before each repeat waits for a quiet machine, and rotates the
 * server order inside each variant so slow drift does not always favour the same server.
 * A server that fails to start is skipped for the rest of the scenario (and the run continues).
 */
export async function runCells<R>(
  ctx: Ctx,
  report: ScenarioReport,
  cells: Cell<R>[],
  describe: (r: R) => string,
): Promise<CellOutcome<R>[]> {
  const outcomes = cells.map((cell) => ({ cell, results: [] as { repeat: number; value: R }[], errors: [] as string[] }));
  const variants = [...new Set(cells.map((c) => c.variant))];
  const total = cells.length * ctx.o.repeats;
  let n = 0;
  for (let rep = 0; rep < ctx.o.repeats; rep++) {
    await quietBeforeRepeat(ctx, report);
    for (const v of variants) {
      const group = outcomes.filter((x) => x.cell.variant === v);
      const rotated = group.map((_, i) => group[(i + rep) % group.length]!);
      for (const out of rotated) {
        n++;
        const { cell } = out;
        const name = `${cell.label ?? SERVER_LABELS[cell.server]}${v ? ` ${v}` : ''}`;
        const prefix = `  [${report.scenario} ${n}/${total}${ctx.o.repeats > 1 ? ` r${rep + 1}` : ''}] ${name}`;
        const reason = ctx.unavailable.get(cell.server);
        if (reason !== undefined) {
          out.errors.push(`skipped: ${reason}`);
          ctx.log(`${prefix}: skipped (${cell.server} unavailable)`);
          continue;
        }
        const t0 = Date.now();
        try {
          const value = await cell.run();
          out.results.push({ repeat: rep, value });
          const other = (value as { otherLoadPct?: number }).otherLoadPct;
          if (other !== undefined && other > OTHER_LOAD_WARN_PCT) {
            report.warnings.push(
              `${name}${ctx.o.repeats > 1 ? ` (repeat ${rep + 1})` : ''}: other processes used ~${other.toFixed(0)}% of a core during the run; treat it as noisy.`,
            );
          }
          report.runs.push({
            variant: v,
            server: cell.server,
            label: cell.label ?? SERVER_LABELS[cell.server],
            repeat: rep,
            result: value,
          });
          const noisy = other !== undefined && other > OTHER_LOAD_WARN_PCT ? ` ⚠ other load ${other.toFixed(0)}%` : '';
          ctx.log(`${prefix}: ${describe(value)} (${((Date.now() - t0) / 1000).toFixed(1)} s)${noisy}`);
        } catch (err) {
          const msg = err instanceof Error ? err.message : String(err);
          out.errors.push(msg);
          report.runs.push({ variant: v, server: cell.server, label: cell.label ?? SERVER_LABELS[cell.server], repeat: rep, error: msg });
          ctx.log(`${prefix}: FAILED: ${msg.split('\n')[0]}`);
          if (err instanceof ServerStartError) {
            ctx.unavailable.set(cell.server, msg.split('\n')[0]!);
            report.warnings.push(`${cell.server} could not start and was skipped: ${msg}`);
          } else {
            report.warnings.push(`${name} (repeat ${rep + 1}) failed: ${msg.split('\n')[0]}`);
          }
        }
      }
    }
  }
  return outcomes;
}

/**
 * Ratios from the same repeat: for each repeat where both cells succeeded, `num / den` of the
 * chosen metric; the median of those is the reported ratio.
 */
export function pairedRatios<R>(a: CellOutcome<R>, b: CellOutcome<R>, metric: (r: R) => number): number[] {
  const out: number[] = [];
  for (const x of a.results) {
    const y = b.results.find((r) => r.repeat === x.repeat);
    if (!y) continue;
    const d = metric(y.value);
    if (d > 0) out.push(metric(x.value) / d);
  }
  return out;
}
