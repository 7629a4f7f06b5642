import { describe, expect, it } from 'vitest';
import { ManualClock } from '../core/clock.ts';
import { healthReport, type HealthSource } from './health.ts';

function source(over: Partial<HealthSource> = {}): HealthSource & { clock: ManualClock } {
  const clock = new ManualClock();
  return {
    role: 'ingest',
    version: '9.9.9',
    clock,
    startedAt: clock.now(),
    epoch: () => 42,
    topics: () => 3,
    feeds: () => ({ a: 'running', b: 'backoff' }),
    shuttingDown: () => false,
    nats: () => 'reconnecting',
    lease: () => 'standby',
    ...over,
  } as HealthSource & { clock: ManualClock };
}

describe('healthReport', () => {
  it('reports every key, uptime in whole seconds on the injected clock', () => {
    const s = source();
    s.clock.advance(1_499);
    expect(healthReport(s)).toEqual({
      httpStatus: 200,
      body: {
        status: 'ok',
        role: 'ingest',
        version: '9.9.9',
        epoch: 42,
        uptimeSeconds: 1,
        topics: 3,
        feeds: { a: 'running', b: 'backoff' },
        nats: 'reconnecting',
        lease: 'standby',
      },
    });
    s.clock.advance(1);
    expect(healthReport(s).body.uptimeSeconds).toBe(2);
  });

  it('is a 503 with status shutting_down once stopping', () => {
    const report = healthReport(source({ shuttingDown: () => true }));
    expect(report.httpStatus).toBe(503);
    expect(report.body.status).toBe('shutting_down');
  });
});
