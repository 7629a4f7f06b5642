/**
 * `tickgate config init | check | print` and the shipped JSON Schema of the config file.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { starterConfig } from '../src/commands/config.ts';
import { CONFIG_JSON_SCHEMA_PATH, renderConfigJsonSchema } from '../src/config/json-schema.ts';
import { loadConfig, stripJsonComments } from '../src/config/load.ts';
import { killCliProcesses, runCli } from './cli-process.ts';
import { runMain } from './run-main.ts';

const dir = mkdtempSync(join(tmpdir(), 'tickgate-config-cmd-'));
afterEach(() => killCliProcesses());
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const committed = readFileSync(CONFIG_JSON_SCHEMA_PATH, 'utf8');

describe('config JSON Schema', () => {
  it('is the output of src/config/json-schema.ts (run `npm run build:config-schema` after editing src/config/schema.ts)', () => {
    expect(committed).toBe(renderConfigJsonSchema());
  });

  it('accepts the starter config and rejects wrong types and unknown keys, as an editor would', () => {
    const schema = z.fromJSONSchema(JSON.parse(committed) as Parameters<typeof z.fromJSONSchema>[0]);
    const starter = JSON.parse(stripJsonComments(starterConfig('./schema/tickgate.config.schema.json'))) as unknown;
    expect(schema.safeParse(starter).success).toBe(true);
    expect(schema.safeParse({ port: 'x' }).success).toBe(false);
    expect(schema.safeParse({ transport: { maxMesageBytes: 1 } }).success).toBe(false);
    expect(schema.safeParse({ logFormat: 'pretty', feeds: [{ adapter: 'sim-fx', id: 'fx-1' }] }).success).toBe(true);
  });

  it('the starter config holds the defaults, so writing one changes nothing until it is edited', () => {
    const file = join(dir, 'starter.jsonc');
    writeFileSync(file, starterConfig('./x.json'));
    const { $schema, ...fromStarter } = loadConfig({ file });
    expect($schema).toBe('./x.json');
    expect(fromStarter).toEqual(loadConfig());
  });
});

describe('tickgate config', { timeout: 60_000 }, () => {
  // The first run goes through the bin (bin/tickgate-dev.js); the others run main() in-process (test/run-main.ts).
  it('init writes a commented starter with $schema, refuses to overwrite (exit 2) unless --force, and check accepts it', async () => {
    const file = join(dir, 'tickgate.config.jsonc');
    const init = runCli(['config', 'init', file]);
    expect(await init.exited).toBe(0);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\/\/ tickgate configuration/);
    const ref = /"\$schema": "([^"]+)"/.exec(text)![1]!;
    expect(readFileSync(join(dir, ref), 'utf8')).toBe(committed); // the relative path resolves to the shipped schema

    writeFileSync(file, '{}');
    const again = await runMain(['config', 'init', file]);
    expect(again.code).toBe(2);
    expect(again.err.trim().split('\n')).toEqual([`tickgate: ${file} exists; pass --force to overwrite it, or name another file`]);
    expect(readFileSync(file, 'utf8')).toBe('{}');
    const forced = await runMain(['config', 'init', file, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(text);

    const check = await runMain(['config', 'check', file]);
    expect(check.code).toBe(0);
    expect(check.out).toBe(`${file}: ok\n`);
  });

  it('check reports every problem at once, one line each, and exits 2', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      `{ // comments are fine
        "port": 70000, "logLevel": "loud",
        "transport": { "maxMesageBytes": 1, "idleTimeoutSeconds": 1 },
        "feeds": [{ "adapter": "sim-fx", "options": { "ticksPerSecond": -1 } }, { "adapter": "sim-stocks" }]
      }`,
    );
    const p = await runMain(['config', 'check', file]);
    expect(p.code).toBe(2);
    const lines = p.err.trim().split('\n');
    expect(lines).toEqual([
      expect.stringMatching(/: port: .*65535 \(got 70000\)$/),
      expect.stringMatching(/: logLevel: .*\(got "loud"\)$/),
      expect.stringMatching(/: transport\.idleTimeoutSeconds: .*>=8 \(got 1\)$/),
      expect.stringMatching(/: transport\.maxMesageBytes: unknown key; allowed keys here: maxMessageBytes/),
      expect.stringMatching(/: feeds\.0\.options\.ticksPerSecond: /),
      expect.stringMatching(/: feeds\.1\.adapter: unknown adapter "sim-stocks"; available: sim-equity, sim-fx/),
      `tickgate: 6 problems in ${file}`,
    ]);
    for (const l of lines.slice(0, -1)) expect(l.startsWith(`${file}: `)).toBe(true);

    const missing = await runMain(['config', 'check', join(dir, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/cannot read config file .*nope\.json: ENOENT/);
    const usage = await runMain(['config', 'check']);
    expect(usage.code).toBe(2);
    expect(usage.err.trim().split('\n')).toHaveLength(1);
  });

  it('print shows each value with its source (default, file, env, flag) and redacts secrets', async () => {
    const file = join(dir, 'print.json');
    writeFileSync(
      file,
      JSON.stringify({
        host: '0.0.0.0',
        port: 1000,
        metrics: { bearerToken: 'a-very-secret-token-123' },
        transport: { maxMessageBytes: 2048 },
      }),
    );
    const p = await runMain(['config', 'print', '--config', file, '--log-level', 'debug', '--json'], {
      TICKGATE_PORT: '2000',
      TICKGATE_LIVENESS__STALE_AFTER_MS: '9000',
    });
    expect(p.code).toBe(0);
    const rows = new Map((JSON.parse(p.out) as { key: string; value: unknown; source: string }[]).map((r) => [r.key, r]));
    expect(rows.get('host')).toEqual({ key: 'host', value: '0.0.0.0', source: `file ${file}` });
    expect(rows.get('port')).toEqual({ key: 'port', value: 2000, source: 'env TICKGATE_PORT' });
    expect(rows.get('logLevel')).toEqual({ key: 'logLevel', value: 'debug', source: 'flag' });
    expect(rows.get('liveness.staleAfterMs')).toMatchObject({ value: 9000, source: 'env TICKGATE_LIVENESS__STALE_AFTER_MS' });
    expect(rows.get('transport.maxMessageBytes')).toMatchObject({ value: 2048, source: `file ${file}` });
    expect(rows.get('transport.maxPayloadBytes')).toMatchObject({ value: 1_048_576, source: 'default' });
    expect(rows.get('metrics.bearerToken')).toMatchObject({ value: '<redacted>' });
    expect(p.out).not.toContain('a-very-secret-token-123');

    const table = await runMain(['config', 'print', '--port', '3000']);
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0]).toMatch(/^KEY\s+VALUE\s+SOURCE$/);
    expect(lines).toContainEqual(expect.stringMatching(/^port\s+3000\s+flag$/));
    expect(lines).toContainEqual(expect.stringMatching(/^host\s+"127\.0\.0\.1"\s+default$/));

    const bad = await runMain(['config', 'print', '--port', 'x']);
    expect(bad.code).toBe(2);
    expect(bad.err.trim()).toMatch(/^tickgate: invalid config: port: .*\[from command line\]$/);
  });
});
