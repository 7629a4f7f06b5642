import { describe, expect, it } from 'vitest';
import { limitsSchema } from '../config/security-schema.ts';
import { ManualClock } from '../core/clock.ts';
import { Admission } from './admission.ts';

const limits = limitsSchema.parse({ maxConnections: 3, maxConnectionsPerIp: 2, maxNewConnectionsPerSecondPerIp: 2 });

describe('Admission', () => {
  it('refuses origins outside a non-empty allowlist', () => {
    const a = new Admission(limits, ['https://ok.example']);
    expect(a.check('1.2.3.4', 'https://evil.example', 0)).toMatchObject({ status: 403, code: 'TG_ERR_FORBIDDEN_ORIGIN', reason: 'origin' });
    expect(a.check('1.2.3.4', 'https://ok.example', 0)).toBeNull();
  });

  it('limits new connections per IP per one-second window, on the clock it is given', () => {
    const clock = new ManualClock(10_000);
    const a = new Admission(limits, [], clock);
    expect(a.check('1.1.1.1', '', clock.now())).toBeNull();
    expect(a.check('1.1.1.1', '', clock.now())).toBeNull();
    expect(a.check('1.1.1.1', '', clock.now())).toMatchObject({ status: 429, reason: 'rate_ip' });
    expect(a.check('2.2.2.2', '', clock.now())).toBeNull(); // per IP
    clock.advance(999);
    expect(a.check('1.1.1.1', '', clock.now())).toMatchObject({ reason: 'rate_ip' });
    clock.advance(1);
    expect(a.check('1.1.1.1', '', clock.now())).toBeNull();
  });

  it('limits open connections per IP and in total', () => {
    const a = new Admission(limits, []);
    let t = 0;
    const tryOpen = (ip: string) => {
      t += 1000; // a fresh rate window each time
      const refusal = a.check(ip, '', t);
      if (refusal === null) a.opened(ip);
      return refusal?.reason ?? 'ok';
    };
    expect([tryOpen('1.1.1.1'), tryOpen('1.1.1.1'), tryOpen('1.1.1.1')]).toEqual(['ok', 'ok', 'limit_ip']);
    expect([tryOpen('2.2.2.2'), tryOpen('3.3.3.3')]).toEqual(['ok', 'limit_total']);
    a.closed('1.1.1.1');
    expect(tryOpen('3.3.3.3')).toBe('ok');
  });
});
