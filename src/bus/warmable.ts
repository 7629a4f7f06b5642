import type { ResumePosition } from '../protocol/frames.ts';
import type { WireEntry } from '../core/tick.ts';
import type { TopicBus } from './bus.ts';

/**
 * Optional TopicBus capability: a bus that can fetch a topic's last value and recent history from
 * elsewhere before a subscribe is answered. The NATS bus in JetStream mode reads them from the
 * stream when a client asks for a topic this gateway holds no live state for — a client that moved
 * from another gateway resumes here without a gap.
 *
 * `warm(topics, resume, snapshot)`: called by the transport with a subscribe request's entries
 * (patterns are passed through and may be ignored), the client's resume positions and whether it
 * wants snapshots, *before* it plans snapshots and replays from `topic()` and `replayAfter()`.
 * - Returns null when there is nothing to fetch; the subscribe then proceeds synchronously
 *   (the common case, and always the case for buses without this capability).
 * - Otherwise returns a promise that resolves once the bus holds what it could fetch, within a
 *   bounded time; it never rejects (a failed or slow fetch leaves the topic as it was: the client
 *   gets `pending` or a `gap` result, never an error).
 * - After it resolves, the topics' frames continue in seq order with no hole between the fetched
 *   history and live frames. Fetched frames are history: they are not handed to the sink's
 *   `onBatch` (no subscriber sees them twice).
 */
export interface WarmableBus extends TopicBus {
  warm(topics: readonly string[], resume: ReadonlyMap<string, ResumePosition>, snapshot: boolean): Promise<void> | null;
  /**
   * Every tick of `topic` held for resume, oldest first (what `warm` fetched plus what followed):
   * `--workers` hands it to the worker thread whose client asked (src/workers/).
   */
  heldTicks(topic: string): WireEntry[];
}

export function isWarmableBus(bus: TopicBus): bus is WarmableBus {
  return typeof (bus as Partial<WarmableBus>).warm === 'function';
}
