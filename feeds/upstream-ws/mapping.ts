/**
 * Pure mapping from an upstream's JSON messages to ticks, and from wanted (symbol, channel)
 * pairs to the upstream's subscribe messages. No I/O; tested on fixtures.
 */

export type Channel = 'quote' | 'trade';
export const CHANNELS: readonly Channel[] = ['quote', 'trade'];

/** A tick as a mapping produces it: the adapter adds the topic and, when `ts` is absent, the clock time. */
export type UpstreamTick =
  | { symbol: string; kind: 'quote'; ts?: number; bid: number; ask: number; bidSize: number; askSize: number }
  | { symbol: string; kind: 'trade'; ts?: number; price: number; size: number };

/**
 * How the adapter talks to one upstream. A declarative `MappingSpec` compiles into one
 * (`compileMapping`); code can also implement it directly (see `defineUpstreamWsFeed`).
 */
export interface UpstreamProtocol {
  /**
   * Maps one parsed JSON message. Returns the ticks it carries (possibly none), or null for a
   * message that carries no data by design (an ack, a heartbeat). Throws for a message it cannot
   * map: the adapter counts and logs it as malformed and carries on.
   */
  map(message: unknown): UpstreamTick[] | null;
  /** A description when the message is an error report from the upstream (logged, counted), else null. */
  error?(message: unknown): string | null;
  /**
   * The upstream stream that carries `channel` for `symbol` (the topic's symbol), or null when the
   * upstream does not offer it. Several pairs may share one stream. Without this function the
   * upstream is not subscribed to: it sends what it sends and every mapped tick is emitted.
   */
  stream?(symbol: string, channel: Channel): string | null;
  /** Messages (JSON-serialized by the adapter) that subscribe to `streams`. */
  subscribe?(streams: readonly string[], nextId: () => number): unknown[];
  /** Messages that unsubscribe from `streams`; without it, streams stay subscribed until reconnect. */
  unsubscribe?(streams: readonly string[], nextId: () => number): unknown[];
}

export type TsUnit = 'ms' | 's' | 'us' | 'ns' | 'iso';
type Literal = string | number | boolean | null;

/** Selects messages: every `match` path equals its value and every `has` path is present (not undefined/null). */
export interface MatchSpec {
  match?: Record<string, Literal> | undefined;
  has?: string[] | undefined;
}

interface RuleCommon extends MatchSpec {
  /** Path to the upstream symbol; upper-cased to make the topic's symbol. */
  symbol: string;
  /** Path to the event time; absent: the adapter's clock time on arrival. */
  ts?: string | undefined;
  tsUnit?: TsUnit | undefined;
  /** Multiplies bid, ask and price (e.g. 1e-8 for integer satoshi prices). */
  priceScale?: number | undefined;
  /** Multiplies sizes. */
  sizeScale?: number | undefined;
}
export interface QuoteRule extends RuleCommon {
  kind: 'quote';
  bid: string;
  ask: string;
  bidSize: string;
  askSize: string;
}
export interface TradeRule extends RuleCommon {
  kind: 'trade';
  price: string;
  size: string;
}

export interface SubscribeSpec {
  /** Stream name per channel; `{symbol}` is the topic symbol, `{lower}` the same in lower case. */
  streams: Partial<Record<Channel, string>>;
  /**
   * The subscribe message as a JSON template: the string `"$streams"` becomes the list of stream
   * names, `"$id"` a request id (1, 2, ...). With `"$stream"` instead, one message per stream.
   */
  message: unknown;
  /** The unsubscribe message, same placeholders. */
  unsubscribe?: unknown;
  /** Most streams per message (`$streams`); default 100. */
  maxStreamsPerMessage?: number | undefined;
}

