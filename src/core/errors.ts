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

/** An error with a stable code, safe to show to a client; `cause` holds the underlying error. */
export class TickgateError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TickgateError';
    this.code = code;
  }
}
