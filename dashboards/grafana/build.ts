/**
 * Generates dashboards/grafana/tickgate.json, the operators' Grafana dashboard for tickgate's
 * Prometheus metrics. The panels are defined here, compactly, and laid out on Grafana's 24-column
 * grid automatically; the JSON is committed so it can be provisioned or imported as is.
 * test/grafana.test.ts checks that the committed file matches this generator.
 *
 *   npm run build:grafana
 *
 * Datasource: a `datasource` template variable (type prometheus), so the dashboard works with file
 * provisioning as well as UI import (`${DS_PROMETHEUS}` inputs are only resolved on UI import).
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const GRAFANA_DASHBOARD_PATH = fileURLToPath(new URL('./tickgate.json', import.meta.url));
export const DASHBOARD_UID = 'tickgate-overview';

/** Every query filters on the job and instance variables. */
const SEL = 'job=~"$job", instance=~"$instance"';
const RATE = '$__rate_interval';

type Unit = 'short' | 's' | 'Bps' | 'bytes' | 'percentunit' | 'ops' | 'none';

interface Query {
  expr: string;
  legend: string;
}

interface PanelSpec {
  title: string;
  type: 'timeseries' | 'stat' | 'state-timeline';
  description: string;
  unit: Unit;
  queries: Query[];
  /** Grid width (of 24). */
  w: number;
  h?: number;
  /** Stat/state panels: a value at or above this is red. */
  redAt?: number;
  /** Timeseries: stack the series. */
  stack?: boolean;
  mappings?: unknown[];
}

interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

const q = (expr: string, legend: string): Query => ({ expr, legend });

