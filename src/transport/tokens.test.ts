import { describe, expect, it } from 'vitest';
import { AuthError } from '../auth/authenticator.ts';
import { Identity } from '../auth/identity.ts';
import { Replies } from './replies.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { FakeSocket, metricValue, testBus, testMetrics } from './testing.ts';
import { TokenLifecycle } from './tokens.ts';

/** A TokenLifecycle on a ManualClock (time and timers); the authenticator is a stub. */
function setup(verify: (token: string) => Promise<Identity> = () => Promise.reject(new AuthError('bad token'))) {
  const { clock, bus, publish } = testBus();
  const metrics = testMetrics();
  const subscriptions = new SubscriptionManager(bus, 100, 1, { changed() {}, interest() {}, tier() {}, delayed() {}, limitReached() {} });
  const keys = new Map<string, { name: string; key: string; topics: string[]; delayMs: number }>();
  const tokens = new TokenLifecycle({
    authenticator: {
      verifyJwt: verify,
      apiKeyEntry: (key) => keys.get(key) as never,
      identityForKey: (e) => new Identity('apiKey', e.name, e.topics, e.delayMs, null, e.key),
    },
    subscriptions,
    replies: new Replies({ bus, metrics, logger: { error() {} } }),
    metrics,
    clock,
    timers: clock,
    expiryWarningSeconds: 30,
  });
  return { clock, bus, publish, metrics, subscriptions, tokens, keys };
}

const jwt = (expiresAt: number | null, topics = ['*.*.*']) => new Identity('jwt', 'alice', topics, 0, expiresAt);

describe('TokenLifecycle', () => {
  it('warns expiryWarningSeconds before expiry, then closes with 1008 at expiry', async () => {
    const { clock, tokens, metrics } = setup();
    const s = FakeSocket.open('msgpack', jwt(clock.now() + 60_000));
    tokens.scheduleExpiry(s.ws, s.session);

    clock.advance(29_999);
    expect(s.of('auth')).toEqual([]);
    clock.advance(1);
    expect(s.of('auth')).toEqual([
      expect.objectContaining({
        state: 'expiring',
        expiresAt: clock.now() + 30_000,
        message: expect.stringContaining('token expires in 30 s'),
      }),
    ]);
    expect(s.ended).toBeNull();

    clock.advance(29_999);
    expect(s.ended).toBeNull();
    clock.advance(1);
    expect(s.ended).toEqual({ code: 1008, reason: 'token expired' });
    expect(s.session.closing).toBe(true);
    expect(await metricValue(metrics.errors, { code: 'TG_ERR_UNAUTHORIZED' })).toBe(1);
  });

  it('a token already inside the warning window is warned at once; no timers for one without expiry', () => {
    const { clock, tokens } = setup();
    const s = FakeSocket.open('json', jwt(clock.now() + 10_000));
    tokens.scheduleExpiry(s.ws, s.session);
    clock.advance(0);
    expect(s.of('auth')[0]).toMatchObject({ state: 'expiring', message: expect.stringContaining('token expires in 10 s') });

    const forever = FakeSocket.open('json', jwt(null), 2);
    tokens.scheduleExpiry(forever.ws, forever.session);
    expect(tokens.scheduled(forever.session)).toBe(false); // no timers for credentials that never expire
    expect(tokens.scheduled(s.session)).toBe(true);
  });

  it('a refresh moves the expiry: no close at the old time, a warning and a close at the new one', async () => {
    const { clock, tokens } = setup((token) => Promise.resolve(jwt(clock.now() + Number(token))));
    const s = FakeSocket.open('msgpack', jwt(clock.now() + 60_000));
    tokens.scheduleExpiry(s.ws, s.session);
    clock.advance(40_000); // warned at 30 s
    expect(s.of('auth')).toHaveLength(1);

    tokens.refresh(s.ws, s.session, 9, String(120_000)); // new expiry: 160 s from the start
    await Promise.resolve();
    await Promise.resolve();
    expect(s.of('auth')[1]).toEqual({ t: 'auth', id: 9, state: 'refreshed', expiresAt: clock.now() + 120_000, message: 'token accepted' });

    clock.advance(20_001); // past the old expiry
    expect(s.ended).toBeNull();
    clock.advance(69_999); // 130 s: the new warning
    expect(s.of('auth')).toHaveLength(3);
    expect(s.of('auth')[2]).toMatchObject({ state: 'expiring' });
    clock.advance(30_000);
    expect(s.ended).toEqual({ code: 1008, reason: 'token expired' });
  });

  it('a failed refresh answers with TG_ERR_UNAUTHORIZED and keeps the old expiry', async () => {
    const { clock, tokens } = setup();
    const s = FakeSocket.open('msgpack', jwt(clock.now() + 60_000));
    tokens.scheduleExpiry(s.ws, s.session);
    tokens.refresh(s.ws, s.session, 'r1', 'garbage');
    await new Promise((r) => setImmediate(r));
    expect(s.of('error')).toEqual([{ t: 'error', id: 'r1', code: 'TG_ERR_UNAUTHORIZED', message: 'bad token' }]);
    clock.advance(60_000);
    expect(s.ended).toEqual({ code: 1008, reason: 'token expired' });
  });

  it('clear() cancels the timers (a closed connection)', () => {
    const { clock, tokens } = setup();
    const s = FakeSocket.open('msgpack', jwt(clock.now() + 60_000));
    tokens.scheduleExpiry(s.ws, s.session);
    expect(clock.pendingTimers).toBe(2);
    tokens.clear(s.session);
    expect(clock.pendingTimers).toBe(0);
    clock.advance(120_000);
    expect(s.frames).toEqual([]);
    expect(s.ended).toBeNull();
  });

  it('a narrower refresh revokes topics no longer entitled, with a revoked frame', async () => {
    const { clock, tokens, subscriptions, publish } = setup((token) => Promise.resolve(jwt(clock.now() + 60_000, [token])));
    publish('equity.AAPL.quote', 10);
    publish('fx.EURUSD.quote', 1.1);
    const s = FakeSocket.open('msgpack', jwt(clock.now() + 60_000));
    subscriptions.attach(s.session, s.ws);
    subscriptions.subscribe(s.session, ['equity.AAPL.quote', 'fx.EURUSD.quote'], 0);
    tokens.refresh(s.ws, s.session, 1, 'equity.*.*');
    await new Promise((r) => setImmediate(r));
    expect(s.of('revoked')).toEqual([{ t: 'revoked', topics: ['fx.EURUSD.quote'], reason: 'token refreshed with narrower entitlements' }]);
    expect([...s.topics]).toEqual(['equity.AAPL.quote']);
  });

  it('applyApiKeys closes connections whose key was removed and re-entitles changed ones', () => {
    const { tokens, keys } = setup();
    keys.set('k1', { name: 'one', key: 'k1', topics: ['equity.*.*'], delayMs: 0 });
    const kept = FakeSocket.open('msgpack', new Identity('apiKey', 'one', ['*.*.*'], 0, null, 'k1'), 1);
    const removed = FakeSocket.open('msgpack', new Identity('apiKey', 'two', ['*.*.*'], 0, null, 'k2'), 2);
    const viaJwt = FakeSocket.open('msgpack', jwt(null), 3);
    tokens.applyApiKeys([kept.ws, removed.ws, viaJwt.ws]);
    expect(removed.ended).toEqual({ code: 1008, reason: 'API key revoked' });
    expect(kept.ended).toBeNull();
    expect(kept.session.identity.topics).toEqual(['equity.*.*']);
    expect(viaJwt.session.identity.kind).toBe('jwt');
  });
});
