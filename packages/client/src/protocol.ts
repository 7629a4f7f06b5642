/**
 * Protocol v1 wire types, limits and unions: the one place they are defined. The gateway imports
 * them from here (`@tickgate/client/protocol`), so client and server cannot drift apart.
 * docs/protocol.md is the specification; this file is its source of truth in code. Every server
 * frame is a map with a string `t` naming its kind. Types and constants only: no runtime code.
 */
export const PROTOCOL_VERSION = 1;

// ---- limits ------------------------------------------------------------------

/** Longest topic name: 16 + 1 + 24 + 1 + 16 characters. */
export const MAX_TOPIC_LENGTH = 58;
/** Longest string request id. */
export const MAX_ID_LENGTH = 64;
/** Topics and patterns in one subscribe / unsubscribe request. */
export const MAX_TOPICS_PER_REQUEST = 1000;
/** Resume positions in one subscribe: a pattern resubscribed after a reconnect carries one per topic it matched. */
export const MAX_RESUME_POSITIONS = 10_000;
/** Highest `maxRate` a subscribe may ask for (updates per second per topic). */
export const MAX_RATE = 1000;
/** Longest token in a refresh request. */
export const MAX_TOKEN_LENGTH = 8192;

// ---- unions --------------------------------------------------------------------

/**
 * Stable error codes. Each appears on the wire in error frames and HTTP error bodies,
 * as the `code` label of tickgate_errors_total, and in docs/protocol.md.
 */
