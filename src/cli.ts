import { availableParallelism } from 'node:os';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, parseFeedList } from './config/load.ts';
import { Gateway } from './gateway.ts';
import { busFlag, ingestCommand } from './ingest.ts';
import { installProcessGuards } from './process-guards.ts';
import { RECORD_OPTIONS, RECORD_USAGE, recordCommand } from './record/cli.ts';
import { tail } from './tail.ts';
import { VERSION } from './version.ts';

const HELP = `tickgate ${VERSION} — live market-data streaming gateway

Usage:
  tickgate serve [options]     run the gateway (default: simulated equity + FX feeds, in-process bus)
  tickgate serve --bus nats://host:4222 [options]
                               run a gateway serving from NATS, no local feeds (see docs/scaling.md)
  tickgate ingest --bus nats://host:4222 [--config f] [--feeds a,b] [--port n] [--lease]
                               run the feeds only, publishing stamped frames to NATS; /healthz and
                               /metrics on --port (default 9101); no WebSocket listener
  tickgate tail <topic|pattern>... [--url ws://127.0.0.1:9001/v1/stream] [--max-rate N] [--json]
                               show live ticks as a table (NDJSON with --json); Ctrl-C to quit
${RECORD_USAGE}
  tickgate --help | --version

Options for serve:
  --host <addr>          listen address (default 127.0.0.1; env TICKGATE_HOST)
  --port <n>             listen port, 0 for any free port (default 9001; env TICKGATE_PORT)
  --config <file.json>   JSON config file (see README "Configuration")
  --feeds <a,b>          feed adapters to run, e.g. sim-equity,sim-fx, or "none" (env TICKGATE_FEEDS)
  --bus <nats://h:p|memory>  serve from NATS (env TICKGATE_BUS__KIND=nats, TICKGATE_BUS__NATS__URL);
                         JetStream snapshots/resume: TICKGATE_BUS__NATS__JETSTREAM__ENABLED=true
  --workers <n|auto>     uWebSockets.js threads on the same port; auto = one per core (default 1;
                         env TICKGATE_WORKERS). Feeds and the bus run once, on the main thread.
  --log-level <level>    fatal|error|warn|info|debug|trace|silent (default info; env TICKGATE_LOG_LEVEL)

Precedence: defaults < --config file < TICKGATE_* environment < flags.

${RECORD_OPTIONS}`;

function fail(message: string, code = 2): never {
  process.stderr.write(`tickgate: ${message}\n`);
  process.exit(code);
}

function numberOrRaw(v: string): number | string {
  return /^\d+$/.test(v) ? Number(v) : v;
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      config: { type: 'string' },
      feeds: { type: 'string' },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
      bus: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const flags: Record<string, unknown> = {};
  if (values.host !== undefined) flags.host = values.host;
  if (values.port !== undefined) flags.port = numberOrRaw(values.port);
  if (values.feeds !== undefined) flags.feeds = parseFeedList(values.feeds, '--feeds');
  if (values['log-level'] !== undefined) flags.logLevel = values['log-level'];
  if (values.bus !== undefined) flags.bus = busFlag(values.bus);
  if (values.workers !== undefined) flags.workers = values.workers === 'auto' ? availableParallelism() : numberOrRaw(values.workers);

  const config = loadConfig({ file: values.config, env: process.env, flags });
  const gateway = new Gateway(config, { moduleBaseDir: values.config ? dirname(resolve(values.config)) : process.cwd() });
  installProcessGuards({ logger: gateway.logger }); // log + count; uncaught exception exits 1 (see src/process-guards.ts)
  let started;
  try {
    started = await gateway.start();
  } catch (err) {
    if (err instanceof ConfigError) throw err; // exit 2 with the config message
    const message = (err as Error).message;
    fail(message.startsWith('cannot listen') ? `${message}; choose another --port or stop the other process` : message, 1);
  }
  const { urls } = started;
  process.stdout.write(
    `tickgate ${VERSION} serving\n` +
      `  stream   ${urls.stream}\n` +
      `  metrics  ${urls.metrics}\n` +
      `  health   ${urls.health}\n` +
      `  topics   ${urls.topics}\n` +
      `  dashboard ${urls.dashboard}\n`,
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      gateway.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    gateway.logger.info({ signal }, 'shutting down');
    gateway.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        gateway.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // SIGHUP re-reads the config file and applies its API keys to live connections.
  process.on('SIGHUP', () => {
    try {
      const fresh = loadConfig({ file: values.config, env: process.env, flags });
      gateway.reloadApiKeys(fresh.auth.apiKeys);
    } catch (err) {
      gateway.logger.error({ err: (err as Error).message }, 'SIGHUP: config not reloaded; the running config stays in force');
    }
  });
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (command === '--version' || command === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (command === 'tail') {
    try {
      process.exit(await tail(rest));
    } catch (err) {
      fail((err as Error).message);
    }
  }
  if (command === 'ingest') {
    if (rest.includes('--help') || rest.includes('-h')) {
      process.stdout.write(HELP);
      return;
    }
    try {
      await ingestCommand(rest);
    } catch (err) {
      if (err instanceof ConfigError) fail(err.message);
      if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) fail(`${err.message}; run "tickgate --help"`);
      fail((err as Error).message, 1);
    }
    return;
  }
  if (command === 'record') {
    await recordCommand(rest);
    return;
  }
  if (command !== 'serve') fail(`unknown command "${command}"; run "tickgate --help"`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(HELP);
    return;
  }
  try {
    await serve(rest);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      fail(`${err.message}; run "tickgate --help"`);
    }
    throw err;
  }
}

await main(process.argv.slice(2));
