import type { TopicBus } from '../bus/bus.ts';
import { isWarmableBus } from '../bus/warmable.ts';
import type { LimitsConfig } from '../config/security-schema.ts';
import type { Clock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { parseTextMessage, unpackMessage } from '../protocol/codec.ts';
import type { RequestId, SubscribeRequest, TopicResult } from '../protocol/frames.ts';
import { parseRequest, salvageId } from '../protocol/requests.ts';
import { pickTier } from './conflation.ts';
import type { TopicLiveness } from './liveness.ts';
import type { Replies } from './replies.ts';
import { planDelivery, type ResumePlan } from './resume.ts';
import type { Session, Socket } from './session.ts';
import type { SubscriptionManager } from './subscriptions.ts';
import type { TokenLifecycle } from './tokens.ts';

export interface RequestOptions {
  /** Application limit: larger client messages get a TG_ERR_MESSAGE_TOO_LARGE error frame. */
  maxMessageBytes: number;
  limits: Pick<LimitsConfig, 'maxMessagesPerSecond'>;
  rateTiers: readonly number[];
  maxTicksPerFrame: number;
}

export interface RequestDeps {
  bus: TopicBus;
  metrics: Pick<Metrics, 'conn' | 'errors'>;
  subscriptions: Pick<SubscriptionManager, 'subscribe' | 'unsubscribe'>;
  liveness: Pick<TopicLiveness, 'statusOf'>;
  replies: Pick<Replies, 'send' | 'sendError' | 'replyWithError' | 'sendSnapshot'>;
  tokens: Pick<TokenLifecycle, 'refresh'>;
  clock: Clock;
}

/** Largest integer V8 stores unboxed in a field (31-bit small integers). */
const SMALL_INT_MAX = 2 ** 30 - 1;

/** Most ticks one subscribe may replay (about 1 MB of frames). */
export const MAX_REPLAY_TICKS_PER_REQUEST = 10_000;

/**
 * Client messages: rate and size limits, decoding, validation, and the requests themselves
 * (subscribe with replay planning, unsubscribe, ping, refresh), kept in order per session.
 */
export class RequestHandler {
  constructor(
    private readonly options: RequestOptions,
    private readonly deps: RequestDeps,
  ) {
    this.windowOrigin = Math.floor(deps.clock.now()) - 1000;
  }

  onClientMessage(ws: Socket, message: ArrayBuffer, isBinary: boolean): void {
    const session = ws.getUserData();
    const { metrics, replies } = this.deps;
    if (session.closing) return; // a connection being closed gets no new subscriptions
    if (this.overMessageRate(session)) {
      metrics.conn.messages.rate_limited++;
      if (session.messagesInWindow === this.options.limits.maxMessagesPerSecond + 1) {
        replies.sendError(
          ws,
          session,
          null,
          ErrorCode.RATE_LIMITED,
          `more than ${this.options.limits.maxMessagesPerSecond} messages in one second; further messages this second are ignored`,
        );
      } else {
        metrics.errors.labels(ErrorCode.RATE_LIMITED).inc();
      }
      return;
    }
    if (message.byteLength > this.options.maxMessageBytes) {
      metrics.conn.messages.invalid++;
      replies.sendError(
        ws,
        session,
        null,
        ErrorCode.MESSAGE_TOO_LARGE,
        `message is ${message.byteLength} bytes; the limit is ${this.options.maxMessageBytes}`,
      );
      return;
    }
    let decoded: unknown;
    try {
      const bytes = new Uint8Array(message);
      decoded = isBinary ? unpackMessage(bytes) : parseTextMessage(bytes);
    } catch {
      metrics.conn.messages.invalid++;
      const what = isBinary ? 'binary message is not valid MessagePack' : 'text message is not valid UTF-8 JSON';
      replies.sendError(ws, session, null, ErrorCode.MALFORMED, what);
      return;
    }
    let request: ReturnType<typeof parseRequest>;
    try {
      request = parseRequest(decoded);
    } catch (err) {
      metrics.conn.messages.invalid++;
      replies.replyWithError(ws, session, salvageId(decoded), err);
      return;
    }
    metrics.conn.messages[request.op]++;
    try {
      switch (request.op) {
        case 'subscribe': {
          const bus = this.deps.bus;
          const warm = isWarmableBus(bus) ? bus.warm(request.topics, request.resume, request.snapshot) : null;
          // The common case runs at once, without the closure inOrder would keep.
          if (warm === null && !this.queued.has(session.id)) this.subscribe(ws, session, request);
          else this.inOrder(ws, session, request.id, warm, () => this.subscribe(ws, session, request));
          break;
        }
        case 'unsubscribe':
          this.inOrder(ws, session, request.id, null, () => {
            this.deps.subscriptions.unsubscribe(session, request.topics);
            replies.send(ws, session, { t: 'ack', id: request.id, op: 'unsubscribe', topics: [...request.topics], snapshots: 0 });
          });
          break;
        case 'ping':
          replies.send(ws, session, { t: 'pong', id: request.id, gts: this.deps.clock.now() });
          break;
        case 'refresh':
          this.deps.tokens.refresh(ws, session, request.id, request.token);
          break;
      }
    } catch (err) {
      replies.replyWithError(ws, session, request.id, err);
    }
  }

  /**
   * Ack, then per newly subscribed topic (in request order): a replay of what the client missed,
   * or a snapshot, and a status frame if the topic is stale. All sent within this callback, so
   * nothing the bus flushes later can overtake them.
   */
  private subscribe(ws: Socket, session: Session, request: SubscribeRequest): void {
    const { bus, replies } = this.deps;
    const rate = pickTier(this.options.rateTiers, request.maxRate);
    const { added, rerated } = this.deps.subscriptions.subscribe(session, request.topics, rate);
    // A delayed identity must not see a real-time value: no snapshot or replay, ticks arrive late.
    // One request may replay at most MAX_REPLAY_TICKS_PER_REQUEST ticks: a resume of many topics
    // from far back would otherwise encode megabytes inside this callback and stall every client.
    // Topics past the budget get a `gap` (replay_limit) and a snapshot instead.
    let replayBudget = MAX_REPLAY_TICKS_PER_REQUEST;
    const delayed = session.identity.delayMs > 0;
    // Plain loops, not map/filter closures: this runs for every connection's first subscribe.
    const plans: ResumePlan[] = new Array<ResumePlan>(added.length);
    const results: TopicResult[] = new Array<TopicResult>(added.length);
    let snapshots = 0;
    for (let i = 0; i < added.length; i++) {
      const topic = added[i]!;
      let plan: ResumePlan;
      if (delayed) plan = { result: { topic, status: 'pending' }, replay: null, snapshot: false };
      else {
        const position = request.resume.size === 0 ? undefined : request.resume.get(topic);
        plan = planDelivery(bus, topic, position, request.snapshot);
        if (plan.replay !== null && plan.replay.length > replayBudget) {
          const last = plan.replay[plan.replay.length - 1]!;
          const gap: TopicResult = { topic, status: 'gap', reason: 'replay_limit', from: position!.seq + 1, to: last.seq - 1 };
          plan = { result: gap, replay: null, snapshot: true };
        } else replayBudget -= plan.replay?.length ?? 0;
      }
      plans[i] = plan;
      results[i] = plan.result;
      if (plan.snapshot) snapshots++;
    }
    // A held topic whose rate changed restarts from a snapshot, so its seq jump is explained.
    if (!delayed) {
      for (const topic of rerated) {
        if (bus.topic(topic)?.last !== undefined) {
          const plan: ResumePlan = { result: { topic, status: 'snapshot' }, replay: null, snapshot: true };
          plans.push(plan);
          results.push(plan.result);
          snapshots++;
        }
      }
    }
    replies.send(ws, session, {
      t: 'ack',
      id: request.id,
      op: 'subscribe',
      // parseRequest built this array for this request alone: no copy needed.
      topics: request.topics as string[],
      snapshots,
      maxRate: delayed ? 0 : rate,
      results,
    });
    for (const plan of plans) {
      const topic = plan.result.topic;
      if (plan.snapshot) replies.sendSnapshot(ws, topic);
      if (plan.replay !== null) {
        const per = this.options.maxTicksPerFrame;
        for (let i = 0; i < plan.replay.length; i += per) {
          replies.send(ws, session, { t: 'ticks', topic, epoch: bus.epoch, ticks: plan.replay.slice(i, i + per) });
        }
      }
      const status = this.deps.liveness.statusOf(topic);
      if (status.status !== 'stale') continue;
      const view = bus.topic(topic);
      if (view !== undefined) {
        replies.send(ws, session, { t: 'status', topic, status: 'stale', reason: status.reason, lastUpdate: Math.round(view.lastUpdate) });
      }
    }
  }

  /** Per session: the subscribe waiting for its bus to fetch history (see below), with later requests queued behind it. */
  private readonly queued = new Map<number, Promise<void>>();

  /**
   * Runs a (un)subscribe now, or — while the bus fetches a topic's history from elsewhere first
   * (WarmableBus: the NATS bus in JetStream mode), or an earlier request of the session still
   * waits for that — once it is in, so snapshots and replays include it and requests stay in order.
   */
  private inOrder(ws: Socket, session: Session, id: RequestId, warm: Promise<void> | null, run: () => void): void {
    const before = this.queued.get(session.id);
    if (warm === null && before === undefined) return run();
    const next = Promise.all([before, warm]).then(() => {
      if (session.closed || session.closing) return;
      ws.cork(() => {
        try {
          run();
        } catch (err) {
          this.deps.replies.replyWithError(ws, session, id, err);
        }
      });
    });
    this.queued.set(session.id, next);
    void next.finally(() => {
      if (this.queued.get(session.id) === next) this.queued.delete(session.id);
    });
  }

  /**
   * Message windows are kept as whole milliseconds since this handler started: a small integer
   * for the first 12 days, which V8 stores in the session's field itself instead of boxing a
   * float (16 bytes more per connection). Later values are boxed but just as correct. The
   * origin is a second early, so a session's first message (window start 0) opens a new window.
   */
  private readonly windowOrigin: number;

  private overMessageRate(session: Session): boolean {
    const max = this.options.limits.maxMessagesPerSecond;
    if (max === 0) return false;
    const ms = Math.floor(this.deps.clock.now()) - this.windowOrigin;
    // `| 0` turns the float result into a small integer (V8 would box the float as is).
    const now = ms <= SMALL_INT_MAX ? ms | 0 : ms;
    if (now - session.messageWindowStart >= 1000) {
      session.messageWindowStart = now;
      session.messagesInWindow = 0;
    }
    return ++session.messagesInWindow > max;
  }
}
