import { describe, expect, it } from 'vitest';
import { parseTopic, topicError, TopicPattern } from './topic.ts';

describe('topics', () => {
  it.each(['equity.AAPL.quote', 'equity.BRK-B.trade', 'fx.EURUSD.quote', 'crypto.BTC_USD.book_l1'])('accepts %s', (t) => {
    expect(topicError(t)).toBeNull();
  });

  it.each([
    ['', /empty/],
    ['equity.AAPL', /three dot-separated segments/],
    ['equity.AAPL.quote.x', /three/],
    ['Equity.AAPL.quote', /asset class "Equity"/],
    ['equity.aapl.quote', /symbol "aapl"/],
    ['equity.AAPL.Quote', /channel "Quote"/],
    ['equity.*.quote', /symbol "\*"/],
    ['equity..quote', /symbol ""/],
  ])('rejects %j with a message naming the problem', (t, msg) => {
    expect(topicError(t)).toMatch(msg);
  });

  it('allows "*" segments only in patterns', () => {
    expect(topicError('equity.*.quote', true)).toBeNull();
    expect(topicError('*.*.*', true)).toBeNull();
    expect(topicError('equity.A*.quote', true)).toMatch(/symbol "A\*"/);
  });

  it('the one-regex check accepts exactly what the per-segment rules accept (random strings from the topic alphabet)', () => {
    // The per-segment rules as documented, applied the slow way.
    const rules = [/^[a-z][a-z0-9]{0,15}$/, /^[A-Z0-9][A-Z0-9_-]{0,23}$/, /^[a-z][a-z0-9_]{0,15}$/];
    const valid = (t: string, wildcards: boolean) => {
      const parts = t.split('.');
      return t.length > 0 && t.length <= 58 && parts.length === 3 && parts.every((p, i) => (wildcards && p === '*') || rules[i]!.test(p));
    };
    // Segments drawn near the rules' edges: a few characters of every class, lengths around the limits.
    const alphabet = 'az09AZ_-*. \n';
    let seed = 42;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed >>> 8) % n;
    };
    const segment = () => {
      if (rand(8) === 0) return '*';
      let out = '';
      for (let i = rand(27); i > 0; i--) out += alphabet[rand(alphabet.length)];
      return out;
    };
    let accepted = 0;
    for (let k = 0; k < 50_000; k++) {
      const segments = [segment(), segment(), segment()];
      if (rand(10) === 0) segments.push(segment());
      // Mostly segments that already fit their rule, so that one bad character decides.
      const t = segments
        .map((seg, i) => (rand(3) === 0 ? seg : (['equity', 'BRK-B', 'book_l1'][i] ?? seg).slice(0, rand(8) + 1) + seg.slice(0, rand(3))))
        .join('.');
      for (const wildcards of [false, true]) {
        const fast = topicError(t, wildcards) === null;
        expect([t, wildcards, fast]).toEqual([t, wildcards, valid(t, wildcards)]);
        if (fast) accepted++;
      }
    }
    expect(accepted).toBeGreaterThan(1000);
  });

  it('matches patterns segment by segment', () => {
    const p = new TopicPattern('fx.*.quote');
    expect(p.matches(parseTopic('fx.EURUSD.quote'))).toBe(true);
    expect(p.matches(parseTopic('fx.EURUSD.trade'))).toBe(false);
    expect(p.matches(parseTopic('equity.EURUSD.quote'))).toBe(false);
    expect(new TopicPattern('*.AAPL.*').matches(parseTopic('equity.AAPL.trade'))).toBe(true);
  });
});
