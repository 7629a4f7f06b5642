import { ErrorCode, TickgateError } from '../core/errors.ts';
import type { Session } from './session.ts';

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
  /** Topic → sessions waiting for it; emptied when the topic appears. */
  private readonly holders = new Map<string, Set<Session>>();
  private readonly perSession = new Map<Session, number>();
  private readonly perIp = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: PendingLimits) {}

  /** Throws TOO_MANY_PENDING if `session` adding `count` pending topics would exceed a cap. */
  check(session: Session, count: number): void {
    if (count === 0) return;
    const { maxPendingPerConnection: perConn, maxPendingPerIp: perIp, maxPendingTotal: total } = this.limits;
    const mine = this.perSession.get(session) ?? 0;
    if (perConn > 0 && mine + count > perConn) {
      throw tooMany(`subscribe would hold ${mine + count} topics that do not exist yet; the limit per connection is ${perConn} (limits.maxPendingPerConnection)`);
    }
    const ip = this.perIp.get(session.remoteAddress) ?? 0;
    if (perIp > 0 && ip + count > perIp) {
      throw tooMany(`connections from your address would hold ${ip + count} topics that do not exist yet; the limit per IP address is ${perIp} (limits.maxPendingPerIp)`);
    }
    if (total > 0 && this.total + count > total) {
      throw tooMany(`the gateway holds its maximum of ${total} topics that do not exist yet (limits.maxPendingTotal); retry later`);
    }
  }

  add(session: Session, topic: string): void {
    let set = this.holders.get(topic);
    if (set === undefined) {
      set = new Set();
      this.holders.set(topic, set);
    }
    if (set.has(session)) return;
    set.add(session);
    this.count(session, 1);
  }

  remove(session: Session, topic: string): void {
    const set = this.holders.get(topic);
    if (set === undefined || !set.delete(session)) return;
    if (set.size === 0) this.holders.delete(topic);
    this.count(session, -1);
  }

  /** The topic exists now: it is no longer pending for anyone. */
  appeared(topic: string): void {
    const set = this.holders.get(topic);
    if (set === undefined) return;
    this.holders.delete(topic);
    for (const session of set) this.count(session, -1);
  }

  /** Pending topics held by one session, by one IP, and in total (tests, metrics). */
  of(session: Session): number {
    return this.perSession.get(session) ?? 0;
  }
  ofIp(ip: string): number {
    return this.perIp.get(ip) ?? 0;
  }
  get size(): number {
    return this.total;
  }

  private count(session: Session, delta: number): void {
    this.total += delta;
    const s = (this.perSession.get(session) ?? 0) + delta;
    if (s > 0) this.perSession.set(session, s);
    else this.perSession.delete(session);
    const ip = (this.perIp.get(session.remoteAddress) ?? 0) + delta;
    if (ip > 0) this.perIp.set(session.remoteAddress, ip);
    else this.perIp.delete(session.remoteAddress);
  }
}

const tooMany = (message: string) => new TickgateError(ErrorCode.TOO_MANY_PENDING, message);
