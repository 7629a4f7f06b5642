import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, relative, resolve } from 'node:path';
import { ConfigError, configProblems, mergeConfigSources, sourceLabel } from '../config/load.ts';
import { CONFIG_JSON_SCHEMA_PATH } from '../config/json-schema.ts';
import { configSchema, type Config } from '../config/schema.ts';
import type { FeedDefinition } from '../feed/adapter.ts';
import { loadFeedModule } from '../feed/loader.ts';
import { EXIT_OK, EXIT_USAGE, exitQuietlyOnEpipe, parseCommandArgs, UsageError, type Command } from './args.ts';
import { BUILTIN_FEEDS, CONFIG_FLAG_HELP, CONFIG_FLAG_OPTIONS, configFromCommandLine, moduleBaseDir } from './config-flags.ts';

export const DEFAULT_CONFIG_FILE = 'tickgate.config.jsonc';

const HELP = `Usage:
  tickgate config init [FILE] [--force]    write a commented starter config (default ${DEFAULT_CONFIG_FILE});
                                           never overwrites an existing file without --force
  tickgate config check FILE               validate FILE alone (no environment, no flags): every
                                           problem on its own line, exit 2 if there is any
  tickgate config print [options] [--json] the effective config, each value with its source:
                                           default, file <path>, env <NAME> or flag

Config files are JSON; // and /* */ comments are allowed. Their JSON Schema is
schema/tickgate.config.schema.json (the starter file points at it with "$schema", so editors
complete and validate keys). Precedence: defaults < --config file < TICKGATE_* environment < flags.

Options for print (the same as "tickgate serve"):
${Object.values(CONFIG_FLAG_HELP).join('\n')}
  --json                 print [{key, value, source}] as JSON
  -h, --help             this help

Exit codes: 0 ok, 1 runtime failure (e.g. the file cannot be written), 2 usage or config errors.
`;

/** The starter file: every common key at its default, with a comment saying what it does. */
export function starterConfig(schemaRef: string): string {
  return `// tickgate configuration (JSON with comments). Check it with: tickgate config check <this file>
// Every key is optional; the values below are the defaults. Precedence: defaults < this file <
// TICKGATE_* environment (e.g. TICKGATE_PORT, TICKGATE_TRANSPORT__MAX_MESSAGE_BYTES) < flags.
// The full list of keys, with limits: README "Configuration", docs/security.md, feeds/README.md.
{
  // The JSON Schema, so editors complete and validate the keys (tickgate ignores this key).
  "$schema": ${JSON.stringify(schemaRef)},

  // Listen address and port for WebSocket clients, /metrics, /healthz and the dashboard.
  // "0.0.0.0" listens on every interface; port 0 picks a free port.
  "host": "127.0.0.1",
  "port": 9001,

  // uWebSockets.js threads on the same port (feeds and the bus run once, on the main thread).
  "workers": 1,

  // fatal | error | warn | info | debug | trace | silent
  "logLevel": "info",
  // auto: human-readable on a terminal, JSON lines otherwise | json | pretty
  "logFormat": "auto",

  // Feed adapters: built-in ones by "adapter" name (sim-equity, sim-fx, replay, upstream-ws),
  // third-party ones by "module" path or package name; "id" names an instance in metrics.
  "feeds": [
    { "adapter": "sim-equity", "options": {} },
    { "adapter": "sim-fx", "options": {} }
  ],

  "bus": {
    // memory: feeds and clients in this process; nats: serve what "tickgate ingest" publishes.
    "kind": "memory",
    // Most ticks of one topic per frame (1 disables batching).
    "maxTicksPerFrame": 64,
    // Resume history per topic: at most this many ticks, none older than historyMaxAgeMs.
    "historyMaxTicks": 1000,
    "historyMaxAgeMs": 60000
  },

  "transport": {
    // Larger client messages are refused with TG_ERR_MESSAGE_TOO_LARGE.
    "maxMessageBytes": 262144,
    // Per-client send buffer; frames over it are dropped and the client closed (1013).
    "maxBackpressureBytes": 4194304,
    // Idle connections get pings; silent ones are closed after this.
    "idleTimeoutSeconds": 120,
    // Shutdown: how long clients get to answer the close before being cut off.
    "closeGraceMs": 2000
  },

  "slowConsumer": {
    // Over this send buffer a client's every-tick topics drop to downgradeRate updates/s...
    "softLimitBytes": 1048576,
    // ...until the buffer is back under this; still slow after maxSlowMs: closed with 1008.
    "recoverBelowBytes": 262144,
    "maxSlowMs": 30000
  },

  "liveness": {
    // A topic with no tick for this long is reported stale.
    "staleAfterMs": 5000
  },

  "limits": {
    // Open WebSocket connections in total and per IP (0: unlimited).
    "maxConnections": 20000,
    "maxConnectionsPerIp": 2000
  }

  // Authentication ("auth"), TLS ("tls"), allowed origins ("security") and a protected or
  // separate /metrics listener ("metrics") are off by default: see docs/security.md.
}
`;
}

