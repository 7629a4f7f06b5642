/**
 * The command layer's small parts, without processes: the argument helper, the shutdown-signal
 * helper, the tail table, the log formatter and JSONC config files. test/cli.test.ts runs the
 * real binary.
 */
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { exitQuietlyOnEpipe, parseCommandArgs, UsageError, wantsHelp, wsUrl } from '../src/commands/args.ts';
import { onShutdownSignals, type SignalTarget } from '../src/commands/signals.ts';
import type { Tick } from '@tickgate/client';
import { stripJsonComments } from '../src/config/load.ts';
import { runMain } from './run-main.ts';
import { createLogger, formatLogLine, resolveLogFormat } from '../src/logger.ts';
import { formatNumber, renderTable, tickLine, type TailRow } from '../src/tail.ts';

function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  const proc: SignalTarget = {
    on: (e, l) => emitter.on(e, l),
    off: (e, l) => emitter.off(e, l),
    exit: (code) => void exits.push(code),
  };
  return { emitter, exits, proc };
}

describe('onShutdownSignals', () => {
  it('runs stop once on the first signal and resolves with its code; a second signal exits 1 at once', async () => {
    const { emitter, exits, proc } = fakeProcess();
    let stops = 0;
    let finish!: () => void;
    const seen: string[] = [];
    const s = onShutdownSignals(
      (reason) => {
        stops++;
        seen.push(reason);
        return new Promise<void>((r) => (finish = r));
      },
      { process: proc, onSignal: (sig, second) => seen.push(`${sig}${second ? ' again' : ''}`) },
    );
    emitter.emit('SIGTERM', 'SIGTERM');
    expect(s.stopping).toBe(true);
    await Promise.resolve();
    emitter.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([1]);
    expect(stops).toBe(1);
    finish();
    expect(await s.done).toBe(0);
    expect(seen).toEqual(['SIGTERM', 'SIGTERM', 'SIGINT again']);
    s.dispose();
    expect(emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM')).toBe(0);
  });

  it('resolves 1 when stop fails, and shutdown() without a signal takes the given code', async () => {
    const { emitter, proc } = fakeProcess();
    const errors: unknown[] = [];
    const failing = onShutdownSignals(() => Promise.reject(new Error('drain failed')), { process: proc, onError: (e) => errors.push(e) });
    emitter.emit('SIGINT', 'SIGINT');
    expect(await failing.done).toBe(1);
    expect((errors[0] as Error).message).toBe('drain failed');
    failing.dispose();

    const fatal = onShutdownSignals(async () => 0, { process: proc });
    expect(await fatal.shutdown('unreachable', 1)).toBe(1);
    expect(await fatal.shutdown('again', 0)).toBe(1); // the first shutdown wins
    fatal.dispose();
  });
});

describe('argument helper', () => {
  it('turns parseArgs errors into one-line usage errors that point at the command help', () => {
    const opts = { port: { type: 'string' } } as const;
    expect(() => parseCommandArgs('serve', ['--bogus'], opts)).toThrow(
      new UsageError(`Unknown option '--bogus'; run "tickgate serve --help"`),
    );
    let err: unknown;
    try {
      parseCommandArgs('serve', ['extra'], opts);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(/^Unexpected argument 'extra'.*; run "tickgate serve --help"$/);
    expect((err as Error).message).not.toContain('\n');
    expect(parseCommandArgs('serve', ['--port', '1'], opts).values.port).toBe('1');
  });

  it('accepts only parseable ws:// and wss:// URLs, as a usage error (exit 2), not a runtime failure', () => {
    expect(wsUrl('tail', 'wss://gw.example:443/v1/stream')).toBe('wss://gw.example:443/v1/stream');
    for (const bad of ['http://127.0.0.1:9001', 'ws://[::1', 'ws://', '127.0.0.1:9001']) {
      expect(() => wsUrl('tail', bad), bad).toThrow(UsageError);
    }
  });

  it('sees --help/-h before a "--" separator only', () => {
    expect(wantsHelp(['fx.*.quote', '--help'])).toBe(true);
    expect(wantsHelp(['-h'])).toBe(true);
    expect(wantsHelp(['--', '-h'])).toBe(false);
    expect(wantsHelp(['--helpful'])).toBe(false);
  });

  it('exits 0 on EPIPE (a reader like head quit) and rethrows other stream errors', () => {
    const stream = new EventEmitter() as unknown as NodeJS.WritableStream;
    const codes: number[] = [];
    exitQuietlyOnEpipe(stream, (c) => codes.push(c));
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(codes).toEqual([0]);
    expect(() => stream.emit('error', Object.assign(new Error('no space'), { code: 'ENOSPC' }))).toThrow('no space');
  });
});

function tick(topic: string, fields: Partial<Tick>): Tick {
  return { topic, seq: 1, latencyMs: 0.5, ...fields } as Tick;
}

describe('tail table', () => {
  it('prints integer sizes whole (1300 was shown as "13", 600 as "6") and trims only decimals', () => {
    expect(formatNumber(1300, 0)).toBe('1300');
    expect(formatNumber(600, 0)).toBe('600');
    expect(formatNumber(0, 0)).toBe('0');
    expect(formatNumber(1.2345, 5)).toBe('1.2345');
    expect(formatNumber(228.1, 5)).toBe('228.1');
    expect(formatNumber(100, 5)).toBe('100');
    expect(formatNumber(undefined)).toBe('');
    expect(tickLine(tick('equity.AAPL.trade', { price: 228.5, size: 1300 }))).toBe('equity.AAPL.trade seq=1 price=228.5 size=1300');
    const rows = new Map<string, TailRow>([
      ['equity.AAPL.trade', { tick: tick('equity.AAPL.trade', { price: 228.5, size: 600 }), updates: 3 }],
    ]);
    const [, , header, row] = renderTable(rows, 'connected');
    expect(header).toMatch(/^TOPIC\s+BID\s+ASK\s+PRICE\s+SIZE\s+SEQ\s+UPDATES\s+LAT ms$/);
    expect(row).toMatch(/^equity\.AAPL\.trade\s+228\.5\s+600\s+1\s+3\s+0\.50$/);
  });

  it('keeps the header on screen: more topics than rows are cut and counted; lines never wrap', () => {
    const rows = new Map<string, TailRow>();
    for (let i = 0; i < 50; i++) {
      const topic = `fx.P${String(i).padStart(2, '0')}.quote`;
      rows.set(topic, { tick: tick(topic, { bid: 1.1, ask: 1.2 }), updates: 1 });
    }
    const lines = renderTable(rows, 'connected to ws://x', 10, 40);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toBe('connected to ws://x');
    expect(lines[2]).toMatch(/^TOPIC/);
    expect(lines[3]).toMatch(/^fx\.P00\.quote/);
    expect(lines[9]).toMatch(/^… 44 more topics/);
    expect(lines.every((l) => l.length <= 40)).toBe(true);
    expect(renderTable(rows, 's')).toHaveLength(53);
  });
});

describe('logs', () => {
  it('auto is pretty on a terminal and JSON otherwise; an explicit setting wins', () => {
    expect(resolveLogFormat('auto', true)).toBe('pretty');
    expect(resolveLogFormat('auto', false)).toBe('json');
    expect(resolveLogFormat('json', true)).toBe('json');
    expect(resolveLogFormat('pretty', false)).toBe('pretty');
  });

  it('pretty: time, level, message, then the fields; an error with its stack', () => {
    const lines: string[] = [];
    const logger = createLogger('info', 'pretty', { write: (s) => lines.push(s) });
    logger.info({ signal: 'SIGTERM', feed: 'sim fx' }, 'shutting down');
    const err = new Error('boom');
    logger.error({ err }, 'feed failed');
    logger.debug('not shown');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z INFO {2}shutting down signal=SIGTERM feed="sim fx"\n$/);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}Z ERROR feed failed err=boom\n {4}Error: boom\n {4}\s*at /);
    expect(lines.join('')).not.toContain('"level"');
    expect(formatLogLine('not json')).toBe('not json\n');
  });

  it('json: one parseable object per line', () => {
    const lines: string[] = [];
    createLogger('info', 'json', { write: (s) => lines.push(s) }).warn({ feed: 'sim-fx' }, 'slow');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, app: 'tickgate', feed: 'sim-fx', msg: 'slow' });
  });
});

