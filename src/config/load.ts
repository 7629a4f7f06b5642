import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { z } from 'zod';
import { configSchema, type Config } from './schema.ts';

/** A config problem the user must fix; the message is one line naming the key and what is allowed. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Plain = Record<string, unknown>;

export interface ConfigSources {
  /** Path of a JSON config file (`--config`). */
  file?: string | undefined;
  /** Environment, normally process.env; only TICKGATE_* keys are read. */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, already shaped like the config. */
  flags?: Plain;
}

const ENV_PREFIX = 'TICKGATE_';

/** Defaults < file < env < flags, then validated. Throws ConfigError. */
export function loadConfig(sources: ConfigSources = {}): Config {
  return resolveConfig(sources).config;
}

export interface ResolvedConfig {
  config: Config;
  /** The source of every key that did not come from the defaults (dotted paths; arrays are one key). */
  origin: Map<string, string>;
}

/** loadConfig, also telling where each value came from (`tickgate config print`). */
export function resolveConfig(sources: ConfigSources = {}): ResolvedConfig {
  const origin = new Map<string, string>();
  const merged = mergeSources(sources, origin);
  return { config: validateConfig(merged, origin), origin };
}

function mergeSources(sources: ConfigSources, origin: Map<string, string>): Plain {
  let merged: Plain = {};
  if (sources.file) merged = mergeInto(merged, readConfigFile(sources.file), `config file ${sources.file}`, origin);
  if (sources.env) merged = mergeInto(merged, configFromEnv(sources.env, origin), null, origin);
  if (sources.flags) merged = mergeInto(merged, sources.flags, 'command line', origin);
  return merged;
}

/** The source of `key` (dotted path) in `config print` terms: default, file <path>, env <NAME> or flag. */
export function sourceLabel(key: string, origin: Map<string, string>): string {
  const from = sourceOf(key, origin);
  if (from === undefined) return 'default';
  if (from === 'command line') return 'flag';
  return from.replace(/^config file /, 'file ');
}

export function validateConfig(input: unknown, origin = new Map<string, string>()): Config {
  const result = configSchema.safeParse(input);
  if (result.success) return result.data;
  throw new ConfigError(describeIssue(result.error.issues[0]!, input, origin));
}

/**
 * Every problem zod finds in one pass, one line each (`tickgate config check`). The cross-key
 * rules (e.g. slowConsumer limits below transport limits) run once the keys themselves are
 * valid, so they show up after the first round of fixes.
 */
export function configProblems(input: unknown, origin = new Map<string, string>()): string[] {
  const result = configSchema.safeParse(input);
  return result.success ? [] : result.error.issues.flatMap((issue) => expandIssue(issue).map((i) => describeIssue(i, input, origin)));
}

/** An unrecognized_keys issue names several keys: one line per key. */
function expandIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue[] {
  if (issue.code !== 'unrecognized_keys' || issue.keys.length < 2) return [issue];
  return issue.keys.map((k) => ({ ...issue, keys: [k] }));
}

/** Reads and merges the sources without validating (`tickgate config check`); throws ConfigError for an unreadable file. */
export function mergeConfigSources(sources: ConfigSources): { input: Plain; origin: Map<string, string> } {
  const origin = new Map<string, string>();
  return { input: mergeSources(sources, origin), origin };
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown, origin: Map<string, string>): string {
  const path = issue.path.map(String);
  let key = path.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const unknown = issue.keys.map((k) => [...path, k].join('.'));
    key = unknown[0]!;
    message = `unknown key; allowed keys here: ${allowedKeys(path).join(', ') || '(none)'}`;
  }
  const got = valueAt(input, path);
  const shownValue = got === undefined || issue.code === 'unrecognized_keys' ? '' : ` (got ${JSON.stringify(got)?.slice(0, 60)})`;
  const from = sourceOf(key, origin);
  return `invalid config: ${key || '(root)'}: ${message}${shownValue}${from ? ` [from ${from}]` : ''}`;
}

function allowedKeys(path: string[]): string[] {
  let schema: unknown = configSchema;
  for (const part of path) {
    const shape = shapeOf(schema);
    if (!shape) return [];
    schema = shape[part];
  }
  return Object.keys(shapeOf(schema) ?? {}).filter((k) => !k.startsWith('$'));
}