async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('config', args, { force: { type: 'boolean' } }, true);
  if (positionals.length > 1)
    throw new UsageError(`config init takes one file name, got ${positionals.length}; run "tickgate config --help"`);
  const file = resolve(positionals[0] ?? DEFAULT_CONFIG_FILE);
  if (existsSync(file) && values.force !== true) throw new UsageError(`${file} exists; pass --force to overwrite it, or name another file`);
  // A relative reference works in the repository and in an installed package alike.
  let ref = relative(dirname(file), CONFIG_JSON_SCHEMA_PATH).split('\\').join('/');
  if (!ref.startsWith('.') && !ref.startsWith('/')) ref = `./${ref}`;
  writeFileSync(file, starterConfig(ref));
  process.stdout.write(`wrote ${file}\nstart with: tickgate serve --config ${relative(process.cwd(), file) || basename(file)}\n`);
  return EXIT_OK;
}

/** Built-in adapters by name, modules by import: each entry's options checked by its own schema. */
async function feedProblems(feeds: Config['feeds'], baseDir: string): Promise<string[]> {
  const byName = new Map(BUILTIN_FEEDS.map((d) => [d.name, d]));
  const problems: string[] = [];
  for (const [i, entry] of feeds.entries()) {
    let definition: FeedDefinition<never> | undefined;
    if (entry.module !== undefined) {
      try {
        definition = await loadFeedModule(entry.module, baseDir);
      } catch (err) {
        problems.push(`feeds.${i}.module: ${(err as Error).message}`);
        continue;
      }
    } else {
      definition = byName.get(entry.adapter);
      if (!definition) {
        problems.push(`feeds.${i}.adapter: unknown adapter "${entry.adapter}"; available: ${[...byName.keys()].join(', ')}`);
        continue;
      }
    }
    const parsed = definition.optionsSchema.safeParse(entry.options);
    if (!parsed.success)
      for (const issue of parsed.error.issues) problems.push(`${['feeds', i, 'options', ...issue.path].join('.')}: ${issue.message}`);
  }
  return problems;
}

async function check(args: string[]): Promise<number> {
  const { positionals } = parseCommandArgs('config', args, {}, true);
  if (positionals.length !== 1) throw new UsageError('config check takes one file, e.g. tickgate config check tickgate.config.jsonc');
  const file = positionals[0]!;
  let problems: string[];
  try {
    const { input } = mergeConfigSources({ file });
    problems = configProblems(input).map((p) => p.replace(/^invalid config: /, ''));
    // The feed entries' adapters and options too, whenever the entries themselves are well-formed.
    const feeds = configSchema.shape.feeds.safeParse(input.feeds);
    if (feeds.success) problems.push(...(await feedProblems(feeds.data, moduleBaseDir(file))));
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = [err.message];
  }
  if (problems.length === 0) {
    process.stdout.write(`${file}: ok\n`);
    return EXIT_OK;
  }
  process.stderr.write(
    `${problems.map((p) => `${file}: ${p}\n`).join('')}tickgate: ${problems.length} problem${problems.length === 1 ? '' : 's'} in ${file}\n`,
  );
  return EXIT_USAGE;
}

const SECRET_PATHS = [/^auth\.jwt\.secret$/, /^metrics\.bearerToken$/, /^tls\.passphrase$/];

/** The printable config: secrets replaced, so `config print` output can be pasted into a ticket. */
function redact(key: string, value: unknown): unknown {
  if (SECRET_PATHS.some((re) => re.test(key)) && typeof value === 'string') return '<redacted>';
  if (key === 'auth.apiKeys' && Array.isArray(value)) return value.map((k: Record<string, unknown>) => ({ ...k, key: '<redacted>' }));
  return value;
}

function flatten(value: unknown, prefix: string, out: { key: string; value: unknown }[]): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (value !== undefined && !prefix.startsWith('$')) {
    out.push({ key: prefix, value: redact(prefix, value) });
  }
}

async function print(args: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs('config', args, { ...CONFIG_FLAG_OPTIONS, json: { type: 'boolean' } }, true);
  if (positionals.length > 0) throw new UsageError(`config print takes no file argument; use --config ${positionals[0]}`);
  const { config, origin } = configFromCommandLine(values);
  const entries: { key: string; value: unknown }[] = [];
  flatten(config, '', entries);
  const rows = entries.map((e) => ({ ...e, source: sourceLabel(e.key, origin) }));
  exitQuietlyOnEpipe(process.stdout);
  if (values.json === true) {
    process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT_OK;
  }
  const shown = rows.map((r) => [r.key, JSON.stringify(r.value), r.source] as const);
  const kw = Math.max(3, ...shown.map((r) => r[0].length));
  const vw = Math.min(60, Math.max(5, ...shown.map((r) => r[1].length)));
  const line = (k: string, v: string, s: string) => `${k.padEnd(kw)}  ${v.padEnd(vw)}  ${s}`.trimEnd();
  process.stdout.write(`${[line('KEY', 'VALUE', 'SOURCE'), ...shown.map(([k, v, s]) => line(k, v, s))].join('\n')}\n`);
  return EXIT_OK;
}

export const configCommand: Command = {
  name: 'config',
  summary: 'init | check FILE | print: write, validate or show the configuration',
  help: HELP,
  async run(args) {
    const [sub, ...rest] = args;
    if (sub === 'init') return init(rest);
    if (sub === 'check') return check(rest);
    if (sub === 'print') return print(rest);
    throw new UsageError(
      sub === undefined
        ? 'config needs a subcommand: init, check or print; run "tickgate config --help"'
        : `unknown config subcommand "${sub}"; use init, check or print`,
    );
  },
};
