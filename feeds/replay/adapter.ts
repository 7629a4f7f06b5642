import { accessSync, constants as fsConstants } from 'node:fs';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import type { FeedTick } from '../../src/core/tick.ts';
import type { FeedAdapter, FeedContext } from '../../src/feed/adapter.ts';
import { readTicks, type ReadWarning, type TickFileFormat } from '../../src/record/reader.ts';

export interface ReplayAdapterOptions {
  /** Absolute paths, played one after the other as one stream. */
  readonly files: readonly string[];
  readonly format: 'auto' | TickFileFormat;
  /** 1 = original pace, 10 = ten times faster, 'max' = as fast as possible. */
  readonly speed: number | 'max';
  readonly loop: boolean;
  /** Most ticks emitted in one event-loop turn before yielding (setImmediate). */
  readonly burstSize: number;
  /** Paced replay: a pause between two recorded ticks longer than this (after speed-up) is cut to it. */
  readonly maxGapMs?: number | undefined;
}

export interface ReplayStats {
  /** Ticks handed to ctx.emit (accepted or not). */
  emitted: number;
  /** Of those, refused by the bus (ctx.emit returned false). */
  rejected: number;
  /** Completed passes over the files. */
  passes: number;
  /** Records and lines skipped by the reader (invalid, truncated, corrupt). */
  skipped: number;
}

const LOG_FIRST_WARNINGS = 5;
const WARN_EVERY_MS = 10_000;

/** The same tick with a new timestamp; one allocation, same shape per kind. */
function restamp(t: FeedTick, ts: number): FeedTick {
  return t.kind === 'quote'
    ? { topic: t.topic, ts, kind: 'quote', bid: t.bid, ask: t.ask, bidSize: t.bidSize, askSize: t.askSize }
    : { topic: t.topic, ts, kind: 'trade', price: t.price, size: t.size };
}

interface Run {
  readonly controller: AbortController;
  done: Promise<void>;
}

/**
 * Plays recorded ticks (a tickgate recording, CSV or NDJSON; see src/record/reader.ts) through
 * `ctx.emit`, in file order.
 *
 * Timing: the first tick of a pass goes out at once; tick i is due at
 * `passStart + (ts_i − ts_0) / speed` on `ctx.clock` and is emitted once that time has come,
 * stamped with exactly that time, so emitted timestamps keep the recorded spacing (scaled by
 * `speed`) however late the timer fires. Ticks that are due together go out in one turn, at most
 * `burstSize` of them before yielding to the event loop. A recorded ts that goes backwards is due
 * at once (recordings are ordered per topic, not across topics; a topic whose own timestamps go
 * backwards has those ticks refused by the bus, `timestamp_backwards`). With `speed: 'max'` ticks are stamped `ctx.clock.now()` and emitted in bursts of
 * `burstSize`, yielding with setImmediate between bursts so the gateway keeps serving.
 *
 * Looping starts the next pass right after the last tick (timestamps keep increasing). A file
 * with no valid tick ends the replay instead of spinning. After a failure the supervisor's
 * restart continues where the previous run stopped (same pass, next record).
 *
 * Errors: unreadable files fail `start()` (the supervisor retries with backoff); an I/O error
 * during the replay goes to `ctx.fail`; invalid, truncated or corrupt data is skipped and logged.
 */
export class ReplayAdapter implements FeedAdapter {
  private run: Run | null = null;
  /** Records of the current pass already emitted (a restarted run skips them). */
  private index = 0;
  private readonly counters: ReplayStats = { emitted: 0, rejected: 0, passes: 0, skipped: 0 };
  private lastWarnAt = Number.NEGATIVE_INFINITY;
  private warningsSinceLog = 0;

  constructor(readonly options: ReplayAdapterOptions) {}

  stats(): ReplayStats {
    return { ...this.counters };
  }

  start(ctx: FeedContext): void {
    if (this.run !== null) throw new Error('adapter is already running');
    if (ctx.signal.aborted) return;
    for (const file of this.options.files) {
      try {
        accessSync(file, fsConstants.R_OK);
      } catch (err) {
        throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
      }
    }
    const controller = new AbortController();
    const run: Run = { controller, done: Promise.resolve() };
    this.run = run;
    ctx.signal.addEventListener('abort', () => controller.abort(), { once: true });
    run.done = this.play(ctx, controller.signal).then(
      () => {},
      (err: unknown) => {
        if (!controller.signal.aborted) ctx.fail(err);
      },
    );
  }

  async stop(): Promise<void> {
    const run = this.run;
    if (run === null) return;
    run.controller.abort();
    await run.done;
    if (this.run === run) this.run = null;
  }

