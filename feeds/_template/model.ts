import type { QuoteFields } from '../../src/core/tick.ts';

/** Pure state and step functions, kept apart from timers and I/O so tests can call them directly. */
export interface WalkState {
  mid: number;
  step: number;
}

/**
 * Moves the mid by a deterministic zig-zag of ±0.1 % and returns a quote one cent wide around it,
 * on the cent grid. Deterministic: the same state gives the same quote.
 */
export function nextQuote(state: WalkState): QuoteFields {
  state.step++;
  state.mid *= state.step % 3 === 0 ? 0.999 : 1.0005;
  const bidCents = Math.max(1, Math.round(state.mid * 100 - 0.5));
  return { bid: bidCents / 100, ask: (bidCents + 1) / 100, bidSize: 100, askSize: 100 };
}
