import type { Logger } from 'pino';
import type { TopicBus } from '../bus/bus.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { jsonFrame, packFrame } from '../protocol/codec.ts';
import type { RequestId, ServerFrame } from '../protocol/frames.ts';
import type { Session, Socket } from './session.ts';

export interface RepliesDeps {
  bus: Pick<TopicBus, 'topic' | 'epoch'>;
  metrics: Pick<Metrics, 'hot' | 'errors'>;
  logger: Pick<Logger, 'error'>;
}

/**
 * Frames for one socket (welcome, ack, snapshot, replay, status, error, pong), in its format.
 * Cold path: each call encodes for a single connection; ticks to many go through FanOut.
 */
export class Replies {
  constructor(private readonly deps: RepliesDeps) {}

  sendSnapshot(ws: Socket, topic: string): void {
    const last = this.deps.bus.topic(topic)?.last;
    if (last === undefined) return;
    this.send(ws, ws.getUserData(), { t: 'snapshot', topic, epoch: this.deps.bus.epoch, ticks: [last] });
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

  send(ws: Socket, session: Session, frame: ServerFrame): void {
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
