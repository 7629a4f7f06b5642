import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { builtinFeeds } from '../../feeds/index.ts';
import { parseFeedList, resolveConfig, type ResolvedConfig } from '../config/load.ts';
import type { FeedDefinition } from '../feed/adapter.ts';
import { createLogger, resolveLogFormat, type Logger } from '../logger.ts';
import type { Config } from '../config/schema.ts';
import { busFlag, numberOrRaw } from './args.ts';

/**
 * The flags that set config keys, shared by `serve`, `ingest` and `config print` so each means
 * the same everywhere. Precedence: defaults < --config file < TICKGATE_* environment < flags.
 */
export const CONFIG_FLAG_OPTIONS = {
  config: { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  feeds: { type: 'string' },
  bus: { type: 'string' },
  workers: { type: 'string' },
  'log-level': { type: 'string' },
  'log-format': { type: 'string' },
} as const;

export type ConfigFlagName = keyof typeof CONFIG_FLAG_OPTIONS;

export const CONFIG_FLAG_HELP: Record<ConfigFlagName, string> = {
  config: '  --config <file>        config file: JSON, // comments allowed (see "tickgate config --help")',
  host: '  --host <addr>          listen address (default 127.0.0.1; env TICKGATE_HOST)',
  port: '  --port <n>             listen port, 0 for any free port (default 9001; env TICKGATE_PORT)',
  feeds: '  --feeds <a,b>          feed adapters to run, e.g. sim-equity,sim-fx, or "none" (env TICKGATE_FEEDS)',
  bus: '  --bus <nats://h:p|memory>  the bus (env TICKGATE_BUS__KIND=nats, TICKGATE_BUS__NATS__URL)',
  workers:
    '  --workers <n|auto>     uWebSockets.js threads on the same port; auto = one per core (default 1;\n                         env TICKGATE_WORKERS). Feeds and the bus run once, on the main thread.',
  'log-level': '  --log-level <level>    fatal|error|warn|info|debug|trace|silent (default info; env TICKGATE_LOG_LEVEL)',
  'log-format':
    '  --log-format <f>       auto|json|pretty: auto is pretty on a terminal, JSON lines otherwise\n                         (default auto; env TICKGATE_LOG_FORMAT)',
};

type FlagValues = Partial<Record<ConfigFlagName, string | undefined>>;

/** The flags given, shaped like the config (the schema validates them with the rest). */
export function flagsToConfig(values: FlagValues): Record<string, unknown> {
  const flags: Record<string, unknown> = {};
  if (values.host !== undefined) flags.host = values.host;
  if (values.port !== undefined) flags.port = numberOrRaw(values.port);
  if (values.feeds !== undefined) flags.feeds = parseFeedList(values.feeds, '--feeds');
  if (values.bus !== undefined) flags.bus = busFlag(values.bus);
  if (values.workers !== undefined) flags.workers = values.workers === 'auto' ? availableParallelism() : numberOrRaw(values.workers);
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values['log-format'] !== undefined) flags.logFormat = values['log-format'];
  return flags;
}

/** The effective config for a command: file, environment and flags, validated (throws ConfigError). */
export function configFromCommandLine(
  values: FlagValues,
  env: NodeJS.ProcessEnv = process.env,
  /** A command's own flags that set config keys (ingest --lease), applied on top of the shared ones. */
  extra?: (flags: Record<string, unknown>) => Record<string, unknown>,
): ResolvedConfig & { flags: Record<string, unknown> } {
  const shared = flagsToConfig(values);
  const flags = extra ? extra(shared) : shared;
  return { ...resolveConfig({ file: values.config, env, flags }), flags };
}

/** Relative feed `module` paths start at the config file's directory. */
export function moduleBaseDir(configFile: string | undefined): string {
  return configFile ? dirname(resolve(configFile)) : process.cwd();
}

/** The command, not src/, picks the built-in feeds (src/ never imports feeds/ itself). */
export const BUILTIN_FEEDS = builtinFeeds as readonly FeedDefinition<never>[];

/**
 * The config with `logFormat: auto` resolved against this process's stdout (so worker threads,
 * whose stdout is never a terminal, log like the main thread), and the logger in that format.
 */
export function withCommandLogger(config: Config): { config: Config; logger: Logger } {
  const logFormat = resolveLogFormat(config.logFormat, process.stdout.isTTY === true);
  return { config: { ...config, logFormat }, logger: createLogger(config.logLevel, logFormat) };
}
