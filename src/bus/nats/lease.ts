import {
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  JetStreamApiCodes,
  JetStreamApiError,
  StorageType,
  type JetStreamClient,
} from '@nats-io/jetstream';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Clock } from '../../core/clock.ts';
import { JS_API_TIMEOUT_MS } from './stream.ts';

export interface LeaseOptions {
  /** The subject prefix: one lease per deployment. */
  prefix: string;
  /** This process's id, stored in the lease (shown by `/healthz` and the logs). */
  holder: string;
  /** The lease expires this long after its last renewal (server-side `max_age`). */
  ttlMs: number;
  /** How often a standby tries to take the lease. */
  pollMs?: number;
}

/**
 * One active ingest per deployment: a lease kept in a JetStream stream of its own (what a NATS KV
 * bucket is underneath: one subject, one message kept, `max_age` = the TTL), taken and renewed by
 * compare-and-set on the subject's last sequence (the "revision"):
 * - take: publish with `Nats-Expected-Last-Subject-Sequence: 0` — accepted only when no lease
 *   message exists (none yet, or the last one expired `ttlMs` after it was stored);
 * - renew: publish with the expected sequence = our last revision — refused once anybody else
 *   wrote, which is how a deposed holder learns it.
 *
 * Fencing (two actives never publish at once): the holder may publish only until
 * `sentAt + ttlMs - marginMs`, where `sentAt` is when it *sent* its last accepted renewal (local
 * clock). The server stores that renewal after it was sent and expires it `ttlMs` after storing,
 * so a standby can take the lease only after the holder's permission ended, with `marginMs` to
 * spare for frames in flight and for clock rate differences. A holder that cannot renew
 * (partitioned from NATS, paused) stops by itself; one whose renewal is refused has lost for good.
 */
export class IngestLease {
  private readonly js: JetStreamClient;
  private readonly subject: string;
  private readonly stream: string;
  private revision = 0;
  /** Until when (local clock) this holder may publish; 0 when it holds nothing. */
  validUntil = 0;
  readonly marginMs: number;
  private renewTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: LeaseOptions,
    private readonly clock: Clock,
    private readonly logger: Logger,
  ) {
    this.js = jetstream(nc, { timeout: JS_API_TIMEOUT_MS });
    this.subject = `_tickgate.${options.prefix}.lease`;
    this.stream = `TICKGATE_LEASE_${options.prefix.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    this.marginMs = Math.max(250, Math.round(options.ttlMs / 4));
  }

  /** Creates the lease stream (replicated like the cluster allows: up to 3). */
  async ensure(replicas: number): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { timeout: JS_API_TIMEOUT_MS });
    const config = {
      subjects: [this.subject],
      max_msgs_per_subject: 1,
      max_age: nanos(this.options.ttlMs),
      discard: DiscardPolicy.Old,
      duplicate_window: nanos(Math.min(this.options.ttlMs, 1_000)),
    };
    try {
      await jsm.streams.info(this.stream);
    } catch (err) {
      if (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamNotFound) {
        await jsm.streams.add({ name: this.stream, storage: StorageType.File, num_replicas: replicas, ...config });
        return;
      }
      throw err;
    }
  }

  /** Waits (as a standby) until the lease is ours. Rejects only when stopped. */
  async acquire(): Promise<void> {
    for (;;) {
      if (this.stopped) throw new Error('lease: stopped');
      if (await this.write(0)) {
        this.logger.info({ holder: this.options.holder, revision: this.revision }, 'lease taken: this ingest is active');
        return;
      }
      await new Promise((r) => setTimeout(r, this.options.pollMs ?? Math.max(50, Math.round(this.options.ttlMs / 8))));
    }
  }

  /**
   * Renews every ttl/4 while held. `lost` is called once when a renewal is refused (someone else
   * holds it): from then on `mayPublish()` is false for good.
   */
  keep(lost: () => void): void {
    const tick = async () => {
      if (this.stopped) return;
      const ok = await this.write(this.revision).catch(() => null);
      if (ok === false) {
        this.validUntil = 0;
        this.stopped = true;
        this.logger.error({ holder: this.options.holder }, 'lease lost to another ingest: fenced, publishing stops');
        lost();
        return;
      }
      this.renewTimer = setTimeout(() => void tick(), Math.max(50, Math.round(this.options.ttlMs / 4)));
    };
    this.renewTimer = setTimeout(() => void tick(), Math.max(50, Math.round(this.options.ttlMs / 4)));
  }

  /** Hot-path check: may this process publish now? */
  mayPublish(): boolean {
    return this.clock.now() < this.validUntil;
  }

  stop(): void {
    this.stopped = true;
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.validUntil = 0;
  }

  /** One compare-and-set: true when written, false when refused (wrong revision), throws on other errors. */
  private async write(expected: number): Promise<boolean> {
    const sentAt = this.clock.now();
    try {
      const ack = await this.js.publish(this.subject, JSON.stringify({ holder: this.options.holder, at: sentAt }), {
        expect: { lastSubjectSequence: expected },
      });
      this.revision = ack.seq;
      this.validUntil = sentAt + this.options.ttlMs - this.marginMs;
      return true;
    } catch (err) {
      const refused =
        (err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence) ||
        /wrong last sequence/i.test((err as Error).message);
      if (refused && expected !== 0 && (await this.ownsLatest())) return this.write(this.revision);
      if (refused) return false;
      if (expected === 0) return false; // a standby just tries again
      throw err;
    }
  }

  /**
   * A refused renewal may be refused because of our own earlier write whose acknowledgement was
   * lost (stored, but the reply timed out): the lease's latest message then names us. Adopts its
   * revision (the permission stays tied to the last *acknowledged* renewal's send time).
   */
  private async ownsLatest(): Promise<boolean> {
    try {
      const jsm = await jetstreamManager(this.nc, { timeout: JS_API_TIMEOUT_MS });
      const m = await jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
      if (m === null) return false;
      const body = m.json<{ holder?: unknown }>();
      if (body.holder !== this.options.holder || m.seq === this.revision) return false;
      this.revision = m.seq;
      return true;
    } catch {
      return false;
    }
  }
}
