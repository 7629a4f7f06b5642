import { describe, expect, it } from 'vitest';
import { Identity } from '../auth/identity.ts';
import { deliveredCount } from './session-topics.ts';
import { SubscriptionManager } from './subscriptions.ts';
import { FakeSocket, testBus } from './testing.ts';

/** A SubscriptionManager over a real MemoryBus, recording every event it reports. */
function setup(maxPerSession = 10) {
  const { bus, publish, sink } = testBus();
  const events: string[] = [];
  let subscriptions = 0;
  const manager = new SubscriptionManager(bus, maxPerSession, 2, {
    changed: (delta) => void (subscriptions += delta),
    interest: (entry, on) => void events.push(`${on ? '+' : '-'}${entry}`),
    tier: (topic, rate, delta) => void events.push(`tier ${rate} ${topic} ${delta}`),
    delayed: (topic, delayMs, delta) => void events.push(`delayed ${delayMs} ${topic} ${delta}`),
    limitReached: (session, topic) => void events.push(`limit ${session.id} ${topic}`),
  });
  // New topics reach the manager as they would through the transport's bus sink.
  const onTopic = sink.onTopic.bind(sink);
  sink.onTopic = (view) => {
    onTopic(view);
    manager.onTopic(view);
  };
  const open = (id = 1, format: 'msgpack' | 'json' = 'msgpack', identity = Identity.anonymous()) => {
    const s = FakeSocket.open(format, identity, id);
    manager.attach(s.session, s.ws);
    return s;
  };
  return { bus, publish, manager, events, open, count: () => subscriptions };
}

