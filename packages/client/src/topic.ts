/**
 * Topic naming: `<assetClass>.<SYMBOL>.<channel>`, e.g. `equity.AAPL.quote`, `fx.EURUSD.quote`.
 *
 * - assetClass: lowercase letter then lowercase letters/digits, 1–16 chars (`equity`, `fx`)
 * - SYMBOL: uppercase letter or digit, then uppercase letters, digits, `_` or `-`, 1–24 chars (`BRK-B`)
 * - channel: lowercase letter then lowercase letters, digits or `_`, 1–16 chars (`quote`, `trade`)
 *
 * A pattern has the same three segments, any of which may be `*` (matches exactly one segment).
 */

import { MAX_TOPIC_LENGTH } from './protocol.ts';

export { MAX_TOPIC_LENGTH };

const ASSET_CLASS = /^[a-z][a-z0-9]{0,15}$/;
const SYMBOL = /^[A-Z0-9][A-Z0-9_-]{0,23}$/;
const CHANNEL = /^[a-z][a-z0-9_]{0,15}$/;
const SEGMENT_RULES = [
  { re: ASSET_CLASS, name: 'asset class', rule: 'lowercase letters and digits, starting with a letter, at most 16 chars' },
  { re: SYMBOL, name: 'symbol', rule: 'uppercase letters, digits, "_" or "-", at most 24 chars' },
  { re: CHANNEL, name: 'channel', rule: 'lowercase letters, digits or "_", starting with a letter, at most 16 chars' },
] as const;

export interface ParsedTopic {
  readonly topic: string;
  readonly assetClass: string;
  readonly symbol: string;
  readonly channel: string;
}

/**
 * The three segment rules in one expression: a valid topic (or pattern) passes with one regex
 * test and no split. Segments cannot contain ".", so this accepts exactly what the per-segment
 * checks below accept; those only run to explain a refusal.
 */
const VALID_TOPIC = /^[a-z][a-z0-9]{0,15}\.[A-Z0-9][A-Z0-9_-]{0,23}\.[a-z][a-z0-9_]{0,15}$/;
const VALID_PATTERN = /^(?:\*|[a-z][a-z0-9]{0,15})\.(?:\*|[A-Z0-9][A-Z0-9_-]{0,23})\.(?:\*|[a-z][a-z0-9_]{0,15})$/;

/** Returns null for a valid topic, or a one-line explanation of what is wrong. */
export function topicError(topic: unknown, allowWildcards = false): string | null {
  if (typeof topic !== 'string') return 'topic must be a string';
  if (topic.length === 0) return 'topic is empty';
  if (topic.length > MAX_TOPIC_LENGTH) return `topic is longer than ${MAX_TOPIC_LENGTH} characters`;
  if ((allowWildcards ? VALID_PATTERN : VALID_TOPIC).test(topic)) return null;
  const parts = topic.split('.');
  if (parts.length !== 3) {
    return `topic "${topic}" must have three dot-separated segments: <assetClass>.<SYMBOL>.<channel>`;
  }
  for (let i = 0; i < 3; i++) {
    const part = parts[i]!;
    if (allowWildcards && part === '*') continue;
    const seg = SEGMENT_RULES[i]!;
    if (!seg.re.test(part)) {
      const hint = allowWildcards ? ' (or "*" for any)' : '';
      return `topic "${topic}": ${seg.name} "${part}" must be ${seg.rule}${hint}`;
    }
  }
  return null;
}

export function isValidTopic(topic: unknown): topic is string {
  return topicError(topic) === null;
}

export function isPattern(topicOrPattern: string): boolean {
  return topicOrPattern.includes('*');
}

export function parseTopic(topic: string): ParsedTopic {
  const err = topicError(topic);
  if (err) throw new Error(err);
  const [assetClass, symbol, channel] = topic.split('.') as [string, string, string];
  return { topic, assetClass, symbol, channel };
}

export function makeTopic(assetClass: string, symbol: string, channel: string): string {
  return `${assetClass}.${symbol}.${channel}`;
}

/** A compiled pattern: matching is three string compares, no regex. */
export class TopicPattern {
  readonly pattern: string;
  private readonly segments: readonly [string | null, string | null, string | null];

  constructor(pattern: string) {
    const err = topicError(pattern, true);
    if (err) throw new Error(err);
    this.pattern = pattern;
    const [a, s, c] = pattern.split('.') as [string, string, string];
    this.segments = [a === '*' ? null : a, s === '*' ? null : s, c === '*' ? null : c];
  }

  matches(topic: ParsedTopic): boolean {
    const [a, s, c] = this.segments;
    return (a === null || a === topic.assetClass) && (s === null || s === topic.symbol) && (c === null || c === topic.channel);
  }
}
