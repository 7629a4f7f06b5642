import { connect } from '@tickgate/client';
import { topicError } from '../core/topic.ts';
import { renderTable, tickLine, type TailRow } from '../tail.ts';
import { EXIT_FAILURE, exitQuietlyOnEpipe, parseCommandArgs, UsageError, wsUrl, type Command } from './args.ts';
import { onShutdownSignals } from './signals.ts';

const DEFAULT_URL = 'ws://127.0.0.1:9001/v1/stream';
const REDRAW_MS = 250;

export const tailCommand: Command = {
  name: 'tail',
  summary: 'show live ticks as a table (NDJSON with --json); Ctrl-C to quit',
  help: `Usage: tickgate tail <topic|pattern>... [options]

Shows a running gateway's live ticks: a table that redraws in place on a terminal (the header
stays at the top; topics that do not fit are counted on the last line), one line per tick when
piped, or NDJSON with --json.

Options:
  --url <ws-url>         the gateway's stream (default ${DEFAULT_URL})
  --max-rate <n>         at most n updates per second per topic (conflated by the gateway)
  --json                 one JSON object per tick, for scripts (e.g. | jq .price)
  -h, --help             this help

Examples:
  tickgate tail 'fx.*.quote' equity.AAPL.quote
  tickgate tail 'equity.*.trade' --json | head -5

Exit codes: 0 quit (Ctrl-C, SIGTERM, or the reader of a pipe quit), 1 gateway unreachable, 2 bad flags.
`,
  async run(args) {
    const { values, positionals } = parseCommandArgs(
      'tail',
      args,
      { url: { type: 'string' }, 'max-rate': { type: 'string' }, json: { type: 'boolean' } },
      true,
    );
    if (positionals.length === 0)
      throw new UsageError('tail needs at least one topic or pattern, e.g. tickgate tail "fx.*.quote"; run "tickgate tail --help"');
    for (const t of positionals) {
      const err = topicError(t, true);
      if (err) throw new UsageError(err);
    }
    const rawRate = values['max-rate'];
    const maxRate = rawRate === undefined ? 0 : Number(rawRate);
    if (rawRate?.trim() === '' || !Number.isFinite(maxRate) || maxRate < 0)
      throw new UsageError(`--max-rate must be a non-negative number (got "${rawRate}")`);
    const url = wsUrl('tail', values.url ?? DEFAULT_URL);
    const json = values.json === true;

    const out = process.stdout;
    exitQuietlyOnEpipe(out);
    const tty = out.isTTY === true && !json;
    const client = connect(url, { reconnect: { initialDelayMs: 250, maxDelayMs: 5000 } });
    const rows = new Map<string, TailRow>();
    let status = `connecting to ${url}`;
    let everOpened = false;
    let timer: NodeJS.Timeout | null = null;

    const signals = onShutdownSignals(async () => {
      if (timer) clearInterval(timer);
      if (tty) out.write('\x1b[?25h\n'); // the cursor back
      await client.close();
    });

    client.on('open', () => {
      everOpened = true;
      status = `connected to ${url}`;
    });
    client.on('close', (code, reason) => {
      if (!everOpened) {
        process.stderr.write(
          `tickgate: cannot connect to ${url} (${reason || `code ${code}`}); is the gateway running? start it with "npm start"\n`,
        );
        void signals.shutdown('unreachable', EXIT_FAILURE);
      } else {
        status = `disconnected (${code}${reason ? ` ${reason}` : ''})`;
      }
    });
    client.on('reconnecting', (attempt, delay) => {
      if (everOpened) status = `reconnecting (attempt ${attempt}, in ${delay} ms)`;
    });
    client.on('gap', (topic, from, to, reason) => process.stderr.write(`gap on ${topic}: ${from ?? '?'}..${to ?? '?'} (${reason})\n`));
    client.on('error', (code, message) => process.stderr.write(`gateway error ${code}: ${message}\n`));
    client.on('stale', (topic, reason) => process.stderr.write(`${topic} is stale (${reason})\n`));

    client.subscribe(
      positionals,
      (tick) => {
        if (json) {
          out.write(`${JSON.stringify(tick)}\n`);
          return;
        }
        if (!tty) {
          out.write(`${tickLine(tick)}\n`);
          return;
        }
        const row = rows.get(tick.topic);
        if (row) {
          row.tick = tick;
          row.updates++;
        } else {
          rows.set(tick.topic, { tick, updates: 1 });
        }
      },
      maxRate > 0 ? { maxRate } : {},
    );

    if (tty) {
      out.write('\x1b[?25l\x1b[2J'); // hide the cursor while redrawing; clear once
      // Home, each line over the old one (\x1b[K clears its rest), then clear below: no flicker.
      const draw = () =>
        out.write(
          `\x1b[H${renderTable(rows, status, out.rows, out.columns)
            .map((l) => `${l}\x1b[K`)
            .join('\n')}\x1b[J`,
        );
      draw();
      timer = setInterval(draw, REDRAW_MS);
    }
    return signals.done;
  },
};
