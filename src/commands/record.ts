import { rmSync } from 'node:fs';
import { topicError } from '../core/topic.ts';
import { Recorder, type RecorderLogger } from '../record/recorder.ts';
import { RecordingWriter, type RecordedFile } from '../record/writer.ts';
import { EXIT_FAILURE, parseCommandArgs, positiveNumber, UsageError, wsUrl, type Command } from './args.ts';
import { onShutdownSignals } from './signals.ts';

const DEFAULT_URL = 'ws://127.0.0.1:9001/v1/stream';

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

export const recordCommand: Command = {
  name: 'record',
  summary: "record a running gateway's ticks to a MessagePack file (see docs/feeds.md)",
  help: `Usage: tickgate record --topics <patterns> --out <file> [options]

Records a running gateway's ticks to a MessagePack file that the "replay" feed plays back.

Options:
  --topics <a,b>         topics and patterns to record, e.g. equity.*.quote,fx.EURUSD.quote (required)
  --out <file>           output file, e.g. ticks.msgpack; never overwritten (required)
  --url <ws-url>         the gateway's stream (default ${DEFAULT_URL})
  --gzip                 gzip the file (".gz" is appended when missing)
  --rotate-mb <n>        start a new file every n MB (files are then named <stem>.<UTC time>.<nnnn><ext>)
  --rotate-minutes <n>   start a new file every n minutes
  -h, --help             this help

Stop with Ctrl-C (SIGINT) or SIGTERM: buffered ticks are written and the files closed (a second
signal exits 1 at once, without closing them).
Exit codes: 0 stopped cleanly, 1 runtime failure (cannot connect, cannot write), 2 bad flags.
`,
  async run(args) {
    const { values } = parseCommandArgs('record', args, {
      topics: { type: 'string' },
      out: { type: 'string' },
      url: { type: 'string' },
      gzip: { type: 'boolean' },
      'rotate-mb': { type: 'string' },
      'rotate-minutes': { type: 'string' },
    });
    if (!values.topics)
      throw new UsageError('record needs --topics, e.g. --topics "equity.*.quote,fx.*.quote"; run "tickgate record --help"');
    if (!values.out) throw new UsageError('record needs --out <file>; run "tickgate record --help"');
    const topics = values.topics
      .split(',')
      .map((t) => t.trim())
      .filter((t) => t !== '');
    for (const t of topics) {
      const err = topicError(t, true);
      if (err) throw new UsageError(`--topics: ${err}`);
    }
    const url = wsUrl('record', values.url ?? DEFAULT_URL);
    const rotateMb = positiveNumber('record', '--rotate-mb', values['rotate-mb']);
    const rotateMinutes = positiveNumber('record', '--rotate-minutes', values['rotate-minutes']);
    const logger = stderrLogger();

    let recorder: Recorder | null = null;
    let failWriting: ((err: Error) => void) | null = null;
    let writer: RecordingWriter;
    try {
      writer = await RecordingWriter.open({
        out: values.out,
        gzip: values.gzip === true,
        ...(rotateMb !== undefined ? { rotateBytes: Math.round(rotateMb * 1024 * 1024) } : {}),
        ...(rotateMinutes !== undefined ? { rotateMs: Math.round(rotateMinutes * 60_000) } : {}),
        source: url,
        topics,
        onError: (err) => failWriting?.(err),
        onFileClosed: (f) => {
          if (recorder !== null) logger.info({ path: f.path, ticks: f.ticks, bytes: f.bytes }, 'file finished');
        },
      });
    } catch (err) {
      // An existing --out file, a missing directory: the user picks another path.
      throw new UsageError((err as Error).message);
    }
    try {
      recorder = await Recorder.start({ url, topics, writer, logger, onFatal: () => void signals.shutdown('fatal', EXIT_FAILURE) });
    } catch (err) {
      // Nothing was recorded: leave no header-only file behind.
      const files = await writer.close().catch(() => []);
      for (const f of files) if (f.ticks === 0) rmSync(f.path, { force: true });
      process.stderr.write(`tickgate: ${(err as Error).message}\n`);
      return EXIT_FAILURE;
    }

    const active = recorder;
    const signals = onShutdownSignals(
      async (reason) => {
        const files = await active.stop();
        const { ticks, missed } = active.stats();
        const out = reason === 'fatal' ? process.stderr : process.stdout;
        out.write(
          `tickgate record: recorded ${ticks} ticks${missed > 0 ? ` (${missed} missed)` : ''} in ${files.length} file(s)\n${describeFiles(files)}`,
        );
      },
      {
        onSignal: (signal, second) => {
          if (second) process.stderr.write(`tickgate record: second ${signal}: exiting without closing the files\n`);
        },
        onError: (err) => process.stderr.write(`tickgate: closing the recording failed: ${(err as Error).message}\n`),
      },
    );
    failWriting = (err) => {
      logger.error({ err: err.message }, 'writing the recording failed; stopping');
      void signals.shutdown('fatal', EXIT_FAILURE);
    };
    // The banner last: whoever waits for it can signal us right away.
    process.stdout.write(`tickgate record: ${url} -> ${writer.currentPath} (${topics.join(', ')}); Ctrl-C to stop\n`);
    return signals.done;
  },
};