/** Walks through default/optional/pipe wrappers to an object schema's shape. */
function shapeOf(schema: unknown): Record<string, unknown> | null {
  let s = schema as { shape?: Record<string, unknown>; def?: { innerType?: unknown; in?: unknown } } | undefined;
  for (let i = 0; i < 5 && s; i++) {
    if (s.shape) return s.shape;
    s = (s.def?.innerType ?? s.def?.in) as typeof s;
  }
  return null;
}

function valueAt(input: unknown, path: string[]): unknown {
  let v = input;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Plain)[p];
  }
  return v;
}

function sourceOf(key: string, origin: Map<string, string>): string | undefined {
  for (let k = key; k; k = k.includes('.') ? k.slice(0, k.lastIndexOf('.')) : '') {
    const s = origin.get(k);
    if (s) return s;
  }
  return undefined;
}

function readConfigFile(file: string): Plain {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint =
      code === 'ENOENT' ? ' (no such file; "tickgate config init" writes a starter)' : code === 'EACCES' ? ' (permission denied)' : '';
    throw new ConfigError(`cannot read config file ${path}: ${code ?? String(err)}${hint}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stripJsonComments(text));
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return parsed as Plain;
}

/**
 * Config files may carry `//` and `/* *\/` comments (the starter file from `tickgate config init`
 * explains each key that way; editors know the format as JSONC). Comments are blanked out, not
 * removed, so JSON.parse's error positions still point at the right place; strings are left alone.
 */
export function stripJsonComments(text: string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      let j = i;
      while (j < text.length && text[j] !== '\n') j++;
      out += ' '.repeat(j - i);
      i = j;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      const j = end === -1 ? text.length : end + 2;
      out += text.slice(i, j).replace(/[^\n]/g, ' ');
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

const snakeToCamel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** Env values: integers and decimals become numbers, true/false booleans, [..] and {..} JSON, the rest strings. */
function envValue(raw: string): unknown {
  if (/^-?\d+(\.\d+)?$/.test(raw)) return Number(raw);
  if (/^\s*[[{]/.test(raw)) {
    try {
      return JSON.parse(raw);
    } catch {
      return raw; // zod then names the key and the expected type
    }
  }
  if (raw === 'true' || raw === 'false') return raw === 'true';
  return raw;
}

/**
 * TICKGATE_PORT=9001 → { port: 9001 }; TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES=4096 →
 * { transport: { maxMessageBytes: 4096 } } (double underscore nests). TICKGATE_FEEDS takes a
 * comma-separated list of adapter names, or a JSON array of feed entries.
 */
export function configFromEnv(env: NodeJS.ProcessEnv, origin?: Map<string, string>): Plain {
  const out: Plain = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || raw === undefined) continue;
    const path = name.slice(ENV_PREFIX.length).split('__').map(snakeToCamel);
    const value = path.length === 1 && path[0] === 'feeds' ? parseFeedList(raw, name) : envValue(raw);
    let target = out;
    for (const part of path.slice(0, -1)) {
      target[part] = (target[part] as Plain | undefined) ?? {};
      target = target[part] as Plain;
    }
    target[path[path.length - 1]!] = value;
    origin?.set(path.join('.'), `env ${name}`);
  }
  return out;
}

/** `sim-equity,sim-fx` → [{adapter:'sim-equity'},{adapter:'sim-fx'}]; `none` or empty → no feeds; `[...]` → JSON. */
export function parseFeedList(raw: string, what: string): unknown {
  const text = raw.trim();
  if (text.startsWith('[')) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new ConfigError(`${what} is not a valid JSON array: ${(err as Error).message}`);
    }
  }
  if (text === '' || text === 'none') return [];
  return text.split(',').map((s) => ({ adapter: s.trim() }));
}

function isPlain(v: unknown): v is Plain {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge of plain objects; arrays and scalars from `over` replace. Records each leaf's origin. */
function mergeInto(base: Plain, over: Plain, source: string | null, origin: Map<string, string>, prefix = ''): Plain {
  const out: Plain = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (isPlain(v) && (isPlain(out[k]) || out[k] === undefined)) {
      // Recurse even into a new object, so each leaf records its own source (config print).
      out[k] = mergeInto((out[k] as Plain | undefined) ?? {}, v, source, origin, key);
    } else {
      out[k] = v;
      if (source) origin.set(key, source);
    }
  }
  return out;
}
