import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { killCliProcesses, runCli } from './cli-process.ts';
import { startGateway, TestClient } from './helpers.ts';

const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
afterEach(() => {
  killCliProcesses();
});

describe('tickgate CLI', { timeout: 60_000 }, () => {
  it('--version and --help', async () => {
    const v = runCli(['--version']);
    expect(await v.exited).toBe(0);
    expect(v.out().trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = runCli(['--help']);
    expect(await h.exited).toBe(0);
    expect(h.out()).toContain('tickgate serve');
    expect(h.out()).toContain('--port');
    for (const name of ['serve', 'ingest', 'tail', 'record', 'config']) expect(h.out()).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
  });

  it('serve --help is its own help; a bad flag exits 2 with one line (the other commands: test/commands.test.ts, in-process)', async () => {
    const h = runCli(['serve', '--help']);
    const bad = runCli(['tail', 'fx.*.quote', '--bogus']);
    expect(await h.exited).toBe(0);
    expect(h.out()).toMatch(/^Usage: tickgate serve \[options\]/);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toBe(`tickgate: Unknown option '--bogus'; run "tickgate tail --help"\n`);
  });

  it('logs: JSON lines when stdout is a pipe, human-readable with --log-format pretty', async () => {
    const pretty = runCli(['serve', '--port', '0', '--feeds', 'sim-fx', '--log-format', 'pretty']);
    await pretty.waitForOutput(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}feed running feed=sim-fx$/m);
    const json = runCli(['serve', '--port', '0', '--feeds', 'sim-fx']);
    await json.waitForOutput(/^\{.*"msg":"feed running"/m);
    const line = json
      .out()
      .split('\n')
      .find((l) => l.includes('"feed running"'))!;
    expect(JSON.parse(line)).toMatchObject({ level: 30, feed: 'sim-fx', msg: 'feed running' });
    pretty.child.kill('SIGTERM');
    json.child.kill('SIGTERM');
    expect(await pretty.exited).toBe(0);
    expect(await json.exited).toBe(0);
    expect(pretty.out()).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}shutting down signal=SIGTERM$/m);
    expect(pretty.out()).not.toContain('"level"');
  });

  it('serve prints its URLs, streams the simulated feeds, and on SIGINT closes clients with 1001 and exits 0', async () => {
    const p = runCli(['serve', '--port', '0', '--log-level', 'warn']);
    const [, stream] = await p.waitForOutput(/stream\s+(ws:\/\/127\.0\.0\.1:\d+\/v1\/stream)/);
    const [, metricsUrl] = await p.waitForOutput(/metrics\s+(http:\/\/\S+\/metrics)/);
    expect(p.out()).toMatch(/health\s+http:\/\/127\.0\.0\.1:\d+\/healthz/);

    const c = await TestClient.connect(stream!);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote', 'fx.*.quote'] });
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.AAPL.quote', { timeoutMs: 10_000 });
    await c.waitFor((f) => f.t === 'ticks' && f.topic.startsWith('fx.'), { timeoutMs: 10_000 });
    const metrics = await (await fetch(metricsUrl!)).text();
    expect(metrics).toMatch(/tickgate_ticks_in_total\{feed="sim-equity"\} [1-9]/);

    p.child.kill('SIGINT');
    await c.whenClosed();
    expect(c.closeCode).toBe(1001);
    expect(await p.exited).toBe(0);
  });

  it('stops with exit code 2 and one line naming the bad key', async () => {
    const p = runCli(['serve', '--port', 'abc']);
    expect(await p.exited).toBe(2);
    const lines = p.err().trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^tickgate: invalid config: port: .*\(got "abc"\) \[from command line\]$/);

    const e = runCli(['serve'], { TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES: 'lots' });
    expect(await e.exited).toBe(2);
    expect(e.err().trim()).toMatch(
      /^tickgate: invalid config: transport\.maxMessageBytes: .*\[from env TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES\]$/,
    );

    const u = runCli(['serve', '--feeds', 'sim-stocks']);
    expect(await u.exited).toBe(2);
    expect(u.err().trim()).toMatch(
      /^tickgate: invalid config: feeds\.0\.adapter: unknown adapter "sim-stocks"; available: sim-equity, sim-fx, replay, upstream-ws$/,
    );

    const f = runCli(['serve', '--bogus']);
    expect(await f.exited).toBe(2);
    expect(f.err().trim()).toMatch(/^tickgate: .*--bogus/);
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const first = runCli(['serve', '--port', '0', '--feeds', 'none', '--log-level', 'warn']);
    const [, port] = await first.waitForOutput(/127\.0\.0\.1:(\d+)\/v1\/stream/);
    const second = runCli(['serve', '--port', port!, '--feeds', 'none', '--log-level', 'warn']);
    expect(await second.exited).toBe(1);
    expect(second.err()).toMatch(new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}`));
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
  });

  it('tail streams ticks as NDJSON and exits 0 on Ctrl-C', async () => {
    const g = await startGateway({ feeds: [{ adapter: 'sim-fx', options: { ticksPerSecond: 500, pairs: ['EURUSD', 'GBPUSD'] } }] });
    try {
      const p = runCli(['tail', 'fx.*.quote', '--url', g.stream, '--json']);
      await p.waitForOutput(/("topic":"fx\.GBPUSD\.quote"[\s\S]*){3}/);
      const ticks = p
        .out()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { topic: string; seq: number; bid: number });
      expect(ticks.every((t) => t.topic.startsWith('fx.') && t.bid > 0)).toBe(true);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
    } finally {
      await g.gw.stop();
    }
  });

  it('tail piped into head: lines of ticks with whole sizes, then a quiet exit 0 when head quits (no EPIPE trace)', async () => {
    const g = await startGateway({ feeds: [{ adapter: 'sim-equity', options: { ticksPerSecond: 2000 } }] });
    try {
      const sh = spawn('bash', [
        '-c',
        `"${process.execPath}" "${bin}" tail 'equity.*.trade' --url ${g.stream} | head -n 5; echo "status=\${PIPESTATUS[*]}" >&2`,
      ]);
      let out = '';
      let err = '';
      sh.stdout.on('data', (d: Buffer) => (out += d.toString()));
      sh.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => sh.kill('SIGKILL'), 20_000);
      await once(sh, 'exit');
      clearTimeout(timer);
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(5);
      for (const l of lines) expect(l).toMatch(/^equity\.[A-Z-]+\.trade seq=\d+ price=\d+(\.\d+)? size=\d+$/);
      expect(err.trim()).toBe('status=0 0');
    } finally {
      await g.gw.stop();
    }
  });

  it('tail says clearly when the gateway is unreachable, and exits 1', async () => {
    const p = runCli(['tail', 'fx.EURUSD.quote', '--url', 'ws://127.0.0.1:1/v1/stream']);
    expect(await p.exited).toBe(1);
    expect(p.err()).toMatch(/^tickgate: cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/stream/);
    const bad = runCli(['tail', 'fx..quote']);
    expect(await bad.exited).toBe(2);
    expect(bad.err()).toMatch(/^tickgate: topic "fx\.\.quote"/);
  });
});
