/**
 * End to end with a real Prometheus (Debian's package): it scrapes a running gateway on loopback
 * and a dashboard panel's rate() query comes back through its HTTP API with the simulated feeds'
 * configured tick rates. Run by `npm run test:e2e` (and .ci/run), not by `npm test`: it spawns a
 * Prometheus server and waits for two scrapes.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GRAFANA_DASHBOARD_PATH } from '../../dashboards/grafana/build.ts';
import { startGateway, type Started } from '../helpers.ts';
import { PrometheusProcess, prometheusMissing } from './prometheus.ts';
import { substituteGrafanaVariables } from './promql.ts';

const EQUITY_TPS = 1000;
const FX_TPS = 400;

describe.skipIf(prometheusMissing() !== null)('Prometheus scraping a gateway', () => {
  let gw: Started;
  let prom: PrometheusProcess;
  beforeAll(async () => {
    // Quotes and trades only, at known rates: book updates (which follow quotes) and the gateway's
    // own bar updates (feed "market") count as ticks in too, at rates the simulators decide.
    gw = await startGateway({
      feeds: [
        { adapter: 'sim-equity', options: { ticksPerSecond: EQUITY_TPS, bookDepth: 0 } },
        { adapter: 'sim-fx', options: { ticksPerSecond: FX_TPS, bookDepth: 0 } },
      ],
      market: { barIntervals: [] },
    });
    prom = await PrometheusProcess.start([`127.0.0.1:${gw.port}`]);
  });
  afterAll(async () => {
    await prom?.stop();
    await gw?.gw.stop();
  });

  it("returns the dashboard's ticks-in rate per feed", async () => {
    // The expression of the "Ticks in/s by feed" panel, with Grafana's variables filled in as
    // Grafana would for a 1 s scrape interval ($__rate_interval = 4 scrapes).
    const dashboard = JSON.parse(readFileSync(GRAFANA_DASHBOARD_PATH, 'utf8')) as {
      panels: { title: string; targets?: { expr: string }[] }[];
    };
    const panel = dashboard.panels.find((p) => p.title === 'Ticks in/s by feed')!;
    const expr = substituteGrafanaVariables(panel.targets![0]!.expr, '4s');
    expect(expr).toBe('sum by (feed) (rate(tickgate_ticks_in_total{job=~".*", instance=~".*"}[4s]))');

    // Until the scrapes cover the whole window rate() under-reports; wait for it to settle.
    const near = (v: number | undefined, want: number) => v !== undefined && v > want * 0.7 && v < want * 1.3;
    const result = await prom.queryUntil(expr, (r) => {
      const byFeed = new Map(r.map((s) => [s.metric.feed, Number(s.value[1])]));
      return r.length === 2 && near(byFeed.get('sim-equity'), EQUITY_TPS) && near(byFeed.get('sim-fx'), FX_TPS);
    });
    expect(result.map((s) => s.metric.feed).sort()).toEqual(['sim-equity', 'sim-fx']);

    const up = await prom.query('up{job="tickgate"}');
    expect(up).toEqual([
      expect.objectContaining({ metric: expect.objectContaining({ instance: `127.0.0.1:${gw.port}` }), value: [expect.any(Number), '1'] }),
    ]);
  });
});