export const ROWS: RowSpec[] = [
  {
    title: 'Overview',
    panels: [
      {
        title: 'Connections',
        type: 'stat',
        unit: 'short',
        w: 4,
        h: 4,
        description: 'Open WebSocket connections (tickgate_connections).',
        queries: [q(`sum(tickgate_connections{${SEL}})`, 'connections')],
      },
      {
        title: 'Subscriptions',
        type: 'stat',
        unit: 'short',
        w: 4,
        h: 4,
        description: 'Topic subscriptions over all connections; a pattern counts once per topic it matches.',
        queries: [q(`sum(tickgate_subscriptions{${SEL}})`, 'subscriptions')],
      },
      {
        title: 'Topics',
        type: 'stat',
        unit: 'short',
        w: 4,
        h: 4,
        description: 'Topics known to the bus.',
        queries: [q(`max(tickgate_topics{${SEL}})`, 'topics')],
      },
      {
        title: 'Ticks in/s',
        type: 'stat',
        unit: 'ops',
        w: 4,
        h: 4,
        description: 'Ticks accepted from all feeds per second.',
        queries: [q(`sum(rate(tickgate_ticks_in_total{${SEL}}[${RATE}]))`, 'ticks/s')],
      },
      {
        title: 'Stale topics',
        type: 'stat',
        unit: 'short',
        w: 4,
        h: 4,
        redAt: 1,
        description: 'Topics with no tick for liveness.staleAfterMs, or whose feed is down.',
        queries: [q(`sum(tickgate_stale_topics{${SEL}})`, 'stale')],
      },
      {
        title: 'Feeds down',
        type: 'stat',
        unit: 'short',
        w: 4,
        h: 4,
        redAt: 1,
        description: 'Feed adapters not running (tickgate_feed_up == 0): stopped or waiting to restart.',
        queries: [q(`count(tickgate_feed_up{${SEL}} == 0) or vector(0)`, 'down')],
      },
    ],
  },
  {
    title: 'Throughput',
    panels: [
      {
        title: 'Ticks in/s by feed',
        type: 'timeseries',
        unit: 'ops',
        w: 12,
        stack: true,
        description: 'Ticks accepted from each feed adapter.',
        queries: [q(`sum by (feed) (rate(tickgate_ticks_in_total{${SEL}}[${RATE}]))`, '{{feed}}')],
      },
      {
        title: 'Ticks rejected/s by feed and reason',
        type: 'timeseries',
        unit: 'ops',
        w: 12,
        description: 'Ticks the bus refused (invalid price, crossed quote, ...); anything above zero is a feed bug or bad data.',
        queries: [q(`sum by (feed, reason) (rate(tickgate_ticks_rejected_total{${SEL}}[${RATE}]))`, '{{feed}} {{reason}}')],
      },
      {
        title: 'Frames/s',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description:
          'Published: encoded once per frame before fan-out. Out: queued to clients (× subscribers). Conflated: rate-limited frames, once per topic and tier.',
        queries: [
          q(`sum(rate(tickgate_frames_published_total{${SEL}}[${RATE}]))`, 'published'),
          q(`sum(rate(tickgate_frames_out_total{${SEL}}[${RATE}]))`, 'out (× subscribers)'),
          q(`sum(rate(tickgate_conflated_frames_published_total{${SEL}}[${RATE}]))`, 'conflated published'),
        ],
      },
      {
        title: 'Bytes out/s',
        type: 'timeseries',
        unit: 'Bps',
        w: 8,
        description: 'Payload bytes queued to clients, per gateway.',
        queries: [q(`sum by (instance) (rate(tickgate_bytes_out_total{${SEL}}[${RATE}]))`, '{{instance}}')],
      },
      {
        title: 'Ticks out/s and fan-out',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'Ticks queued to clients (ticks × subscribers), and ticks out per tick in.',
        queries: [
          q(`sum(rate(tickgate_ticks_out_total{${SEL}}[${RATE}]))`, 'ticks out/s'),
          q(`sum(rate(tickgate_ticks_out_total{${SEL}}[${RATE}])) / sum(rate(tickgate_ticks_in_total{${SEL}}[${RATE}]))`, 'fan-out ratio'),
        ],
      },
    ],
  },
  {
    title: 'Latency',
    panels: [
      {
        title: 'Fan-out latency (tick into the bus → frame handed to uWS)',
        type: 'timeseries',
        unit: 's',
        w: 16,
        description: 'Quantiles of tickgate_publish_latency_seconds (buckets 50 µs … 1 s), over all gateways selected.',
        queries: [
          q(`histogram_quantile(0.5, sum by (le) (rate(tickgate_publish_latency_seconds_bucket{${SEL}}[${RATE}])))`, 'p50'),
          q(`histogram_quantile(0.99, sum by (le) (rate(tickgate_publish_latency_seconds_bucket{${SEL}}[${RATE}])))`, 'p99'),
          q(`histogram_quantile(0.999, sum by (le) (rate(tickgate_publish_latency_seconds_bucket{${SEL}}[${RATE}])))`, 'p99.9'),
        ],
      },
      {
        title: 'Mean fan-out latency by gateway',
        type: 'timeseries',
        unit: 's',
        w: 8,
        description: 'Sum over count of the latency histogram.',
        queries: [
          q(
            `sum by (instance) (rate(tickgate_publish_latency_seconds_sum{${SEL}}[${RATE}])) / sum by (instance) (rate(tickgate_publish_latency_seconds_count{${SEL}}[${RATE}]))`,
            '{{instance}}',
          ),
        ],
      },
    ],
  },
  {
    title: 'Clients',
    panels: [
      {
        title: 'Connections',
        type: 'timeseries',
        unit: 'short',
        w: 8,
        description: 'Open WebSocket connections per gateway.',
        queries: [q(`sum by (instance) (tickgate_connections{${SEL}})`, '{{instance}}')],
      },
      {
        title: 'Connections opened and closed/s',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'Closed by reason: client, shutdown, slow_consumer, error.',
        queries: [
          q(`sum(rate(tickgate_connections_opened_total{${SEL}}[${RATE}]))`, 'opened'),
          q(`sum by (reason) (rate(tickgate_connections_closed_total{${SEL}}[${RATE}]))`, 'closed: {{reason}}'),
        ],
      },
      {
        title: 'Client requests/s by op',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'subscribe, unsubscribe, ping, and "invalid" for refused messages.',
        queries: [q(`sum by (op) (rate(tickgate_client_messages_total{${SEL}}[${RATE}]))`, '{{op}}')],
      },
    ],
  },
  {
    title: 'Drops, slow consumers, errors',
    panels: [
      {
        title: 'Frames dropped/s',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'Frames a client did not get because its send buffer was over transport.maxBackpressureBytes.',
        queries: [q(`sum(rate(tickgate_frames_dropped_total{${SEL}}[${RATE}]))`, 'dropped')],
      },
      {
        title: 'Slow-consumer actions/s',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'downgrade (conflated to the downgrade rate), recover, close_timeout (1008), close_hard (1013).',
        queries: [q(`sum by (action) (rate(tickgate_slow_consumer_actions_total{${SEL}}[${RATE}]))`, '{{action}}')],
      },
      {
        title: 'Errors/s by code',
        type: 'timeseries',
        unit: 'ops',
        w: 8,
        description: 'TG_ERR_* codes reported to clients or logged; codes at zero are hidden.',
        queries: [q(`sum by (code) (rate(tickgate_errors_total{${SEL}}[${RATE}])) > 0`, '{{code}}')],
      },
    ],
  },
  {
    title: 'Feeds',
    panels: [
      {
        title: 'Feed status',
        type: 'state-timeline',
        unit: 'none',
        w: 12,
        description: 'tickgate_feed_up: 1 while the adapter runs, 0 while stopped or waiting to restart.',
        queries: [q(`max by (instance, feed) (tickgate_feed_up{${SEL}})`, '{{instance}} {{feed}}')],
        mappings: [
          { type: 'value', options: { '0': { text: 'down', color: 'red', index: 0 }, '1': { text: 'up', color: 'green', index: 1 } } },
        ],
      },
      {
        title: 'Feed failures and restarts',
        type: 'timeseries',
        unit: 'short',
        w: 12,
        description: 'Adapter failures (throw, rejection, ctx.fail) and the supervisor\u2019s restarts, per interval.',
        queries: [
          q(`sum by (feed) (increase(tickgate_feed_failures_total{${SEL}}[${RATE}]))`, 'failures {{feed}}'),
          q(`sum by (feed) (increase(tickgate_feed_restarts_total{${SEL}}[${RATE}]))`, 'restarts {{feed}}'),
        ],
      },
    ],
  },
  {
    title: 'Process',
    panels: [
      {
        title: 'Event-loop lag',
        type: 'timeseries',
        unit: 's',
        w: 8,
        description: 'Node event-loop delay (prom-client default metrics): what every tick and request waits behind.',
        queries: [
          q(`max by (instance) (nodejs_eventloop_lag_p50_seconds{${SEL}})`, 'p50 {{instance}}'),
          q(`max by (instance) (nodejs_eventloop_lag_p99_seconds{${SEL}})`, 'p99 {{instance}}'),
          q(`max by (instance) (nodejs_eventloop_lag_max_seconds{${SEL}})`, 'max {{instance}}'),
        ],
      },
      {
        title: 'Memory',
        type: 'timeseries',
        unit: 'bytes',
        w: 8,
        description: 'Resident set, V8 heap used and total, and external (Buffers, uWS) memory.',
        queries: [
          q(`sum by (instance) (process_resident_memory_bytes{${SEL}})`, 'rss {{instance}}'),
          q(`sum by (instance) (nodejs_heap_size_used_bytes{${SEL}})`, 'heap used {{instance}}'),
          q(`sum by (instance) (nodejs_heap_size_total_bytes{${SEL}})`, 'heap total {{instance}}'),
          q(`sum by (instance) (nodejs_external_memory_bytes{${SEL}})`, 'external {{instance}}'),
        ],
      },
      {
        title: 'CPU and GC',
        type: 'timeseries',
        unit: 'percentunit',
        w: 8,
        description: 'CPU seconds per second (1 = one core busy) and the share of time spent in garbage collection.',
        queries: [
          q(`sum by (instance) (rate(process_cpu_seconds_total{${SEL}}[${RATE}]))`, 'cpu {{instance}}'),
          q(`sum by (instance) (rate(nodejs_gc_duration_seconds_sum{${SEL}}[${RATE}]))`, 'gc {{instance}}'),
        ],
      },
    ],
  },
];

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;

