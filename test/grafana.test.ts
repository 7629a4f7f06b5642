/**
 * The operators' Grafana dashboard (dashboards/grafana/tickgate.json): valid, generated from
 * dashboards/grafana/build.ts, unique ids, provisioning-friendly datasource, every metric it
 * names exported by a running gateway, and every PromQL expression accepted by promtool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DASHBOARD_UID, GRAFANA_DASHBOARD_PATH, renderGrafanaDashboard } from '../dashboards/grafana/build.ts';
import { metricFamilies, metricNames, resolveMetric, substituteGrafanaVariables } from './e2e/promql.ts';
import { startGateway, type Started } from './helpers.ts';

const PROMTOOL = process.env.TICKGATE_PROMTOOL ?? '/usr/bin/promtool';
const SCRAPE_CONFIG = fileURLToPath(new URL('../dashboards/grafana/prometheus.yml', import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: decoded JSON/MessagePack read field by field in assertions
type Json = Record<string, any>;

const text = readFileSync(GRAFANA_DASHBOARD_PATH, 'utf8');
const dashboard = JSON.parse(text) as Json;

/** Every panel, including panels nested in collapsed rows. */
function allPanels(d: Json): Json[] {
  return (d.panels as Json[]).flatMap((p) => [p, ...((p.panels as Json[] | undefined) ?? [])]);
}
const queryPanels = allPanels(dashboard).filter((p) => p.type !== 'row');
const expressions = queryPanels.flatMap((p) =>
  (p.targets as Json[]).map((t) => ({ panel: p, refId: t.refId as string, expr: t.expr as string })),
);

function promtoolMissing(): boolean {
  if (existsSync(PROMTOOL)) return false;
  const bar = '!'.repeat(100);
  process.stderr.write(
    `\n${bar}\n!! SKIPPING promtool checks: ${PROMTOOL} not found; install it with "apt-get install -y prometheus" (.ci/run does)\n${bar}\n\n`,
  );
  return true;
}
const noPromtool = promtoolMissing();

