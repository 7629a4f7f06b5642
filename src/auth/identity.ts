import { TopicPattern, type ParsedTopic } from '../core/topic.ts';

/**
 * Who is on a connection and what they may see. Entitlements are topic patterns; a connection
 * may subscribe to a topic only if one of them matches.
 */
export class Identity {
  private readonly patterns: TopicPattern[];

  constructor(
    readonly kind: 'anonymous' | 'jwt' | 'apiKey',
    /** JWT `sub`, the API key's name, or "anonymous". Safe to log. */
    readonly subject: string,
    topics: readonly string[],
    /** Delayed tier: ticks reach this identity this many ms late (0: real time). */
    readonly delayMs: number,
    /** Token expiry, epoch ms; null when it never expires. */
    readonly expiresAt: number | null,
    /** For API keys: the key, to find the entry again when the config is reloaded. */
    readonly apiKey: string | null = null,
  ) {
    this.patterns = topics.map((t) => new TopicPattern(t));
  }

  /** Everything, in real time: the identity of every connection when auth is off. */
  static anonymous(): Identity {
    return new Identity('anonymous', 'anonymous', ['*.*.*'], 0, null);
  }

  get topics(): string[] {
    return this.patterns.map((p) => p.pattern);
  }

  entitled(topic: ParsedTopic): boolean {
    for (const p of this.patterns) if (p.matches(topic)) return true;
    return false;
  }
}
