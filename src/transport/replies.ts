import type { Logger } from 'pino';
import type { TopicBus } from '../bus/bus.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { jsonFrame, packFrame } from '../protocol/codec.ts';
import type { MarketView } from '../market/market-view.ts';
import type { EntriesSnapshotFrame, GatewayFrame, RequestId, WelcomeFrame, WireFormat } from '../protocol/frames.ts';
import type { Session, Socket } from './session.ts';

export interface RepliesDeps {
  bus: Pick<TopicBus, 'topic' | 'epoch'>;
  metrics: Pick<Metrics, 'hot' | 'errors'>;
  logger: Pick<Logger, 'error'>;
  /** Book, bar and day-statistics state (src/market): whole books, last bars and stats in snapshots. */
  market?: MarketView | undefined;
}

/**
 * Frames for one socket (welcome, ack, snapshot, replay, status, error, pong), in its format.
 * Cold path: each call encodes for a single connection; ticks to many go through FanOut.
 */
export class Replies {
  /**
   * The welcome frame, encoded once per format and epoch: every connection gets the same bytes,
   * so opening one encodes nothing. Re-encoded only when the epoch changes (a relaying bus
   * learns it from upstream).
   */
  private readonly welcomes = new Map<WireFormat, { epoch: number; bytes: Uint8Array | string }>();

  constructor(private readonly deps: RepliesDeps) {}

  sendWelcome(ws: Socket, session: Session, welcome: Omit<WelcomeFrame, 'format'>, epoch: number): void {
    const format = session.format;
    let cached = this.welcomes.get(format);
    if (cached === undefined || cached.epoch !== epoch) {
      const frame: WelcomeFrame = { ...welcome, epoch, format };
      // packFrame's result is a view into a reused buffer: keep a copy.
      cached = { epoch, bytes: format === 'json' ? jsonFrame(frame) : packFrame(frame).slice() };
      this.welcomes.set(format, cached);
    }
    const hot = this.deps.metrics.hot;
    if (typeof cached.bytes === 'string') {
      ws.send(cached.bytes, false);
      hot.bytesOut += Buffer.byteLength(cached.bytes);
    } else {
      ws.send(cached.bytes, true);
      hot.bytesOut += cached.bytes.byteLength;
    }
    hot.framesOut++;
  }

  sendSnapshot(ws: Socket, topic: string): void {
    const frame = this.snapshotFrame(topic);
    if (frame !== undefined) this.send(ws, ws.getUserData(), frame);
  }

  /** A topic's snapshot: from the market layer (whole book, last bars, day stats) when wired, else the last value. */
  snapshotFrame(topic: string): EntriesSnapshotFrame | undefined {
    const { bus, market } = this.deps;
    const last = bus.topic(topic)?.last;
    if (last === undefined) return undefined;
    return market?.snapshotFrame(topic, bus.epoch) ?? { t: 'snapshot', topic, epoch: bus.epoch, ticks: [last] };
  }

  replyWithError(ws: Socket, session: Session, id: RequestId | null, err: unknown): void {
    if (err instanceof TickgateError) {
      this.sendError(ws, session, id, err.code, err.message);
      return;
    }
    this.deps.logger.error({ err, session: session.id }, 'request failed');
    this.sendError(ws, session, id, ErrorCode.INTERNAL, 'internal error; the request was not applied');
  }

  sendError(ws: Socket, session: Session, id: RequestId | null, code: ErrorCode, message: string): void {
    this.deps.metrics.errors.labels(code).inc();
    this.send(ws, session, { t: 'error', id, code, message });
  }

  send(ws: Socket, session: Session, frame: GatewayFrame): void {
    const hot = this.deps.metrics.hot;
    if (session.format === 'json') {
      const text = jsonFrame(frame);
      ws.send(text, false);
      hot.bytesOut += Buffer.byteLength(text);
    } else {
      const bytes = packFrame(frame);
      ws.send(bytes, true);
      hot.bytesOut += bytes.byteLength;
    }
    hot.framesOut++;
  }
}
