import type { Config } from '../config/schema.ts';
import type { TransportOptions } from './server.ts';

/** Transport options from a validated config (shared by the main thread and worker threads). */
export function transportOptions(config: Config): TransportOptions {
  return {
    host: config.host,
    port: config.port,
    ...config.transport,
    maxTicksPerFrame: config.bus.maxTicksPerFrame,
    rateTiers: config.conflation.tiers,
    slowConsumer: config.slowConsumer,
    staleAfterMs: config.liveness.staleAfterMs,
    livenessCheckIntervalMs: config.liveness.checkIntervalMs,
    limits: config.limits,
    allowedOrigins: config.security.allowedOrigins,
    expiryWarningSeconds: config.auth.expiryWarningSeconds,
    tls: config.tls,
    metricsEndpoint: config.metrics,
  };
}
