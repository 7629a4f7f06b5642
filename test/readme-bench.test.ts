/**
 * The README's benchmark table states numbers; bench/results holds the runs they come from. Every
 * figure in the table must be a figure of the committed results (the table is copied from the
 * latest full run, never typed from memory), and the command lines it names must be the ones
 * those results record.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const root = path.join(import.meta.dirname, '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');

interface ResultFile {
  command: string;
  tables: { rows: string[][] }[];
  summary?: { rows: string[][] }[] | unknown;
}

function results(scenario: string): ResultFile {
  return JSON.parse(readFileSync(path.join(root, 'bench', 'results', `${scenario}.json`), 'utf8')) as ResultFile;
}

const SCENARIOS = ['S1', 'S2', 'S3', 'S6'];
const UNITS = new Set(['KB', 'MB', 'ms', 's', 'B', 'µs']);

/** Every cell of every table of the results, as its whitespace-separated tokens. */
function resultCells(): string[][] {
  const cells: string[][] = [];
  for (const s of SCENARIOS) {
    const file = results(s);
    const tables = [...file.tables, ...(Array.isArray(file.summary) ? (file.summary as { rows?: string[][] }[]) : [])];
    for (const t of tables) for (const row of t.rows ?? []) for (const cell of row) cells.push(String(cell).trim().split(/\s+/));
  }
  return cells;
}

/** The README's "| measure | tickgate | raw uWS | …" table: each row's figures, without units, bold or the target in brackets. */
function readmeFigures(): { measure: string; figure: string[] }[] {
  const start = readme.indexOf('| measure | tickgate | raw uWS |');
  expect(start, 'README has the benchmark table').toBeGreaterThan(0);
  const lines = readme.slice(start).split('\n');
  const out: { measure: string; figure: string[] }[] = [];
  for (const line of lines.slice(2)) {
    if (!line.startsWith('|')) break;
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    for (const cell of cells.slice(1)) {
      const text = cell
        .replace(/\*\*/g, '')
        .replace(/\(.*\)$/, '')
        .trim();
      if (text === '') continue;
      out.push({ measure: cells[0]!, figure: text.split(/\s+/).filter((t) => !UNITS.has(t)) });
    }
  }
  return out;
}

describe("README's benchmark table", () => {
  it('states only figures that are in the committed results (bench/results/S1, S2, S3, S6 .json)', () => {
    const cells = resultCells();
    const figures = readmeFigures();
    expect(figures.length).toBeGreaterThan(30);
    const missing = figures.filter(({ figure }) => !cells.some((cell) => figure.every((token, i) => cell[i] === token)));
    expect(missing.map((m) => `${m.measure}: ${m.figure.join(' ')}`)).toEqual([]);
  });

  it('names the commands the committed results were produced by', () => {
    for (const s of SCENARIOS) expect(readme, `${s}'s command`).toContain(results(s).command);
  });
});
