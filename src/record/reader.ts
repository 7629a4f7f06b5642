import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { constants as zlibConstants, createGunzip } from 'node:zlib';
import type { FeedTick } from '../core/tick.ts';
import { isValidTopic } from '../core/topic.ts';
import { createRecordUnpackr, decodeRecord } from './format.ts';

export type TickFileFormat = 'msgpack' | 'csv' | 'ndjson';

export interface ReadWarning {
  file: string;
  /**
   * - `invalid_record`: one record or line was skipped (bad topic, missing field, not a number, ...)
   * - `truncated`: the file ends inside a record (a crash while recording); that record was skipped
   * - `corrupt`: the data cannot be decoded from here on; the rest of the file was skipped
   */
  kind: 'invalid_record' | 'truncated' | 'corrupt';
  message: string;
  /** 1-based line (CSV, NDJSON). */
  line?: number;
  /** Byte offset in the decompressed data (MessagePack). */
  offset?: number;
}

export interface ReadTicksOptions {
  /** Default `auto`: by extension (`.csv`, `.ndjson`/`.jsonl`, anything else MessagePack), ignoring `.gz`. Gzip is detected from the content. */
  format?: 'auto' | TickFileFormat;
  onWarning?: (warning: ReadWarning) => void;
  signal?: AbortSignal;
  /** Most ticks per yielded batch; default 512. */
  batchSize?: number;
}

/** Beyond this, an unfinished MessagePack value is treated as corrupt rather than waited for. */
const MAX_INCOMPLETE_BYTES = 16 * 1024 * 1024;

export function formatOf(path: string): TickFileFormat {
  const name = path.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.ndjson') || name.endsWith('.jsonl')) return 'ndjson';
  return 'msgpack';
}

