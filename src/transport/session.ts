import type uWS from 'uWebSockets.js';
import type { TimerHandle } from '../core/clock.ts';
import type { TopicPattern } from '../core/topic.ts';
import type { CloseReason } from '../metrics/metrics.ts';
import type { Identity } from '../auth/identity.ts';
import type { WireFormat } from '../protocol/frames.ts';

/** A client connection: the uWS socket whose user data is the Session. */
export type Socket = uWS.WebSocket<Session>;

export type { CloseReason };

/**
 * One WebSocket connection's state; also the uWS user data object.
 * uWS copies the own properties of this object into the socket's user data at upgrade, so it
 * must stay plain data: no methods or getters (they would silently be undefined).
 * Rates are updates per second, 0 meaning every tick.
 */
export class Session {
  readonly id: number;
  readonly format: WireFormat;
  readonly remoteAddress: string;
  /** Exact topics the client asked for, with the rate asked. */
  readonly exact = new Map<string, number>();
  /** Patterns the client asked for, by their text. */
  readonly patterns = new Map<string, { pattern: TopicPattern; rate: number }>();
  /** Concrete topics subscribed on the socket, with the rate actually delivered. */
  readonly topics = new Map<string, number>();
  /** Slow-consumer step 1: full-rate topics are delivered at the downgrade rate meanwhile. */
  downgraded = false;
  /** When the send buffer first went over the soft limit (ms), 0 while under it. */
  slowSince = 0;
  /**
   * Read probes (slow consumers): the number of the last WebSocket ping sent behind the backlog,
   * and of the last one the client answered. A pong proves the client read every frame sent
   * before that ping; a shrinking send buffer only proves the kernel took the bytes.
   */
  readProbeSent = 0;
  readProbeAnswered = 0;
  /** Set once the gateway has decided to close this connection (slow consumer, shutdown). */
  closing = false;
  closeReason: CloseReason = 'client';
  droppedFrames = 0;
  /** True once uWS reported the close; the socket must not be touched after. */
  closed = false;
  /** A slow consumer's deadline for draining before it is cut off. */
  closeTimer: NodeJS.Timeout | null = null;
  /** A close waiting for the send buffer to drain under the hard limit. */
  pendingClose: { code: number; reason: string } | null = null;
  /** Who is connected and what they may see; replaced on token refresh or config reload. */
  identity: Identity;
  /** Client-message rate limiting: the current one-second window. */
  messageWindowStart = 0;
  messagesInWindow = 0;
  /** Token-expiry warning and close timers. */
  expiryTimers: TimerHandle[] = [];

  constructor(id: number, format: WireFormat, remoteAddress: string, identity: Identity) {
    this.id = id;
    this.format = format;
    this.remoteAddress = remoteAddress;
    this.identity = identity;
  }
}
