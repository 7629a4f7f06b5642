// Why this file is over 400 lines: SubscriptionManager keeps four tables that must change together
// (each session's topics, pattern holders, per-uWS-topic subscriber counts, interest per entry);
// every method updates several of them under one invariant, which splitting would spread apart.
import type { TopicBus, TopicView } from '../bus/bus.ts';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import { isPattern, parseTopic, TopicPattern, type ParsedTopic } from '../core/topic.ts';
import { PendingTopics, type PendingLimits } from './pending.ts';
import { isDowngraded, slowState, type Session, type Socket } from './session.ts';
import {
  clearDelivered,
  deliveredCount,
  deliveredRate,
  deliveredTopics,
  exactRate,
  exactTopics,
  setDelivered,
  setExact,
} from './session-topics.ts';
import { wireTopic } from './wire-topics.ts';

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
  /**
   * Pattern text → its compiled form (one per text, shared by every session holding it) and the
   * sessions holding it; scanned when a new topic appears.
   */
  private readonly patternHolders = new Map<string, { pattern: TopicPattern; sessions: Set<Session> }>();
  /**
   * Session → the patterns it asked for (text → rate asked). Kept here rather than on the
   * session: most connections hold none, and an entry exists only for those that do.
   */
  private readonly patternsOf = new Map<Session, Map<string, number>>();
  /**
   * Topics by symbol, so a pattern naming its symbol (`*.AAPL.*`, what watchlists use) expands
   * by one lookup instead of a scan of every topic. Topics are never removed from a bus; the
   * index catches up from bus.topics() whenever its count falls behind.
   */
  private readonly bySymbol = new Map<string, TopicView[]>();
  private indexed = 0;
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

  /** The session's socket, for its topic subscriptions (kept on the session: no registry entry per connection). */
  attach(session: Session, socket: Socket): void {
    session.socket = socket;
  }

  /**
   * Adds the entries (all valid, checked by the caller) at `rate`. Returns the concrete topics
   * newly subscribed, in request order (for snapshots and resume), and the topics already held
   * whose delivery rate changed (their seqs jump at the switch, so they get a fresh snapshot).
   * All-or-nothing: throws TOO_MANY_SUBSCRIPTIONS before changing anything if the session would
   * exceed the per-connection limit.
   */
  subscribe(session: Session, requested: readonly string[], rate: number): { added: string[]; rerated: string[] } {
    // A topic is held under the bus's own string (or the one pending holders share), not the
    // request's copy: 10,000 subscribers of a topic keep one string, not 10,000.
    const entries = requested.map((entry) =>
      isPattern(entry) ? entry : (this.bus.topic(entry)?.parsed.topic ?? this.pending.keyOf(entry) ?? entry),
    );
    if (!this.patternsOf.has(session) && !entries.some(isPattern)) return this.subscribeExact(session, entries, rate);
    // Topics newly subscribed, in request order; a Set keeps both the order and the uniqueness.
    const additions = new Set<string>();
    const compiled = new Map<string, TopicPattern>();
    for (const entry of entries) {
      if (!isPattern(entry)) {
        if (!session.identity.entitled(this.parsed(entry))) {
          throw new TickgateError(
            ErrorCode.NOT_ENTITLED,
            `not entitled to ${entry}; this connection may subscribe to ${session.identity.topics.join(', ') || 'nothing'}`,
          );
        }
        if (deliveredRate(session, entry) === undefined) additions.add(entry);
        continue;
      }
      const pattern = this.patternHolders.get(entry)?.pattern ?? new TopicPattern(entry);
      compiled.set(entry, pattern);
      // A pattern expands only to topics the identity is entitled to.
      for (const view of this.candidates(entry)) {
        const topic = view.parsed.topic;
        if (pattern.matches(view.parsed) && session.identity.entitled(view.parsed) && deliveredRate(session, topic) === undefined)
          additions.add(topic);
      }
    }
    const held = deliveredCount(session);
    if (held + additions.size > this.maxPerSession) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `subscribe would hold ${held + additions.size} topics; the limit per connection is ${this.maxPerSession}`,
      );
    }
    const maxPatterns = this.limits.maxPatternsPerConnection;
    const held0 = this.patternsOf.get(session);
    const heldPatterns = held0?.size ?? 0;
    let newPatterns = 0;
    for (const text of compiled.keys()) if (held0?.has(text) !== true) newPatterns++;
    if (maxPatterns > 0 && heldPatterns + newPatterns > maxPatterns) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_PENDING,
        `subscribe would hold ${heldPatterns + newPatterns} patterns; the limit per connection is ${maxPatterns} (limits.maxPatternsPerConnection)`,
      );
    }
    const newPending = new Set<string>();
    for (const entry of entries) {
      if (!isPattern(entry) && exactRate(session, entry) === undefined && this.bus.topic(entry) === undefined) newPending.add(entry);
    }
    this.pending.check(session, newPending.size);
    for (const topic of newPending) this.pending.add(session, topic);
    const touched = new Set<string>(additions);
    for (const entry of entries) {
      if (isPattern(entry)) continue;
      if (exactRate(session, entry) === undefined) this.hold(entry);
      setExact(session, entry, rate);
      touched.add(entry);
    }
    const delivered = compiled.size > 0 ? deliveredTopics(session) : [];
    for (const [text, pattern] of compiled) {
      let patterns = this.patternsOf.get(session);
      if (patterns === undefined) {
        patterns = new Map();
        this.patternsOf.set(session, patterns);
      }
      if (!patterns.has(text)) {
        this.hold(text);
        this.holdersOf(text, pattern).sessions.add(session);
      }
      patterns.set(text, rate);
      for (const [topic] of delivered) {
        const view = this.bus.topic(topic);
        if (view && pattern.matches(view.parsed)) touched.add(topic);
      }
    }
    const rerated: string[] = [];
    for (const topic of touched) {
      const before = deliveredRate(session, topic);
      this.sync(session, topic);
      const after = deliveredRate(session, topic);
      if (before !== undefined && after !== undefined && before !== after) rerated.push(topic);
    }
    return { added: [...additions], rerated };
  }

  /**
   * subscribe() for the commonest request, exact topics from a session holding no pattern (every
   * dashboard connection's first subscribe): the same checks in the same order, without the Sets
   * and Maps the general case needs to merge pattern expansions. Nothing is covered by a pattern
   * here, so the topics touched are exactly the (deduplicated) entries, in request order.
   */
  private subscribeExact(session: Session, requested: string[], rate: number): { added: string[]; rerated: string[] } {
    const entries = requested.length === 1 ? requested : [...new Set(requested)];
    const added: string[] = [];
    let newPending = 0;
    for (const entry of entries) {
      if (!session.identity.entitled(this.parsed(entry))) {
        throw new TickgateError(
          ErrorCode.NOT_ENTITLED,
          `not entitled to ${entry}; this connection may subscribe to ${session.identity.topics.join(', ') || 'nothing'}`,
        );
      }
      if (deliveredRate(session, entry) === undefined) added.push(entry);
      if (exactRate(session, entry) === undefined && this.bus.topic(entry) === undefined) newPending++;
    }
    const held = deliveredCount(session);
    if (held + added.length > this.maxPerSession) {
      throw new TickgateError(
        ErrorCode.TOO_MANY_SUBSCRIPTIONS,
        `subscribe would hold ${held + added.length} topics; the limit per connection is ${this.maxPerSession}`,
      );
    }
    this.pending.check(session, newPending);
    const rerated: string[] = [];
    for (const entry of entries) {
      if (exactRate(session, entry) === undefined) {
        if (newPending > 0 && this.bus.topic(entry) === undefined) this.pending.add(session, entry);
        this.hold(entry);
      }
      setExact(session, entry, rate);
      const before = deliveredRate(session, entry);
      this.sync(session, entry);
      const after = deliveredRate(session, entry);
      if (before !== undefined && after !== undefined && before !== after) rerated.push(entry);
    }
    return { added, rerated };
  }

  /** Removes the entries; a topic stays subscribed while another entry of the session covers it. */
  unsubscribe(session: Session, entries: readonly string[]): void {
    const touched = new Set<string>();
    for (const entry of entries) {
      if (isPattern(entry)) {
        const patterns = this.patternsOf.get(session);
        if (patterns === undefined || !patterns.delete(entry)) continue;
        if (patterns.size === 0) this.patternsOf.delete(session);
        const pattern = this.patternHolders.get(entry)?.pattern; // before dropHolder may delete it
        this.dropHolder(entry, session);
        this.letGo(entry);
        if (pattern === undefined) continue;
        for (const [topic] of deliveredTopics(session)) {
          const view = this.bus.topic(topic);
          if (view !== undefined && pattern.matches(view.parsed)) touched.add(topic);
        }
      } else if (exactRate(session, entry) !== undefined) {
        setExact(session, entry, undefined);
        this.pending.remove(session, entry);
        this.letGo(entry);
        touched.add(entry);
      }
    }
    for (const topic of touched) this.sync(session, topic);
  }

  /** A topic appeared: subscribe every session whose pattern matches, before its first frame is published. */
  onTopic(view: TopicView): void {
    if (this.indexed === this.bus.topicCount - 1) this.index(view);
    this.pending.appeared(view.parsed.topic);
    const told = new Set<Session>();
    for (const { pattern, sessions } of this.patternHolders.values()) {
      if (!pattern.matches(view.parsed)) continue;
      for (const session of sessions) {
        if (deliveredRate(session, view.parsed.topic) !== undefined) continue;
        if (deliveredCount(session) >= this.maxPerSession) {
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
    if (isDowngraded(session) === downgraded) return [];
    slowState(session).downgraded = downgraded;
    const changed: string[] = [];
    for (const [topic] of deliveredTopics(session)) {
      if (this.requestedRate(session, topic) === 0) {
        this.sync(session, topic);
        changed.push(topic);
      }
    }
    return changed;
  }

  /** Drops every subscription of a session whose socket stays open for now (a slow consumer being closed). */
  unsubscribeAll(session: Session): void {
    for (const [topic, rate] of deliveredTopics(session)) this.detach(session, topic, rate, session.identity.delayMs);
    this.forget(session);
  }

  /** Forgets a closed session. uWS has already dropped its socket subscriptions. */
  release(session: Session): void {
    for (const [topic, rate] of deliveredTopics(session)) {
      this.countWire(wireTopic(topic, session.format, rate, session.identity.delayMs), -1);
      if (session.identity.delayMs > 0) this.events.delayed(topic, session.identity.delayMs, -1);
      else if (rate > 0) this.events.tier(topic, rate, -1);
    }
    this.forget(session);
  }

  /** Entries some connection currently holds (for an adapter that starts late or restarts). */
  interestedEntries(): string[] {
    return [...this.interest.keys()];
  }

  /** The rate the session asked for on `topic` (fastest covering entry), or null if nothing covers it. */
  requestedRate(session: Session, topic: string): number | null {
    if (!session.identity.entitled(this.parsed(topic))) return null;
    let best: number | null = exactRate(session, topic) ?? null;
    if (best === 0) return 0;
    const patterns = this.patternsOf.get(session);
    if (patterns !== undefined) {
      const view = this.bus.topic(topic);
      if (view !== undefined) {
        for (const [text, rate] of patterns) {
          const pattern = this.patternHolders.get(text)?.pattern;
          if (pattern === undefined || !pattern.matches(view.parsed)) continue;
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
      requested === null
        ? null
        : session.identity.delayMs > 0
          ? 0
          : requested === 0 && isDowngraded(session)
            ? this.downgradeRate
            : requested;
    const current = deliveredRate(session, topic);
    if ((current ?? null) === desired) return;
    if (current !== undefined) this.detach(session, topic, current, session.identity.delayMs);
    if (desired === null) {
      setDelivered(session, topic, undefined);
      this.events.changed(-1);
      return;
    }
    const wire = wireTopic(topic, session.format, desired, session.identity.delayMs);
    this.socketOf(session).subscribe(wire);
    this.countWire(wire, 1);
    if (session.identity.delayMs > 0) this.events.delayed(topic, session.identity.delayMs, 1);
    else if (desired > 0) this.events.tier(topic, desired, 1);
    if (current === undefined) this.events.changed(1);
    setDelivered(session, topic, desired);
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
    const before = deliveredTopics(session);
    for (const [topic, rate] of before) this.detach(session, topic, rate, previousDelayMs);
    clearDelivered(session);
    this.events.changed(-before.length);
    for (const topic of exactTopics(session)) {
      if (!session.identity.entitled(this.parsed(topic))) {
        setExact(session, topic, undefined);
        this.pending.remove(session, topic);
        this.letGo(topic);
      }
    }
    const revoked: string[] = [];
    for (const [topic] of before) {
      this.sync(session, topic);
      if (deliveredRate(session, topic) === undefined) revoked.push(topic);
    }
    return revoked;
  }

  /** The topics a pattern can match: those of its symbol when it names one, else all. */
  private candidates(pattern: string): Iterable<TopicView> {
    const symbol = pattern.split('.')[1];
    if (symbol === undefined || symbol === '*') return this.bus.topics();
    if (this.indexed !== this.bus.topicCount) {
      this.bySymbol.clear();
      this.indexed = 0;
      for (const view of this.bus.topics()) this.index(view);
    }
    return this.bySymbol.get(symbol) ?? [];
  }

  private index(view: TopicView): void {
    const list = this.bySymbol.get(view.parsed.symbol);
    if (list === undefined) this.bySymbol.set(view.parsed.symbol, [view]);
    else list.push(view);
    this.indexed++;
  }

  private parsed(topic: string): ParsedTopic {
    return this.bus.topic(topic)?.parsed ?? this.pending.parsedOf(topic) ?? parseTopic(topic);
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
    for (const text of this.patternsOf.get(session)?.keys() ?? []) {
      this.dropHolder(text, session);
      this.letGo(text);
    }
    for (const topic of exactTopics(session)) {
      this.pending.remove(session, topic);
      this.letGo(topic);
    }
    this.events.changed(-deliveredCount(session));
    session.topics = null;
    this.patternsOf.delete(session);
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

  private socketOf(session: Session): Socket {
    const socket = session.socket;
    if (socket === null) throw new TickgateError(ErrorCode.INTERNAL, `session ${session.id} has no socket`);
    return socket;
  }
}
