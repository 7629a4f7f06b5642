/**
 * Builds the trading dashboard into dashboards/trading/dist/ with esbuild:
 *
 *   dist/index.html                 the page (references the hashed assets)
 *   dist/assets/app-<HASH>.js       one ES module: the app, lightweight-charts, @msgpack/msgpack
 *   dist/assets/app-<HASH>.css
 *   dist/assets/*.map               source maps
 *   <file>.gz                       gzip variants the gateway serves to clients that accept them
 *
 * Run by `npm start` (prestart), `npm run build:dashboard`, and the dashboard tests. Takes well
 * under a second. The output is deterministic (content-hashed names, gzip without timestamps) and
 * every file is written to a temporary name and renamed into place, so concurrent builds (two
 * test workers) and a gateway reading dist/ at start-up never see a half-written file.
 */
import { build } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const HERE = dirname(fileURLToPath(import.meta.url));
export const DASHBOARD_SRC_DIR = join(HERE, 'src');
export const DASHBOARD_OUT_DIR = join(HERE, 'dist');

/** Extensions worth gzipping (source maps are rarely fetched; not worth the space). */
const GZIP = /\.(html|js|css|svg|txt|json)$/;

export interface BuildResult {
  outDir: string;
  /** Paths relative to outDir, '/'-separated, without the .gz variants. */
  files: string[];
  ms: number;
}

export interface BuildOptions {
  /** Default true; `--dev` on the command line turns it off (readable stack traces and profiles). */
  minify?: boolean;
}

export async function buildDashboard(outDir: string = DASHBOARD_OUT_DIR, options: BuildOptions = {}): Promise<BuildResult> {
  const started = performance.now();
  const assetsDir = join(outDir, 'assets');
  const result = await build({
    entryPoints: { app: join(DASHBOARD_SRC_DIR, 'main.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome110', 'firefox115', 'safari16'],
    minify: options.minify ?? true,
    sourcemap: 'linked',
    legalComments: 'linked',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: assetsDir,
    write: false,
    logLevel: 'silent',
    metafile: false,
    // The workspace client package from its sources, not a possibly stale dist/.
    conditions: ['tickgate-source'],
  });
  if (result.errors.length > 0) throw new Error(`dashboard build failed: ${result.errors.map((e) => e.text).join('; ')}`);

  const outputs = new Map<string, Uint8Array>();
  for (const file of result.outputFiles) outputs.set(relative(outDir, file.path).split('\\').join('/'), file.contents);
  const js = [...outputs.keys()].find((p) => /^assets\/app-[A-Z0-9]+\.js$/.test(p));
  const css = [...outputs.keys()].find((p) => /^assets\/app-[A-Z0-9]+\.css$/.test(p));
  if (js === undefined || css === undefined) throw new Error(`dashboard build: missing app js/css in ${[...outputs.keys()].join(', ')}`);

  const template = readFileSync(join(HERE, 'index.html'), 'utf8');
  const html = template.replaceAll('%APP_JS%', `./${js}`).replaceAll('%APP_CSS%', `./${css}`);
  if (html.includes('%APP_')) throw new Error('dashboard build: unreplaced placeholder in index.html');
  outputs.set('index.html', new TextEncoder().encode(html));

  mkdirSync(assetsDir, { recursive: true });
  const keep = new Set<string>();
  for (const [path, contents] of outputs) {
    writeAtomically(join(outDir, path), contents);
    keep.add(path);
    if (GZIP.test(path)) {
      writeAtomically(join(outDir, `${path}.gz`), gzipSync(contents, { level: 9 }));
      keep.add(`${path}.gz`);
    }
  }
  // Remove assets of earlier builds (other hashes). Temporary files of a concurrent build are left alone.
  for (const name of readdirSync(assetsDir)) {
    const path = `assets/${name}`;
    if (!keep.has(path) && !name.includes('.tmp-')) rmSync(join(assetsDir, name), { force: true });
  }
  return { outDir, files: [...outputs.keys()].sort(), ms: Math.round(performance.now() - started) };
}

function writeAtomically(path: string, contents: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, contents);
  renameSync(tmp, path);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { outDir, files, ms } = await buildDashboard(DASHBOARD_OUT_DIR, { minify: !process.argv.includes('--dev') });
  process.stdout.write(
    `dashboard built in ${ms} ms: ${files.map((f) => basename(f)).join(', ')} -> ${relative(process.cwd(), outDir) || '.'}\n`,
  );
}
