import type uWS from 'uWebSockets.js';
import type { Logger } from 'pino';
import type { TopicBus } from '../bus/bus.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { ServerFrame } from '../protocol/frames.ts';
import { slowState, type Session, type SlowState } from './session.ts';
import type { SubscriptionManager } from './subscriptions.ts';

export interface SlowConsumerOptions {
  softLimitBytes: number;
  recoverBelowBytes: number;
  maxSlowMs: number;
  downgradeRate: number;
  checkIntervalMs: number;
}

type Socket = uWS.WebSocket<Session>;

interface GuardDeps {
  sockets: ReadonlySet<Socket>;
  subscriptions: SubscriptionManager;
  bus: TopicBus;
  metrics: Metrics;
  logger: Logger;
  send(ws: Socket, frame: ServerFrame): void;
  sendSnapshot(ws: Socket, topic: string): void;
}

const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_TRY_AGAIN_LATER = 1013;
/** Payload of read-probe pings; clients echo it in their pong (RFC 6455 §5.5.3). */
const READ_PROBE_PREFIX = 'tg-read:';

/**
 * Slow consumers, in visible steps, each counted in tickgate_slow_consumer_actions_total:
 * 1. send buffer over softLimitBytes → the client's every-tick topics are downgraded to
 *    downgradeRate (conflated frames say how many ticks each stands for); a `slow` frame says which.
 * 2. recovered: the client answered the read probe (a WebSocket ping queued behind the backlog at
 *    the downgrade, so its pong proves the client read everything before it) AND the buffer is back
 *    under recoverBelowBytes → every tick again, after a `slow` frame and fresh snapshots. A buffer
 *    that shrank only because the kernel took the bytes is not recovery: no pong, no recovery.
 * 3. not recovered maxSlowMs after the first downgrade → closed with 1008 (the close frame is
 *    cut off after closeGraceMs if the client does not read it either); over the hard limit
 *    (transport.maxBackpressureBytes, where uWS drops frames) → closed with 1013.
 * A closed client resumes from its last seq on reconnect, so it learns exactly what it missed.
 * The buffer check is one native call per connection per checkIntervalMs, off the tick path.
 */
export class SlowConsumerGuard {
  private timer: NodeJS.Timeout | null = null;
  private readonly hardHit = new Set<Socket>();

