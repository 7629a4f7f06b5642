import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load.ts';

function tempConfig(obj: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tickgate-config-')), 'config.json');
  writeFileSync(file, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return file;
}

describe('config', () => {
  it('has embedded defaults: 127.0.0.1:9001 with the simulated equity and FX feeds', () => {
    const c = loadConfig();
    expect(c.host).toBe('127.0.0.1');
    expect(c.port).toBe(9001);
    expect(c.feeds.map((f) => f.adapter)).toEqual(['sim-equity', 'sim-fx']);
    expect(c.bus.maxTicksPerFrame).toBeGreaterThan(1);
  });

  it('layers defaults < file < env < flags', () => {
    const file = tempConfig({ port: 1000, host: '0.0.0.0', transport: { maxMessageBytes: 2048 } });
    const env = {
      TICKGATE_PORT: '2000',
      TICKGATE_TRANSPORT__IDLE_TIMEOUT_SECONDS: '60',
      TICKGATE_FEEDS: 'sim-fx',
      TICKGATE_CONFLATION__TIERS: '[1, 5]',
      HOME: '/root',
    };
    const c = loadConfig({ file, env, flags: { port: 3000 } });
    expect(c.port).toBe(3000);
    expect(c.host).toBe('0.0.0.0');
    expect(c.transport.maxMessageBytes).toBe(2048);
    expect(c.transport.idleTimeoutSeconds).toBe(60);
    expect(c.transport.maxBackpressureBytes).toBe(4_194_304);
    expect(c.feeds).toEqual([{ adapter: 'sim-fx', options: {} }]);
    expect(c.conflation.tiers).toEqual([1, 5]);
    expect(loadConfig({ file, env }).port).toBe(2000);
    expect(loadConfig({ file }).port).toBe(1000);
  });

  it.each([
    [{ env: { TICKGATE_PORT: 'abc' } }, /^invalid config: port: .*expected number.*\(got "abc"\) \[from env TICKGATE_PORT\]$/],
    [{ flags: { port: 70000 } }, /^invalid config: port: .*65535.*\[from command line\]$/],
    [{ env: { TICKGATE_LOG_LEVEL: 'loud' } }, /^invalid config: logLevel: .*"info".*\(got "loud"\)/],
    [{ env: { TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES: '10' } }, /^invalid config: transport\.maxMessageBytes: .*256/],
    [
      { env: { TICKGATE_PROT: '1' } },
      /^invalid config: prot: unknown key; allowed keys here: host, port, workers, logLevel, logFormat, feeds, bus, transport, conflation/,
    ],
    [
      { file: tempConfig({ transport: { maxMesageBytes: 1 } }) },
      /^invalid config: transport\.maxMesageBytes: unknown key; allowed keys here: maxMessageBytes/,
    ],
    [{ file: tempConfig('{ port: 1 ') }, /is not valid JSON/],
    [{ file: '/nonexistent/tickgate.json' }, /cannot read config file \/nonexistent\/tickgate\.json: ENOENT/],
    [{ flags: { feeds: [{ adapter: 'sim-fx' }, { adapter: 'sim-fx' }] } }, /feeds\.1\.id: duplicate feed id "sim-fx"/],
  ])('stops with one line naming the key and what is allowed: %j', (sources, message) => {
    let error: unknown;
    try {
      loadConfig(sources as Parameters<typeof loadConfig>[0]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const text = (error as Error).message;
    expect(text).toMatch(message);
    expect(text).not.toContain('\n');
  });
});
