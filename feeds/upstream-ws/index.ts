import { z } from 'zod';
import { isValidTopic, makeTopic, topicError } from '../../src/core/topic.ts';
import { defineFeed, type FeedDefinition } from '../../src/feed/adapter.ts';
import { UpstreamWsAdapter, type UpstreamWsAdapterOptions } from './adapter.ts';
import { compileMapping, type MappingSpec, type UpstreamProtocol } from './mapping.ts';
import { PRESETS } from './presets.ts';

export { reconnectDelay, UpstreamWsAdapter } from './adapter.ts';
export type { UpstreamWsAdapterOptions, UpstreamWsStats } from './adapter.ts';
export { compileMapping, MappingError } from './mapping.ts';
export type { Channel, MappingSpec, UpstreamProtocol, UpstreamTick } from './mapping.ts';
export { PRESETS } from './presets.ts';

const path = z.string().min(1, { error: 'must be a field path such as "data.price"' });
const literal = z.union([z.string(), z.number(), z.boolean(), z.null()]);
const matchShape = {
  /** Field path → value it must equal. */
  match: z.record(z.string(), literal).optional(),
  /** Field paths that must be present. */
  has: z.array(path).optional(),
};
const matchSpec = z.strictObject(matchShape);
const ruleShape = {
  ...matchShape,
  symbol: path,
  ts: path.optional(),
  tsUnit: z.enum(['ms', 's', 'us', 'ns', 'iso']).optional(),
  priceScale: z.number().positive({ error: 'must be positive' }).optional(),
  sizeScale: z.number().positive({ error: 'must be positive' }).optional(),
};
const rule = z.discriminatedUnion(
  'kind',
  [
    z.strictObject({ kind: z.literal('quote'), ...ruleShape, bid: path, ask: path, bidSize: path, askSize: path }),
    z.strictObject({ kind: z.literal('trade'), ...ruleShape, price: path, size: path }),
  ],
  { error: 'each rule needs "kind": "quote" (with bid, ask, bidSize, askSize paths) or "trade" (with price, size paths)' },
);

/** Every key optional here: a mapping may override parts of a preset. Completeness is checked after merging. */
const mappingSchema = z.strictObject({
  unwrap: path.optional(),
  messages: z.array(rule).min(1, { error: 'must have at least one rule' }).optional(),
  ignore: z.array(matchSpec).optional(),
  errors: z.array(matchSpec).optional(),
  subscribe: z
    .strictObject({
      streams: z
        .strictObject({ quote: z.string().min(1).optional(), trade: z.string().min(1).optional() })
        .refine((s) => s.quote !== undefined || s.trade !== undefined, {
          error: 'name a stream for "quote" or "trade" ({symbol} or {lower} is replaced)',
        }),
      message: z.json(),
      unsubscribe: z.json().optional(),
      maxStreamsPerMessage: z.int().min(1).max(10_000).optional(),
    })
    .optional(),
});

const ASSET_CLASS = /^[a-z][a-z0-9]{0,15}$/;

/** Connection and subscription options, shared by the declarative feed and code-mapped feeds. */
const connectionShape = {
  url: z.string().regex(/^wss?:\/\/\S+$/, { error: 'must be a ws:// or wss:// URL' }),
  assetClass: z
    .string()
    .regex(ASSET_CLASS, { error: 'must be lowercase letters and digits, starting with a letter, at most 16 chars' })
    .default('crypto'),
  /** Topic symbols served; `*` symbols in patterns expand to these, and exact topics are limited to them. */
  symbols: z.array(z.string()).min(1, { error: 'must list at least one symbol (or leave "symbols" out)' }).optional(),
  /** Topics or patterns subscribed upstream always, whatever clients ask (the fallback list). */
  static: z.array(z.string()).default([]),
  heartbeatTimeoutMs: z.int().min(50, { error: 'must be at least 50' }).max(3_600_000).default(30_000),
  pingIntervalMs: z.int().min(0).max(600_000).default(10_000),
  connectTimeoutMs: z.int().min(50).max(60_000).default(5_000),
  reconnect: z
    .strictObject({ initialMs: z.int().min(1).max(60_000).default(500), maxMs: z.int().min(1).max(600_000).default(30_000) })
    .prefault({}),
  /** Extra HTTP headers on the upgrade request (an API key, an origin). */
  headers: z.record(z.string(), z.string()).optional(),
};

type ConnectionFields = {
  assetClass: string;
  symbols?: string[] | undefined;
  static: string[];
  reconnect: { initialMs: number; maxMs: number };
};

