import { ErrorCode } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { registerHealthRoute, type HealthSource } from './health.ts';
import { sendError } from './http-send.ts';
import { registerMetricsRoute } from './http.ts';
import { createApp, Listener } from './listener.ts';

export interface OpsServerOptions {
  health: HealthSource;
  metrics: Metrics;
  /** When set, /metrics requires `Authorization: Bearer <token>` (config `metrics.bearerToken`). */
  metricsBearerToken?: string | undefined;
  log: { error(obj: object, msg?: string): void };
}

/**
 * The operations listener of a process without a client API (`tickgate ingest`): GET /healthz and
 * GET /metrics, served by the same routes as the gateway's (one health body, one metrics route
 * with the same bearer token), coded errors for anything else.
 */
export class OpsServer {
  private readonly app = createApp(undefined);
  private readonly listener = new Listener(this.app, null);

  constructor(options: OpsServerOptions) {
    const { metrics } = options;
    registerHealthRoute(this.app, options.health);
    registerMetricsRoute(this.app, { metrics, metricsBearerToken: options.metricsBearerToken, log: options.log });
    for (const route of ['/healthz', '/metrics']) {
      this.app.any(route, (res, req) =>
        sendError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, `${req.getMethod().toUpperCase()} ${route}: only GET is allowed`, metrics),
      );
    }
    this.app.any('/*', (res, req) =>
      sendError(res, 404, ErrorCode.NOT_FOUND, `this listener serves only GET /healthz and GET /metrics, not ${req.getUrl()}`, metrics),
    );
  }

  /** Resolves with the bound port (useful with port 0). */
  listen(host: string, port: number): Promise<number> {
    return this.listener.listen(host, port, undefined);
  }

  /** Stops listening and closes open connections (keep-alive probes included). */
  close(): void {
    this.listener.stopListening();
    this.app.close();
  }
}
