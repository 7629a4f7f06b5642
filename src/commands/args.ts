import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError } from '../config/load.ts';

/**
 * The convention every `tickgate` subcommand follows (src/commands/<name>.ts):
 * - `run(args)` resolves with the exit code once the command is done (a long-running command
 *   resolves after its shutdown): 0 ok, 1 runtime failure, 2 usage or config error.
 * - A usage mistake throws UsageError, a config mistake ConfigError: main.ts prints
 *   `tickgate: <one line>` and exits 2. Anything else thrown is a runtime failure: exit 1.
 * - `--help`/`-h` anywhere among the arguments prints the command's own help and exits 0.
 */
export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export interface Command {
  name: string;
  /** One line for `tickgate --help`. */
  summary: string;
  /** The full text of `tickgate <name> --help`. */
  help: string;
  run(args: string[]): Promise<number>;
}

/** A mistake on the command line; the message says what to fix (exit 2). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function wantsHelp(args: readonly string[]): boolean {
  // Only before a `--` separator: after it, `-h` would be a positional argument.
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs in strict mode, with its errors turned into one-line UsageErrors that
 * point at the command's help.
 */
type ParsedArgs<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; strict: true; allowPositionals: boolean }>>;

export function parseCommandArgs<O extends Options>(command: string, args: string[], options: O, allowPositionals = false): ParsedArgs<O> {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (err) {
    if (err instanceof TypeError && 'code' in err && String(err.code).startsWith('ERR_PARSE_ARGS')) {
      const first = err.message
        .split('\n')[0]!
        .replace(/\. To specify a positional argument.*$/, '')
        .replace(/\.$/, '');
      throw new UsageError(`${first}; run "tickgate ${command} --help"`);
    }
    throw err;
  }
}

/** `--port 9001` → 9001; anything else stays a string, so the config schema names the key and the bad value. */
export function numberOrRaw(v: string): number | string {
  return /^\d+$/.test(v) ? Number(v) : v;
}

export function positiveNumber(command: string, flag: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number (got "${raw}"); run "tickgate ${command} --help"`);
  return n;
}

export function wsUrl(command: string, raw: string): string {
  let valid = /^wss?:\/\/[^/\s]+/.test(raw);
  try {
    new URL(raw);
  } catch {
    valid = false;
  }
  if (!valid) {
    throw new UsageError(
      `--url must be a ws:// or wss:// URL, e.g. ws://127.0.0.1:9001/v1/stream (got "${raw.slice(0, 80)}"); run "tickgate ${command} --help"`,
    );
  }
  return raw;
}

/** `--bus nats://host:4222[,nats://other:4222]` or `--bus memory`, as a config fragment. */
export function busFlag(value: string): Record<string, unknown> {
  if (value === 'memory') return { kind: 'memory' };
  if (!/^(nats|tls|wss?):\/\//.test(value))
    throw new ConfigError(`invalid config: bus: --bus takes nats://host:port (or "memory"), got "${value.slice(0, 60)}"`);
  return { kind: 'nats', nats: { url: value } };
}

/**
 * Output piped into a reader that quits early (`tickgate tail ... | head`) gets EPIPE on the
 * next write. That is the reader's way of saying "enough", not a failure: exit 0 quietly
 * instead of dying with a stack trace.
 */
const epipeHandled = new WeakSet<NodeJS.WritableStream>();

export function exitQuietlyOnEpipe(
  stream: NodeJS.WritableStream = process.stdout,
  exit: (code: number) => void = (c) => process.exit(c),
): void {
  if (epipeHandled.has(stream)) return;
  epipeHandled.add(stream);
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') exit(EXIT_OK);
    else throw err;
  });
}
