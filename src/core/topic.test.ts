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

  it('matches patterns segment by segment', () => {
    const p = new TopicPattern('fx.*.quote');
    expect(p.matches(parseTopic('fx.EURUSD.quote'))).toBe(true);
    expect(p.matches(parseTopic('fx.EURUSD.trade'))).toBe(false);
    expect(p.matches(parseTopic('equity.EURUSD.quote'))).toBe(false);
    expect(new TopicPattern('*.AAPL.*').matches(parseTopic('equity.AAPL.trade'))).toBe(true);
  });
});