  private async play(ctx: FeedContext, signal: AbortSignal): Promise<void> {
    const { clock } = ctx;
    const { files, format, speed, loop, maxGapMs } = this.options;
    const burstSize = this.options.burstSize;
    const onWarning = (w: ReadWarning) => this.onWarning(ctx, w);
    /** The earliest the next pass may be anchored (see below). */
    let nextAnchorFloor = Number.NEGATIVE_INFINITY;
    try {
      for (;;) {
        const skip = this.index;
        let index = 0;
        let emittedThisRun = 0;
        let anchorWall = 0;
        let anchorTs = Number.NaN;
        let prevTs = 0;
        let minTs = Number.POSITIVE_INFINITY;
        let maxDue = Number.NEGATIVE_INFINITY;
        let burst = 0;
        for (const file of files) {
          for await (const batch of readTicks(file, { format, signal, onWarning })) {
            for (const rec of batch) {
              if (index < skip) {
                index++;
                continue;
              }
              let ts: number;
              if (speed === 'max') {
                if (++burst > burstSize) {
                  burst = 1;
                  await nextTurn(undefined, { signal });
                }
                ts = clock.now();
              } else {
                if (Number.isNaN(anchorTs)) {
                  anchorTs = rec.ts;
                  anchorWall = Math.max(clock.now(), nextAnchorFloor);
                } else if (maxGapMs !== undefined && (rec.ts - prevTs) / speed > maxGapMs) {
                  anchorWall -= (rec.ts - prevTs) / speed - maxGapMs;
                }
                prevTs = rec.ts;
                if (rec.ts < minTs) minTs = rec.ts;
                ts = anchorWall + (rec.ts - anchorTs) / speed;
                if (ts > maxDue) maxDue = ts;
                let wait = ts - clock.now();
                if (wait > 0) {
                  burst = 0;
                  // Timers count whole milliseconds from the loop's cached time and may fire a
                  // little early by ctx.clock: sleep again until the tick is due, never emit early.
                  while (wait > 0) {
                    await sleep(Math.max(1, Math.ceil(wait)), undefined, { signal });
                    wait = ts - clock.now();
                  }
                } else if (++burst > burstSize) {
                  burst = 1;
                  await nextTurn(undefined, { signal });
                }
              }
              if (signal.aborted) return;
              if (!ctx.emit(restamp(rec, ts))) this.counters.rejected++;
              this.counters.emitted++;
              emittedThisRun++;
              this.index = ++index;
            }
          }
          if (signal.aborted) return;
        }
        // A recording is ordered per topic, not across topics (the recorder writes frames as they
        // arrive), so a pass may start with a tick older than the one it is anchored on. Anchoring
        // the next pass at least (max − min) / speed later keeps every topic's timestamps from
        // going backwards across the loop (the bus refuses those): the next pass's earliest tick
        // comes after this pass's latest.
        if (speed !== 'max' && maxDue > Number.NEGATIVE_INFINITY) nextAnchorFloor = maxDue + (anchorTs - minTs) / speed;
        this.index = 0;
        this.counters.passes++;
        this.flushWarnings(ctx);
        if (!loop) {
          ctx.logger.info({ ...this.counters }, 'replay finished');
          return;
        }
        if (emittedThisRun === 0 && skip === 0) {
          ctx.logger.warn({ files }, 'replay files hold no valid tick; not looping');
          return;
        }
      }
    } catch (err) {
      if (signal.aborted) return; // AbortError from a sleep or a read: stopping, not failing
      throw err;
    }
  }

  /** The first few reader warnings are logged one by one, later ones as a count every 10 s. */
  private onWarning(ctx: FeedContext, w: ReadWarning): void {
    this.counters.skipped++;
    if (this.counters.skipped <= LOG_FIRST_WARNINGS || w.kind !== 'invalid_record') {
      ctx.logger.warn({ file: w.file, kind: w.kind, line: w.line, offset: w.offset }, w.message);
      return;
    }
    this.warningsSinceLog++;
    const now = ctx.clock.now();
    if (now - this.lastWarnAt >= WARN_EVERY_MS) this.flushWarnings(ctx, now);
  }

  private flushWarnings(ctx: FeedContext, now = ctx.clock.now()): void {
    if (this.warningsSinceLog === 0) return;
    ctx.logger.warn({ skipped: this.warningsSinceLog, skippedTotal: this.counters.skipped }, 'invalid records skipped in replay files');
    this.warningsSinceLog = 0;
    this.lastWarnAt = now;
  }
}