describe('config files with comments', () => {
  it('blanks // and /* */ comments outside strings, keeping positions and strings', () => {
    const text = '{\n  // a comment\n  "url": "ws://h/x", /* inline */ "a": "b // not a comment",\n  "c": "\\" // still a string"\n}';
    const stripped = stripJsonComments(text);
    expect(stripped).toHaveLength(text.length);
    expect(JSON.parse(stripped)).toEqual({ url: 'ws://h/x', a: 'b // not a comment', c: '" // still a string' });
  });
});

describe('tickgate <command> (in-process)', () => {
  it('--help lists every command', async () => {
    const h = await runMain(['--help']);
    expect(h.code).toBe(0);
    for (const name of ['serve', 'ingest', 'tail', 'record', 'config']) expect(h.out).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect((await runMain(['help', 'tail'])).out).toMatch(/^Usage: tickgate tail/);
  });

  it('every subcommand has its own --help (exit 0), and bad flags exit 2 with one line saying what to fix', async () => {
    const helps = [];
    for (const name of ['serve', 'ingest', 'tail', 'record', 'config']) helps.push({ name, p: await runMain([name, '--help']) });
    for (const { name, p } of helps) {
      expect(p.code, name).toBe(0);
      expect(p.out, name).toMatch(new RegExp(`^Usage:\\s+tickgate ${name}\\b`));
      expect(p.out, name).toMatch(/Exit codes: 0 .*1 .*2 /);
    }
    expect(helps[0]!.p.out).toContain('--workers');
    expect(helps[1]!.p.out).toContain('--bus');
    expect(helps[2]!.p.out).toContain('--max-rate');
    expect(helps[3]!.p.out).toContain('--rotate-mb');
    expect(helps[4]!.p.out).toContain('config check FILE');
    const tailHelp = await runMain(['tail', 'fx.*.quote', '-h']);
    expect(tailHelp.code).toBe(0);
    expect(tailHelp.out).toMatch(/^Usage: tickgate tail/);

    const bad: [string[], RegExp][] = [
      [['ingest', '--bogus'], /^tickgate: Unknown option '--bogus'; run "tickgate ingest --help"$/],
      [['tail', 'fx.*.quote', '--max-rate', 'fast'], /^tickgate: --max-rate must be a non-negative number \(got "fast"\)$/],
      [['tail', 'fx.*.quote', '--url', 'http://127.0.0.1:9001'], /^tickgate: --url must be a ws:\/\/ or wss:\/\/ URL/],
      [['tail'], /^tickgate: tail needs at least one topic or pattern/],
      [
        ['record', '--topics', 'fx.*.quote', '--out', '/tmp/x.msgpack', '--rotate-mb', 'x'],
        /^tickgate: --rotate-mb must be a positive number \(got "x"\)/,
      ],
      [['config', 'frob'], /^tickgate: unknown config subcommand "frob"; use init, check or print$/],
      [['frob'], /^tickgate: unknown command "frob"; commands: serve, ingest, tail, record, config/],
      [
        ['serve', '--config', '/nonexistent/tickgate.json'],
        /^tickgate: cannot read config file \/nonexistent\/tickgate\.json: ENOENT \(no such file; "tickgate config init" writes a starter\)$/,
      ],
    ];
    const runs = [];
    for (const [args, re] of bad) runs.push({ args, re, p: await runMain(args) });
    for (const { args, re, p } of runs) {
      expect(p.code, args.join(' ')).toBe(2);
      const lines = p.err.trim().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0], args.join(' ')).toMatch(re);
    }
  });
});
