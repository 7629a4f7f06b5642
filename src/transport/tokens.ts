import { AuthError, type Authenticator } from '../auth/authenticator.ts';
import type { Identity } from '../auth/identity.ts';
import type { Clock, TimerHandle, Timers } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { RequestId } from '../protocol/frames.ts';
import type { Replies } from './replies.ts';
import type { Session, Socket } from './session.ts';
import type { SubscriptionManager } from './subscriptions.ts';

export interface TokenLifecycleDeps {
  authenticator: Pick<Authenticator, 'verifyJwt' | 'apiKeyEntry' | 'identityForKey'>;
  subscriptions: Pick<SubscriptionManager, 'reapply'>;
  replies: Pick<Replies, 'send' | 'sendError'>;
  metrics: Pick<Metrics, 'errors'>;
  clock: Clock;
  timers: Timers;
  /** How long before expiry the `auth` / `expiring` frame goes out. */
  expiryWarningSeconds: number;
}

/**
 * A connection's credentials over time: the expiry warning and the close at expiry, a refresh
 * that moves them, and operator changes (API-key reload) applied to live connections.
 */
export class TokenLifecycle {
  /** Session → its expiry warning and close timers; only sessions whose credentials expire have an entry. */
  private readonly timersOf = new Map<Session, TimerHandle[]>();

  constructor(private readonly deps: TokenLifecycleDeps) {}

  /** Whether expiry timers are armed for the session (tests, operations). */
  scheduled(session: Session): boolean {
    return this.timersOf.has(session);
  }

  /** Warns before the token expires and closes at expiry, unless a refresh moves the expiry. */
  scheduleExpiry(ws: Socket, session: Session): void {
    this.clear(session);
    const expiresAt = session.identity.expiresAt;
    if (expiresAt === null) return;
    const { clock, timers } = this.deps;
    const now = clock.now();
    const warnAt = expiresAt - this.deps.expiryWarningSeconds * 1000;
    this.timersOf.set(session, [
      timers.setTimeout(
        () => {
          if (!session.closed) {
            this.deps.replies.send(ws, session, {
              t: 'auth',
              state: 'expiring',
              expiresAt,
              message: `token expires in ${Math.max(0, Math.round((expiresAt - clock.now()) / 1000))} s; send {"op":"refresh","id":..,"token":..}`,
            });
          }
        },
        Math.max(0, warnAt - now),
      ),
      timers.setTimeout(
        () => {
          if (session.closed) return;
          session.closing = true;
          this.deps.metrics.errors.labels(ErrorCode.UNAUTHORIZED).inc();
          ws.end(1008, 'token expired');
        },
        Math.max(0, expiresAt - now),
      ),
    ]);
  }

  /** Cancels the session's expiry timers (on close, or before rescheduling). */
  clear(session: Session): void {
    const timers = this.timersOf.get(session);
    if (timers === undefined) return;
    for (const t of timers) this.deps.timers.clearTimeout(t);
    this.timersOf.delete(session);
  }

  refresh(ws: Socket, session: Session, id: RequestId, token: string): void {
    this.deps.authenticator.verifyJwt(token).then(
      (identity) => {
        if (session.closed || session.closing) return;
        ws.cork(() => {
          this.replaceIdentity(ws, session, identity, 'token refreshed with narrower entitlements');
          this.deps.replies.send(ws, session, {
            t: 'auth',
            id,
            state: 'refreshed',
            expiresAt: identity.expiresAt,
            message: 'token accepted',
          });
          this.scheduleExpiry(ws, session);
        });
      },
      (err: unknown) => {
        if (session.closed) return;
        const message = err instanceof AuthError ? err.message : 'token refresh failed';
        ws.cork(() => this.deps.replies.sendError(ws, session, id, ErrorCode.UNAUTHORIZED, message));
      },
    );
  }

  /** New entitlements for a live connection: topics it may no longer see stop, with a `revoked` frame. */
  replaceIdentity(ws: Socket, session: Session, identity: Identity, reason: string): void {
    const previousDelay = session.identity.delayMs;
    session.identity = identity;
    const revoked = this.deps.subscriptions.reapply(session, previousDelay);
    if (revoked.length > 0) this.deps.replies.send(ws, session, { t: 'revoked', topics: revoked, reason });
  }

  /**
   * Applies reloaded API keys (SIGHUP) to live connections: a removed key is closed with 1008,
   * a changed key gets its new entitlements at once.
   */
  applyApiKeys(sockets: Iterable<Socket>): void {
    const auth = this.deps.authenticator;
    for (const ws of sockets) {
      const session = ws.getUserData();
      const key = session.identity.apiKey;
      if (key === null || session.closing) continue;
      const entry = auth.apiKeyEntry(key);
      ws.cork(() => {
        if (!entry) {
          session.closing = true;
          ws.end(1008, 'API key revoked');
          return;
        }
        this.replaceIdentity(ws, session, auth.identityForKey(entry), 'entitlements changed by the operator');
      });
    }
  }
}
