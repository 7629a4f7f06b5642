/**
 * `npm run bench [-- options]`: runs the fan-out benchmark scenarios against tickgate and the
 * baseline servers and writes bench/results/. See bench/README.md, or `--help`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderChart } from './lib/chart.ts';
import { checkReports, checkTable } from './lib/check.ts';
import { stopSharedPool } from './lib/client-pool.ts';
import { gitInfo, machineInfo } from './lib/machine.ts';
import { HELP, parseOptions, type BenchOptions, type ScenarioId } from './lib/options.ts';
import { readReports, renderConsole, renderMarkdown, writeReport, writeSummary, type ScenarioReport } from './lib/report.ts';
import type { Ctx } from './lib/scenario.ts';
import { runS1 } from './scenarios/s1-throughput.ts';
import { runS2 } from './scenarios/s2-latency.ts';
import { runS3 } from './scenarios/s3-connections.ts';
import { runS4 } from './scenarios/s4-slow-consumer.ts';
import { runS5 } from './scenarios/s5-http.ts';
import { runS6 } from './scenarios/s6-watchlists.ts';
import { runS7 } from './scenarios/s7-books.ts';

const RUNNERS: Record<ScenarioId, (ctx: Ctx) => Promise<ScenarioReport>> = {
  S1: runS1,
  S2: runS2,
  S3: runS3,
  S4: runS4,
  S5: runS5,
  S6: runS6,
  S7: runS7,
};

export async function main(argv: string[]): Promise<number> {
  let o: BenchOptions | 'help';
  try {
    o = parseOptions(argv);
  } catch (err) {
    console.error(`bench: ${err instanceof Error ? err.message : String(err)}\n\n${HELP}`);
    return 2;
  }
  if (o === 'help') {
    console.log(HELP);
    return 0;
  }
  const t0 = Date.now();
  const machine = machineInfo();
  const git = gitInfo();
  const ctx: Ctx = {
    o,
    machine,
    git,
    command: `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`,
    log: (line) => console.log(line),
    unavailable: new Map(),
  };
  console.log(
    `tickgate bench: ${o.renderOnly ? 'render only' : o.checkOnly ? `check of ${path.relative(process.cwd(), o.outDir) || '.'}` : o.scenarios.join(', ')}${o.quick ? ' (quick)' : ''} — ${machine.cores} × ${machine.cpuModel}, Node ${machine.node}, commit ${git.commit.slice(0, 10)}${git.dirty ? '+dirty' : ''}`,
  );
  let failed = false;
  for (const id of o.renderOnly || o.checkOnly ? [] : o.scenarios) {
    const s0 = Date.now();
    console.log(`\n${id} …`);
    // A start failure can be specific to a scenario's settings: give every scenario a fresh chance.
    ctx.unavailable.clear();
    try {
      const report = await RUNNERS[id](ctx);
      const files = writeReport(o.outDir, report);
      console.log('');
      for (const t of report.tables) console.log(`${renderConsole(t)}\n`);
      for (const n of report.notes) console.log(`  · ${n}`);
      for (const w of report.warnings) console.log(`  ! ${w}`);
      console.log(
        `  → ${path.relative(process.cwd(), files.md)}, ${path.basename(files.json)} (${((Date.now() - s0) / 1000).toFixed(0)} s)`,
      );
    } catch (err) {
      failed = true;
      console.error(`  ${id} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
  await stopSharedPool();
  const reports = readReports(o.outDir);
  if (o.check) {
    const table = checkTable(checkReports(reports));
    console.log(`\n${renderConsole(table)}`);
    writeFileSync(path.join(o.outDir, 'check.md'), `${renderMarkdown(table)}\n`);
    if (o.checkOnly) return 0;
  }
  const svg = renderChart(reports);
  let chartFile: string | null = null;
  if (svg) {
    chartFile = path.join(o.outDir, 'chart.svg');
    writeFileSync(chartFile, svg);
  }
  const summary = writeSummary(o.outDir, chartFile);
  console.log(
    `\nsummary: ${path.relative(process.cwd(), summary)}${chartFile ? `, chart: ${path.relative(process.cwd(), chartFile)}` : ''}`,
  );
  console.log(`done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return failed ? 1 : 0;
}

process.exitCode = await main(process.argv.slice(2));