function panelJson(spec: PanelSpec, id: number, x: number, y: number, h: number): Record<string, unknown> {
  const thresholds =
    spec.redAt !== undefined
      ? {
          mode: 'absolute',
          steps: [
            { color: 'green', value: null },
            { color: 'red', value: spec.redAt },
          ],
        }
      : { mode: 'absolute', steps: [{ color: 'green', value: null }] };
  const custom: Record<string, unknown> =
    spec.type === 'timeseries'
      ? {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: spec.stack ? 30 : 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: spec.stack ? 'normal' : 'none', group: 'A' },
        }
      : {};
  const options: Record<string, unknown> =
    spec.type === 'stat'
      ? {
          reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          colorMode: 'value',
          graphMode: 'area',
          justifyMode: 'auto',
          textMode: 'auto',
        }
      : spec.type === 'state-timeline'
        ? {
            showValue: 'auto',
            mergeValues: true,
            alignValue: 'left',
            rowHeight: 0.9,
            legend: { showLegend: false, displayMode: 'list', placement: 'bottom' },
            tooltip: { mode: 'single', sort: 'none' },
          }
        : { legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] }, tooltip: { mode: 'multi', sort: 'desc' } };
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    datasource: DATASOURCE,
    gridPos: { h, w: spec.w, x, y },
    fieldConfig: {
      defaults: {
        unit: spec.unit,
        color: { mode: spec.type === 'stat' || spec.type === 'state-timeline' ? 'thresholds' : 'palette-classic' },
        thresholds,
        mappings: spec.mappings ?? [],
        custom,
      },
      overrides: [],
    },
    options,
    targets: spec.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: DATASOURCE,
      expr: query.expr,
      legendFormat: query.legend,
      range: true,
      editorMode: 'code',
    })),
  };
}

