/**
 * Watchlist entries: what a user types, turned into the topics and patterns to subscribe.
 * Pure functions (no DOM), tested in test/dashboard-model.test.ts.
 *
 *   "AAPL"               → equity.AAPL.quote + equity.AAPL.trade
 *   "EURUSD"             → fx.EURUSD.quote (six letters made of two currency codes)
 *   "fx.*.quote"         → that pattern (rows appear as its topics do)
 *   "equity.MSFT.trade"  → that topic
 */
import { isPattern, parseTopic, topicError, TopicPattern, type ParsedTopic } from '../../../src/core/topic.ts';

const CURRENCIES = new Set([
  'USD',
  'EUR',
  'GBP',
  'JPY',
  'CHF',
  'AUD',
  'NZD',
  'CAD',
  'SEK',
  'NOK',
  'DKK',
  'HKD',
  'SGD',
  'CNH',
  'MXN',
  'ZAR',
  'PLN',
  'TRY',
]);

export interface WatchEntry {
  /** Canonical text: what is stored and shown. */
  readonly text: string;
  /** Topics and patterns to subscribe for this entry. */
  readonly subscriptions: readonly string[];
  /** Instruments (`assetClass.SYMBOL`) known before any data: exact entries show a row at once. */
  readonly instruments: readonly string[];
  /** Whether a concrete topic belongs to this entry. */
  matches(topic: ParsedTopic): boolean;
}

export function instrumentKey(topic: ParsedTopic): string {
  return `${topic.assetClass}.${topic.symbol}`;
}

export function isFxPair(symbol: string): boolean {
  return /^[A-Z]{6}$/.test(symbol) && CURRENCIES.has(symbol.slice(0, 3)) && CURRENCIES.has(symbol.slice(3));
}

/** Parses user input into an entry, or returns a one-line reason it is not valid. */
export function parseEntry(input: string): WatchEntry | string {
  const raw = input.trim();
  if (raw === '') return 'type a symbol (AAPL, EURUSD), a topic (equity.AAPL.quote) or a pattern (fx.*.quote)';
  if (raw.includes('.')) {
    const err = topicError(raw, true);
    if (err !== null) return err;
    return topicEntry(raw);
  }
  const symbol = raw.toUpperCase();
  if (isFxPair(symbol)) return topicEntry(`fx.${symbol}.quote`, symbol);
  const err = topicError(`equity.${symbol}.quote`);
  if (err !== null) return `"${raw}" is not a valid symbol: uppercase letters, digits, "_" or "-", at most 24 characters`;
  const quote = `equity.${symbol}.quote`;
  const trade = `equity.${symbol}.trade`;
  return {
    text: symbol,
    subscriptions: [quote, trade],
    instruments: [`equity.${symbol}`],
    matches: (t) => t.assetClass === 'equity' && t.symbol === symbol && (t.channel === 'quote' || t.channel === 'trade'),
  };
}

function topicEntry(topicOrPattern: string, text: string = topicOrPattern): WatchEntry {
  if (isPattern(topicOrPattern)) {
    const pattern = new TopicPattern(topicOrPattern);
    return { text, subscriptions: [topicOrPattern], instruments: [], matches: (t) => pattern.matches(t) };
  }
  const parsed = parseTopic(topicOrPattern);
  return { text, subscriptions: [topicOrPattern], instruments: [instrumentKey(parsed)], matches: (t) => t.topic === topicOrPattern };
}

/** Display precision: FX five decimals (three for JPY-quoted pairs), equities cents (four below $1). */
export function priceDecimals(assetClass: string, symbol: string, samplePrice: number): number {
  if (assetClass === 'fx') return symbol.endsWith('JPY') ? 3 : 5;
  if (Number.isFinite(samplePrice) && samplePrice < 1) return 4;
  return 2;
}

/** Spread as shown: pips for FX (a pip is 0.0001, or 0.01 for JPY-quoted pairs), price units otherwise. */
export function formatSpread(assetClass: string, symbol: string, spread: number, decimals: number): string {
  if (!Number.isFinite(spread)) return '';
  if (assetClass === 'fx') {
    const pip = symbol.endsWith('JPY') ? 0.01 : 0.0001;
    return `${(spread / pip).toFixed(1)} pip`;
  }
  return spread.toFixed(decimals);
}

export const DEFAULT_WATCHLIST: readonly string[] = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'TSLA', 'JPM', 'EURUSD', 'USDJPY', 'GBPUSD', 'AUDUSD'];
