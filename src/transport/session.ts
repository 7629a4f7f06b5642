import type { TopicPattern } from '../core/topic.ts';
import type { WireFormat } from '../protocol/frames.ts';

/**
 * One WebSocket connection's state; also the uWS user data object.
 * Topics subscribed on the uWS socket are exactly `topics`; a topic stays subscribed while an
 * exact entry or any pattern still covers it.
 */
export class Session {
  readonly id: number;
  readonly format: WireFormat;
  readonly remoteAddress: string;
  /** Exact topics the client asked for. */
  readonly exact = new Set<string>();
  /** Patterns the client asked for, by their text. */
  readonly patterns = new Map<string, TopicPattern>();
  /** Concrete topics currently subscribed on the socket. */
  readonly topics = new Set<string>();
  /** Set once the gateway has decided to close this connection (slow consumer, shutdown). */
  closing = false;
  closeReason: 'client' | 'shutdown' | 'slow_consumer' | 'error' = 'client';
  droppedFrames = 0;
  /** True once uWS reported the close; the socket must not be touched after. */
  closed = false;
  /** A slow consumer's deadline for draining before it is cut off. */
  closeTimer: NodeJS.Timeout | null = null;

  constructor(id: number, format: WireFormat, remoteAddress: string) {
    this.id = id;
    this.format = format;
    this.remoteAddress = remoteAddress;
  }
}
