import { Packr, Unpackr } from 'msgpackr';
import type { FeedTick } from '../core/tick.ts';
import { isValidTopic } from '../core/topic.ts';

/**
 * The tickgate recording format: a plain stream of standard MessagePack values, one after the
 * other (no framing, no index), optionally gzip-compressed as a whole. Any MessagePack decoder
 * that reads a sequence of values can read it.
 *
 * - The first value of every file is a header map: `{format: "tickgate-recording", v: 1,
 *   createdAt, source?, topics?}`. Readers skip header maps wherever they appear, so rotated
 *   files can be concatenated.
 * - Every other value is one tick as a positional array (no repeated keys, so it stays compact):
 *   - quote: `["q", topic, ts, bid, ask, bidSize, askSize]`
 *   - trade: `["t", topic, ts, price, size]`
 *
 *   `ts` is the tick's event time as recorded (Unix epoch ms, float64).
 *
 * Records are appended whole, so a file cut off by a crash ends in at most one incomplete record;
 * readers detect and skip it with a warning.
 */
export const RECORDING_FORMAT = 'tickgate-recording';
export const RECORDING_VERSION = 1;

export interface RecordingHeader {
  format: typeof RECORDING_FORMAT;
  v: number;
  /** When the file was opened, Unix epoch ms. */
  createdAt: number;
  /** Where the ticks came from, e.g. the gateway URL. */
  source?: string;
  /** The topics or patterns recorded. */
  topics?: string[];
}

/** Standard MessagePack only (plain maps, no msgpackr records or extensions), as on the wire. */
export function createRecordPackr(): Packr {
  return new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
}

export function createRecordUnpackr(): Unpackr {
  return new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });
}

/** The positional array stored for one tick. */
export function tickRecord(tick: FeedTick): unknown[] {
  return tick.kind === 'quote'
    ? ['q', tick.topic, tick.ts, tick.bid, tick.ask, tick.bidSize, tick.askSize]
    : ['t', tick.topic, tick.ts, tick.price, tick.size];
}

function isNum(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}

export function isRecordingHeader(value: unknown): value is RecordingHeader {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && (value as { format?: unknown }).format === RECORDING_FORMAT
  );
}

/**
 * Decodes one stored value. Returns the tick, `'header'` for a header map, or a one-line reason
 * why the value is not a valid record. Topic syntax and numbers are checked; price sanity
 * (bid ≤ ask, positive prices) is left to the bus, which counts rejections.
 */
export function decodeRecord(value: unknown): FeedTick | 'header' | string {
  if (isRecordingHeader(value)) return 'header';
  if (!Array.isArray(value)) return `expected a tick array, got ${value === null ? 'null' : typeof value}`;
  const [kind, topic, ts] = value as unknown[];
  if (!isValidTopic(topic)) return `invalid topic ${JSON.stringify(topic)?.slice(0, 60)}`;
  if (!isNum(ts)) return `invalid ts for ${topic}`;
  if (kind === 'q') {
    if (value.length !== 7) return `quote record for ${topic} has ${value.length} fields, expected 7`;
    const [, , , bid, ask, bidSize, askSize] = value as unknown[];
    if (!isNum(bid) || !isNum(ask) || !isNum(bidSize) || !isNum(askSize)) return `non-numeric quote field for ${topic}`;
    return { topic, ts, kind: 'quote', bid, ask, bidSize, askSize };
  }
  if (kind === 't') {
    if (value.length !== 5) return `trade record for ${topic} has ${value.length} fields, expected 5`;
    const [, , , price, size] = value as unknown[];
    if (!isNum(price) || !isNum(size)) return `non-numeric trade field for ${topic}`;
    return { topic, ts, kind: 'trade', price, size };
  }
  return `unknown record kind ${JSON.stringify(kind)?.slice(0, 20)}`;
}
