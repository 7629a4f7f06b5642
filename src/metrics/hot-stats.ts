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

  feedCounter(feedId: string): { count: number } {
    let c = this.ticksIn.get(feedId);
    if (c === undefined) {
      c = { count: 0 };
      this.ticksIn.set(feedId, c);
    }
    return c;
  }
}
