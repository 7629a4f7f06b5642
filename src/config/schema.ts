import { z } from 'zod';
import { BAR_INTERVALS } from '../market/bars.ts';
import { authSchema, limitsSchema, metricsEndpointSchema, securitySchema, tlsSchema } from './security-schema.ts';

/**
 * One feed: a built-in adapter by name, or a third-party adapter from a module (exactly one).
 * In the parsed entry `adapter` is always set: for a module entry it repeats the module
 * specifier (for messages and the duplicate-id check); `module` tells the two apart.
 */
export const feedEntrySchema = z
  .object({
    /** Built-in adapter name from feeds/index.ts, e.g. "sim-equity". */
    adapter: z.string().min(1).optional(),
    /**
     * A module path (relative to the gateway's moduleBaseDir, by default the current directory) or
     * an npm package name whose default export (or `feed` export) is a FeedDefinition. See docs/feeds.md.
     */
    module: z.string().min(1).optional(),
    /** Instance id: the `feed` metric label. Defaults to the adapter's name. */
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "_" or "-", at most 32 chars')
      .optional(),
    /** Adapter options, validated by the adapter's own schema. */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict()
  .superRefine((f, ctx) => {
    if (f.adapter === undefined && f.module === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['adapter'],
        message: 'give "adapter" (a built-in adapter name) or "module" (a module path or npm package name)',
      });
    } else if (f.adapter !== undefined && f.module !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['module'], message: 'give either "adapter" or "module", not both' });
    }
  })
  .transform((f) => ({ ...f, adapter: f.adapter ?? f.module! }));

