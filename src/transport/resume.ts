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
  const snapshotOr = (result: TopicResult): ResumePlan =>
    last !== undefined && wantSnapshot ? { result, replay: null, snapshot: true } : { result, replay: null, snapshot: false };

  if (position === undefined) {
    return last !== undefined && wantSnapshot
      ? { result: { topic, status: 'snapshot' }, replay: null, snapshot: true }
      : { result: { topic, status: 'pending' }, replay: null, snapshot: false };
  }
  if (position.epoch !== bus.epoch) {
    // Another run of the gateway: the client's seqs mean nothing here. What it missed is unknown.
    return snapshotOr({ topic, status: 'gap', reason: 'epoch_changed' });
  }
  const replay = bus.replayAfter(topic, position.seq);
  if (replay !== null) return { result: { topic, status: 'replayed', count: replay.length }, replay, snapshot: false };
  if (last === undefined || position.seq > last.seq) {
    return snapshotOr({ topic, status: 'gap', reason: 'unknown_seq' });
  }
  // Same epoch, but the ticks after the client's seq have left the history.
  const from = position.seq + 1;
  const to = last.seq - 1;
  return snapshotOr(to >= from ? { topic, status: 'gap', reason: 'too_old', from, to } : { topic, status: 'gap', reason: 'too_old' });
}
