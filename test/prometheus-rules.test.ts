/**
 * The alert rules shipped in dashboards/prometheus/tickgate.rules.yml: accepted by promtool,
 * their unit tests (tickgate.rules.test.yml) pass, every metric they name is exported by a
 * running gateway, and docs/operations.md describes exactly these alerts.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metricFamilies, metricNames, resolveMetric } from './e2e/promql.ts';
import { startGateway, type Started } from './helpers.ts';

const PROMTOOL = process.env.TICKGATE_PROMTOOL ?? '/usr/bin/promtool';
const RULES = fileURLToPath(new URL('../dashboards/prometheus/tickgate.rules.yml', import.meta.url));
const RULE_TESTS = fileURLToPath(new URL('../dashboards/prometheus/tickgate.rules.test.yml', import.meta.url));
const OPERATIONS = fileURLToPath(new URL('../docs/operations.md', import.meta.url));

const text = readFileSync(RULES, 'utf8');
/** `- alert: Name` followed by its `expr:` (the file keeps each expression on one line). */
const alerts = [...text.matchAll(/- alert: (\w+)\n\s+expr: (.+)\n/g)].map((m) => ({ name: m[1]!, expr: m[2]! }));

function promtoolMissing(): boolean {
  if (existsSync(PROMTOOL)) return false;
  const bar = '!'.repeat(100);
  process.stderr.write(
    `\n${bar}\n!! SKIPPING promtool rule checks: ${PROMTOOL} not found; install it with "apt-get install -y prometheus" (.ci/run does)\n${bar}\n\n`,
  );
  return true;
}
const noPromtool = promtoolMissing();

describe('alert rules', () => {
  it('every alert is read from the file, and docs/operations.md lists exactly these', () => {
    expect(alerts.length).toBe((text.match(/- alert: /g) ?? []).length);
    expect(alerts.length).toBeGreaterThanOrEqual(8);
    const documented = [...readFileSync(OPERATIONS, 'utf8').matchAll(/\| `(Tickgate\w+)` \|/g)].map((m) => m[1]);
    expect(documented.sort()).toEqual(alerts.map((a) => a.name).sort());
  });

  describe('against a running gateway', () => {
    let s: Started;
    beforeAll(async () => {
      s = await startGateway({ feeds: [{ adapter: 'sim-fx' }] });
    });
    afterAll(async () => {
      await s.gw.stop();
    });

    it("names only metrics the gateway exports (and Prometheus's own `up`)", async () => {
      const families = metricFamilies(await (await fetch(`${s.http}/metrics`)).text());
      const unknown = alerts.flatMap(({ name, expr }) =>
        metricNames(expr)
          .filter((m) => m !== 'up' && resolveMetric(m, families) === null)
          .map((m) => `${name}: ${m}`),
      );
      expect(unknown).toEqual([]);
    });
  });
});

describe.skipIf(noPromtool)('promtool', () => {
  it('check rules accepts the file', () => {
    const r = spawnSync(PROMTOOL, ['check', 'rules', RULES], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${alerts.length} rules found`);
  });

  it('test rules: the alerts fire (and stay quiet) as their unit tests say', () => {
    const r = spawnSync(PROMTOOL, ['test', 'rules', RULE_TESTS], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('SUCCESS');
  });
});
