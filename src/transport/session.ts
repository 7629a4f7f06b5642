import type uWS from 'uWebSockets.js';
import type { CloseReason } from '../metrics/metrics.ts';
import type { Identity } from '../auth/identity.ts';
import type { WireFormat } from '../protocol/frames.ts';
import type { TopicSlots } from './session-topics.ts';

/** A client connection: the uWS socket whose user data is the Session. */
export type Socket = uWS.WebSocket<Session>;

export type { CloseReason };

/**
 * Most own properties a Session may have. uWS.js copies the user data's own properties onto
 * the socket object one by one (keyed stores); past 15 such properties V8 turns that object
 * into a dictionary, which costs about 700 bytes more per connection (measured: 15 fields
 * ≈ 140 B, 16 ≈ 830 B); below that the fields take 8 bytes each in steps of three (12 fields:
 * 112 B). session.test.ts enforces the budget. State most connections never need lives with the
 * collaborator that uses it, keyed by session, for only the sessions that have it (patterns:
 * SubscriptionManager; expiry timers: TokenLifecycle; slow-consumer state: `slow` below).
 */
export const MAX_SESSION_FIELDS = 12;

/**
 * One WebSocket connection's state; also the uWS user data object.
 * uWS copies the own properties of this object into the socket's user data at upgrade, so it
 * must stay plain data: no methods or getters (they would silently be undefined).
 *
 * Lean and flat on purpose (a gateway holds 100,000s of these): primitives and shared
 * references, and everything a quiet connection does not need allocated on first use —
 * subscriptions at the first subscribe, slow-consumer state at the first slow step, patterns and
 * expiry timers only for the sessions that have them. An idle connection costs its fields and nothing else.
 */
export class Session {
  readonly id: number;
  readonly format: WireFormat;
  /** The client's address; the admission table's copy once open (one string per address, not per connection). */
  remoteAddress: string;
  /** Who is connected and what they may see; replaced on token refresh or config reload. */
  identity: Identity;
  /** The socket this session belongs to, set at open (uWS.js: the user data object is the socket itself). */
  socket: Socket | null = null;
  /**
   * Per topic: the rate asked for by exact name and the rate delivered on the socket
   * (see session-topics.ts); null until the first subscribe.
   */
  topics: TopicSlots = null;
  /** Slow-consumer state; null until the first slow-consumer step (most connections never take one). */
  slow: SlowState | null = null;
  /** Set once the gateway has decided to close this connection (slow consumer, shutdown, expiry). */
  closing = false;
  /** True once uWS reported the close; the socket must not be touched after. */
  closed = false;
  closeReason: CloseReason = 'client';
  /** Client-message rate limiting: the current one-second window. */
  messageWindowStart = 0;
  messagesInWindow = 0;

  constructor(id: number, format: WireFormat, remoteAddress: string, identity: Identity) {
    this.id = id;
    this.format = format;
    this.remoteAddress = remoteAddress;
    this.identity = identity;
  }
}

/**
 * A connection's slow-consumer state (slow-consumers.ts), allocated at its first step.
 * Rates are updates per second, 0 meaning every tick.
 */
export class SlowState {
  /** Slow-consumer step 1: full-rate topics are delivered at the downgrade rate meanwhile. */
  downgraded = false;
  /** When the send buffer first went over the soft limit (ms), 0 while under it. */
  slowSince = 0;
  /**
   * Read probes: the number of the last WebSocket ping sent behind the backlog, and of the last
   * one the client answered. A pong proves the client read every frame sent before that ping;
   * a shrinking send buffer only proves the kernel took the bytes.
   */
  readProbeSent = 0;
  readProbeAnswered = 0;
  /** Frames uWS dropped over the hard limit. */
  droppedFrames = 0;
  /** A slow consumer's deadline for draining before it is cut off. */
  closeTimer: NodeJS.Timeout | null = null;
  /** A close waiting for the send buffer to drain under the hard limit. */
  pendingClose: { code: number; reason: string } | null = null;
}

/** The session's slow-consumer state, allocated on first use. */
export function slowState(session: Session): SlowState {
  return (session.slow ??= new SlowState());
}

/** Whether the session's every-tick topics are downgraded (slow-consumer step 1). */
export function isDowngraded(session: Session): boolean {
  return session.slow?.downgraded === true;
}
