/**
 * Where the uWebSockets.js native binary cannot load (glibc older than the Node 22/24 binaries
 * need, or a Node version without a binary), `tickgate` fails at start with one clear line and
 * exit code 1, not a stack trace. The failure is simulated by a preload that makes the
 * `uWebSockets.js` import throw what uws.js throws in those cases.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
const preload = fileURLToPath(new URL('./fixtures/uws-unloadable.mjs', import.meta.url));

async function serveWithBrokenBinary(kind: 'glibc' | 'abi'): Promise<{ code: number; out: string; err: string }> {
  const child = spawn(process.execPath, ['--import', preload, bin, 'serve', '--port', '0', '--feeds', 'none'], {
    env: { ...process.env, TG_TEST_UWS: kind },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const [code] = (await once(child, 'exit')) as [number];
  clearTimeout(timer);
  return { code, out, err };
}

describe('a uWebSockets.js binary that cannot load', () => {
  it('glibc too old: one line naming the binary, the glibc needed and what to do; exit 1', async () => {
    const { code, out, err } = await serveWithBrokenBinary('glibc');
    expect(code).toBe(1);
    expect(out).toBe('');
    const lines = err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^tickgate: cannot load the uWebSockets\.js native binary uws_\w+_\d+\.node under Node v[\d.]+: it needs glibc >= 2\.38, this system has [\d.]+ .*Debian 13, Ubuntu 24\.04.*See "Node versions" in the README\.$/,
    );
    expect(err).not.toMatch(/\n\s+at /);
  });

  it('no binary for this Node version: one line saying which versions have one; exit 1', async () => {
    const { code, err } = await serveWithBrokenBinary('abi');
    expect(code).toBe(1);
    const lines = err.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^tickgate: cannot load the uWebSockets\.js native binary .*: uWebSockets\.js has no binary for Node v[\d.]+ on linux-x64 \(ABI \d+\); use Node 20, 22, 24 or 25\./,
    );
  });
});