describe('Grafana dashboard JSON', () => {
  it('is the output of dashboards/grafana/build.ts (run `npm run build:grafana` after editing it)', () => {
    expect(text).toBe(renderGrafanaDashboard());
  });

  it('has a stable uid, unique panel ids, and panels on the 24-column grid without overlap', () => {
    expect(dashboard.uid).toBe(DASHBOARD_UID);
    expect(dashboard.uid).toMatch(/^[A-Za-z0-9_-]{1,40}$/);
    expect(dashboard.id ?? null).toBeNull();
    const panels = allPanels(dashboard);
    const ids = panels.map((p) => p.id as number);
    expect(ids.every((id) => Number.isInteger(id) && id > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    const cells = new Set<string>();
    for (const p of panels) {
      const { x, y, w, h } = p.gridPos as { x: number; y: number; w: number; h: number };
      expect(x >= 0 && w > 0 && x + w <= 24 && h > 0, `${p.title} grid ${JSON.stringify(p.gridPos)}`).toBe(true);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${p.title} overlaps another panel at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
    }
    expect(queryPanels.length).toBeGreaterThanOrEqual(20);
  });

  it('selects its datasource through a template variable, so file provisioning works', () => {
    expect(text).not.toContain('DS_PROMETHEUS');
    expect(dashboard.__inputs).toBeUndefined();
    const vars = dashboard.templating.list as Json[];
    expect(vars.find((v) => v.name === 'datasource')).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const p of queryPanels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      for (const t of p.targets as Json[]) expect(t.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    for (const v of vars.filter((x) => x.type === 'query')) expect(v.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
  });

  it('covers what operators need', () => {
    const all = expressions.map((e) => e.expr).join('\n');
    for (const needed of [
      'tickgate_connections',
      'tickgate_subscriptions',
      'tickgate_ticks_in_total',
      'tickgate_frames_out_total',
      'tickgate_bytes_out_total',
      'histogram_quantile(0.5,',
      'histogram_quantile(0.99,',
      'tickgate_frames_dropped_total',
      'tickgate_slow_consumer_actions_total',
      'tickgate_errors_total',
      'tickgate_feed_up',
      'nodejs_eventloop_lag_p99_seconds',
      'process_resident_memory_bytes',
    ]) {
      expect(all, needed).toContain(needed);
    }
  });
});

describe('PromQL reading', () => {
  it('finds metric names, not functions, keywords, labels, values or numbers', () => {
    expect(
      metricNames(
        'histogram_quantile(0.99, sum by (le) (rate(tickgate_publish_latency_seconds_bucket{job=~"$job", instance=~"a:1"}[$__rate_interval])))',
      ),
    ).toEqual(['tickgate_publish_latency_seconds_bucket']);
    expect(metricNames('count(tickgate_feed_up{feed="sum"} == 0) or vector(0)')).toEqual(['tickgate_feed_up']);
    expect(metricNames('sum(rate(a_total[5m] offset 1h)) / on (instance) group_left (feed) b_info > 1e3')).toEqual(['a_total', 'b_info']);
    expect(metricNames('max by (instance) (nodejs_eventloop_lag_p99_seconds)')).toEqual(['nodejs_eventloop_lag_p99_seconds']);
    expect(substituteGrafanaVariables('rate(x{instance=~"$instance", job=~"${job}"}[$__rate_interval])')).toBe(
      'rate(x{instance=~".*", job=~".*"}[5m])',
    );
  });

  it('resolves histogram series to their family', () => {
    const families = new Map([
      ['h_seconds', 'histogram'],
      ['s_seconds', 'summary'],
      ['c_total', 'counter'],
    ]);
    expect(resolveMetric('h_seconds_bucket', families)).toEqual({ name: 'h_seconds', type: 'histogram' });
    expect(resolveMetric('s_seconds_count', families)).toEqual({ name: 's_seconds', type: 'summary' });
    expect(resolveMetric('s_seconds_bucket', families)).toBeNull();
    expect(resolveMetric('c_total', families)).toEqual({ name: 'c_total', type: 'counter' });
    expect(resolveMetric('c_total_count', families)).toBeNull();
    expect(resolveMetric('nope', families)).toBeNull();
  });
});

describe('the dashboard against a running gateway', () => {
  let s: Started;
  let families: Map<string, string>;
  beforeAll(async () => {
    s = await startGateway({ feeds: [{ adapter: 'sim-equity' }, { adapter: 'sim-fx' }] });
    const res = await fetch(`${s.http}/metrics`);
    families = metricFamilies(await res.text());
  });
  afterAll(async () => {
    await s.gw.stop();
  });

  it('names only metrics the gateway exports', () => {
    expect(families.size).toBeGreaterThan(20);
    const unknown: string[] = [];
    for (const { panel, refId, expr } of expressions) {
      const names = metricNames(substituteGrafanaVariables(expr));
      expect(names.length, `${panel.title} ${refId}: no metric in ${expr}`).toBeGreaterThan(0);
      for (const name of names) if (resolveMetric(name, families) === null) unknown.push(`${panel.title} ${refId}: ${name}`);
    }
    for (const v of dashboard.templating.list as Json[]) {
      if (v.type !== 'query') continue;
      const inner = /label_values\((.*),\s*\w+\)$/.exec(v.query.query as string)![1]!;
      for (const name of metricNames(substituteGrafanaVariables(inner)))
        if (resolveMetric(name, families) === null) unknown.push(`variable ${v.name}: ${name}`);
    }
    expect(unknown).toEqual([]);
  });
});

describe.skipIf(noPromtool)('promtool', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'tickgate-grafana-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts every panel expression (as recording rules)', () => {
    const rules = expressions.map(
      ({ panel, refId, expr }) =>
        `      - record: tickgate_dashboard:panel_${panel.id as number}_${refId}\n        expr: ${JSON.stringify(substituteGrafanaVariables(expr))}\n`,
    );
    const file = join(dir, 'dashboard-rules.yml');
    writeFileSync(file, `groups:\n  - name: tickgate-dashboard\n    rules:\n${rules.join('')}`);
    const r = spawnSync(PROMTOOL, ['check', 'rules', file], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${expressions.length} rules found`);
  });

  it('accepts the example scrape config', () => {
    const r = spawnSync(PROMTOOL, ['check', 'config', SCRAPE_CONFIG], { encoding: 'utf8', timeout: 15_000 });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
  });
});