/** The whole dashboard, as Grafana's JSON model (schemaVersion 39: Grafana 10.3 and later). */
export function buildGrafanaDashboard(): Record<string, unknown> {
  const panels: Record<string, unknown>[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { h: 1, w: 24, x: 0, y }, panels: [] });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      const h = spec.h ?? 8;
      if (x + spec.w > 24) {
        x = 0;
        y += rowHeight;
        rowHeight = 0;
      }
      panels.push(panelJson(spec, id++, x, y, h));
      x += spec.w;
      rowHeight = Math.max(rowHeight, h);
    }
    y += rowHeight;
  }
  const variableQuery = (name: string, query: string, extra: Record<string, unknown>) => ({
    name,
    label: name,
    type: 'query',
    datasource: DATASOURCE,
    definition: query,
    query: { query, refId: `tickgate-${name}` },
    refresh: 2,
    sort: 1,
    hide: 0,
    current: {},
    options: [],
    regex: '',
    ...extra,
  });
  return {
    uid: DASHBOARD_UID,
    title: 'tickgate',
    description:
      'tickgate market-data gateway: connections, throughput, fan-out latency, drops, errors, feeds, process. Generated by dashboards/grafana/build.ts.',
    tags: ['tickgate', 'market-data', 'websocket'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    refresh: '10s',
    schemaVersion: 39,
    version: 1,
    time: { from: 'now-1h', to: 'now' },
    timepicker: {},
    fiscalYearStartMonth: 0,
    liveNow: false,
    links: [],
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    templating: {
      list: [
        {
          name: 'datasource',
          label: 'Prometheus',
          type: 'datasource',
          query: 'prometheus',
          current: {},
          hide: 0,
          refresh: 1,
          regex: '',
          options: [],
          includeAll: false,
          multi: false,
        },
        variableQuery('job', 'label_values(tickgate_connections, job)', { includeAll: false, multi: false }),
        variableQuery('instance', 'label_values(tickgate_connections{job=~"$job"}, instance)', {
          includeAll: true,
          multi: true,
          allValue: '.*',
        }),
      ],
    },
    panels,
  };
}

export function renderGrafanaDashboard(): string {
  return `${JSON.stringify(buildGrafanaDashboard(), null, 2)}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(GRAFANA_DASHBOARD_PATH, renderGrafanaDashboard());
  process.stdout.write(`wrote ${GRAFANA_DASHBOARD_PATH}\n`);
}