function checkConnection(o: ConnectionFields, ctx: z.RefinementCtx): void {
  o.symbols?.forEach((s, i) => {
    if (!isValidTopic(makeTopic(o.assetClass, s, 'quote'))) {
      ctx.addIssue({
        code: 'custom',
        path: ['symbols', i],
        message: `"${s}" is not a topic symbol: uppercase letters, digits, "_" or "-", at most 24 chars`,
      });
    }
  });
  o.static.forEach((entry, i) => {
    const err = topicError(entry, true);
    const asset = entry.split('.')[0];
    if (err) ctx.addIssue({ code: 'custom', path: ['static', i], message: err });
    else if (asset !== '*' && asset !== o.assetClass) {
      ctx.addIssue({ code: 'custom', path: ['static', i], message: `"${entry}" is not in this feed's asset class "${o.assetClass}"` });
    }
  });
  if (o.reconnect.maxMs < o.reconnect.initialMs) {
    ctx.addIssue({
      code: 'custom',
      path: ['reconnect', 'maxMs'],
      message: `must be at least reconnect.initialMs (${o.reconnect.initialMs})`,
    });
  }
}

/** Options of a code-mapped feed (defineUpstreamWsFeed): the connection options only. */
export const upstreamConnectionOptionsSchema = z.strictObject(connectionShape).superRefine(checkConnection);
export type UpstreamConnectionOptions = z.output<typeof upstreamConnectionOptionsSchema>;

export const upstreamWsOptionsSchema = z
  .strictObject({
    ...connectionShape,
    /** A built-in mapping: "binance" or "coinbase". */
    preset: z.enum(['binance', 'coinbase']).optional(),
    /** A declarative mapping; with a preset, its top-level keys replace the preset's. */
    mapping: mappingSchema.optional(),
  })
  .superRefine((o, ctx) => {
    if (o.preset === undefined && o.mapping?.messages === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['mapping'],
        message: 'give a "preset" (binance, coinbase) or a "mapping" with "messages" rules',
      });
    }
    checkConnection(o, ctx);
  });

export type UpstreamWsOptions = z.output<typeof upstreamWsOptionsSchema>;

/** The preset with the config mapping's keys laid over it. */
export function resolveMapping(options: Pick<UpstreamWsOptions, 'preset' | 'mapping'>): MappingSpec {
  const base: Partial<MappingSpec> = options.preset ? PRESETS[options.preset] : {};
  const merged = { ...base, ...(options.mapping ?? {}) } as Partial<MappingSpec>;
  if (!merged.messages) throw new Error('upstream-ws: no mapping rules (give a preset or mapping.messages)');
  return merged as MappingSpec;
}

function adapterOptions(options: UpstreamConnectionOptions, protocol: UpstreamProtocol): UpstreamWsAdapterOptions {
  return {
    url: options.url,
    protocol,
    assetClass: options.assetClass,
    symbols: options.symbols,
    static: options.static,
    heartbeatTimeoutMs: options.heartbeatTimeoutMs,
    pingIntervalMs: options.pingIntervalMs,
    connectTimeoutMs: options.connectTimeoutMs,
    reconnect: options.reconnect,
    headers: options.headers,
  };
}

export const upstreamWsFeed = defineFeed<UpstreamWsOptions>({
  name: 'upstream-ws',
  description:
    'An external JSON WebSocket feed mapped to ticks (presets: binance, coinbase; or a declarative mapping), subscribed on client interest',
  optionsSchema: upstreamWsOptionsSchema,
  create: (options) => new UpstreamWsAdapter(adapterOptions(options, compileMapping(resolveMapping(options)))),
});

/**
 * An upstream feed whose messages are mapped by code instead of a declarative mapping (a nested
 * or array-based format, computed fields). Export the result from a module and load it with
 * `{"module": "./my-feed.ts", "options": {"url": "wss://..."}}`:
 *
 * ```ts
 * export default defineUpstreamWsFeed({
 *   name: 'my-venue',
 *   description: 'My venue over WebSocket',
 *   protocol: () => ({
 *     map: (msg) => (isQuote(msg) ? [{ symbol: msg.sym, kind: 'quote', bid: msg.b, ask: msg.a, bidSize: msg.bs, askSize: msg.as }] : null),
 *     stream: (symbol, channel) => (channel === 'quote' ? symbol : null),
 *     subscribe: (streams) => [{ op: 'sub', symbols: streams }],
 *     unsubscribe: (streams) => [{ op: 'unsub', symbols: streams }],
 *   }),
 * });
 * ```
 */
export function defineUpstreamWsFeed(spec: {
  name: string;
  description: string;
  /** Called once per adapter instance with the validated options. */
  protocol: (options: UpstreamConnectionOptions) => UpstreamProtocol;
}): FeedDefinition<UpstreamConnectionOptions> {
  return defineFeed<UpstreamConnectionOptions>({
    name: spec.name,
    description: spec.description,
    optionsSchema: upstreamConnectionOptionsSchema,
    create: (options) => new UpstreamWsAdapter(adapterOptions(options, spec.protocol(options))),
  });
}