  constructor(
    private readonly options: SlowConsumerOptions,
    private readonly hardLimitBytes: number,
    private readonly closeGraceMs: number,
    private readonly deps: GuardDeps,
    private readonly clock: Clock = systemClock,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.sweep(this.clock.now()), this.options.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sweep(now: number): void {
    const { softLimitBytes, recoverBelowBytes, maxSlowMs } = this.options;
    for (const ws of this.deps.sockets) {
      const session = ws.getUserData();
      if (session.closing) continue;
      const buffered = ws.getBufferedAmount();
      const slow = session.slow;
      if (slow === null || !slow.downgraded) {
        if (buffered > softLimitBytes) this.downgrade(ws, session, buffered, now);
      } else if (slow.readProbeAnswered === slow.readProbeSent && buffered <= recoverBelowBytes) {
        this.recover(ws, session, buffered);
      } else if (now - slow.slowSince > maxSlowMs) {
        this.action('close_timeout');
        this.closeSlow(ws, session, CLOSE_POLICY_VIOLATION, `slow consumer: did not catch up within ${maxSlowMs} ms of falling behind`);
      } else if (slow.readProbeAnswered === slow.readProbeSent) {
        // It read up to the last probe but the buffer is still high: probe again behind the rest.
        this.probe(ws, slow);
      }
    }
  }

  /** Queues a WebSocket ping behind everything sent so far; the client's pong answers it (see `answered`). */
  private probe(ws: Socket, slow: SlowState): void {
    slow.readProbeSent++;
    ws.ping(`${READ_PROBE_PREFIX}${slow.readProbeSent}`);
  }

  /** A pong arrived: if it answers a read probe, the client has read everything before that probe. */
  answered(ws: Socket, message: ArrayBuffer): void {
    const text = Buffer.from(message).toString('latin1');
    if (!text.startsWith(READ_PROBE_PREFIX)) return;
    const n = Number(text.slice(READ_PROBE_PREFIX.length));
    const slow = ws.getUserData().slow;
    if (slow !== null && Number.isSafeInteger(n) && n > slow.readProbeAnswered && n <= slow.readProbeSent) slow.readProbeAnswered = n;
  }

  private downgrade(ws: Socket, session: Session, buffered: number, now: number): void {
    slowState(session).slowSince = now;
    const topics = this.deps.subscriptions.setDowngraded(session, true);
    this.action('downgrade');
    this.deps.logger.warn(
      { session: session.id, remote: session.remoteAddress, buffered, topics: topics.length },
      'slow consumer downgraded',
    );
    this.deps.send(ws, {
      t: 'slow',
      state: 'downgraded',
      topics,
      maxRate: this.options.downgradeRate,
      bufferedBytes: buffered,
      message: `send buffer at ${buffered} bytes (soft limit ${this.options.softLimitBytes}): every-tick topics now conflated to ${this.options.downgradeRate}/s`,
    });
    this.probe(ws, slowState(session));
  }

  private recover(ws: Socket, session: Session, buffered: number): void {
    slowState(session).slowSince = 0;
    const topics = this.deps.subscriptions.setDowngraded(session, false);
    this.action('recover');
    this.deps.logger.info({ session: session.id, topics: topics.length }, 'slow consumer recovered');
    this.deps.send(ws, {
      t: 'slow',
      state: 'recovered',
      topics,
      maxRate: 0,
      bufferedBytes: buffered,
      message: 'send buffer drained: every tick again; snapshots follow',
    });
    for (const topic of topics) this.deps.sendSnapshot(ws, topic);
  }

  /** uWS dropped a frame for this client: close it (on the next turn; we are inside uWS's drain). */
  overHardLimit(ws: Socket): void {
    const session = ws.getUserData();
    if (session.closing) return;
    session.closing = true;
    session.closeReason = 'slow_consumer';
    if (this.hardHit.size === 0) setImmediate(() => this.closeHardHit());
    this.hardHit.add(ws);
  }

  private closeHardHit(): void {
    for (const ws of this.hardHit) {
      const session = ws.getUserData();
      if (session.closed) continue;
      this.action('close_hard');
      this.closeSlow(
        ws,
        session,
        CLOSE_TRY_AGAIN_LATER,
        `slow consumer: ${session.slow?.droppedFrames ?? 0} frames dropped over the send buffer limit; resume from your last seq`,
      );
    }
    this.hardHit.clear();
  }

  /**
   * Unsubscribes at once so nothing more queues up. The close frame can only be delivered once
   * the buffer is under the hard limit (uWS drops frames over it, the close frame too), so it is
   * sent now or at drain; a client that never drains is cut off after closeGraceMs.
   */
  private closeSlow(ws: Socket, session: Session, code: number, reason: string): void {
    session.closing = true;
    session.closeReason = 'slow_consumer';
    this.deps.logger.warn({ session: session.id, remote: session.remoteAddress, code, reason }, 'closing slow consumer');
    this.deps.subscriptions.unsubscribeAll(session);
    // A client that reads nothing never completes the closing handshake either: cut it off.
    slowState(session).closeTimer = setTimeout(() => {
      if (!session.closed) ws.close();
    }, this.closeGraceMs);
    if (ws.getBufferedAmount() < this.hardLimitBytes) {
      ws.end(code, reason);
      return;
    }
    slowState(session).pendingClose = { code, reason };
  }

  /** uWS says the buffer drained: deliver a pending close. */
  drained(ws: Socket): void {
    const session = ws.getUserData();
    const slow = session.slow;
    const pending = slow?.pendingClose ?? null;
    if (slow === null || pending === null || session.closed || ws.getBufferedAmount() >= this.hardLimitBytes) return;
    slow.pendingClose = null;
    ws.end(pending.code, pending.reason); // closeTimer stays armed: the client must still read the close frame
  }

  forget(ws: Socket): void {
    this.hardHit.delete(ws);
  }

  private action(action: 'downgrade' | 'recover' | 'close_timeout' | 'close_hard'): void {
    this.deps.metrics.slowConsumerActions.labels(action).inc();
  }
}
