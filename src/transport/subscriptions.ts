import type { TopicBus, TopicView } from '../bus/bus.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import { isPattern, parseTopic, TopicPattern, type ParsedTopic } from '../core/topic.ts';
import { PendingTopics, type PendingLimits } from './pending.ts';
import type { Session } from './session.ts';
import { wireTopic } from './wire-topics.ts';

/** The part of a uWS WebSocket the subscription logic needs. */
export interface TopicSocket {
  subscribe(topic: string): boolean;
  unsubscribe(topic: string): boolean;
}

export interface SubscriptionEvents {
  /** The number of (connection, topic) subscriptions changed by `delta`. */
  changed(delta: number): void;
  /** The first connection asked for `entry` (topic or pattern), or the last one let go of it. */
  interest(entry: string, interested: boolean): void;
  /** Subscribers of `topic` at conflated `rate` (> 0) changed by `delta`. */
  tier(topic: string, rate: number, delta: number): void;
  /** Delayed-tier subscribers of `topic` at `delayMs` changed by `delta`. */
  delayed(topic: string, delayMs: number, delta: number): void;
  /** A new topic matched one of the session's patterns but the session is at its subscription limit. */
  limitReached(session: Session, topic: string): void;
}

/**
 * Maps what clients asked for (exact topics and patterns, each with a rate) onto uWS topic
 * subscriptions. All of this is cold path: client requests, a topic's first appearance, and
 * slow-consumer steps — never per tick.
 *
 * A concrete topic is delivered at the fastest rate among the session's entries covering it
 * (0, every tick, beats any tier); while the session is downgraded, every-tick topics get the
 * downgrade rate instead.
 */
export class SubscriptionManager {
  /** Pattern text → sessions holding it; scanned when a new topic appears. */
  private readonly patternHolders = new Map<string, { pattern: TopicPattern; sessions: Set<Session> }>();
  private readonly sockets = new Map<Session, TopicSocket>();
  /** Entry (topic or pattern) → number of sessions holding it. */
  private readonly interest = new Map<string, number>();
  /**
   * uWS topic → subscribed sockets, kept here so the tick path reads a Map instead of calling
   * uWS's numSubscribers (a native call that copies the topic string) once per frame.
   */
  readonly wireSubscribers = new Map<string, number>();
  /** Exact topics held before they exist, capped per connection, per IP and in total. */
  readonly pending: PendingTopics;

  constructor(
    private readonly bus: TopicBus,
    private readonly maxPerSession: number,
    private readonly downgradeRate: number,
    private readonly events: SubscriptionEvents,
    private readonly limits: PendingLimits & { maxPatternsPerConnection: number } = {
      maxPendingPerConnection: 0,
      maxPendingPerIp: 0,
      maxPendingTotal: 0,
      maxPatternsPerConnection: 0,
    },
  ) {
    this.pending = new PendingTopics(limits);
  }

  attach(session: Session, socket: TopicSocket): void {
    this.sockets.set(session, socket);
  }