export interface MappingSpec {
  /** Path to the payload when messages wrap it (e.g. `data` in `{"stream": ..., "data": {...}}`); used when present. */
  unwrap?: string | undefined;
  /** Every rule whose selector matches produces one tick, so one message may give a quote and a trade. */
  messages: (QuoteRule | TradeRule)[];
  /** Known messages without ticks (acks, heartbeats, subscription confirmations). */
  ignore?: MatchSpec[] | undefined;
  /** Upstream error reports: logged at warn and counted. */
  errors?: MatchSpec[] | undefined;
  subscribe?: SubscribeSpec | undefined;
}

/** A message the mapping cannot turn into ticks. */
export class MappingError extends Error {
  override name = 'MappingError';
}

type Path = readonly string[];

export function splitPath(path: string): Path {
  return path.split('.');
}

export function getPath(value: unknown, path: Path): unknown {
  let v = value;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** A finite number from a JSON number or a numeric string (exchanges send prices as strings). */
export function toFiniteNumber(v: unknown, what: string): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
  if (!Number.isFinite(n))
    throw new MappingError(`${what} is ${v === undefined ? 'missing' : `not a number (${JSON.stringify(v).slice(0, 30)})`}`);
  return n;
}

/** Epoch ms from a value in `unit`. */
export function toEpochMs(v: unknown, unit: TsUnit, what: string): number {
  if (unit === 'iso') {
    const ms = typeof v === 'string' ? Date.parse(v) : Number.NaN;
    if (!Number.isFinite(ms)) throw new MappingError(`${what} is not an ISO 8601 time (${JSON.stringify(v)?.slice(0, 40)})`);
    return ms;
  }
  const n = toFiniteNumber(v, what);
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'us' ? n / 1000 : n / 1e6;
  if (!(ms > 0)) throw new MappingError(`${what} must be a positive time`);
  return ms;
}

interface CompiledMatch {
  readonly match: readonly [Path, Literal][];
  readonly has: readonly Path[];
}

function compileMatch(spec: MatchSpec): CompiledMatch {
  return {
    match: Object.entries(spec.match ?? {}).map(([p, v]) => [splitPath(p), v] as [Path, Literal]),
    has: (spec.has ?? []).map(splitPath),
  };
}

function matches(m: CompiledMatch, msg: unknown): boolean {
  for (const [path, want] of m.match) if (getPath(msg, path) !== want) return false;
  for (const path of m.has) {
    const v = getPath(msg, path);
    if (v === undefined || v === null) return false;
  }
  return true;
}

/** Replaces `"$streams"`, `"$stream"` and `"$id"` strings anywhere in a JSON template. */
export function fillTemplate(template: unknown, values: { streams: readonly string[]; stream?: string; id: number }): unknown {
  if (template === '$streams') return [...values.streams];
  if (template === '$stream') return values.stream;
  if (template === '$id') return values.id;
  if (Array.isArray(template)) return template.map((t) => fillTemplate(t, values));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fillTemplate(v, values)]));
  }
  return template;
}

function usesPlaceholder(template: unknown, placeholder: string): boolean {
  if (template === placeholder) return true;
  if (Array.isArray(template)) return template.some((t) => usesPlaceholder(t, placeholder));
  if (template !== null && typeof template === 'object') return Object.values(template).some((t) => usesPlaceholder(t, placeholder));
  return false;
}

/** The messages for a subscribe or unsubscribe template: one per stream with `$stream`, else chunks of `$streams`. */
export function templateMessages(template: unknown, streams: readonly string[], maxPerMessage: number, nextId: () => number): unknown[] {
  if (streams.length === 0) return [];
  if (usesPlaceholder(template, '$stream'))
    return streams.map((stream) => fillTemplate(template, { streams: [stream], stream, id: nextId() }));
  const out: unknown[] = [];
  for (let i = 0; i < streams.length; i += maxPerMessage) {
    out.push(fillTemplate(template, { streams: streams.slice(i, i + maxPerMessage), id: nextId() }));
  }
  return out;
}

type RuleFn = (msg: unknown) => UpstreamTick;

