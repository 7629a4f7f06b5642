import { ConfigError, loadConfig } from '../config/load.ts';
import { Gateway } from '../gateway.ts';
import { installProcessGuards } from '../process-guards.ts';
import { VERSION } from '../version.ts';
import { EXIT_FAILURE, parseCommandArgs, type Command } from './args.ts';
import {
  BUILTIN_FEEDS,
  CONFIG_FLAG_HELP,
  CONFIG_FLAG_OPTIONS,
  withCommandLogger,
  configFromCommandLine,
  moduleBaseDir,
} from './config-flags.ts';
import { onShutdownSignals } from './signals.ts';

const { config: _c, ...flagHelp } = CONFIG_FLAG_HELP;

export const serveCommand: Command = {
  name: 'serve',
  summary: 'run the gateway (default: simulated equity + FX feeds, in-process bus)',
  help: `Usage: tickgate serve [options]

Runs the gateway: feeds -> bus -> WebSocket stream, /metrics, /healthz, /v1/*, the dashboard at /.
With --bus nats://host:4222 it serves frames that "tickgate ingest" publishes (see docs/scaling.md).

Options:
${CONFIG_FLAG_HELP.config}
${Object.values(flagHelp).join('\n')}
  -h, --help             this help

Precedence: defaults < --config file < TICKGATE_* environment < flags.
Signals: SIGINT/SIGTERM drain and exit 0 (a second one exits 1 at once); SIGHUP reloads auth.apiKeys.
Exit codes: 0 clean shutdown, 1 runtime failure (e.g. port in use), 2 bad flags or config.
`,
  async run(args) {
    const { values } = parseCommandArgs('serve', args, CONFIG_FLAG_OPTIONS);
    const resolved = configFromCommandLine(values);
    const { config, logger } = withCommandLogger(resolved.config);
    const { flags } = resolved;
    const gateway = new Gateway(config, { logger, feedDefinitions: BUILTIN_FEEDS, moduleBaseDir: moduleBaseDir(values.config) });
    installProcessGuards({ logger }); // log + count; an uncaught exception exits 1 (src/process-guards.ts)
    let started: Awaited<ReturnType<typeof gateway.start>>;
    try {
      started = await gateway.start();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const message = (err as Error).message;
      process.stderr.write(
        `tickgate: ${message.startsWith('cannot listen') ? `${message}; choose another --port or stop the other process` : message}\n`,
      );
      return EXIT_FAILURE;
    }
    const { urls } = started;
    const signals = onShutdownSignals(() => gateway.stop(), {
      onSignal: (signal, second) =>
        second ? logger.warn({ signal }, 'second signal: exiting now') : logger.info({ signal }, 'shutting down'),
      onError: (err) => logger.error({ err }, 'shutdown failed'),
    });
    // SIGHUP re-reads the config file and applies its API keys to live connections.
    process.on('SIGHUP', () => {
      try {
        gateway.reloadApiKeys(loadConfig({ file: values.config, env: process.env, flags }).auth.apiKeys);
      } catch (err) {
        logger.error({ err: (err as Error).message }, 'SIGHUP: config not reloaded; the running config stays in force');
      }
    });
    process.stdout.write(
      `tickgate ${VERSION} serving\n` +
        `  stream   ${urls.stream}\n` +
        `  metrics  ${urls.metrics}\n` +
        `  health   ${urls.health}\n` +
        `  topics   ${urls.topics}\n` +
        `  dashboard ${urls.dashboard}\n`,
    );
    return signals.done;
  },
};
