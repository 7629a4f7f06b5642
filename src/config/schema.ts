import { z } from 'zod';

export const feedEntrySchema = z
  .object({
    /** Adapter name from feeds/index.ts, e.g. "sim-equity". */
    adapter: z.string().min(1),
    /** Instance id: the `feed` metric label. Defaults to the adapter name. */
    id: z
      .string()
      .regex(/^[a-z0-9][a-z0-9_-]{0,31}$/, 'lowercase letters, digits, "_" or "-", at most 32 chars')
      .optional(),
    /** Adapter options, validated by the adapter's own schema. */
    options: z.record(z.string(), z.unknown()).default({}),
  })
  .strict();

export const configSchema = z
  .object({
    host: z.string().min(1).default('127.0.0.1'),
    port: z.number().int().min(0).max(65535).default(9001),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    feeds: z.array(feedEntrySchema).default([{ adapter: 'sim-equity', options: {} }, { adapter: 'sim-fx', options: {} }]),
    bus: z
      .object({
        kind: z.literal('memory').default('memory'),
        /** Most ticks of one topic per frame; ticks of a topic arriving in one event-loop turn share a frame. */
        maxTicksPerFrame: z.number().int().min(1).max(10_000).default(64),
      })
      .strict()
      .default({ kind: 'memory', maxTicksPerFrame: 64 }),
    transport: z
      .object({
        maxMessageBytes: z.number().int().min(256).max(1_048_576).default(16_384),
        maxPayloadBytes: z.number().int().min(1024).max(16_777_216).default(1_048_576),
        maxBackpressureBytes: z.number().int().min(16_384).max(1_073_741_824).default(4_194_304),
        idleTimeoutSeconds: z.number().int().min(8).max(960).default(120),
        maxSubscriptionsPerConnection: z.number().int().min(1).max(1_000_000).default(10_000),
        closeGraceMs: z.number().int().min(0).max(60_000).default(2_000),
      })
      .strict()
      .default({
        maxMessageBytes: 16_384,
        maxPayloadBytes: 1_048_576,
        maxBackpressureBytes: 4_194_304,
        idleTimeoutSeconds: 120,
        maxSubscriptionsPerConnection: 10_000,
        closeGraceMs: 2_000,
      }),
  })
  .strict()
  .superRefine((c, ctx) => {
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
