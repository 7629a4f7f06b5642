/**
 * Plain-number counters for the tick path. Incrementing a field costs nothing measurable;
 * prom-client counters read the deltas at scrape time (see bindHotStats).
 */
export class HotStats {
  framesPublished = 0;
  framesOut = 0;
  bytesOut = 0;
  ticksOut = 0;
  framesDropped = 0;
  /** Accepted ticks per feed id. */
  readonly ticksIn = new Map<string, { count: number }>();
  /**
   * The counter asked for last: called once per accepted tick, and ticks come in runs from one
   * feed, so a string compare (usually the same string object) replaces a Map lookup.
   */
  private lastFeedId: string | null = null;
  private lastCounter: { count: number } = { count: 0 };

  feedCounter(feedId: string): { count: number } {
    if (feedId === this.lastFeedId) return this.lastCounter;
    let c = this.ticksIn.get(feedId);
    if (c === undefined) {
      c = { count: 0 };
      this.ticksIn.set(feedId, c);
    }
    this.lastFeedId = feedId;
    this.lastCounter = c;
    return c;
  }
}
