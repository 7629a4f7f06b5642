export interface BackoffOptions {
  /** First retry waits up to this long (ms). */
  initialDelayMs: number;
  /** No retry waits longer than this (ms). */
  maxDelayMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, min(max, initial × 2^attempt)].
 * Full jitter spreads a crowd of clients that lost the same gateway, so they do not return in a storm.
 */
export function backoffDelay(attempt: number, options: BackoffOptions, random: () => number = Math.random): number {
  const cap = Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * cap);
}