export const ErrorCode = {
  /** The message could not be decoded: not MessagePack (binary) or not JSON (text). (Invalid UTF-8 in a text frame never gets here: uWS drops the connection.) */
  MALFORMED: 'TG_ERR_MALFORMED',
  /** Decoded, but not a request object of the documented shape. */
  INVALID_REQUEST: 'TG_ERR_INVALID_REQUEST',
  /** The request has no usable `id`. */
  MISSING_ID: 'TG_ERR_MISSING_ID',
  /** `op` is not one the gateway knows. */
  UNKNOWN_OP: 'TG_ERR_UNKNOWN_OP',
  /** A topic or pattern does not follow the naming scheme. */
  INVALID_TOPIC: 'TG_ERR_INVALID_TOPIC',
  /** The message is larger than transport.maxMessageBytes. */
  MESSAGE_TOO_LARGE: 'TG_ERR_MESSAGE_TOO_LARGE',
  /** Subscribing would exceed transport.maxSubscriptionsPerConnection. */
  TOO_MANY_SUBSCRIPTIONS: 'TG_ERR_TOO_MANY_SUBSCRIPTIONS',
  /**
   * Subscribing would hold more pending topics (exact topics that do not exist yet) than
   * limits.maxPendingPerConnection / maxPendingPerIp / maxPendingTotal allow, or more patterns
   * than limits.maxPatternsPerConnection.
   */
  TOO_MANY_PENDING: 'TG_ERR_TOO_MANY_PENDING',
  /** HTTP: no tick has been seen for this topic. */
  UNKNOWN_TOPIC: 'TG_ERR_UNKNOWN_TOPIC',
  /** HTTP: no such route / method. */
  NOT_FOUND: 'TG_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'TG_ERR_METHOD_NOT_ALLOWED',
  /** WebSocket upgrade refused: an unsupported query parameter value (400) or the gateway is shutting down (503). */
  BAD_UPGRADE: 'TG_ERR_BAD_UPGRADE',
  /** HTTP 401 at the upgrade: missing, invalid or expired credentials. Also the close reason when a token expires. */
  UNAUTHORIZED: 'TG_ERR_UNAUTHORIZED',
  /** HTTP 403 at the upgrade: the Origin header is not in security.allowedOrigins. */
  FORBIDDEN_ORIGIN: 'TG_ERR_FORBIDDEN_ORIGIN',
  /** The identity may not subscribe to this topic (outside its entitlements); HTTP 403 on /v1/snapshot. */
  NOT_ENTITLED: 'TG_ERR_NOT_ENTITLED',
  /** HTTP 503/429 at the upgrade: too many connections in total, from this IP, or too fast from this IP. */
  TOO_MANY_CONNECTIONS: 'TG_ERR_TOO_MANY_CONNECTIONS',
  /** More client messages per second than limits.maxMessagesPerSecond; the message was ignored. */
  RATE_LIMITED: 'TG_ERR_RATE_LIMITED',
  /** The gateway failed while handling the request; logged with its cause. */
  INTERNAL: 'TG_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];
export const ALL_ERROR_CODES: readonly ErrorCode[] = Object.values(ErrorCode);

/** Why a subscribe could not resume a topic (the `reason` of a `gap` result, docs/protocol.md §5.7). */
export const RESUME_GAP_REASONS = ['epoch_changed', 'too_old', 'unknown_seq', 'replay_limit'] as const;
export type ResumeGapReason = (typeof RESUME_GAP_REASONS)[number];
/**
 * Every gap a client reports: the gateway's resume reasons, `missed` (a hole inside one
 * connection's stream) and `lost` (a `status` `gap` frame: ticks lost upstream, behind NATS).
 */
export const GAP_REASONS = ['missed', 'lost', ...RESUME_GAP_REASONS] as const;
export type GapReason = (typeof GAP_REASONS)[number];

/** WebSocket close codes in use (docs/protocol.md §10.2). */
export const CloseCode = {
  /** Normal close initiated by the client. */
  NORMAL: 1000,
  /** The gateway is shutting down. */
  GOING_AWAY: 1001,
  /** No close frame: the TCP connection ended (hard payload limit, keepalive, network). Reported by the client library. */
  ABNORMAL: 1006,
  /** Policy: token expired, API key revoked, slow consumer did not recover in time. */
  POLICY: 1008,
  /** Slow consumer, hard limit: frames were dropped; resume from the last seq. */
  SLOW_CONSUMER: 1013,
  /** Used by the client SDK when it drops a connection that went silent (heartbeat timeout). */
  CLIENT_HEARTBEAT_TIMEOUT: 4000,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** Every server frame kind (`t`). */
export const FRAME_TYPES = ['welcome', 'ack', 'ticks', 'snapshot', 'error', 'pong', 'status', 'slow', 'auth', 'revoked'] as const;
export type FrameType = (typeof FRAME_TYPES)[number];

// ---- ticks on the wire -----------------------------------------------------------

export interface QuoteFields {
  readonly bid: number;
  readonly ask: number;
  readonly bidSize: number;
  readonly askSize: number;
}

export interface TradeFields {
  readonly price: number;
  readonly size: number;
}

/**
 * One tick as it appears on the wire, after the bus stamped it.
 * Field order is fixed (seq, ts, gts, then the payload) so every entry has the same shape.
 */
export interface WireQuote extends QuoteFields {
  seq: number;
  ts: number;
  gts: number;
}
export interface WireTrade extends TradeFields {
  seq: number;
  ts: number;
  gts: number;
}
export type WireTick = WireQuote | WireTrade;

// ---- books, bars and day statistics (docs/protocol.md §17) ------------------------

/** One order-book level: price and the new absolute size there (0: the level is removed). */
export type BookLevel = readonly [price: number, size: number];

/** One OHLCV bar (built by the gateway from trades, or from quote mids for FX). */
export interface BarFields {
  /** Bar start and end (exclusive), gateway time, epoch ms. */
  readonly start: number;
  readonly end: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  /** Traded size in the bar (0 for bars built from quote mids). */
  readonly volume: number;
  /** Trades (or, for mid bars, quotes) folded into the bar. */
  readonly count: number;
  /** Volume-weighted average price (mid bars: the mean of the mids). */
  readonly vwap: number;
  /** false: the open bar, updated; true: the bar closed, this is its last value. */
  readonly final: boolean;
}

/**
 * A book update as sent: the changed levels of the top N per side (size 0: removed) and the
 * CRC-32 of the resulting top N (docs/protocol.md §17). In a snapshot: the whole top N.
 */
export interface WireBook {
  seq: number;
  ts: number;
  gts: number;
  bids: BookLevel[];
  asks: BookLevel[];
  checksum: number;
}
export interface WireBar extends BarFields {
  seq: number;
  ts: number;
  gts: number;
}
/** One entry of a topic's stream, whatever its channel: what the bus stamps, stores and sends. */
export type WireEntry = WireTick | WireBook | WireBar;

/**
 * Day statistics of one instrument (`<assetClass>.<SYMBOL>`), from trades, or from quote mids
 * for instruments without trades (FX). Prices are null before the first price of the day.
 */
export interface DayStats {
  /** The trading day (UTC date, `YYYY-MM-DD`) these statistics are for. */
  day: string;
  /** `trade` or `mid`: what the prices below are made of. */
  source: 'trade' | 'mid';
  open: number | null;
  high: number | null;
  low: number | null;
  /** The latest price of the day. */
  last: number | null;
  /** The last price of the previous day this gateway saw, or null. */
  prevClose: number | null;
  /** Traded size today (0 for `mid`). */
  volume: number;
  /** Volume-weighted average price today (`mid`: the mean of the mids), or null. */
  vwap: number | null;
  /** last − prevClose, and that as a percentage of prevClose; null when either is unknown. */
  change: number | null;
  changePct: number | null;
}

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
  | { topic: string; status: 'gap'; reason: ResumeGapReason; from?: number; to?: number }
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
  /** First and last missed seq, inclusive, in the topic's current epoch. */
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
  /** The new epoch; the topic's next frame carries it, with seqs starting over. */
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
  /** The instrument's day statistics (docs/protocol.md §17), when the gateway has seen a price for it. */
  stats?: DayStats;
}

/**
 * Ticks and snapshots of book and bar topics (docs/protocol.md §17). Same frames (`t`: `ticks` or
 * `snapshot`) as for quotes and trades, whose entries are WireBook or WireBar; a bar snapshot
 * carries up to the last K bars, a book snapshot one entry holding the whole top N.
 * Kept apart from TicksFrame/SnapshotFrame so clients typed for quote and trade topics only
 * keep compiling; `GatewayFrame` is everything the gateway sends.
 */
export interface EntriesFrame {
  t: 'ticks';
  topic: string;
  epoch: number;
  ticks: WireEntry[];
  conflated?: number;
}
export interface EntriesSnapshotFrame {
  t: 'snapshot';
  topic: string;
  epoch: number;
  ticks: WireEntry[];
  stats?: DayStats;
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

export type ServerFrame =
  | WelcomeFrame
  | AckFrame
  | TicksFrame
  | SnapshotFrame
  | ErrorFrame
  | PongFrame
  | StatusFrame
  | GapStatusFrame
  | ResetStatusFrame
  | SlowFrame
  | AuthFrame
  | RevokedFrame;
/** Every frame the gateway sends, book and bar entries included. */
export type GatewayFrame = ServerFrame | EntriesFrame | EntriesSnapshotFrame;
