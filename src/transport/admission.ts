import type { LimitsConfig } from '../config/security-schema.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { ErrorCode } from '../core/errors.ts';

export interface Refusal {
  status: number;
  code: ErrorCode;
  message: string;
  /** The `reason` label on tickgate_connections_refused_total. */
  reason: 'origin' | 'limit_total' | 'limit_ip' | 'rate_ip';
}

interface IpState {
  /** The address, one string shared by every session from it. */
  ip: string;
  open: number;
  windowStart: number;
  newInWindow: number;
}

/**
 * Cheap checks at the WebSocket upgrade, before any authentication work: Origin allowlist,
 * connections in total and per IP, and new connections per second per IP.
 */
export class Admission {
  private readonly ips = new Map<string, IpState>();
  private open = 0;
  private readonly origins: Set<string>;

  constructor(
    private readonly limits: LimitsConfig,
    allowedOrigins: readonly string[],
    private readonly clock: Clock = systemClock,
  ) {
    this.origins = new Set(allowedOrigins);
  }

  /** Returns a refusal, or null to go on. Counts the attempt against the IP's per-second budget. */
  check(ip: string, origin: string, now: number): Refusal | null {
    if (this.origins.size > 0 && !this.origins.has(origin)) {
      return {
        status: 403,
        code: ErrorCode.FORBIDDEN_ORIGIN,
        message: `origin "${origin.slice(0, 100)}" is not allowed`,
        reason: 'origin',
      };
    }
    const { maxConnections, maxConnectionsPerIp, maxNewConnectionsPerSecondPerIp } = this.limits;
    if (maxConnections > 0 && this.open >= maxConnections) {
      return {
        status: 503,
        code: ErrorCode.TOO_MANY_CONNECTIONS,
        message: `the gateway holds its maximum of ${maxConnections} connections; retry later`,
        reason: 'limit_total',
      };
    }
    const state = this.state(ip);
    if (maxConnectionsPerIp > 0 && state.open >= maxConnectionsPerIp) {
      return {
        status: 429,
        code: ErrorCode.TOO_MANY_CONNECTIONS,
        message: `at most ${maxConnectionsPerIp} connections per IP address`,
        reason: 'limit_ip',
      };
    }
    if (now - state.windowStart >= 1000) {
      state.windowStart = now;
      state.newInWindow = 0;
    }
    if (maxNewConnectionsPerSecondPerIp > 0 && state.newInWindow >= maxNewConnectionsPerSecondPerIp) {
      return {
        status: 429,
        code: ErrorCode.TOO_MANY_CONNECTIONS,
        message: `at most ${maxNewConnectionsPerSecondPerIp} new connections per second per IP address; slow down`,
        reason: 'rate_ip',
      };
    }
    state.newInWindow++;
    return null;
  }

  /**
   * Counts an open connection; returns the table's own copy of the address string, which the
   * session keeps instead of its per-connection copy.
   */
  opened(ip: string): string {
    this.open++;
    const state = this.state(ip);
    state.open++;
    return state.ip;
  }

  closed(ip: string): void {
    this.open--;
    const state = this.ips.get(ip);
    if (!state) return;
    state.open--;
    if (state.open <= 0 && this.clock.now() - state.windowStart >= 1000) this.ips.delete(ip);
  }

  private state(ip: string): IpState {
    let s = this.ips.get(ip);
    if (!s) {
      s = { ip, open: 0, windowStart: 0, newInWindow: 0 };
      this.ips.set(ip, s);
    }
    return s;
  }

  /** Drops idle per-IP entries; called periodically so a scan of many IPs cannot grow the map forever. */
  sweep(now: number): void {
    for (const [ip, s] of this.ips) if (s.open <= 0 && now - s.windowStart >= 1000) this.ips.delete(ip);
  }
}

/**
 * Logs refused upgrades and HTTP requests (OWASP: log access-control failures) without letting a
 * flood of refusals flood the log: at most one line per reason per second, carrying how many
 * refusals of that reason the previous lines left out. Every refusal is counted in metrics anyway.
 */
export class RefusalLog {
  private readonly windows = new Map<string, { start: number; suppressed: number }>();

  constructor(
    private readonly logger: { warn(obj: object, msg: string): void },
    private readonly now: () => number,
  ) {}

  refused(reason: string, details: Record<string, unknown>): void {
    const now = this.now();
    const w = this.windows.get(reason);
    if (w !== undefined && now - w.start < 1000) {
      w.suppressed++;
      return;
    }
    this.logger.warn({ reason, ...details, ...(w && w.suppressed > 0 ? { suppressedBefore: w.suppressed } : {}) }, 'request refused');
    this.windows.set(reason, { start: now, suppressed: 0 });
  }
}
