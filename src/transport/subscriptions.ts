import { ErrorCode, TickgateError } from '../core/errors.ts';
import { isPattern, TopicPattern } from '../core/topic.ts';
import type { TopicBus, TopicView } from '../bus/bus.ts';
import { wireTopic } from './wire-topics.ts';
import type { Session } from './session.ts';

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
}

/**
 * Maps what clients asked for (exact topics and patterns) onto uWS topic subscriptions.
 * All of this is cold path: it runs on client requests and when a topic first appears,
 * never per tick.
 */
export class SubscriptionManager {
  /** Pattern text → sessions holding it; scanned when a new topic appears. */
  private readonly patternHolders = new Map<string, { pattern: TopicPattern; sessions: Set<Session> }>();
  private readonly sockets = new Map<Session, TopicSocket>();
  /** Entry (topic or pattern) → number of sessions holding it. */
  private readonly interest = new Map<string, number>();

  constructor(
    private readonly bus: TopicBus,
    private readonly maxPerSession: number,
    private readonly events: SubscriptionEvents,
  ) {}

  attach(session: Session, socket: TopicSocket): void {
    this.sockets.set(session, socket);
  }

  /**
   * Adds the entries (all valid, checked by the caller) and returns the topics newly subscribed
   * that already have a last value, in request order, for snapshots.
   * All-or-nothing: throws TOO_MANY_SUBSCRIPTIONS before changing anything if the result would
   * exceed the per-connection limit.
   */
  subscribe(session: Session, entries: readonly string[]): TopicView[] {
    const socket = this.socketOf(session);
    const additions: string[] = [];
    const seen = new Set<string>();
    const compiled = new Map<string, TopicPattern>();
    for (const entry of entries) {
      if (isPattern(entry)) {
        if (session.patterns.has(entry)) continue;
        const pattern = new TopicPattern(entry);
        compiled.set(entry, pattern);
        for (const view of this.bus.topics()) {
          const t = view.parsed.topic;
          if (pattern.matches(view.parsed) && !session.topics.has(t) && !seen.has(t)) {
            seen.add(t);
            additions.push(t);
          }
        }
      } else if (!session.topics.has(entry) && !seen.has(entry)) {
        seen.add(entry);
        additions.push(entry);
      }
    }
    if (session.topics.size + additions.length > this.maxPerSession) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `subscribe would hold ${session.topics.size + additions.length} topics; the limit per connection is ${this.maxPerSession}`,
      );
    }
    for (const entry of entries) {
      if (!isPattern(entry) && !session.exact.has(entry)) {
        session.exact.add(entry);
        this.hold(entry);
      }
    }
    for (const [text, pattern] of compiled) {
      session.patterns.set(text, pattern);
      this.hold(text);
      let holders = this.patternHolders.get(text);
      if (holders === undefined) {
        holders = { pattern, sessions: new Set() };
        this.patternHolders.set(text, holders);
      }
      holders.sessions.add(session);
    }
    const snapshots: TopicView[] = [];
    for (const topic of additions) {
      this.add(session, socket, topic);
      const view = this.bus.topic(topic);
      if (view?.last !== undefined) snapshots.push(view);
    }
    return snapshots;
  }

  /** Removes the entries; a topic stays subscribed while another entry of the session covers it. */
  unsubscribe(session: Session, entries: readonly string[]): void {
    const socket = this.socketOf(session);
    const candidates = new Set<string>();
    for (const entry of entries) {
      if (isPattern(entry)) {
        const pattern = session.patterns.get(entry);
        if (pattern === undefined) continue;
        session.patterns.delete(entry);
        this.dropHolder(entry, session);
        this.letGo(entry);
        for (const topic of session.topics) {
          const view = this.bus.topic(topic);
          if (view !== undefined && pattern.matches(view.parsed)) candidates.add(topic);
        }
      } else if (session.exact.delete(entry)) {
        this.letGo(entry);
        candidates.add(entry);
      }
    }
    for (const topic of candidates) {
      if (!this.covered(session, topic)) this.remove(session, socket, topic);
    }
  }

  /** A topic appeared: subscribe every session whose pattern matches, before its first frame is published. */
  onTopic(view: TopicView): void {
    for (const { pattern, sessions } of this.patternHolders.values()) {
      if (!pattern.matches(view.parsed)) continue;
      for (const session of sessions) {
        if (session.topics.has(view.parsed.topic)) continue;
        if (session.topics.size >= this.maxPerSession) continue;
        this.add(session, this.socketOf(session), view.parsed.topic);
      }
    }
  }

  /** Drops every subscription of a session whose socket stays open for now (a slow consumer being closed). */
  unsubscribeAll(session: Session): void {
    const socket = this.socketOf(session);
    for (const topic of session.topics) socket.unsubscribe(wireTopic(topic, session.format));
    this.forget(session);
  }

  /** Forgets a closed session. uWS has already dropped its socket subscriptions. */
  release(session: Session): void {
    this.forget(session);
    this.sockets.delete(session);
  }

  /** Entries some connection currently holds (for an adapter that starts late or restarts). */
  interestedEntries(): string[] {
    return [...this.interest.keys()];
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
    for (const topic of session.exact) this.letGo(topic);
    this.events.changed(-session.topics.size);
    session.topics.clear();
    session.exact.clear();
    session.patterns.clear();
  }

  get patternCount(): number {
    return this.patternHolders.size;
  }

  private covered(session: Session, topic: string): boolean {
    if (session.exact.has(topic)) return true;
    const view = this.bus.topic(topic);
    if (view === undefined) return false;
    for (const pattern of session.patterns.values()) if (pattern.matches(view.parsed)) return true;
    return false;
  }

  private add(session: Session, socket: TopicSocket, topic: string): void {
    socket.subscribe(wireTopic(topic, session.format));
    session.topics.add(topic);
    this.events.changed(1);
  }

  private remove(session: Session, socket: TopicSocket, topic: string): void {
    socket.unsubscribe(wireTopic(topic, session.format));
    session.topics.delete(topic);
    this.events.changed(-1);
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
