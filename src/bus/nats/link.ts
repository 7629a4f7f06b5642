import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';

export interface NatsLinkOptions {
  /** Server URL(s), comma-separated. */
  url: string;
  /** Client name shown by the server's monitoring (`tickgate-serve`, `tickgate-ingest`). */
  name: string;
  reconnectTimeWaitMs: number;
  reconnectJitterMs: number;
  pingIntervalMs: number;
}

/** What the owner of a link hears about its connection. Called on the event loop, in order. */
export interface NatsLinkEvents {
  /** Connected: the first time (`reconnected` false) or again after a loss (true). */
  up(nc: NatsConnection, reconnected: boolean): void;
  /** The connection was lost; nats.js is reconnecting (forever, with backoff and jitter). */
  down(): void;
}

/**
 * One NATS connection that never gives up: the first connect is retried here (nats.js would
 * otherwise keep an unreachable server's connect() pending with no handle to cancel it), every
 * later loss is handled by nats.js itself with `maxReconnectAttempts: -1`,
 * `reconnectTimeWait` and `reconnectJitter`. Subscriptions survive reconnects (nats.js resends
 * them). `close()` stops everything, including a pending first attempt.
 */
export class NatsLink {
  connection: NatsConnection | null = null;
  connected = false;
  private closing = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly firstUp: Promise<NatsConnection>;
  private resolveFirstUp: (nc: NatsConnection) => void = () => {};
  private monitor: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: NatsLinkOptions,
    private readonly events: NatsLinkEvents,
    private readonly logger: Logger,
  ) {
    this.firstUp = new Promise((resolve) => {
      this.resolveFirstUp = resolve;
    });
  }

  /** Starts connecting in the background; `ready()` resolves on the first connection. */
  start(): void {
    void this.attempt(0);
  }

  /** Resolves once connected for the first time (never rejects; may never resolve if closed first). */
  ready(): Promise<NatsConnection> {
    return this.firstUp;
  }

  private async attempt(n: number): Promise<void> {
    if (this.closing) return;
    const { options } = this;
    try {
      const nc = await connect({
        servers: options.url
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0),
        name: options.name,
        maxReconnectAttempts: -1,
        reconnectTimeWait: options.reconnectTimeWaitMs,
        reconnectJitter: options.reconnectJitterMs,
        pingInterval: options.pingIntervalMs,
        maxPingOut: 2,
        timeout: 5_000,
      });
      if (this.closing) {
        await nc.close();
        return;
      }
      this.connection = nc;
      this.monitor = this.watch(nc);
      this.connected = true;
      this.logger.info({ server: nc.getServer() }, 'NATS connected');
      this.events.up(nc, false);
      this.resolveFirstUp(nc);
    } catch (err) {
      if (this.closing) return;
      const delay = options.reconnectTimeWaitMs + Math.random() * options.reconnectJitterMs;
      // Loud once, then quietly: an operator starting gateways before NATS is normal.
      const log = n === 0 ? this.logger.warn.bind(this.logger) : this.logger.debug.bind(this.logger);
      log({ err: (err as Error).message, url: options.url, retryInMs: Math.round(delay) }, 'NATS not reachable; retrying');
      this.retryTimer = setTimeout(() => void this.attempt(n + 1), delay);
    }
  }

  private async watch(nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (this.closing) continue;
      if (s.type === 'disconnect' && this.connected) {
        this.connected = false;
        this.logger.warn({ server: s.server }, 'NATS connection lost; reconnecting');
        this.events.down();
      } else if (s.type === 'reconnect' && !this.connected) {
        this.connected = true;
        this.logger.info({ server: s.server }, 'NATS reconnected');
        this.events.up(nc, true);
      }
    }
  }

  /** Flushes what was published and closes. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    const nc = this.connection;
    this.connection = null;
    this.connected = false;
    if (nc === null || nc.isClosed()) return;
    try {
      // drain() flushes pending publishes and unsubscribes; it can hang while the server is down.
      await Promise.race([nc.drain(), new Promise((resolve) => setTimeout(resolve, 2_000).unref())]);
    } catch {
      // already closing or closed
    }
    if (!nc.isClosed()) await nc.close();
    await this.monitor;
  }
}
