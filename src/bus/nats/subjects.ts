/**
 * Topic ↔ NATS subject mapping: `<prefix>.<topic>`, e.g. `tickgate.equity.AAPL.quote`.
 * Topic segments are valid NATS tokens (src/core/topic.ts allows letters, digits, `_` and `-`),
 * and a pattern's `*` is NATS's one-token wildcard, so `fx.*.quote` maps to `tickgate.fx.*.quote`
 * unchanged.
 */
export class Subjects {
  private readonly head: string;

  constructor(readonly prefix: string) {
    this.head = `${prefix}.`;
  }

  /** The subject of a topic, or the wildcard subject of a pattern. */
  of(topicOrPattern: string): string {
    return this.head + topicOrPattern;
  }

  /** The topic a message subject carries (the caller subscribed only to `<prefix>.…` subjects). */
  topicOf(subject: string): string {
    return subject.slice(this.head.length);
  }

  /**
   * Where the active ingest answers requests for its epoch (gateways ask at connect). Outside
   * `<prefix>.>` so the stream does not capture the requests.
   */
  get epochRequest(): string {
    return `_tickgate.${this.prefix}.epoch`;
  }

  /** Every tickgate subject: what a JetStream stream captures. */
  get all(): string {
    return `${this.prefix}.>`;
  }
}
