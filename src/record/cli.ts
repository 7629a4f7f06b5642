import { rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { topicError } from '../core/topic.ts';
import { Recorder, type RecorderLogger } from './recorder.ts';
import { RecordingWriter, type RecordedFile } from './writer.ts';

/** The `record` lines of `tickgate --help` (src/cli.ts prints them). */
export const RECORD_USAGE = `  tickgate record --topics <patterns> --out <file> [--url ws://...] [--gzip] [--rotate-mb N] [--rotate-minutes N]
                               record a running gateway's ticks to a MessagePack file (see docs/feeds.md)`;

export const RECORD_OPTIONS = `Options for record:
  --topics <a,b>         topics and patterns to record, e.g. equity.*.quote,fx.EURUSD.quote (required)
  --out <file>           output file, e.g. ticks.msgpack; never overwritten (required)
  --url <ws-url>         the gateway's stream (default ws://127.0.0.1:9001/v1/stream)
  --gzip                 gzip the file (".gz" is appended when missing)
  --rotate-mb <n>        start a new file every n MB (files are then named <stem>.<UTC time>.<nnnn><ext>)
  --rotate-minutes <n>   start a new file every n minutes
  Stop with Ctrl-C (SIGINT) or SIGTERM: buffered ticks are written and the files closed.
`;

const DEFAULT_URL = 'ws://127.0.0.1:9001/v1/stream';

function usageError(message: string): never {
  process.stderr.write(`tickgate: ${message}; run "tickgate record --help"\n`);
  process.exit(2);
}

function positiveNumber(raw: string | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) usageError(`${flag} must be a positive number (got "${raw}")`);
  return n;
}

function stderrLogger(): RecorderLogger {
  const line = (level: string) => (obj: object, msg: string) => {
    const details = Object.keys(obj).length > 0 ? ` ${JSON.stringify(obj)}` : '';
    process.stderr.write(`tickgate record: ${level}: ${msg}${details}\n`);
  };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}

function describeFiles(files: RecordedFile[]): string {
  return files.map((f) => `  ${f.path}  ${f.ticks} ticks, ${f.bytes} bytes\n`).join('');
}

/** `tickgate record ...`: runs until SIGINT/SIGTERM. Exit codes: 0 stopped cleanly, 1 runtime failure, 2 usage. */
export async function recordCommand(args: string[]): Promise<void> {
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`Usage:\n${RECORD_USAGE}\n\n${RECORD_OPTIONS}`);
    return;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        topics: { type: 'string' },
        out: { type: 'string' },
        url: { type: 'string' },
        gzip: { type: 'boolean' },
        'rotate-mb': { type: 'string' },
        'rotate-minutes': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usageError((err as Error).message);
  }
  if (!values.topics) usageError('record needs --topics, e.g. --topics "equity.*.quote,fx.*.quote"');
  if (!values.out) usageError('record needs --out <file>');
  const topics = values.topics.split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of topics) {
    const err = topicError(t, true);
    if (err) usageError(`--topics: ${err}`);
  }
  const url = values.url ?? DEFAULT_URL;
  if (!/^wss?:\/\//.test(url)) usageError(`--url must start with ws:// or wss:// (got "${url}")`);
  const rotateMb = positiveNumber(values['rotate-mb'], '--rotate-mb');
  const rotateMinutes = positiveNumber(values['rotate-minutes'], '--rotate-minutes');
  const logger = stderrLogger();

  let recorder: Recorder | null = null;
  let writer: RecordingWriter;
  try {
    writer = await RecordingWriter.open({
      out: values.out,
      gzip: values.gzip === true,
      ...(rotateMb !== undefined ? { rotateBytes: Math.round(rotateMb * 1024 * 1024) } : {}),
      ...(rotateMinutes !== undefined ? { rotateMs: Math.round(rotateMinutes * 60_000) } : {}),
      source: url,
      topics,
      onError: (err) => {
        logger.error({ err: err.message }, 'writing the recording failed; stopping');
        void (recorder?.stop() ?? writer.close()).catch(() => {}).finally(() => process.exit(1));
      },
      onFileClosed: (f) => {
        if (recorder !== null) logger.info({ path: f.path, ticks: f.ticks, bytes: f.bytes }, 'file finished');
      },
    });
  } catch (err) {
    process.stderr.write(`tickgate: ${(err as Error).message}\n`);
    process.exit(2);
  }
  try {
    recorder = await Recorder.start({ url, topics, writer, logger, onFatal: () => process.exit(1) });
  } catch (err) {
    // Nothing was recorded: leave no header-only file behind.
    const files = await writer.close().catch(() => []);
    for (const f of files) if (f.ticks === 0) rmSync(f.path, { force: true });
    process.stderr.write(`tickgate: ${(err as Error).message}\n`);
    process.exit(1);
  }

  const active = recorder;
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`tickgate record: second ${signal}: exiting without closing the files\n`);
      process.exit(1);
    }
    stopping = true;
    active.stop().then(
      (files) => {
        const { ticks, missed } = active.stats();
        process.stdout.write(`tickgate record: recorded ${ticks} ticks${missed > 0 ? ` (${missed} missed)` : ''} in ${files.length} file(s)\n${describeFiles(files)}`);
        process.exit(0);
      },
      (err: unknown) => {
        process.stderr.write(`tickgate: closing the recording failed: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  // The banner last: whoever waits for it can signal us right away.
  process.stdout.write(`tickgate record: ${url} -> ${writer.currentPath} (${topics.join(', ')}); Ctrl-C to stop\n`);
}
