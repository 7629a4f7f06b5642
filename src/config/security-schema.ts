import { z } from 'zod';
import { topicError } from '../core/topic.ts';

/** No delayed tier may exceed a week, whatever the config says (the delay line's timer re-arms in chunks; see transport/delayed.ts). */
export const MAX_CONFIGURABLE_DELAY_MS = 7 * 86_400_000;

const topicPattern = z
  .string()
  .refine((p) => topicError(p, true) === null, { message: 'must be a topic or pattern like "equity.*.quote"' });

export const apiKeySchema = z
  .object({
    /** The secret the client presents. At least 16 characters. */
    key: z.string().min(16, 'API keys must be at least 16 characters'),
    /** Who this is, for logs (never the key itself). */
    name: z.string().min(1).max(64),
    /** Topic patterns this key may subscribe to. */
    topics: z.array(topicPattern).default([]),
    /** Delayed tier: ticks reach this key this many ms late (0: real time). */
    delayMs: z.number().int().min(0).max(MAX_CONFIGURABLE_DELAY_MS).default(0),
  })
  .strict();

export const authSchema = z
  .object({
    /** When true, every WebSocket upgrade must present a valid JWT or API key (HTTP 401 otherwise). */
    enabled: z.boolean().default(false),
    jwt: z
      .object({
        /** HS256 shared secret (at least 32 characters). */
        secret: z.string().min(32, 'an HS256 secret must be at least 32 characters').optional(),
        /** PEM file with the RS256 or ES256 public key (SPKI). */
        publicKeyFile: z.string().min(1).optional(),
        algorithms: z
          .array(z.enum(['HS256', 'RS256', 'ES256']))
          .min(1)
          .default(['HS256', 'RS256', 'ES256']),
        issuer: z.string().optional(),
        audience: z.string().optional(),
        /** Claim holding the topic patterns the token may subscribe to. */
        topicsClaim: z.string().default('topics'),
        /** Claim holding the delayed-tier delay in ms (absent: real time). */
        delayClaim: z.string().default('delayMs'),
        clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
        /** Refuse tokens without an `exp` claim (they would never expire). */
        requireExp: z.boolean().default(true),
        /** Refuse tokens whose `exp` is more than this many seconds after `iat` (or after now, without `iat`). Unset: no maximum. */
        maxTokenLifetimeSeconds: z.number().int().min(1).optional(),
      })
      .strict()
      .optional(),
    apiKeys: z.array(apiKeySchema).default([]),
    /** The longest delayed tier a credential may ask for; a token asking for more is refused (401). */
    maxDelayMs: z.number().int().min(0).max(MAX_CONFIGURABLE_DELAY_MS).default(86_400_000),
    /** A connection whose token expires is warned this long before, and closed at expiry unless it refreshes. */
    expiryWarningSeconds: z.number().int().min(1).max(3600).default(30),
  })
  .strict()
  .superRefine((a, ctx) => {
    a.apiKeys.forEach((k, i) => {
      if (k.delayMs > a.maxDelayMs)
        ctx.addIssue({ code: 'custom', path: ['apiKeys', i, 'delayMs'], message: `must not exceed auth.maxDelayMs (${a.maxDelayMs})` });
    });
  })
  .prefault({});

export const tlsSchema = z
  .object({
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    passphrase: z.string().optional(),
  })
  .strict()
  .optional();

export const limitsSchema = z
  .object({
    /** Open WebSocket connections, all clients together (0: unlimited). */
    maxConnections: z.number().int().min(0).default(20_000),
    /** Open WebSocket connections from one IP address (0: unlimited). */
    maxConnectionsPerIp: z.number().int().min(0).default(2_000),
    /** New connections per second from one IP address (0: unlimited). */
    maxNewConnectionsPerSecondPerIp: z.number().int().min(0).default(200),
    /** Client messages per second on one connection; over it → TG_ERR_RATE_LIMITED and the message is ignored (0: unlimited). */
    maxMessagesPerSecond: z.number().int().min(0).default(200),
    /** Exact topics subscribed before they exist ("pending"), per connection; over it → TG_ERR_TOO_MANY_PENDING (0: unlimited). */
    maxPendingPerConnection: z.number().int().min(0).default(1_000),
    /** Pending topics held by all connections from one IP address (0: unlimited). */
    maxPendingPerIp: z.number().int().min(0).default(10_000),
    /** Pending topics held by all connections together (0: unlimited). */
    maxPendingTotal: z.number().int().min(0).default(100_000),
    /** Patterns one connection may hold; each is matched against every new topic (0: unlimited). */
    maxPatternsPerConnection: z.number().int().min(0).default(100),
    /** Estimated bytes all delay lines (delayed tier) may hold together; a full line conflates its oldest ticks. */
    maxDelayedBytes: z.number().int().min(1_048_576).default(268_435_456),
  })
  .strict()
  .prefault({});

export const securitySchema = z
  .object({
    /** Allowed Origin header values for WebSocket upgrades, e.g. "https://desk.example.com". Empty: any origin. */
    allowedOrigins: z.array(z.string().min(1)).default([]),
  })
  .strict()
  .prefault({});

export const metricsEndpointSchema = z
  .object({
    /** Require `Authorization: Bearer <token>` on /metrics. */
    bearerToken: z.string().min(16, 'the metrics bearer token must be at least 16 characters').optional(),
    /** Serve /metrics on its own listener instead of the main port (e.g. an internal interface). */
    host: z.string().min(1).optional(),
    port: z.number().int().min(0).max(65535).optional(),
  })
  .strict()
  .prefault({});

export type AuthConfig = z.infer<typeof authSchema>;
export type ApiKeyConfig = z.infer<typeof apiKeySchema>;
export type LimitsConfig = z.infer<typeof limitsSchema>;
