/**
 * The browser build's size budget (≤ 15 KB min+gzip) and its freedom from Node-only code, measured
 * by bundling with esbuild exactly as a page would: `platform: 'browser'` picks the `browser`
 * export condition of @tickgate/client.
 */
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const BUDGET_BYTES = 15 * 1024;

async function bundle(contents: string): Promise<{ minGzip: number; min: number; inputs: string[] }> {
  const result = await build({
    stdin: { contents, resolveDir: PACKAGE_DIR, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    // The package's own sources (the `tickgate-source` condition), so the test needs no build first.
    conditions: ['tickgate-source'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const js = result.outputFiles[0]!.contents;
  return { min: js.length, minGzip: gzipSync(js, { level: 9 }).length, inputs: Object.keys(result.metafile.inputs) };
}

describe('@tickgate/client browser bundle', () => {
  it('a page that connects and subscribes stays within 15 KB min+gzip, with no Node-only code', async () => {
    const page = await bundle(`import { connect } from '@tickgate/client';
      const c = connect('ws://127.0.0.1:9001/v1/stream');
      c.on('gap', (t, f, to, r) => console.warn(t, f, to, r));
      c.subscribe('fx.*.quote', (tick) => console.log(tick.topic, tick.bid));`);
    process.stdout.write(`@tickgate/client browser page bundle: ${page.min} B min, ${page.minGzip} B min+gzip\n`);
    expect(page.minGzip).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(page.inputs.filter((p) => /(^|\/)node_modules\/ws\/|^node:|src\/node\.ts$/.test(p))).toEqual([]);
    expect(page.inputs.some((p) => p.endsWith('src/browser.ts'))).toBe(true);
  });

  it('everything the browser build exports stays within the budget too', async () => {
    const all = await bundle(`export * from '@tickgate/client';`);
    process.stdout.write(`@tickgate/client browser build, all exports: ${all.min} B min, ${all.minGzip} B min+gzip\n`);
    expect(all.minGzip).toBeLessThanOrEqual(BUDGET_BYTES);
    expect(all.inputs.filter((p) => /node_modules\/ws\/|^node:/.test(p))).toEqual([]);
  });
});
