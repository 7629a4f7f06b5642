import { ErrorCode, TickgateError } from '../core/errors.ts';
import { parseTopic, type ParsedTopic } from '../core/topic.ts';
import type { Session } from './session.ts';
import { exactTopics } from './session-topics.ts';

export interface PendingLimits {
  /** 0: unlimited, for each. */
  maxPendingPerConnection: number;
  maxPendingPerIp: number;
  maxPendingTotal: number;
}

/**
 * Pending topics: exact topics a client subscribed to before any tick was seen for them. Each
 * costs a uWS topic subscription and an interest entry until the topic appears, so a hostile
 * client could otherwise pin unbounded memory with made-up names; they are counted per
 * connection, per IP address and in total, and a subscribe over any cap is refused whole.
 */
export class PendingTopics {
  /**
   * Topic → sessions waiting for it (and the topic string they all hold: one copy, not one per
   * connection); emptied when the topic appears. A session's own count is derived from its
   * exact topics at subscribe time rather than kept in a per-connection registry.
   */
  private readonly holders = new Map<string, { topic: string; parsed: ParsedTopic; sessions: Set<Session> }>();
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: PendingLimits) {}

  /** Throws TOO_MANY_PENDING if `session` adding `count` pending topics would exceed a cap. */
  check(session: Session, count: number): void {
    if (count === 0) return;
    const { maxPendingPerConnection: perConn, maxPendingPerIp: perIp, maxPendingTotal: total } = this.limits;
    const mine = this.of(session);
    if (perConn > 0 && mine + count > perConn) {
      throw tooMany(
        `subscribe would hold ${mine + count} topics that do not exist yet; the limit per connection is ${perConn} (limits.maxPendingPerConnection)`,
      );
    }
    const ip = this.perIp.get(session.remoteAddress) ?? 0;
    if (perIp > 0 && ip + count > perIp) {
      throw tooMany(
        `connections from your address would hold ${ip + count} topics that do not exist yet; the limit per IP address is ${perIp} (limits.maxPendingPerIp)`,
      );
    }
    if (total > 0 && this.total + count > total) {
      throw tooMany(`the gateway holds its maximum of ${total} topics that do not exist yet (limits.maxPendingTotal); retry later`);
    }
  }

  add(session: Session, topic: string): void {
    let held = this.holders.get(topic);
    if (held === undefined) {
      held = { topic, parsed: parseTopic(topic), sessions: new Set() };
      this.holders.set(topic, held);
    }
    if (held.sessions.has(session)) return;
    held.sessions.add(session);
    this.count(session, 1);
  }

  /** A pending topic's parsed form, parsed once for all its holders (entitlement checks). */
  parsedOf(topic: string): ParsedTopic | undefined {
    return this.holders.get(topic)?.parsed;
  }

  /** The string sessions already hold for a pending `topic`, so a new holder can share it. */
  keyOf(topic: string): string | undefined {
    return this.holders.get(topic)?.topic;
  }

  remove(session: Session, topic: string): void {
    const held = this.holders.get(topic);
    if (held === undefined || !held.sessions.delete(session)) return;
    if (held.sessions.size === 0) this.holders.delete(topic);
    this.count(session, -1);
  }

  /** The topic exists now: it is no longer pending for anyone. */
  appeared(topic: string): void {
    const held = this.holders.get(topic);
    if (held === undefined) return;
    this.holders.delete(topic);
    for (const session of held.sessions) this.count(session, -1);
  }

  /** Pending topics held by one session (a scan of its exact topics: subscribe time only), by one IP, and in total (tests, metrics). */
  of(session: Session): number {
    let n = 0;
    for (const topic of exactTopics(session)) if (this.holders.get(topic)?.sessions.has(session) === true) n++;
    return n;
  }
  ofIp(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
  get size(): number {
    return this.total;
  }

  private count(session: Session, delta: number): void {
    this.total += delta;
    const ip = (this.perIp.get(session.remoteAddress) ?? 0) + delta;
    if (ip > 0) this.perIp.set(session.remoteAddress, ip);
    else this.perIp.delete(session.remoteAddress);
  }
}

const tooMany = (message: string) => new TickgateError(ErrorCode.TOO_MANY_PENDING, message);
