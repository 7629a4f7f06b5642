import { parseArgs } from 'node:util';
import { connect, type Tick } from '@tickgate/client';
import { topicError } from './core/topic.ts';

const USAGE = 'usage: tickgate tail <topic|pattern>... [--url ws://127.0.0.1:9001/v1/stream] [--max-rate N] [--json]';

interface Row {
  tick: Tick;
  updates: number;
}

function fmt(n: number | undefined, digits = 5): string {
  return n === undefined ? '' : n.toFixed(digits).replace(/0+$/, '').replace(/\.$/, '');
}

function render(rows: Map<string, Row>, status: string): string {
  const header = ['TOPIC', 'BID', 'ASK', 'PRICE', 'SIZE', 'SEQ', 'UPDATES', 'LAT ms'];
  const lines = [...rows.values()]
    .sort((a, b) => (a.tick.topic < b.tick.topic ? -1 : 1))
    .map(({ tick: t, updates }) => [t.topic, fmt(t.bid), fmt(t.ask), fmt(t.price), fmt(t.size ?? t.bidSize, 0), String(t.seq), String(updates), t.latencyMs.toFixed(2)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [status, '', row(header), ...lines.map(row)].join('\n');
}

/** `tickgate tail`: a live view of ticks for people (a table on a terminal, lines otherwise), or NDJSON with --json. */
export async function tail(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    options: { url: { type: 'string', default: 'ws://127.0.0.1:9001/v1/stream' }, 'max-rate': { type: 'string' }, json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true,
  });
  if (positionals.length === 0) throw new Error(`no topic given; ${USAGE}`);
  for (const t of positionals) {
    const err = topicError(t, true);
    if (err) throw new Error(err);
  }
  const maxRate = values['max-rate'] === undefined ? 0 : Number(values['max-rate']);
  if (!Number.isFinite(maxRate) || maxRate < 0) throw new Error(`--max-rate must be a non-negative number, got "${values['max-rate']}"`);

  const url = values.url!;
  const client = connect(url, { reconnect: { initialDelayMs: 250, maxDelayMs: 5000 } });
  const out = process.stdout;
  const tty = out.isTTY === true && !values.json;
  const rows = new Map<string, Row>();
  let status = `connecting to ${url}`;
  let everOpened = false;

  const done = new Promise<number>((resolve) => {
    client.on('close', (code, reason) => {
      if (!everOpened) {
        process.stderr.write(`tickgate: cannot connect to ${url} (${reason || `code ${code}`}); is the gateway running? start it with "npm start"\n`);
        void client.close().then(() => resolve(1));
      } else {
        status = `disconnected (${code}${reason ? ` ${reason}` : ''})`;
      }
    });
    const stop = () => {
      void client.close().then(() => resolve(0));
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });

  client.on('open', () => {
    everOpened = true;
    status = `connected to ${url}`;
  });
  client.on('reconnecting', (attempt, delay) => {
    if (everOpened) status = `reconnecting (attempt ${attempt}, in ${delay} ms)`;
  });
  client.on('gap', (topic, from, to, reason) => process.stderr.write(`gap on ${topic}: ${from ?? '?'}..${to ?? '?'} (${reason})\n`));
  client.on('error', (code, message) => process.stderr.write(`gateway error ${code}: ${message}\n`));
  client.on('stale', (topic, reason) => process.stderr.write(`${topic} is stale (${reason})\n`));

  client.subscribe(positionals, (tick) => {
    if (values.json) {
      out.write(`${JSON.stringify(tick)}\n`);
      return;
    }
    const row = rows.get(tick.topic);
    if (row) {
      row.tick = tick;
      row.updates++;
    } else {
      rows.set(tick.topic, { tick, updates: 1 });
    }
    if (!tty) out.write(`${tick.topic} seq=${tick.seq} ${tick.price !== undefined ? `price=${tick.price} size=${tick.size}` : `bid=${tick.bid} ask=${tick.ask}`}\n`);
  }, maxRate > 0 ? { maxRate } : {});

  let timer: NodeJS.Timeout | null = null;
  if (tty) {
    out.write('\x1b[?25l'); // hide the cursor while redrawing
    timer = setInterval(() => out.write(`\x1b[H\x1b[2J${render(rows, status)}\n`), 250);
  }
  const code = await done;
  if (timer) clearInterval(timer);
  if (tty) out.write('\x1b[?25h\n');
  return code;
}