function compileRule(rule: QuoteRule | TradeRule): RuleFn {
  const symbolPath = splitPath(rule.symbol);
  const tsPath = rule.ts === undefined ? null : splitPath(rule.ts);
  const tsUnit = rule.tsUnit ?? 'ms';
  const ps = rule.priceScale ?? 1;
  const ss = rule.sizeScale ?? 1;
  const symbolOf = (msg: unknown): string => {
    const s = getPath(msg, symbolPath);
    if (typeof s !== 'string' && typeof s !== 'number') throw new MappingError(`symbol field "${rule.symbol}" is missing`);
    return String(s).toUpperCase();
  };
  const tsOf = (msg: unknown): number | undefined =>
    tsPath === null ? undefined : toEpochMs(getPath(msg, tsPath), tsUnit, `ts field "${rule.ts}"`);
  const num = (msg: unknown, path: Path, name: string, scale: number) => toFiniteNumber(getPath(msg, path), `field "${name}"`) * scale;
  if (rule.kind === 'quote') {
    const [bid, ask, bidSize, askSize] = [rule.bid, rule.ask, rule.bidSize, rule.askSize].map(splitPath) as [Path, Path, Path, Path];
    return (msg) => {
      const tick: UpstreamTick = {
        symbol: symbolOf(msg),
        kind: 'quote',
        bid: num(msg, bid, rule.bid, ps),
        ask: num(msg, ask, rule.ask, ps),
        bidSize: num(msg, bidSize, rule.bidSize, ss),
        askSize: num(msg, askSize, rule.askSize, ss),
      };
      const ts = tsOf(msg);
      if (ts !== undefined) tick.ts = ts;
      return tick;
    };
  }
  const [price, size] = [rule.price, rule.size].map(splitPath) as [Path, Path];
  return (msg) => {
    const tick: UpstreamTick = {
      symbol: symbolOf(msg),
      kind: 'trade',
      price: num(msg, price, rule.price, ps),
      size: num(msg, size, rule.size, ss),
    };
    const ts = tsOf(msg);
    if (ts !== undefined) tick.ts = ts;
    return tick;
  };
}

/** Turns a declarative mapping into an UpstreamProtocol. */
export function compileMapping(spec: MappingSpec): UpstreamProtocol {
  const unwrap = spec.unwrap === undefined ? null : splitPath(spec.unwrap);
  const rules = spec.messages.map((r) => ({ select: compileMatch(r), produce: compileRule(r) }));
  const ignore = (spec.ignore ?? []).map(compileMatch);
  const errors = (spec.errors ?? []).map(compileMatch);
  const payload = (msg: unknown): unknown => {
    if (unwrap === null) return msg;
    const inner = getPath(msg, unwrap);
    return inner !== null && typeof inner === 'object' ? inner : msg;
  };
  const protocol: UpstreamProtocol = {
    map(message) {
      const msg = payload(message);
      let out: UpstreamTick[] | null = null;
      for (const rule of rules) {
        if (!matches(rule.select, msg)) continue;
        (out ??= []).push(rule.produce(msg));
      }
      if (out !== null) return out;
      if (ignore.some((m) => matches(m, msg))) return null;
      throw new MappingError('matches no rule in mapping.messages or mapping.ignore');
    },
    error(message) {
      const msg = payload(message);
      return errors.some((m) => matches(m, msg)) ? JSON.stringify(msg).slice(0, 300) : null;
    },
  };
  const sub = spec.subscribe;
  if (sub) {
    const max = sub.maxStreamsPerMessage ?? 100;
    protocol.stream = (symbol, channel) => {
      const t = sub.streams[channel];
      return t === undefined ? null : t.replaceAll('{symbol}', symbol).replaceAll('{lower}', symbol.toLowerCase());
    };
    protocol.subscribe = (streams, nextId) => templateMessages(sub.message, streams, max, nextId);
    if (sub.unsubscribe !== undefined) {
      const template = sub.unsubscribe;
      protocol.unsubscribe = (streams, nextId) => templateMessages(template, streams, max, nextId);
    }
  }
  return protocol;
}
