import type { TopicBus, TopicView } from '../bus/bus.ts';
import type { StatusFrame } from '../protocol/frames.ts';
import { systemClock, type Clock } from '../core/clock.ts';

interface TopicStatus {
  status: 'live' | 'stale';
  reason: StatusFrame['reason'];
  /** When the status last changed (epoch ms). */
  since: number;
}

/** The status of a topic never marked stale; one shared object (asked once per subscribed topic). */
const NEVER_STALE: Readonly<TopicStatus> = Object.freeze({ status: 'live', reason: 'recovered', since: 0 });

/**
 * Marks topics stale when no tick arrived for `staleAfterMs` or their feed is down, and live
 * again when ticks flow. Checked on a timer (cold path); each change is reported once.
 */
export class TopicLiveness {
  private readonly statuses = new Map<string, TopicStatus>();
  private readonly downFeeds = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly bus: TopicBus,
    private readonly staleAfterMs: number,
    private readonly onChange: (view: TopicView, frame: StatusFrame) => void,
    private readonly clock: Clock = systemClock,
  ) {}

  start(checkIntervalMs: number): void {
    this.timer = setInterval(() => this.check(this.clock.now()), checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** A feed went down or came back; down marks its topics stale at once. */
  feedUp(feedId: string, up: boolean): void {
    if (up) this.downFeeds.delete(feedId);
    else this.downFeeds.add(feedId);
    if (!up && this.timer !== null) this.check(this.clock.now());
  }

  statusOf(topic: string): Readonly<TopicStatus> {
    return this.statuses.get(topic) ?? NEVER_STALE;
  }

  get staleCount(): number {
    let n = 0;
    for (const s of this.statuses.values()) if (s.status === 'stale') n++;
    return n;
  }

  check(now: number): void {
    for (const view of this.bus.topics()) {
      const feedDown = this.downFeeds.has(view.feedId);
      const silent = view.lastUpdate > 0 && now - view.lastUpdate > this.staleAfterMs;
      const prev = this.statuses.get(view.parsed.topic);
      // A stale topic is live again only once a tick arrived after it went stale.
      const freshSinceStale = prev?.status !== 'stale' || view.lastUpdate > prev.since;
      const next = feedDown || silent || !freshSinceStale ? 'stale' : 'live';
      if ((prev?.status ?? 'live') === next) continue;
      const reason: StatusFrame['reason'] = next === 'live' ? 'recovered' : feedDown ? 'feed_down' : 'no_ticks';
      this.statuses.set(view.parsed.topic, { status: next, reason, since: now });
      this.onChange(view, { t: 'status', topic: view.parsed.topic, status: next, reason, lastUpdate: Math.round(view.lastUpdate) });
    }
  }
}