describe('SubscriptionManager', () => {
  it('exact topics: joins the uWS topic per format, counts wire subscribers, reports interest once per entry', () => {
    const { manager, events, open, count } = setup();
    const a = open(1);
    const b = open(2, 'json');
    const c = open(3);
    for (const s of [a, b, c]) manager.subscribe(s.session, ['equity.AAPL.quote'], 0);
    expect([...a.topics]).toEqual(['equity.AAPL.quote']);
    expect([...b.topics]).toEqual(['json:equity.AAPL.quote']);
    expect(Object.fromEntries(manager.wireSubscribers)).toEqual({ 'equity.AAPL.quote': 2, 'json:equity.AAPL.quote': 1 });
    expect(events).toEqual(['+equity.AAPL.quote']);
    expect(count()).toBe(3);

    manager.unsubscribe(a.session, ['equity.AAPL.quote']);
    manager.release(b.session);
    expect(Object.fromEntries(manager.wireSubscribers)).toEqual({ 'equity.AAPL.quote': 1 });
    manager.release(c.session);
    expect(manager.wireSubscribers.size).toBe(0);
    expect(events).toEqual(['+equity.AAPL.quote', '-equity.AAPL.quote']);
    expect(count()).toBe(0);
    expect(manager.interestedEntries()).toEqual([]);
  });

  it('exact topics only (the fast path): duplicates count once, pending and live topics alike, rate changes reported, all-or-nothing', () => {
    const { manager, publish, events, open, count } = setup(2);
    publish('equity.AAPL.quote', 10);
    const a = open(1);
    const r1 = manager.subscribe(a.session, ['equity.AAPL.quote', 'equity.NEW.quote', 'equity.AAPL.quote'], 0);
    expect(r1).toEqual({ added: ['equity.AAPL.quote', 'equity.NEW.quote'], rerated: [] });
    expect(manager.pending.of(a.session)).toBe(1);
    expect(events).toEqual(['+equity.AAPL.quote', '+equity.NEW.quote']);
    expect(count()).toBe(2);
    // The same topics at a conflated rate: nothing added, both re-rated, no interest change.
    const r2 = manager.subscribe(a.session, ['equity.NEW.quote', 'equity.AAPL.quote'], 2);
    expect(r2).toEqual({ added: [], rerated: ['equity.NEW.quote', 'equity.AAPL.quote'] });
    expect([...a.topics].sort()).toEqual(['r2:equity.AAPL.quote', 'r2:equity.NEW.quote']);
    expect(manager.pending.of(a.session)).toBe(1);
    expect(count()).toBe(2);
    // Over the per-connection limit: refused before anything changes.
    const b = open(2);
    expect(() => manager.subscribe(b.session, ['equity.X.quote', 'equity.Y.quote', 'equity.Z.quote'], 0)).toThrow(
      /limit per connection is 2/,
    );
    expect(deliveredCount(b.session)).toBe(0);
    expect(manager.pending.of(b.session)).toBe(0);
    // Only r2's moves to the rate-2 tier since the first subscribe; the refused one reported nothing.
    expect(events.slice(2)).toEqual(['tier 2 equity.NEW.quote 1', 'tier 2 equity.AAPL.quote 1']);
    expect(b.topics.size).toBe(0);
  });

  it('a pattern naming its symbol (a watchlist entry) expands through the symbol index, before and after topics appear', () => {
    const { manager, publish, open } = setup();
    publish('equity.AAPL.quote', 10);
    publish('equity.MSFT.quote', 20);
    const early = open(1);
    manager.subscribe(early.session, ['*.AAPL.*'], 0);
    expect([...early.topics]).toEqual(['equity.AAPL.quote']);
    publish('crypto.AAPL.quote', 10); // appears after the index was built: indexed as it appears
    publish('fx.EURUSD.quote', 1.1);
    expect([...early.topics].sort()).toEqual(['crypto.AAPL.quote', 'equity.AAPL.quote']);
    const late = open(2);
    manager.subscribe(late.session, ['*.AAPL.*', '*.MSFT.quote', '*.NONE.*'], 0);
    expect([...late.topics].sort()).toEqual(['crypto.AAPL.quote', 'equity.AAPL.quote', 'equity.MSFT.quote']);
  });

  it('patterns expand onto existing topics and onto topics that appear later', () => {
    const { manager, publish, open } = setup();
    publish('equity.AAPL.quote', 10);
    publish('fx.EURUSD.quote', 1.1);
    const s = open();
    const { added } = manager.subscribe(s.session, ['equity.*.quote'], 0);
    expect(added).toEqual(['equity.AAPL.quote']);
    publish('equity.MSFT.quote', 20);
    expect([...s.topics].sort()).toEqual(['equity.AAPL.quote', 'equity.MSFT.quote']);
    expect(manager.interestedEntries()).toEqual(['equity.*.quote']);
  });

  it('the fastest covering entry wins; a rate change is reported as rerated and moves the tier', () => {
    const { manager, publish, open, events } = setup();
    publish('equity.AAPL.quote', 10);
    const s = open();
    manager.subscribe(s.session, ['equity.*.*'], 5);
    expect([...s.topics]).toEqual(['r5:equity.AAPL.quote']);
    const { added, rerated } = manager.subscribe(s.session, ['equity.AAPL.quote'], 0);
    expect({ added, rerated }).toEqual({ added: [], rerated: ['equity.AAPL.quote'] });
    expect([...s.topics]).toEqual(['equity.AAPL.quote']);
    expect(events.filter((e) => e.startsWith('tier'))).toEqual(['tier 5 equity.AAPL.quote 1', 'tier 5 equity.AAPL.quote -1']);
    // Dropping the exact entry falls back to the pattern's rate.
    manager.unsubscribe(s.session, ['equity.AAPL.quote']);
    expect([...s.topics]).toEqual(['r5:equity.AAPL.quote']);
  });

  it('the per-connection limit: all-or-nothing on subscribe, and limitReached for a new topic matching a pattern', () => {
    const { manager, publish, open, events } = setup(2);
    const s = open(4);
    manager.subscribe(s.session, ['equity.*.quote'], 0);
    expect(() => manager.subscribe(s.session, ['fx.A.quote', 'fx.B.quote', 'fx.C.quote'], 0)).toThrow(/limit per connection is 2/);
    expect(deliveredCount(s.session)).toBe(0);
    publish('equity.A.quote', 1);
    publish('equity.B.quote', 1);
    publish('equity.C.quote', 1);
    expect([...s.topics]).toEqual(['equity.A.quote', 'equity.B.quote']);
    expect(events.filter((e) => e.startsWith('limit'))).toEqual(['limit 4 equity.C.quote']);
  });

  it('entitlements: exact topics outside them are refused, patterns expand only onto entitled topics', () => {
    const { manager, publish, open } = setup();
    publish('equity.AAPL.quote', 10);
    publish('equity.MSFT.quote', 10);
    const s = open(1, 'msgpack', new Identity('jwt', 'x', ['equity.AAPL.*'], 0, null));
    expect(() => manager.subscribe(s.session, ['fx.EURUSD.quote'], 0)).toThrow(/not entitled to fx.EURUSD.quote/);
    manager.subscribe(s.session, ['equity.*.*'], 0);
    expect([...s.topics]).toEqual(['equity.AAPL.quote']);
  });

  it('downgrade moves every-tick topics to the downgrade rate and back; conflated ones stay', () => {
    const { manager, open } = setup();
    const s = open();
    manager.subscribe(s.session, ['equity.A.quote'], 0);
    manager.subscribe(s.session, ['equity.B.quote'], 10);
    expect(manager.setDowngraded(s.session, true)).toEqual(['equity.A.quote']);
    expect([...s.topics].sort()).toEqual(['r10:equity.B.quote', 'r2:equity.A.quote']);
    expect(manager.setDowngraded(s.session, false)).toEqual(['equity.A.quote']);
    expect([...s.topics].sort()).toEqual(['equity.A.quote', 'r10:equity.B.quote']);
  });

  it('reapply: a delayed identity moves to the delayed tier; a narrower one loses topics', () => {
    const { manager, publish, open, events } = setup();
    publish('equity.AAPL.quote', 10);
    publish('fx.EURUSD.quote', 1.1);
    const s = open();
    manager.subscribe(s.session, ['equity.AAPL.quote', 'fx.EURUSD.quote'], 0);
    s.session.identity = new Identity('apiKey', 'late', ['equity.*.*'], 60_000, null, 'k');
    expect(manager.reapply(s.session, 0)).toEqual(['fx.EURUSD.quote']);
    expect([...s.topics]).toEqual(['d60000:equity.AAPL.quote']);
    expect(events).toContain('delayed 60000 equity.AAPL.quote 1');
    expect(manager.interestedEntries()).toEqual(['equity.AAPL.quote']);
  });
});
