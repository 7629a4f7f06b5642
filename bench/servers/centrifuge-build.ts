/**
 * Builds the centrifuge baseline (servers/centrifuge/main.go) on first use, offline, in GOPATH
 * mode against the Go sources Debian installs under /usr/share/gocode
 * (golang-github-centrifugal-centrifuge-dev 0.15 and its dependencies). The binary is cached in
 * bench/.cache/ under a hash of main.go, so it is rebuilt only when the source changes.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BENCH_DIR } from '../lib/ipc.ts';

export const CENTRIFUGE_VERSION = 'centrifuge 0.15 (Debian golang-github-centrifugal-centrifuge-dev), JSON protocol, in-memory broker';
const SOURCE = path.join(BENCH_DIR, 'servers', 'centrifuge', 'main.go');
const GOPATH_SYSTEM = '/usr/share/gocode';
const LIBRARY = 'github.com/centrifugal/centrifuge';

/** Why the baseline cannot be built here, or null when it can. */
export function centrifugeUnavailable(gopaths: string[] = goPaths()): string | null {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'Go is not installed (apt-get install golang-go golang-github-centrifugal-centrifuge-dev)';
  }
  if (!gopaths.some((p) => existsSync(path.join(p, 'src', LIBRARY, 'node.go')))) {
    return `the Go library ${LIBRARY} is not in ${gopaths.join(':')} (apt-get install golang-github-centrifugal-centrifuge-dev)`;
  }
  return null;
}

function goPaths(): string[] {
  return [...(process.env.GOPATH ?? '').split(':').filter(Boolean), GOPATH_SYSTEM];
}

/** Path of the built binary, building it first if needed (takes ~10–30 s once). Throws with a one-line reason. */
export async function ensureCentrifugeBinary(): Promise<string> {
  const source = readFileSync(SOURCE);
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 12);
  const dir = path.join(BENCH_DIR, '.cache', 'centrifuge');
  const bin = path.join(dir, `centrifuge-bench-${hash}`);
  if (existsSync(bin)) return bin;
  const gopaths = goPaths();
  const missing = centrifugeUnavailable(gopaths);
  if (missing) throw new Error(`centrifuge baseline unavailable: ${missing}`);
  mkdirSync(dir, { recursive: true });
  // GOPATH mode wants the main package under <gopath>/src; a private temporary GOPATH holds it.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tickgate-centrifuge-'));
  try {
    const pkg = path.join(tmp, 'src', 'tgbench');
    mkdirSync(pkg, { recursive: true });
    copyFileSync(SOURCE, path.join(pkg, 'main.go'));
    const out = path.join(tmp, 'centrifuge-bench');
    try {
      // Asynchronous: the harness keeps serving its children's IPC while Go compiles.
      await promisify(execFile)('go', ['build', '-o', out, '.'], {
        cwd: pkg,
        timeout: 300_000,
        env: {
          ...process.env,
          GO111MODULE: 'off',
          GOPROXY: 'off',
          GOFLAGS: '',
          GOPATH: [tmp, ...gopaths].join(':'),
          GOCACHE: process.env.GOCACHE ?? path.join(BENCH_DIR, '.cache', 'go-build'),
        },
      });
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '').trim();
      throw new Error(`centrifuge baseline did not build: ${stderr.split('\n').slice(0, 3).join(' | ') || String(err)}`);
    }
    // Rename is atomic: a concurrent build of the same source just replaces an identical file.
    renameSync(out, bin);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bin;
}
