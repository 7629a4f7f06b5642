import { Ingest } from '../ingest.ts';
import { installProcessGuards } from '../process-guards.ts';
import { VERSION } from '../version.ts';
import { parseCommandArgs, type Command } from './args.ts';
import {
  BUILTIN_FEEDS,
  CONFIG_FLAG_HELP,
  CONFIG_FLAG_OPTIONS,
  withCommandLogger,
  configFromCommandLine,
  moduleBaseDir,
} from './config-flags.ts';
import { onShutdownSignals, type ShutdownSignals } from './signals.ts';

/** The ingest HTTP port when none is configured: a gateway on the same host keeps 9001. */
const INGEST_DEFAULT_PORT = 9101;

/** Exit code when another ingest took the failover lease (--lease): a supervisor restarts it as the standby. */
export const EXIT_LEASE_LOST = 3;

const { workers: _w, ...configOptions } = CONFIG_FLAG_OPTIONS;
const options = {
  ...configOptions,
  // Failover mode (bus.nats.lease.enabled): see docs/scaling.md "Ingest failover".
  lease: { type: 'boolean' },
} as const;

/** `--lease` sets bus.nats.lease.enabled on top of whatever --bus gave. */
function withLease(flags: Record<string, unknown>): Record<string, unknown> {
  const bus = (flags.bus ?? {}) as { nats?: Record<string, unknown> };
  return { ...flags, bus: { ...bus, nats: { ...bus.nats, lease: { enabled: true } } } };
}

export const ingestCommand: Command = {
  name: 'ingest',
  summary: 'run the feeds only, publishing stamped frames to NATS (no WebSocket listener)',
  help: `Usage: tickgate ingest --bus nats://host:4222 [options]

Runs the feed adapters and publishes their stamped, encoded frames to NATS subjects
<subjectPrefix>.<topic>; gateways started with "tickgate serve --bus nats://..." serve them.
Serves only /healthz and /metrics. Run exactly one ingest per subject prefix (docs/scaling.md),
or several with --lease: one publishes, the others stand by and take over when it dies.

Options:
${CONFIG_FLAG_HELP.bus} (required: here or in the config)
${CONFIG_FLAG_HELP.config}
${CONFIG_FLAG_HELP.feeds}
${CONFIG_FLAG_HELP.host}
  --port <n>             /healthz and /metrics port (default 9101; env TICKGATE_PORT)
${CONFIG_FLAG_HELP['log-level']}
${CONFIG_FLAG_HELP['log-format']}
  --lease                failover: hold a lease in the JetStream stream; only the holder publishes,
                         a standby takes over within bus.nats.lease.ttlMs (bus.nats.lease.enabled)
  -h, --help             this help

Signals: SIGINT/SIGTERM stop the feeds, flush NATS and exit 0 (a second one exits 1 at once).
Exit codes: 0 clean shutdown, 1 runtime failure, 2 bad flags or config, 3 lost the --lease to
another ingest (it stopped publishing; restart it to stand by).
`,
  async run(args) {
    const { values } = parseCommandArgs('ingest', args, options);
    let { config } = configFromCommandLine(values, process.env, values.lease === true ? withLease : undefined);
    if (values.port === undefined && process.env.TICKGATE_PORT === undefined && config.port === 9001)
      config = { ...config, port: INGEST_DEFAULT_PORT };
    const withLogger = withCommandLogger(config);
    config = withLogger.config;
    const { logger } = withLogger;
    const ingest: Ingest = new Ingest(config, {
      logger,
      feedDefinitions: BUILTIN_FEEDS,
      moduleBaseDir: moduleBaseDir(values.config),
      onFenced: () => {
        process.stderr.write(
          `tickgate ingest: another ingest holds the failover lease; this one stopped publishing (exit ${EXIT_LEASE_LOST})\n`,
        );
        void signals.shutdown('lease lost', EXIT_LEASE_LOST);
      },
    });
    installProcessGuards({ logger });
    const signals: ShutdownSignals = onShutdownSignals(() => ingest.stop(), {
      onSignal: (signal, second) =>
        second ? logger.warn({ signal }, 'second signal: exiting now') : logger.info({ signal }, 'shutting down'),
      onError: (err) => logger.error({ err }, 'shutdown failed'),
    });
    process.stdout.write(`tickgate ${VERSION} ingest: waiting for NATS at ${config.bus.nats.url}\n`);
    // A signal while still waiting for NATS stops it too: start() then rejects or resolves late.
    const started = await Promise.race([ingest.start().then((r) => ({ port: r.port })), signals.done.then((code) => ({ code }))]);
    if ('code' in started) return started.code;
    const js = config.bus.nats.jetstream;
    process.stdout.write(
      `tickgate ${VERSION} ingest publishing\n` +
        `  nats     ${config.bus.nats.url} subjects ${ingest.subjects.all}${js.enabled ? ` (JetStream stream ${js.stream})` : ''}\n` +
        `  feeds    ${config.feeds.map((f) => f.id ?? f.adapter).join(', ') || '(none)'}\n` +
        `  metrics  http://${config.host}:${started.port}/metrics\n` +
        `  health   http://${config.host}:${started.port}/healthz\n`,
    );
    return signals.done;
  },
};
