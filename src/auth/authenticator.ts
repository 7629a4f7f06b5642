import { readFileSync } from 'node:fs';
import { createSecretKey, type KeyObject } from 'node:crypto';
import { errors as joseErrors, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import type { ApiKeyConfig, AuthConfig } from '../config/security-schema.ts';
import { z } from 'zod';
import { systemClock, type Clock } from '../core/clock.ts';
import { topicError } from '../core/topic.ts';
import { Identity } from './identity.ts';

/** An authentication failure; `message` is safe to show the client (HTTP 401 body). */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Credentials as found on the upgrade request. */
export interface Credentials {
  /** From `Authorization: Bearer <token>` or `Authorization: ApiKey <key>`. */
  authorization: string;
  /** From `Sec-WebSocket-Protocol: tickgate, bearer.<token>` (browsers cannot set headers). */
  protocols: string;
  /** From `?token=` (browsers). */
  query: string;
}

const BEARER_PROTOCOL = 'bearer.';

/** Pulls the credential out of the upgrade request; null when none was presented. */
export function credentialOf(c: Credentials): string | null {
  const auth = c.authorization.trim();
  const m = /^(Bearer|ApiKey)\s+(\S+)$/i.exec(auth);
  if (m) return m[2]!;
  for (const p of c.protocols.split(',')) {
    const proto = p.trim();
    if (proto.startsWith(BEARER_PROTOCOL)) return proto.slice(BEARER_PROTOCOL.length);
  }
  return c.query || null;
}

interface Claims {
  topics: string[];
  delayMs: number;
  sub?: string | undefined;
  exp?: number | undefined;
  iat?: number | undefined;
}

/**
 * The claims schema for this config. Strict on purpose: a claim of the wrong type or range is a
 * refusal naming the claim, never a fallback to a default (a malformed delay must not mean
 * real time). jose has checked the signature, `exp`/`nbf` against the clock, `iss` and `aud`.
 */
export function claimsSchema(config: AuthConfig): z.ZodType<Claims> {
  const jwt = config.jwt;
  const topicsClaim = jwt?.topicsClaim ?? 'topics';
  const delayClaim = jwt?.delayClaim ?? 'delayMs';
  const requireExp = jwt?.requireExp ?? true;
  const topic = z
    .string()
    .refine((t) => topicError(t, true) === null, { message: 'every entry must be a topic pattern like "fx.*.quote"' });
  const missingOr = (what: string) => (iss: { input?: unknown }) => (iss.input === undefined ? 'is required' : what);
  const seconds = z
    .number({ error: missingOr('must be a number of seconds') })
    .int('must be an integer number of seconds')
    .nonnegative('must not be negative');
  const delay = z
    .number({ error: 'must be a number of milliseconds' })
    .int('must be an integer number of milliseconds')
    .min(0, 'must not be negative')
    .max(config.maxDelayMs, `must not exceed auth.maxDelayMs (${config.maxDelayMs})`);
  return z
    .looseObject({
      [topicsClaim]: z.array(topic, { error: missingOr('must be an array of topic patterns') }).max(10_000, 'at most 10000 patterns'),
      [delayClaim]: delay.optional(),
      sub: z.string({ error: 'must be a string' }).max(256).optional(),
      exp: requireExp ? seconds : seconds.optional(),
      iat: seconds.optional(),
    })
    .transform((p) => ({
      topics: p[topicsClaim] as string[],
      delayMs: (p[delayClaim] as number | undefined) ?? 0,
      sub: p.sub as string | undefined,
      exp: p.exp as number | undefined,
      iat: p.iat as number | undefined,
    })) as unknown as z.ZodType<Claims>;
}

const isJwt = (credential: string) => credential.split('.').length === 3;

/**
 * Verifies JWTs (HS256 with a shared secret, RS256/ES256 with a public key, via `jose`) and
 * static API keys, and turns them into an Identity with its entitlements.
 */
export class Authenticator {
  private apiKeys = new Map<string, ApiKeyConfig>();
  private readonly keys: Promise<{ hmac: KeyObject | null; publicKey: KeyObject | CryptoKey | null }>;

  /** Every claim the gateway reads, validated; the topics/delay claims are renamed to `topics`/`delayMs`. */
  private readonly claims: z.ZodType<Claims>;

  constructor(
    private readonly config: AuthConfig,
    private readonly clock: Clock = systemClock,
  ) {
    this.reloadApiKeys(config.apiKeys);
    const jwt = config.jwt;
    this.claims = claimsSchema(config);
    this.keys = (async () => {
      const hmac = jwt?.secret ? createSecretKey(Buffer.from(jwt.secret, 'utf8')) : null;
      let publicKey: KeyObject | CryptoKey | null = null;
      if (jwt?.publicKeyFile) {
        const pem = readFileSync(jwt.publicKeyFile, 'utf8');
        const alg = jwt.algorithms.find((a) => a !== 'HS256') ?? 'RS256';
        publicKey = await importSPKI(pem, alg);
      }
      return { hmac, publicKey };
    })();
    this.keys.catch(() => {}); // surfaced by ready()
  }

  /** Resolves once keys are loaded; rejects with a readable error (bad PEM, missing file). */
  async ready(): Promise<void> {
    await this.keys;
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** Replaces the API keys (SIGHUP). */
  reloadApiKeys(keys: readonly ApiKeyConfig[]): void {
    this.apiKeys = new Map(keys.map((k) => [k.key, k]));
  }

  /** The identity of every connection when auth is off. */
  readonly anonymous = Identity.anonymous();

  identityForKey(entry: ApiKeyConfig): Identity {
    return new Identity('apiKey', entry.name, entry.topics, entry.delayMs, null, entry.key);
  }

  /** The current entry for an API key, or undefined if it was revoked. */
  apiKeyEntry(key: string): ApiKeyConfig | undefined {
    return this.apiKeys.get(key);
  }

  async authenticate(credential: string | null): Promise<Identity> {
    if (!this.config.enabled) return Identity.anonymous();
    if (credential === null) throw new AuthError('missing credentials: send "Authorization: Bearer <jwt>", an API key, or ?token=');
    if (!isJwt(credential)) {
      const entry = this.apiKeys.get(credential);
      if (!entry) throw new AuthError('invalid API key');
      return this.identityForKey(entry);
    }
    return this.verifyJwt(credential);
  }

  async verifyJwt(token: string): Promise<Identity> {
    const jwt = this.config.jwt;
    if (!jwt) throw new AuthError('JWTs are not accepted here');
    const { hmac, publicKey } = await this.keys;
    let payload: JWTPayload;
    try {
      const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as { alg?: string };
      const key = header.alg === 'HS256' ? hmac : publicKey;
      if (!key) throw new AuthError(`tokens signed with ${header.alg ?? 'no algorithm'} are not accepted`);
      ({ payload } = await jwtVerify(token, key, {
        algorithms: jwt.algorithms,
        issuer: jwt.issuer,
        audience: jwt.audience,
        clockTolerance: jwt.clockToleranceSeconds,
      }));
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
      if (err instanceof joseErrors.JWTClaimValidationFailed) throw new AuthError(`token claim "${err.claim}" is not acceptable`);
      if (err instanceof joseErrors.JOSEAlgNotAllowed) throw new AuthError('token algorithm not allowed');
      throw new AuthError('invalid token');
    }
    const claims = this.claims.safeParse(payload);
    if (!claims.success) {
      const issue = claims.error.issues[0]!;
      const name = String(issue.path[0] ?? 'payload');
      throw new AuthError(`token claim "${name}" is not acceptable: ${issue.message}`);
    }
    const c = claims.data;
    const exp = c.exp ?? null;
    const lifetime = jwt.maxTokenLifetimeSeconds;
    if (lifetime !== undefined) {
      if (exp === null) throw new AuthError(`token claim "exp" is required: tokens may live at most ${lifetime} s`);
      const from = c.iat ?? this.clock.now() / 1000;
      if (exp - from > lifetime)
        throw new AuthError(
          `token claim "exp" is not acceptable: the token lives ${Math.round(exp - from)} s, more than auth.jwt.maxTokenLifetimeSeconds (${lifetime})`,
        );
    }
    return new Identity('jwt', c.sub ?? 'jwt', c.topics, c.delayMs, exp === null ? null : exp * 1000);
  }
}
