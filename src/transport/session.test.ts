import { describe, expect, it } from 'vitest';
import { Identity } from '../auth/identity.ts';
import { MAX_SESSION_FIELDS, Session } from './session.ts';
import {
  deliveredCount,
  deliveredRate,
  deliveredTopics,
  exactRate,
  exactTopics,
  FLAT_MAX,
  setDelivered,
  setExact,
  TopicMap,
} from './session-topics.ts';

const fresh = () => new Session(1, 'msgpack', '127.0.0.1', Identity.anonymous());

describe('Session', () => {
  it('stays within the own-property budget that keeps the uWS socket object out of dictionary mode', () => {
    expect(Object.keys(fresh()).length).toBeLessThanOrEqual(MAX_SESSION_FIELDS);
  });

  it('allocates nothing for subscriptions, slow-consumer state or expiry until they are used', () => {
    const s = fresh();
    expect(s.topics).toBeNull();
    expect(s.slow).toBeNull();
    for (const value of Object.values(s)) expect(value === null || typeof value !== 'object' || value instanceof Identity).toBe(true);
  });
});

describe('session topics', () => {
  it('keeps the rate asked by exact name and the rate delivered apart, in one entry per topic', () => {
    const s = fresh();
    setExact(s, 'a', 0);
    expect(exactRate(s, 'a')).toBe(0);
    expect(deliveredRate(s, 'a')).toBeUndefined();
    expect(deliveredCount(s)).toBe(0);
    setDelivered(s, 'a', 10);
    setDelivered(s, 'b', 0); // by a pattern only
    expect(deliveredTopics(s)).toEqual([
      ['a', 10],
      ['b', 0],
    ]);
    expect(exactTopics(s)).toEqual(['a']);
    expect(s.topics).toEqual(['a', expect.any(Number), 'b', expect.any(Number)]);
    setExact(s, 'a', undefined);
    expect(deliveredRate(s, 'a')).toBe(10);
    setDelivered(s, 'a', undefined);
    setDelivered(s, 'b', undefined);
    expect(s.topics).toBeNull(); // nothing held: nothing allocated
  });

  it('one topic asked by exact name at every tick is held as the topic string alone', () => {
    const s = fresh();
    setExact(s, 'equity.A.quote', 0);
    expect(s.topics).toEqual(['equity.A.quote', expect.any(Number)]); // asked, not yet delivered
    setDelivered(s, 'equity.A.quote', 0);
    expect(s.topics).toBe('equity.A.quote');
    expect(deliveredCount(s)).toBe(1);
    expect(exactRate(s, 'equity.A.quote')).toBe(0);
    expect(deliveredTopics(s)).toEqual([['equity.A.quote', 0]]);
    setDelivered(s, 'equity.A.quote', 4); // downgraded, or a rate tier: back to the flat form
    expect(s.topics).toEqual(['equity.A.quote', expect.any(Number)]);
    expect(deliveredRate(s, 'equity.A.quote')).toBe(4);
    setDelivered(s, 'equity.A.quote', 0);
    setDelivered(s, 'equity.B.quote', 0);
    expect(exactTopics(s)).toEqual(['equity.A.quote']);
    expect(deliveredCount(s)).toBe(2);
    setDelivered(s, 'equity.B.quote', undefined);
    expect(s.topics).toBe('equity.A.quote');
    setExact(s, 'equity.A.quote', undefined);
    expect(deliveredRate(s, 'equity.A.quote')).toBe(0);
    setDelivered(s, 'equity.A.quote', undefined);
    expect(s.topics).toBeNull();
  });

  it(`moves to a Map past ${FLAT_MAX} topics, keeping the delivered count`, () => {
    const s = fresh();
    for (let i = 0; i <= FLAT_MAX; i++) {
      setExact(s, `t${i}`, 100);
      if (i % 2 === 0) setDelivered(s, `t${i}`, 100);
    }
    expect(s.topics).toBeInstanceOf(TopicMap);
    expect(deliveredCount(s)).toBe(Math.floor(FLAT_MAX / 2) + 1);
    expect(exactTopics(s)).toHaveLength(FLAT_MAX + 1);
    setDelivered(s, 't0', undefined);
    expect(deliveredCount(s)).toBe(Math.floor(FLAT_MAX / 2));
    expect(exactRate(s, 't0')).toBe(100);
    for (let i = 0; i <= FLAT_MAX; i++) {
      setExact(s, `t${i}`, undefined);
      setDelivered(s, `t${i}`, undefined);
    }
    expect(s.topics).toBeNull();
  });
});
