import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const script = path.join(import.meta.dirname, 'tick-path.ts');
const out = mkdtempSync(path.join(tmpdir(), 'tick-path-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench:tick-path', () => {
  it('runs every case, compares each with its baseline and writes its table', async () => {
    await run(process.execPath, ['--import', 'tsx', script, '--repeats', '1', '--ticks', '5000', '--out', out], { timeout: 60_000 });
    const md = readFileSync(path.join(out, 'tick-path.md'), 'utf8');
    const json = JSON.parse(readFileSync(path.join(out, 'tick-path.json'), 'utf8')) as {
      rows: { case: string; ns: { median: number } }[];
      runs: Record<string, { bytesOut: number }[]>;
    };
    expect(json.rows.map((r) => r.case)).toEqual([
      'raw uWS publisher, 10 ticks/frame',
      'tickgate bus, 10 ticks/frame',
      'raw uWS publisher, 1 tick/frame',
      'tickgate bus, 1 tick/frame',
      'encode 10 quotes: msgpackr',
      'encode 10 quotes: TicksFrameEncoder',
      'history of 1,000: objects',
      'history of 1,000: numbers',
    ]);
    for (const row of json.rows) expect(row.ns.median).toBeGreaterThan(0);
    for (const [name, runs] of Object.entries(json.runs)) expect(runs[0]!.bytesOut, name).toBeGreaterThan(0);
    expect(md).toContain('| tickgate bus, 10 ticks/frame |');
    expect(md).toContain('npm run bench:tick-path -- --repeats 1 --ticks 5000');
  }, 90_000);

  it('refuses a tick count it cannot measure, with one line and exit code 2', async () => {
    const err = await run(process.execPath, ['--import', 'tsx', script, '--ticks', '10'], { timeout: 30_000 }).catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect((err as { code: number }).code).toBe(2);
    expect((err as { stderr: string }).stderr.trim()).toBe('tick-path: --ticks must be an integer ≥ 1000 and --repeats ≥ 1');
  }, 40_000);
});