  /**
   * Adds the entries (all valid, checked by the caller) at `rate`. Returns the concrete topics
   * newly subscribed, in request order (for snapshots and resume), and the topics already held
   * whose delivery rate changed (their seqs jump at the switch, so they get a fresh snapshot).
   * All-or-nothing: throws TOO_MANY_SUBSCRIPTIONS before changing anything if the session would
   * exceed the per-connection limit.
   */
  subscribe(session: Session, entries: readonly string[], rate: number): { added: string[]; rerated: string[] } {
    const additions: string[] = [];
    const seen = new Set<string>();
    const add = (topic: string) => {
      if (!session.topics.has(topic) && !seen.has(topic)) {
        seen.add(topic);
        additions.push(topic);
      }
    };
    const compiled = new Map<string, TopicPattern>();
    for (const entry of entries) {
      if (!isPattern(entry)) {
        if (!session.identity.entitled(parseTopic(entry))) {
          throw new TickgateError(ErrorCode.NOT_ENTITLED, `not entitled to ${entry}; this connection may subscribe to ${session.identity.topics.join(', ') || 'nothing'}`);
        }
        add(entry);
        continue;
      }
      const pattern = session.patterns.get(entry)?.pattern ?? new TopicPattern(entry);
      compiled.set(entry, pattern);
      // A pattern expands only to topics the identity is entitled to.
      for (const view of this.bus.topics()) {
        if (pattern.matches(view.parsed) && session.identity.entitled(view.parsed)) add(view.parsed.topic);
      }
    }
    if (session.topics.size + additions.length > this.maxPerSession) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `subscribe would hold ${session.topics.size + additions.length} topics; the limit per connection is ${this.maxPerSession}`,
      );
    }
    const maxPatterns = this.limits.maxPatternsPerConnection;
    let newPatterns = 0;
    for (const text of compiled.keys()) if (!session.patterns.has(text)) newPatterns++;
    if (maxPatterns > 0 && session.patterns.size + newPatterns > maxPatterns) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_PENDING,
        `subscribe would hold ${session.patterns.size + newPatterns} patterns; the limit per connection is ${maxPatterns} (limits.maxPatternsPerConnection)`,
      );
    }
    const newPending = new Set<string>();
    for (const entry of entries) {
      if (!isPattern(entry) && !session.exact.has(entry) && this.bus.topic(entry) === undefined) newPending.add(entry);
    }
    this.pending.check(session, newPending.size);
    for (const topic of newPending) this.pending.add(session, topic);
    const touched = new Set<string>(additions);
    for (const entry of entries) {
      if (isPattern(entry)) continue;
      if (!session.exact.has(entry)) this.hold(entry);
      session.exact.set(entry, rate);
      touched.add(entry);
    }
    for (const [text, pattern] of compiled) {
      if (!session.patterns.has(text)) {
        this.hold(text);
        this.holdersOf(text, pattern).sessions.add(session);
      }
      session.patterns.set(text, { pattern, rate });
      for (const topic of session.topics.keys()) {
        const view = this.bus.topic(topic);
        if (view && pattern.matches(view.parsed)) touched.add(topic);
      }
    }
    const rerated: string[] = [];
    for (const topic of touched) {
      const before = session.topics.get(topic);
      this.sync(session, topic);
      const after = session.topics.get(topic);
      if (before !== undefined && after !== undefined && before !== after) rerated.push(topic);
    }
    return { added: additions, rerated };
  }

  /** Removes the entries; a topic stays subscribed while another entry of the session covers it. */
  unsubscribe(session: Session, entries: readonly string[]): void {
    const touched = new Set<string>();
    for (const entry of entries) {
      if (isPattern(entry)) {
        const held = session.patterns.get(entry);
        if (held === undefined) continue;
        session.patterns.delete(entry);
        this.dropHolder(entry, session);
        this.letGo(entry);
        for (const topic of session.topics.keys()) {
          const view = this.bus.topic(topic);
          if (view !== undefined && held.pattern.matches(view.parsed)) touched.add(topic);
        }
      } else if (session.exact.delete(entry)) {
        this.pending.remove(session, entry);
        this.letGo(entry);
        touched.add(entry);
      }
    }
    for (const topic of touched) this.sync(session, topic);
  }

  /** A topic appeared: subscribe every session whose pattern matches, before its first frame is published. */
  onTopic(view: TopicView): void {
    this.pending.appeared(view.parsed.topic);
    const told = new Set<Session>();
    for (const { pattern, sessions } of this.patternHolders.values()) {
      if (!pattern.matches(view.parsed)) continue;
      for (const session of sessions) {
        if (session.topics.has(view.parsed.topic)) continue;
        if (session.topics.size >= this.maxPerSession) {
          if (!told.has(session)) this.events.limitReached(session, view.parsed.topic);
          told.add(session);
          continue;
        }
        this.sync(session, view.parsed.topic);
      }
    }
  }

  /**
   * Slow-consumer step: moves the session's every-tick topics to the downgrade rate (or back).
   * Returns the topics whose delivery changed.
   */
  setDowngraded(session: Session, downgraded: boolean): string[] {
    if (session.downgraded === downgraded) return [];
    session.downgraded = downgraded;
    const changed: string[] = [];
    for (const topic of [...session.topics.keys()]) {
      if (this.requestedRate(session, topic) === 0) {
        this.sync(session, topic);
        changed.push(topic);
      }
    }
    return changed;
  }

  /** Drops every subscription of a session whose socket stays open for now (a slow consumer being closed). */
  unsubscribeAll(session: Session): void {
    for (const [topic, rate] of session.topics) this.detach(session, topic, rate, session.identity.delayMs);
    this.forget(session);
  }

  /** Forgets a closed session. uWS has already dropped its socket subscriptions. */
  release(session: Session): void {
    for (const [topic, rate] of session.topics) {
      this.countWire(wireTopic(topic, session.format, rate, session.identity.delayMs), -1);
      if (session.identity.delayMs > 0) this.events.delayed(topic, session.identity.delayMs, -1);
      else if (rate > 0) this.events.tier(topic, rate, -1);
    }
    this.forget(session);
    this.sockets.delete(session);
  }

  /** Entries some connection currently holds (for an adapter that starts late or restarts). */
  interestedEntries(): string[] {
    return [...this.interest.keys()];
  }

  /** The rate the session asked for on `topic` (fastest covering entry), or null if nothing covers it. */
  requestedRate(session: Session, topic: string): number | null {
    if (!session.identity.entitled(this.parsed(topic))) return null;
    let best: number | null = session.exact.get(topic) ?? null;
    if (best === 0) return 0;
    if (session.patterns.size > 0) {
      const view = this.bus.topic(topic);
      if (view !== undefined) {
        for (const { pattern, rate } of session.patterns.values()) {
          if (!pattern.matches(view.parsed)) continue;
          if (rate === 0) return 0;
          if (best === null || rate > best) best = rate;
        }
      }
    }
    return best;
  }

  /** Brings the socket's subscription for one topic in line with what the session asked for. */
  private sync(session: Session, topic: string): void {
    const requested = this.requestedRate(session, topic);
    // Delayed identities get every tick, late: rates do not apply to them.
    const desired =
      requested === null ? null : session.identity.delayMs > 0 ? 0 : requested === 0 && session.downgraded ? this.downgradeRate : requested;
    const current = session.topics.get(topic);
    if ((current ?? null) === desired) return;
    if (current !== undefined) this.detach(session, topic, current, session.identity.delayMs);
    if (desired === null) {
      session.topics.delete(topic);
      this.events.changed(-1);
      return;
    }
    const wire = wireTopic(topic, session.format, desired, session.identity.delayMs);
    this.socketOf(session).subscribe(wire);
    this.countWire(wire, 1);
    if (session.identity.delayMs > 0) this.events.delayed(topic, session.identity.delayMs, 1);
    else if (desired > 0) this.events.tier(topic, desired, 1);
    if (current === undefined) this.events.changed(1);
    session.topics.set(topic, desired);
  }

  private detach(session: Session, topic: string, rate: number, delayMs: number): void {
    const wire = wireTopic(topic, session.format, rate, delayMs);
    this.socketOf(session).unsubscribe(wire);
    this.countWire(wire, -1);
    if (delayMs > 0) this.events.delayed(topic, delayMs, -1);
    else if (rate > 0) this.events.tier(topic, rate, -1);
  }

  /**
   * The session's identity changed (token refresh, config reload): re-derives every subscription
   * under the new entitlements and delay. Returns the topics it lost.
   */
  reapply(session: Session, previousDelayMs: number): string[] {
    const before = [...session.topics];
    for (const [topic, rate] of before) this.detach(session, topic, rate, previousDelayMs);
    session.topics.clear();
    this.events.changed(-before.length);
    for (const topic of [...session.exact.keys()]) {
      if (!session.identity.entitled(this.parsed(topic))) {
        session.exact.delete(topic);
        this.pending.remove(session, topic);
        this.letGo(topic);
      }
    }
    const revoked: string[] = [];
    for (const [topic] of before) {
      this.sync(session, topic);
      if (!session.topics.has(topic)) revoked.push(topic);
    }
    return revoked;
  }

  private parsed(topic: string): ParsedTopic {
    return this.bus.topic(topic)?.parsed ?? parseTopic(topic);
  }

  private countWire(wire: string, delta: number): void {
    const n = (this.wireSubscribers.get(wire) ?? 0) + delta;
    if (n > 0) this.wireSubscribers.set(wire, n);
    else this.wireSubscribers.delete(wire);
  }

  private hold(entry: string): void {
    const n = this.interest.get(entry) ?? 0;
    this.interest.set(entry, n + 1);
    if (n === 0) this.events.interest(entry, true);
  }

  private letGo(entry: string): void {
    const n = this.interest.get(entry) ?? 0;
    if (n <= 1) {
      this.interest.delete(entry);
      if (n === 1) this.events.interest(entry, false);
    } else {
      this.interest.set(entry, n - 1);
    }
  }

  private forget(session: Session): void {
    for (const text of session.patterns.keys()) {
      this.dropHolder(text, session);
      this.letGo(text);
    }
    for (const topic of session.exact.keys()) {
      this.pending.remove(session, topic);
      this.letGo(topic);
    }
    this.events.changed(-session.topics.size);
    session.topics.clear();
    session.exact.clear();
    session.patterns.clear();
  }

  private holdersOf(text: string, pattern: TopicPattern) {
    let holders = this.patternHolders.get(text);
    if (holders === undefined) {
      holders = { pattern, sessions: new Set() };
      this.patternHolders.set(text, holders);
    }
    return holders;
  }

  private dropHolder(text: string, session: Session): void {
    const holders = this.patternHolders.get(text);
    if (holders === undefined) return;
    holders.sessions.delete(session);
    if (holders.sessions.size === 0) this.patternHolders.delete(text);
  }

  private socketOf(session: Session): TopicSocket {
    const socket = this.sockets.get(session);
    if (socket === undefined) throw new TickgateError(ErrorCode.INTERNAL, `session ${session.id} has no socket`);
    return socket;
  }
}
