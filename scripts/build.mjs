// `npm run build` (also `prepare` and `prestart`): compiles the workspace client package and the
// gateway to dist/ with declarations, builds the trading dashboard and puts it inside dist/, so a
// packed or installed gateway serves `/` by itself. Plain node: runs before anything else is built.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const started = performance.now();

function tsc(project) {
  let bin;
  try {
    bin = require.resolve('typescript/bin/tsc');
  } catch {
    process.stderr.write('tickgate build: typescript is not installed (a build needs the devDependencies: npm install)\n');
    process.exit(1);
  }
  execFileSync(process.execPath, [bin, '-p', project], { cwd: root, stdio: 'inherit' });
}

rmSync(join(root, 'packages/client/dist'), { recursive: true, force: true });
tsc('packages/client/tsconfig.build.json');

rmSync(join(root, 'dist'), { recursive: true, force: true });
tsc('tsconfig.build.json');

// The dashboard (esbuild, from TypeScript via tsx): built where the source checkout serves it, then
// copied to where the compiled gateway looks (dist/src/transport/static.js -> ../../dashboards/trading/dist).
execFileSync(process.execPath, ['--import', 'tsx', 'dashboards/trading/build.ts'], { cwd: root, stdio: 'inherit' });
cpSync(join(root, 'dashboards/trading/dist'), join(root, 'dist/dashboards/trading/dist'), {
  recursive: true,
  filter: (src) => !src.includes('.tmp-'),
});
// Data files the compiled feeds read next to their modules.
if (existsSync(join(root, 'feeds/replay/fixtures')))
  cpSync(join(root, 'feeds/replay/fixtures'), join(root, 'dist/feeds/replay/fixtures'), { recursive: true });

process.stdout.write(`tickgate built in ${Math.round(performance.now() - started)} ms: packages/client/dist, dist/\n`);
