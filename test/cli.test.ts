import { killCliProcesses, runCli } from './cli-process.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { startGateway, TestClient } from './helpers.ts';



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
    expect(e.err().trim()).toMatch(/^tickgate: invalid config: transport\.maxMessageBytes: .*\[from env TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES\]$/);

    const u = runCli(['serve', '--feeds', 'sim-stocks']);
    expect(await u.exited).toBe(2);
    expect(u.err().trim()).toMatch(/^tickgate: invalid config: feeds\.0\.adapter: unknown adapter "sim-stocks"; available: sim-equity, sim-fx, replay, upstream-ws$/);

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
      const ticks = p.out().trim().split('\n').map((l) => JSON.parse(l) as { topic: string; seq: number; bid: number });
      expect(ticks.every((t) => t.topic.startsWith('fx.') && t.bid > 0)).toBe(true);
      p.child.kill('SIGINT');
      expect(await p.exited).toBe(0);
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

