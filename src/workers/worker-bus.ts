import type { WireEntry } from '../core/tick.ts';
import { isPattern } from '../core/topic.ts';
import type { ResumePosition } from '../protocol/frames.ts';
import { RelayBus, type RelayBusOptions } from '../bus/relay-bus.ts';
import type { WarmableBus } from '../bus/warmable.ts';
import type { PrimedTopic, WorkerToMain } from './messages.ts';

/**
 * A worker thread's bus: the RelayBus fed by the main thread's frames, plus `warm` (WarmableBus)
 * so a client on this thread resumes from JetStream history like one on the main thread: a
 * subscribe for topics this thread holds no usable state for asks the main thread, whose bus
 * reads them from the stream (or has them), and takes the topics' held ticks as its history.
 */
export class WorkerBus extends RelayBus implements WarmableBus {
  private nextId = 0;
  private readonly waiting = new Map<number, (topics: PrimedTopic[]) => void>();

  constructor(
    options: RelayBusOptions,
    private readonly post: (m: WorkerToMain) => void,
    /** Longest a subscribe waits for the main thread (its own stream reads are bounded too). */
    private readonly timeoutMs = 4_000,
  ) {
    super(options);
  }

  warm(topics: readonly string[], resume: ReadonlyMap<string, ResumePosition>, snapshot: boolean): Promise<void> | null {
    if (!this.needsMain(topics, resume, snapshot)) return null;
    const id = ++this.nextId;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve();
      }, this.timeoutMs);
      this.waiting.set(id, (primed) => {
        clearTimeout(timer);
        for (const t of primed) this.prime(t.topic, t.feedId, t.epoch, t.ticks);
        resolve();
      });
      this.post({ type: 'warm', id, topics: [...topics], resume: [...resume], snapshot });
    });
  }

  /** The main thread's answer to a `warm` request. */
  warmed(id: number, topics: PrimedTopic[]): void {
    this.waiting.get(id)?.(topics);
    this.waiting.delete(id);
  }

  heldTicks(topic: string): WireEntry[] {
    return this.held(topic);
  }

  /** True when some topic lacks a value here (for a snapshot) or a resume position cannot be replayed here. */
  private needsMain(topics: readonly string[], resume: ReadonlyMap<string, ResumePosition>, snapshot: boolean): boolean {
    for (const [topic, position] of resume) {
      if (position.epoch === this.epoch && this.replayAfter(topic, position.seq) === null) return true;
      if (this.topic(topic)?.last === undefined) return true;
    }
    if (!snapshot) return false;
    for (const topic of topics) if (!isPattern(topic) && this.topic(topic)?.last === undefined) return true;
    return false;
  }
}