export const configSchema = z
  .object({
    /** The JSON Schema this file follows (schema/tickgate.config.schema.json), for editors; ignored by tickgate. */
    $schema: z.string().optional(),
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9001),
    /** uWebSockets.js apps on the same port, one per thread; feeds and the bus run once, on the main thread. */
    workers: z.number().int().min(1).max(64).default(1),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** auto: human-readable lines on a terminal, JSON lines otherwise (pipes, files, log shippers). */
    logFormat: z.enum(['auto', 'json', 'pretty']).default('auto'),
    feeds: z.array(feedEntrySchema).default([
      { adapter: 'sim-equity', options: {} },
      { adapter: 'sim-fx', options: {} },
    ]),
    bus: z
      .object({
        /**
         * memory: feeds and clients in this process. nats: this process serves clients from frames
         * that `tickgate ingest` stamped and published on NATS (see docs/scaling.md).
         */
        kind: z.enum(['memory', 'nats']).default('memory'),
        nats: z
          .object({
            /** Server URL(s), comma-separated: nats://host:4222[,nats://other:4222]. */
            url: z.string().min(1).default('nats://127.0.0.1:4222'),
            /** Subjects are `<subjectPrefix>.<topic>`, e.g. tickgate.equity.AAPL.quote. */
            subjectPrefix: z
              .string()
              .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, 'NATS subject tokens: letters, digits, "_" or "-", separated by "."')
              .default('tickgate'),
            /** Wait between reconnect attempts (plus up to reconnectJitterMs); attempts never stop. */
            reconnectTimeWaitMs: z.number().int().min(10).max(60_000).default(1_000),
            reconnectJitterMs: z.number().int().min(0).max(60_000).default(500),
            /** Client pings to detect a silently dead server (a killed server is noticed at once). */
            pingIntervalMs: z.number().int().min(100).max(600_000).default(10_000),
            jetstream: z
              .object({
                /** Keep every frame in a stream too: snapshots and resume across gateways. */
                enabled: z.boolean().default(false),
                stream: z
                  .string()
                  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, "_" or "-"')
                  .default('TICKGATE'),
                maxAgeMs: z
                  .number()
                  .int()
                  .min(1_000)
                  .max(30 * 86_400_000)
                  .default(300_000),
                maxMsgsPerSubject: z.number().int().min(1).max(10_000_000).default(10_000),
                storage: z.enum(['file', 'memory']).default('file'),
                /** Copies of the stream in a NATS cluster (docs/scaling.md): 3 survives losing any one node. */
                replicas: z.number().int().min(1).max(5).default(1),
              })
              .strict()
              .prefault({}),
            /**
             * Ingest failover (docs/scaling.md): ingests with this on take turns through a lease in
             * JetStream; one publishes, the others wait as standbys. Needs jetstream.enabled.
             */
            lease: z
              .object({
                enabled: z.boolean().default(false),
                /** A standby takes over at most about this long after the active one stopped renewing. */
                ttlMs: z.number().int().min(1_000).max(60_000).default(4_000),
              })
              .strict()
              .prefault({}),
          })
          .strict()
          .prefault({}),
        /** Most ticks of one topic per frame; ticks of a topic arriving in one event-loop turn share a frame. */
        maxTicksPerFrame: z.number().int().min(1).max(10_000).default(64),
        /** Resume history per topic: at most this many ticks... */
        historyMaxTicks: z.number().int().min(1).max(1_000_000).default(1000),
        /** ...and none older than this. */
        historyMaxAgeMs: z.number().int().min(0).max(86_400_000).default(60_000),
      })
      .strict()
      .prefault({}),
    transport: z
      .object({
        maxMessageBytes: z.number().int().min(256).max(1_048_576).default(262_144),
        maxPayloadBytes: z.number().int().min(1024).max(16_777_216).default(1_048_576),
        /** Hard limit per client send buffer: frames over it are dropped and the client is closed (1013). */
        maxBackpressureBytes: z.number().int().min(16_384).max(1_073_741_824).default(4_194_304),
        idleTimeoutSeconds: z.number().int().min(8).max(960).default(120),
        maxSubscriptionsPerConnection: z.number().int().min(1).max(1_000_000).default(10_000),
        closeGraceMs: z.number().int().min(0).max(60_000).default(2_000),
      })
      .strict()
      .prefault({}),
    conflation: z
      .object({
        /** The maxRate tiers (updates/s per topic) clients can ask for; each runs one timer. */
        tiers: z
          .array(z.number().int().min(1).max(100))
          .min(1)
          .max(16)
          .default([1, 2, 4, 10, 20, 50])
          .transform((t) => [...new Set(t)].sort((a, b) => a - b)),
      })
      .strict()
      .prefault({}),
    market: z
      .object({
        /** Levels per side of every book topic (`*.*.book`): the snapshot, the updates and the checksum cover these. */
        bookDepth: z.number().int().min(1).max(100).default(10),
        /** Bar intervals built from trades (FX: mids) for every instrument: topics `<class>.<SYM>.bar_<interval>`. */
        barIntervals: z
          .array(z.enum(Object.keys(BAR_INTERVALS) as [string, ...string[]]))
          .max(6)
          .default(['1s', '1m']),
        /** Closed bars kept per bar topic, for snapshots and GET /v1/bars. */
        barHistory: z.number().int().min(1).max(10_000).default(500),
        /** Closed bars sent in a bar topic's snapshot (the open bar follows them). */
        barSnapshot: z.number().int().min(0).max(10_000).default(60),
        /** Asset classes whose bars and day statistics are built from quote mids (no trades). */
        midAssetClasses: z.array(z.string().min(1)).default(['fx']),
      })
      .strict()
      .prefault({}),
    slowConsumer: z
      .object({
        /** Step 1: a send buffer over this downgrades the client's every-tick topics to downgradeRate. */
        softLimitBytes: z.number().int().min(4096).default(1_048_576),
        /** Step 2: once the buffer is back under this, the client gets snapshots and every tick again. */
        recoverBelowBytes: z.number().int().min(0).default(262_144),
        /** Step 3: a client still downgraded this long after it was (not back under recoverBelowBytes) is closed with 1008. */
        maxSlowMs: z.number().int().min(100).max(3_600_000).default(30_000),
        /** Rate (a conflation tier) for downgraded topics. */
        downgradeRate: z.number().int().min(1).max(100).default(1),
        checkIntervalMs: z.number().int().min(10).max(10_000).default(100),
      })
      .strict()
      .prefault({}),
    auth: authSchema,
    tls: tlsSchema,
    limits: limitsSchema,
    security: securitySchema,
    metrics: metricsEndpointSchema,
    liveness: z
      .object({
        /** A topic with no tick for this long is reported stale. */
        staleAfterMs: z.number().int().min(100).max(86_400_000).default(5_000),
        checkIntervalMs: z.number().int().min(10).max(60_000).default(250),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.auth.enabled && !c.auth.jwt && c.auth.apiKeys.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'enabled'],
        message: 'auth is enabled but neither auth.jwt nor auth.apiKeys is configured',
      });
    }
    if (c.auth.jwt && !c.auth.jwt.secret && !c.auth.jwt.publicKeyFile) {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'jwt'],
        message: 'set auth.jwt.secret (HS256) or auth.jwt.publicKeyFile (RS256/ES256)',
      });
    }
    const sc = c.slowConsumer;
    if (sc.softLimitBytes >= c.transport.maxBackpressureBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['slowConsumer', 'softLimitBytes'],
        message: `must be below transport.maxBackpressureBytes (${c.transport.maxBackpressureBytes})`,
      });
    }
    if (sc.recoverBelowBytes >= sc.softLimitBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['slowConsumer', 'recoverBelowBytes'],
        message: `must be below slowConsumer.softLimitBytes (${sc.softLimitBytes})`,
      });
    }
    if (!c.conflation.tiers.includes(sc.downgradeRate)) {
      ctx.addIssue({
        code: 'custom',
        path: ['slowConsumer', 'downgradeRate'],
        message: `must be one of conflation.tiers (${c.conflation.tiers.join(', ')})`,
      });
    }
    if (c.transport.maxMessageBytes > c.transport.maxPayloadBytes) {
      ctx.addIssue({
        code: 'custom',
        path: ['transport', 'maxMessageBytes'],
        message: `must not exceed transport.maxPayloadBytes (${c.transport.maxPayloadBytes})`,
      });
    }
    const ids = new Set<string>();
    c.feeds.forEach((f, i) => {
      const id = f.id ?? f.adapter;
      if (ids.has(id)) {
        ctx.addIssue({ code: 'custom', path: ['feeds', i, 'id'], message: `duplicate feed id "${id}"; give each instance its own id` });
      }
      ids.add(id);
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
export type FeedEntry = z.infer<typeof feedEntrySchema>;
