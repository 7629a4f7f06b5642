import type { ErrorCode } from '../core/errors.ts';
import type { WireTick } from '../core/tick.ts';

/**
 * Protocol v1 frames. docs/protocol.md is the specification; this file is its source of truth
 * in code. Every server frame is a map with a string `t` naming its kind.
 */
export const PROTOCOL_VERSION = 1;

export type RequestId = number | string;
export type WireFormat = 'msgpack' | 'json';

// ---- client → server -------------------------------------------------------

/** A position in a topic's stream: the last (epoch, seq) a client saw. */
export interface ResumePosition {
  readonly epoch: number;
  readonly seq: number;
}

export interface SubscribeRequest {
  readonly op: 'subscribe';
  readonly id: RequestId;
  readonly topics: readonly string[];
  /** At most this many updates per second per topic (conflated); 0 or absent: every tick. */
  readonly maxRate: number;
  /** Per concrete topic, the last position seen; the gateway replays what it still holds after it. */
  readonly resume: ReadonlyMap<string, ResumePosition>;
  /** Send the last value of each newly subscribed topic (default true). */
  readonly snapshot: boolean;
}
export interface UnsubscribeRequest {
  readonly op: 'unsubscribe';
  readonly id: RequestId;
  readonly topics: readonly string[];
}
export interface PingRequest {
  readonly op: 'ping';
  readonly id: RequestId;
}
/** A fresh JWT for a connection whose token is about to expire. */
export interface RefreshRequest {
  readonly op: 'refresh';
  readonly id: RequestId;
  readonly token: string;
}
export type ClientRequest = SubscribeRequest | UnsubscribeRequest | PingRequest | RefreshRequest;
export const CLIENT_OPS = ['subscribe', 'unsubscribe', 'ping', 'refresh'] as const;

// ---- server → client -------------------------------------------------------

/** First frame on every connection. */
export interface WelcomeFrame {
  t: 'welcome';
  v: number;
  server: string;
  epoch: number;
  format: WireFormat;
  maxMessageBytes: number;
  maxSubscriptions: number;
  /** The maxRate tiers (updates/s) this gateway offers. */
  rateTiers: number[];
  /** With `--workers N`: which thread serves this connection (0 is the main thread). */
  worker?: number;
}

/** What a subscribe did for one concrete topic. */
export type TopicResult =
  /** The last value follows as a snapshot frame. */
  | { topic: string; status: 'snapshot' }
  /** Resumed: `count` ticks after the client's seq follow as ticks frames (0: already up to date). */
  | { topic: string; status: 'replayed'; count: number }
  /**
   * The client's position could not be resumed; a snapshot follows (when the topic has a value).
   * `replay_limit`: the history had it, but this request already replayed its budget of ticks.
   * `from`..`to` (inclusive) are the seqs it missed, when known (same epoch).
   */
  | { topic: string; status: 'gap'; reason: 'epoch_changed' | 'too_old' | 'unknown_seq' | 'replay_limit'; from?: number; to?: number }
  /** Subscribed, but the topic has no value yet (or snapshot: false was asked). */
  | { topic: string; status: 'pending' };

export interface AckFrame {
  t: 'ack';
  id: RequestId;
  op: 'subscribe' | 'unsubscribe';
  /** The topics and patterns of the request, as given. */
  topics: string[];
  /** Subscribe: number of snapshot frames that follow this ack. Unsubscribe: 0. */
  snapshots: number;
  /** Subscribe: the delivery rate granted per topic (a configured tier), 0 for every tick. */
  maxRate?: number;
  /** Subscribe: one entry per concrete topic newly subscribed or resumed, in request order. */
  results?: TopicResult[];
}

/** A topic stopped (no tick for liveness.staleAfterMs, or its feed failed) or came back. */
export interface StatusFrame {
  t: 'status';
  topic: string;
  status: 'live' | 'stale';
  reason: 'no_ticks' | 'feed_down' | 'recovered';
  /** Gateway time of the last tick on the topic, epoch ms (0 if none). */
  lastUpdate: number;
}

/**
 * Ticks of a topic that upstream lost for good (NATS bus: frames neither delivered live nor held
 * by the JetStream stream): sent to every holder of the topic right before the frame that jumps
 * over them, with the exact missed range (docs/protocol.md §6.9).
 */
export interface GapStatusFrame {
  t: 'status';
  topic: string;
  status: 'gap';
  reason: 'lost';
  from: number;
  to: number;
  lastUpdate: number;
}

/**
 * The topic's sequence starts over in a new epoch (the ingest restarted and could not continue
 * the old one): sent to every holder of the topic before the first frame of the new epoch.
 */
export interface ResetStatusFrame {
  t: 'status';
  topic: string;
  status: 'reset';
  reason: 'epoch_changed';
  epoch: number;
  lastUpdate: number;
}

/** Slow-consumer steps the client must know about. */
export interface SlowFrame {
  t: 'slow';
  state: 'downgraded' | 'recovered';
  /** The topics whose delivery changed. */
  topics: string[];
  /** downgraded: the rate they now get; recovered: 0 (every tick again, after fresh snapshots). */
  maxRate: number;
  bufferedBytes: number;
  message: string;
}

/** Live ticks of one topic, oldest first, consecutive seqs. */
export interface TicksFrame {
  t: 'ticks';
  topic: string;
  epoch: number;
  ticks: WireTick[];
  /**
   * Only on rate-limited delivery: the single tick stands for this many ticks since the previous
   * frame of this rate tier (seqs in between were conflated, not lost).
   */
  conflated?: number;
}

/** The last value of a topic, sent after a subscribe ack; same layout as a ticks frame with one entry. */
export interface SnapshotFrame {
  t: 'snapshot';
  topic: string;
  epoch: number;
  ticks: [WireTick];
}

export interface ErrorFrame {
  t: 'error';
  /** The request's id, or null when the request had none or could not be decoded. */
  id: RequestId | null;
  code: ErrorCode;
  message: string;
}

export interface PongFrame {
  t: 'pong';
  id: RequestId;
  /** Gateway time, epoch ms. */
  gts: number;
}

/** Token lifecycle: `expiring` before expiry (send a refresh op), `refreshed` answers a refresh (with its id). */
export interface AuthFrame {
  t: 'auth';
  id?: RequestId;
  state: 'expiring' | 'refreshed';
  /** Token expiry, epoch ms (null: never). */
  expiresAt: number | null;
  message: string;
}

/** Topics taken away because the connection's entitlements changed (config reload or token refresh). */
export interface RevokedFrame {
  t: 'revoked';
  topics: string[];
  reason: string;
}

export type ServerFrame = WelcomeFrame | AckFrame | TicksFrame | SnapshotFrame | ErrorFrame | PongFrame | StatusFrame | GapStatusFrame | ResetStatusFrame | SlowFrame | AuthFrame | RevokedFrame;
