import { z } from 'zod';
import { topicError } from '../core/topic.ts';

const topicPattern = z.string().refine((p) => topicError(p, true) === null, { message: 'must be a topic or pattern like "equity.*.quote"' });

export const apiKeySchema = z
  .object({
    /** The secret the client presents. At least 16 characters. */
    key: z.string().min(16, 'API keys must be at least 16 characters'),
    /** Who this is, for logs (never the key itself). */
    name: z.string().min(1).max(64),
    /** Topic patterns this key may subscribe to. */
    topics: z.array(topicPattern).default([]),
    /** Delayed tier: ticks reach this key this many ms late (0: real time). */
    delayMs: z.number().int().min(0).max(86_400_000).default(0),
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
        algorithms: z.array(z.enum(['HS256', 'RS256', 'ES256'])).min(1).default(['HS256', 'RS256', 'ES256']),
        issuer: z.string().optional(),
        audience: z.string().optional(),
        /** Claim holding the topic patterns the token may subscribe to. */
        topicsClaim: z.string().default('topics'),
        /** Claim holding the delayed-tier delay in ms (absent: real time). */
        delayClaim: z.string().default('delayMs'),
        clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
      })
      .strict()
      .optional(),
    apiKeys: z.array(apiKeySchema).default([]),
    /** A connection whose token expires is warned this long before, and closed at expiry unless it refreshes. */
    expiryWarningSeconds: z.number().int().min(1).max(3600).default(30),
  })
  .strict()
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
