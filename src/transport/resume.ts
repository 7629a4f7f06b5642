import type { TopicBus } from '../bus/bus.ts';
import type { WireEntry } from '../core/tick.ts';
import type { ResumePosition, TopicResult } from '../protocol/frames.ts';

export interface ResumePlan {
  result: TopicResult;
  /** Ticks to send as ticks frames (resume), or null. */
  replay: WireEntry[] | null;
  /** Send the last value as a snapshot frame. */
  snapshot: boolean;
}

/**
 * Decides what a client gets for one newly subscribed topic: a replay of what it missed, a
 * snapshot, or a gap report plus a snapshot. Pure apart from reading the bus.
 */
export function planDelivery(bus: TopicBus, topic: string, position: ResumePosition | undefined, wantSnapshot: boolean): ResumePlan {
  const view = bus.topic(topic);
  const last = view?.last;
  const snapshot = last !== undefined && wantSnapshot;

  // No closures here: this runs once per topic of every subscribe.
  if (position === undefined) return { result: { topic, status: snapshot ? 'snapshot' : 'pending' }, replay: null, snapshot };
  if (position.epoch !== bus.epoch) {
    // Another run of the gateway: the client's seqs mean nothing here. What it missed is unknown.
    return { result: { topic, status: 'gap', reason: 'epoch_changed' }, replay: null, snapshot };
  }
  const replay = bus.replayAfter(topic, position.seq);
  if (replay !== null) return { result: { topic, status: 'replayed', count: replay.length }, replay, snapshot: false };
  if (last === undefined || position.seq > last.seq) {
    return { result: { topic, status: 'gap', reason: 'unknown_seq' }, replay: null, snapshot };
  }
  // Same epoch, but the ticks after the client's seq have left the history.
  const from = position.seq + 1;
  const to = last.seq - 1;
  const result: TopicResult =
    to >= from ? { topic, status: 'gap', reason: 'too_old', from, to } : { topic, status: 'gap', reason: 'too_old' };
  return { result, replay: null, snapshot };
}
