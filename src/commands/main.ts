import { ConfigError } from '../config/load.ts';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, wantsHelp, type Command } from './args.ts';
import { configCommand } from './config.ts';
import { ingestCommand } from './ingest.ts';
import { recordCommand } from './record.ts';
import { serveCommand } from './serve.ts';
import { tailCommand } from './tail.ts';
import { VERSION } from '../version.ts';

/** Every subcommand, one file each in src/commands/ (args.ts states their shared convention). */
const COMMANDS: readonly Command[] = [serveCommand, ingestCommand, tailCommand, recordCommand, configCommand];

function globalHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `tickgate ${VERSION} — live market-data streaming gateway

Usage: tickgate <command> [options]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Examples:
  tickgate serve --port 9001 --config tickgate.config.jsonc
  tickgate serve --bus nats://127.0.0.1:4222          (serve what "tickgate ingest" publishes)
  tickgate tail 'fx.*.quote'
  tickgate config init && tickgate config check tickgate.config.jsonc

Run "tickgate <command> --help" for a command's options.
Exit codes: 0 ok, 1 runtime failure, 2 usage or config error (3: ingest --lease lost its lease).
  tickgate --help | --version
`;
}

/** Runs one command line and resolves with the process exit code (src/cli.ts exits with it). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    process.stdout.write(topic ? topic.help : globalHelp());
    return EXIT_OK;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (command === undefined) {
    process.stderr.write(
      `tickgate: unknown command "${name}"; commands: ${COMMANDS.map((c) => c.name).join(', ')}; run "tickgate --help"\n`,
    );
    return EXIT_USAGE;
  }
  if (wantsHelp(rest)) {
    process.stdout.write(command.help);
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) {
      process.stderr.write(`tickgate: ${err.message}\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`tickgate: ${(err as Error).message ?? String(err)}\n`);
    return EXIT_FAILURE;
  }
}
