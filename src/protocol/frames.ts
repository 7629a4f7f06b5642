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

export interface SubscribeRequest {
  readonly op: 'subscribe';
  readonly id: RequestId;
  readonly topics: readonly string[];
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
export type ClientRequest = SubscribeRequest | UnsubscribeRequest | PingRequest;
export const CLIENT_OPS = ['subscribe', 'unsubscribe', 'ping'] as const;

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
}

export interface AckFrame {
  t: 'ack';
  id: RequestId;
  op: 'subscribe' | 'unsubscribe';
  /** The topics and patterns of the request, as given. */
  topics: string[];
  /** Subscribe: number of snapshot frames that follow this ack. Unsubscribe: 0. */
  snapshots: number;
}

/** Live ticks of one topic, oldest first, consecutive seqs. */
export interface TicksFrame {
  t: 'ticks';
  topic: string;
  epoch: number;
  ticks: WireTick[];
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

export type ServerFrame = WelcomeFrame | AckFrame | TicksFrame | SnapshotFrame | ErrorFrame | PongFrame;
