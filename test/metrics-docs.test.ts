/**
 * The metric registry and the docs cannot drift: every `tickgate_*` metric the code registers is
 * in a metrics table of the README or docs/scaling.md, every `tickgate_*` name any doc mentions
 * exists, and the label values the README lists for a labelled counter are exactly the ones the
 * code zero-initialises (so dashboards and rate() see them before the first event).
 * fastify's error-code test is the model: read the docs, compare with the registry.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLOSE_REASONS, createMetrics, REFUSAL_REASONS, SLOW_CONSUMER_ACTIONS } from '../src/metrics/metrics.ts';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');
const docs = [
  'README.md',
  ...readdirSync(new URL('docs/', root))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];

/** Metric names in the first column of a markdown table (`a` / `b` rows count both). */
function tableMetrics(markdown: string): Set<string> {
  const names = new Set<string>();
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('| `tickgate_')) continue;
    const first = line.split('|')[1]!;
    for (const m of first.matchAll(/`(tickgate_[a-z_]+)`/g)) names.add(m[1]!);
  }
  return names;
}

/** The values listed in parentheses in the README metrics table's labels column for one metric. */
function listedLabelValues(metric: string): string[] {
  const row = read('README.md')
    .split('\n')
    .find((l) => l.startsWith(`| \`${metric}\``));
  if (row === undefined) throw new Error(`${metric} has no row in the README metrics table`);
  const labels = row.split('|')[3]!;
  const inParens = /\(([^)]*)\)/.exec(labels);
  if (inParens === null) throw new Error(`${metric}: the README lists no label values`);
  return inParens[1]!.split(',').map((v) => v.trim());
}

async function registered(): Promise<Map<string, { labels: Map<string, Set<string>> }>> {
  const metrics = createMetrics(undefined, { processMetrics: false });
  const out = new Map<string, { labels: Map<string, Set<string>> }>();
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    const labels = new Map<string, Set<string>>();
    for (const value of metric.values) {
      for (const [k, v] of Object.entries(value.labels)) {
        if (k === 'le') continue;
        if (!labels.has(k)) labels.set(k, new Set());
        labels.get(k)!.add(String(v));
      }
    }
    out.set(metric.name, { labels });
  }
  return out;
}

describe('metrics and the docs', () => {
  it('every registered tickgate_* metric is in a metrics table (README "Metrics" or docs/scaling.md)', async () => {
    const documented = new Set([...tableMetrics(read('README.md')), ...tableMetrics(read('docs/scaling.md'))]);
    const names = [...(await registered()).keys()].filter((n) => n.startsWith('tickgate_'));
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !documented.has(n))).toEqual([]);
  });

  it('every tickgate_* metric a doc names exists in the registry', async () => {
    const names = new Set((await registered()).keys());
    const suffixes = ['_bucket', '_sum', '_count'];
    const missing: string[] = [];
    for (const doc of docs) {
      for (const m of read(doc).matchAll(/\btickgate_[a-z_]*[a-z]\b/g)) {
        const name = m[0];
        const base = suffixes.reduce((n, s) => (n.endsWith(s) && names.has(n.slice(0, -s.length)) ? n.slice(0, -s.length) : n), name);
        if (!names.has(base)) missing.push(`${doc}: ${name}`);
      }
    }
    expect([...new Set(missing)]).toEqual([]);
  });

  it.each([
    ['tickgate_connections_refused_total', 'reason', REFUSAL_REASONS],
    ['tickgate_connections_closed_total', 'reason', CLOSE_REASONS],
    ['tickgate_slow_consumer_actions_total', 'action', SLOW_CONSUMER_ACTIONS],
  ] as const)('%s: the README lists exactly the %s values the code zero-initialises', async (metric, label, values) => {
    const seen = (await registered()).get(metric)?.labels.get(label) ?? new Set<string>();
    expect([...seen].sort()).toEqual([...values].sort());
    expect(listedLabelValues(metric).sort()).toEqual([...values].sort());
  });
});
