/**
 * The one retry-delay policy of tickgate: exponential backoff with jitter. Used by the client SDK
 * (and so the dashboard and the recorder), the feed supervisor and the upstream-ws adapter.
 */
export interface BackoffOptions {
  /** Attempt 0 waits up to this long (ms); each further attempt doubles it. */
  initialDelayMs: number;
  /** No retry waits longer than this (ms). */
  maxDelayMs: number;
  /**
   * `full` (default): uniform in [0, cap]. Spreads a crowd of clients that lost the same gateway,
   * so they do not return in a storm.
   * `equal`: uniform in [cap/2, cap]. Never (nearly) zero, so a flapping upstream or a crashing
   * feed is not hammered, and still spread.
   */
  jitter?: 'full' | 'equal';
}

/** The delay before retry `attempt` (0-based): cap = min(maxDelayMs, initialDelayMs × 2^attempt), jittered. */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(Math.max(attempt, 0), 30));
  return options.jitter === 'equal' ? Math.round(cap / 2 + random() * (cap / 2)) : Math.floor(random() * cap);
}
