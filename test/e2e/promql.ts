/**
 * Just enough PromQL reading to check a dashboard: substitute Grafana's variables, and list the
 * metric names an expression selects (not functions, aggregations, keywords, label names,
 * label values or durations).
 */

/**
 * Grafana's built-in and the dashboard's own variables, replaced by values Prometheus accepts.
 * `window` stands for $__rate_interval and friends; Grafana makes it at least four scrape
 * intervals. (rate() divides by the whole window, so a window longer than the data
 * under-reports: an end-to-end check must use one the scrapes have already covered.)
 */
export function substituteGrafanaVariables(expr: string, window = '5m'): string {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b|\$\{__(rate_interval|interval|range)\}/g, window)
    .replace(/\$\{[A-Za-z_][A-Za-z0-9_]*(?::[a-z]+)?\}|\$[A-Za-z_][A-Za-z0-9_]*/g, '.*');
}

const KEYWORDS = new Set([
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'and',
  'or',
  'unless',
  'offset',
  'atan2',
  'inf',
  'nan',
]);

/** Metric names selected by a PromQL expression, in order of first appearance. */
export function metricNames(expr: string): string[] {
  let s = expr;
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' '); // string literals (label values)
  s = s.replace(/\{[^}]*\}/g, ' '); // label matchers
  s = s.replace(/\[[^\]]*\]/g, ' '); // range and subquery windows
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/\boffset\s+-?[0-9a-z.]+/gi, ' ');
  s = s.replace(/(^|[^A-Za-z0-9_:])(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?/g, '$1 '); // numbers
  const names: string[] = [];
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const after = s.slice((m.index ?? 0) + word.length);
    if (/^\s*\(/.test(after)) continue; // a function or aggregation
    if (KEYWORDS.has(word.toLowerCase())) continue;
    if (!names.includes(word)) names.push(word);
  }
  return names;
}

export interface MetricFamily {
  name: string;
  type: string;
}

/** Families declared by `# TYPE` lines of a Prometheus text exposition (present even without samples). */
export function metricFamilies(exposition: string): Map<string, string> {
  const families = new Map<string, string>();
  for (const line of exposition.split('\n')) {
    const m = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)$/.exec(line);
    if (m) families.set(m[1]!, m[2]!);
  }
  return families;
}

/**
 * Where a name a query uses comes from: the family itself, or a histogram's `_bucket`, or a
 * histogram's or summary's `_sum`/`_count`. Null if the exposition has no such series.
 */
export function resolveMetric(name: string, families: Map<string, string>): MetricFamily | null {
  const type = families.get(name);
  if (type !== undefined) return { name, type };
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  if (m === null) return null;
  const base = families.get(m[1]!);
  if (base === 'histogram' || (base === 'summary' && m[2] !== 'bucket')) return { name: m[1]!, type: base };
  return null;
}