async function isGzip(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { bytesRead, buffer } = await handle.read(Buffer.alloc(2), 0, 2, 0);
    return bytesRead === 2 && buffer[0] === 0x1f && buffer[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

/** The file's bytes, gunzipped when it is gzip. A truncated gzip stream yields what it holds, without an error. */
async function openBytes(path: string): Promise<Readable> {
  const gz = await isGzip(path);
  const source = createReadStream(path, { highWaterMark: 256 * 1024 });
  if (!gz) return source;
  // Z_SYNC_FLUSH at the end: a file cut off by a crash decodes up to where it stops.
  const gunzip = createGunzip({ finishFlush: zlibConstants.Z_SYNC_FLUSH });
  source.on('error', (err) => gunzip.destroy(err));
  return source.pipe(gunzip);
}

/**
 * Reads ticks from a recording (MessagePack stream, see format.ts), a CSV file or an NDJSON file,
 * plain or gzip, in file order, in batches. Streams: memory stays bounded whatever the file size.
 *
 * Bad records are skipped and reported through `onWarning`, as is a truncated last record or
 * undecodable data (the rest of that file is then skipped). I/O errors (missing file, EIO)
 * reject. `ts` is the timestamp as recorded.
 *
 * CSV: a header row naming the columns (any order; unknown columns ignored): `ts` (epoch ms, or
 * ISO 8601), `topic`, optional `kind` (`quote`|`trade`; else the topic's channel), then `bid`,
 * `ask`, `bidSize`, `askSize` for quotes and `price`, `size` for trades. Comma-separated, no
 * quoting needed (topics and numbers hold no commas); blank lines and lines starting with `#`
 * are skipped. NDJSON: one JSON object per line with the same field names.
 */
export async function* readTicks(path: string, options: ReadTicksOptions = {}): AsyncGenerator<FeedTick[], void, undefined> {
  const format = options.format === undefined || options.format === 'auto' ? formatOf(path) : options.format;
  const stream = await openBytes(path);
  const warn = options.onWarning ?? (() => {});
  const batchSize = options.batchSize ?? 512;
  const { signal } = options;
  try {
    if (format === 'msgpack') yield* readMsgpack(stream, path, warn, batchSize, signal);
    else yield* readLines(stream, path, format, warn, batchSize, signal);
  } finally {
    stream.destroy();
  }
}

/** Every tick of a file in one array: for tests and small files. */
export async function readAllTicks(path: string, options: ReadTicksOptions = {}): Promise<FeedTick[]> {
  const out: FeedTick[] = [];
  for await (const batch of readTicks(path, options)) for (const t of batch) out.push(t);
  return out;
}

async function* readMsgpack(
  stream: Readable,
  file: string,
  warn: (w: ReadWarning) => void,
  batchSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<FeedTick[], void, undefined> {
  const unpackr = createRecordUnpackr();
  let leftover: Buffer | null = null;
  /** Offset of `buf[0]` in the decompressed data. */
  let base = 0;
  const batch: FeedTick[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (signal?.aborted) return;
    const buf: Buffer = leftover ? Buffer.concat([leftover, chunk]) : chunk;
    leftover = null;
    let corrupt: string | null = null;
    let corruptAt = 0;
    try {
      unpackr.unpackMultiple(buf, (value: unknown, start = 0) => {
        const rec = decodeRecord(value);
        if (rec === 'header') return;
        if (typeof rec === 'string') warn({ file, kind: 'invalid_record', message: rec, offset: base + start });
        else batch.push(rec);
      });
    } catch (err) {
      const e = err as Error & { incomplete?: boolean; lastPosition?: number };
      const at = e.lastPosition ?? 0;
      if (e.incomplete && buf.length - at <= MAX_INCOMPLETE_BYTES) {
        leftover = buf.subarray(at);
      } else {
        corrupt = e.incomplete ? `a record claims more than ${MAX_INCOMPLETE_BYTES} bytes` : e.message;
        corruptAt = base + at;
      }
    }
    base += buf.length - (leftover?.length ?? 0);
    // Yield in bounded batches so a consumer's per-batch work stays small.
    while (batch.length >= batchSize) {
      yield batch.splice(0, batchSize);
    }
    if (corrupt !== null) {
      if (batch.length > 0) yield batch;
      warn({
        file,
        kind: 'corrupt',
        message: `undecodable data at byte ${corruptAt} (${corrupt}); the rest of the file was skipped`,
        offset: corruptAt,
      });
      return;
    }
  }
  if (batch.length > 0) yield batch;
  if (leftover && leftover.length > 0) {
    warn({
      file,
      kind: 'truncated',
      message: `the file ends inside a record (${leftover.length} bytes at byte ${base}), probably cut off by a crash while recording; that record was skipped`,
      offset: base,
    });
  }
}

const QUOTE_FIELDS = ['bid', 'ask', 'bidSize', 'askSize'] as const;
const TRADE_FIELDS = ['price', 'size'] as const;
const CSV_COLUMNS = new Set(['ts', 'topic', 'kind', ...QUOTE_FIELDS, ...TRADE_FIELDS]);

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '') return Number(v);
  return Number.NaN;
}

/** Epoch ms from a number, a numeric string or an ISO 8601 string; NaN when none of those. */
function toTimestamp(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return Number.NaN;
  const s = v.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  return s === '' ? Number.NaN : Date.parse(s);
}

/** A tick from loosely typed fields (a CSV row or a JSON object), or a one-line reason it is invalid. */
export function tickFromFields(get: (field: string) => unknown): FeedTick | string {
  const topic = get('topic');
  if (!isValidTopic(topic)) return `invalid topic ${JSON.stringify(topic ?? null).slice(0, 60)}`;
  const ts = toTimestamp(get('ts'));
  if (!Number.isFinite(ts) || ts <= 0) return `invalid ts ${JSON.stringify(get('ts') ?? null).slice(0, 40)} (epoch ms or ISO 8601)`;
  let kind = get('kind');
  if (kind === undefined || kind === '' || kind === null) {
    const channel = topic.slice(topic.lastIndexOf('.') + 1);
    if (channel !== 'quote' && channel !== 'trade') return `cannot tell quote from trade for ${topic}: give a kind`;
    kind = channel;
  }
  if (kind === 'quote') {
    const [bid, ask, bidSize, askSize] = QUOTE_FIELDS.map((f) => toNumber(get(f)));
    const bad = QUOTE_FIELDS.find((_, i) => !Number.isFinite([bid, ask, bidSize, askSize][i]));
    if (bad) return `quote ${topic}: ${bad} is missing or not a number`;
    return { topic, ts, kind, bid: bid!, ask: ask!, bidSize: bidSize!, askSize: askSize! };
  }
  if (kind === 'trade') {
    const price = toNumber(get('price'));
    const size = toNumber(get('size'));
    if (!Number.isFinite(price)) return `trade ${topic}: price is missing or not a number`;
    if (!Number.isFinite(size)) return `trade ${topic}: size is missing or not a number`;
    return { topic, ts, kind, price, size };
  }
  return `kind must be "quote" or "trade", got ${JSON.stringify(kind).slice(0, 20)}`;
}

function unquote(cell: string): string {
  const s = cell.trim();
  return s.length >= 2 && s.startsWith('"') && s.endsWith('"') ? s.slice(1, -1) : s;
}

async function* readLines(
  stream: Readable,
  file: string,
  format: 'csv' | 'ndjson',
  warn: (w: ReadWarning) => void,
  batchSize: number,
  signal: AbortSignal | undefined,
): AsyncGenerator<FeedTick[], void, undefined> {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let lineNo = 0;
  let columns: Map<string, number> | null = null;
  const batch: FeedTick[] = [];

  const handle = (raw: string, last: boolean): void => {
    lineNo++;
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const trimmed = line.trim();
    if (trimmed === '' || (format === 'csv' && trimmed.startsWith('#'))) return;
    let result: FeedTick | string;
    if (format === 'ndjson') {
      let obj: unknown;
      try {
        obj = JSON.parse(trimmed);
      } catch {
        const kind = last ? 'truncated' : 'invalid_record';
        warn({
          file,
          kind,
          line: lineNo,
          message: last ? 'the last line is not complete JSON (cut off while writing?); skipped' : 'not valid JSON',
        });
        return;
      }
      if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) result = 'expected a JSON object';
      else result = tickFromFields((f) => (obj as Record<string, unknown>)[f]);
    } else {
      const cells = line.split(',').map(unquote);
      if (columns === null) {
        columns = new Map(cells.map((name, i) => [name, i]));
        const missing = ['ts', 'topic'].filter((c) => !columns!.has(c));
        if (missing.length > 0) {
          warn({
            file,
            kind: 'corrupt',
            line: lineNo,
            message: `the CSV header must name the columns (${[...CSV_COLUMNS].join(', ')}); missing: ${missing.join(', ')}`,
          });
          throw new StopReading();
        }
        return;
      }
      const cols = columns;
      result = tickFromFields((f) => {
        const i = cols.get(f);
        return i === undefined ? undefined : cells[i];
      });
    }
    if (typeof result === 'string') warn({ file, kind: last ? 'truncated' : 'invalid_record', line: lineNo, message: result });
    else batch.push(result);
  };

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (signal?.aborted) return;
      const text = partial + decoder.write(chunk);
      const lines = text.split('\n');
      partial = lines.pop()!;
      for (const line of lines) handle(line, false);
      while (batch.length >= batchSize) yield batch.splice(0, batchSize);
    }
    partial += decoder.end();
    if (partial !== '') handle(partial, true);
  } catch (err) {
    if (!(err instanceof StopReading)) throw err;
  }
  if (batch.length > 0) yield batch;
}

class StopReading extends Error {}
