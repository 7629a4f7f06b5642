import type uWS from 'uWebSockets.js';
import type { Clock } from '../core/clock.ts';
import { sendJson } from './http-send.ts';

/** The failover lease of an ingest (docs/scaling.md); `off` without failover, and on every gateway. */
export type LeaseState = 'off' | 'active' | 'standby' | 'fenced';

/** Whether this process's NATS connection is up; null when it uses none (the in-process bus). */
export type NatsState = 'connected' | 'reconnecting' | null;

/** What a process reports on /healthz: the gateway (`serve`, every worker thread) and the ingest alike. */
export interface HealthSource {
  role: 'gateway' | 'ingest';
  version: string;
  clock: Clock;
  /** clock.now() when the process started serving. */
  startedAt: number;
  epoch(): number;
  topics(): number;
  /** Feed id -> supervisor state, in config order. */
  feeds(): Record<string, string>;
  shuttingDown(): boolean;
  nats(): NatsState;
  lease(): LeaseState;
}

/** The one /healthz body (docs/operations.md "Health and monitoring"): every key always present. */
export interface HealthBody {
  status: 'ok' | 'shutting_down';
  role: 'gateway' | 'ingest';
  version: string;
  epoch: number;
  uptimeSeconds: number;
  topics: number;
  feeds: Record<string, string>;
  nats: NatsState;
  lease: LeaseState;
}

/** 200 with status ok while serving, 503 with status shutting_down once stopping. */
export function healthReport(source: HealthSource): { httpStatus: 200 | 503; body: HealthBody } {
  const shuttingDown = source.shuttingDown();
  return {
    httpStatus: shuttingDown ? 503 : 200,
    body: {
      status: shuttingDown ? 'shutting_down' : 'ok',
      role: source.role,
      version: source.version,
      epoch: source.epoch(),
      uptimeSeconds: Math.round((source.clock.now() - source.startedAt) / 1000),
      topics: source.topics(),
      feeds: source.feeds(),
      nats: source.nats(),
      lease: source.lease(),
    },
  };
}

/** GET /healthz on a uWS app (the gateway's main listener, the ingest's ops listener). */
export function registerHealthRoute(app: uWS.TemplatedApp, source: HealthSource): void {
  app.get('/healthz', (res) => {
    const { httpStatus, body } = healthReport(source);
    sendJson(res, httpStatus, body);
  });
}
