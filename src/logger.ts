import pino, { type Logger } from 'pino';

export type { Logger };

/** `json`: one JSON object per line (pino's own output, for log shippers); `pretty`: for people. */
export type LogFormat = 'json' | 'pretty';
/** The `logFormat` setting: `auto` is pretty on a terminal and JSON anywhere else. */
export type LogFormatSetting = LogFormat | 'auto';

export function resolveLogFormat(setting: LogFormatSetting, isTTY: boolean): LogFormat {
  return setting === 'auto' ? (isTTY ? 'pretty' : 'json') : setting;
}

interface LineSink {
  write(line: string): unknown;
  isTTY?: boolean;
}

/**
 * JSON lines on stdout by default (`silent` for tests). `pretty` formats each line pino writes;
 * that costs a JSON.parse per line, which is fine for a terminal and is why it is never the
 * default for a pipe or a file.
 */
export function createLogger(level: string, format: LogFormat = 'json', out: LineSink = process.stdout): Logger {
  const options = { level, base: { app: 'tickgate' } };
  if (format === 'json') return out === process.stdout ? pino(options) : pino(options, { write: (s: string) => out.write(s) });
  const color = out.isTTY === true && !process.env.NO_COLOR;
  return pino(options, { write: (s: string) => out.write(formatLogLine(s, color)) });
}

const LEVELS: Record<number, [string, string]> = {
  10: ['TRACE', '\x1b[90m'],
  20: ['DEBUG', '\x1b[36m'],
  30: ['INFO ', '\x1b[32m'],
  40: ['WARN ', '\x1b[33m'],
  50: ['ERROR', '\x1b[31m'],
  60: ['FATAL', '\x1b[35m'],
};
/** Fields every line has, or that the line's prefix already shows. */
const HIDDEN = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'app', 'v']);

function showValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON line → `02:50:01.123Z INFO  message key=value ...` (+ an error's stack, indented). */
export function formatLogLine(line: string, color = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  const [name, tint] = LEVELS[rec.level as number] ?? [String(rec.level), ''];
  const time = typeof rec.time === 'number' ? new Date(rec.time).toISOString().slice(11) : '';
  const fields: string[] = [];
  let stack = '';
  for (const [k, v] of Object.entries(rec)) {
    if (HIDDEN.has(k)) continue;
    if (v !== null && typeof v === 'object' && typeof (v as { stack?: unknown }).stack === 'string') {
      const e = v as { message?: string; stack: string };
      fields.push(`${k}=${showValue(e.message ?? '')}`);
      stack += `\n${e.stack
        .split('\n')
        .map((l) => `    ${l}`)
        .join('\n')}`;
    } else {
      fields.push(`${k}=${showValue(v)}`);
    }
  }
  const level = color ? `${tint}${name}\x1b[0m` : name;
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  const rest = fields.length > 0 ? ` ${color ? `\x1b[2m${fields.join(' ')}\x1b[0m` : fields.join(' ')}` : '';
  return `${time} ${level} ${msg}${rest}${stack}\n`;
}
