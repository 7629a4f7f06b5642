import { decodeMulti } from '@msgpack/msgpack';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { FeedTick } from '../core/tick.ts';
import { decodeRecord, RECORDING_FORMAT } from './format.ts';
import { formatOf, readAllTicks, type ReadWarning } from './reader.ts';
import { RecordingWriter } from './writer.ts';

const dir = mkdtempSync(join(tmpdir(), 'tickgate-rec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const tmp = (name: string) => join(dir, `${++n}-${name}`);
const fixtures = new URL('../../feeds/replay/fixtures/', import.meta.url);

function makeTicks(count: number, start = 1_767_364_200_000): FeedTick[] {
  const out: FeedTick[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      i % 5 === 4
        ? { topic: 'equity.AAPL.trade', ts: start + i * 0.25, kind: 'trade', price: 229.5 + (i % 7) / 100, size: 100 * (1 + (i % 3)) }
        : {
            topic: i % 2 ? 'fx.EURUSD.quote' : 'equity.AAPL.quote',
            ts: start + i * 0.25,
            kind: 'quote',
            bid: 100 + i / 100,
            ask: 100.01 + i / 100,
            bidSize: 300,
            askSize: 200,
          },
    );
  }
  return out;
}

async function write(out: string, ticks: FeedTick[], options: Partial<Parameters<typeof RecordingWriter.open>[0]> = {}) {
  const writer = await RecordingWriter.open({ out, ...options });
  for (const t of ticks) writer.write(t);
  return writer.close();
}

function collect(): { warnings: ReadWarning[]; onWarning: (w: ReadWarning) => void } {
  const warnings: ReadWarning[] = [];
  return { warnings, onWarning: (w) => void warnings.push(w) };
}

describe('recording files', () => {
  it('round-trips ticks exactly, plain and gzip, and any standard MessagePack decoder reads them', async () => {
    const ticks = makeTicks(3000);
    for (const gzip of [false, true]) {
      const files = await write(tmp('rt.msgpack'), ticks, { gzip, source: 'test', topics: ['equity.*.*'] });
      expect(files).toHaveLength(1);
      expect(files[0]!.ticks).toBe(3000);
      expect(files[0]!.path.endsWith(gzip ? '.msgpack.gz' : '.msgpack')).toBe(true);
      const { warnings, onWarning } = collect();
      expect(await readAllTicks(files[0]!.path, { onWarning })).toEqual(ticks);
      expect(warnings).toEqual([]);

      // Interop: an independent decoder sees a header map, then positional tick arrays.
      const raw = readFileSync(files[0]!.path);
      const values = [...decodeMulti(gzip ? gunzipSync(raw) : raw)];
      expect(values[0]).toMatchObject({ format: RECORDING_FORMAT, v: 1, source: 'test', topics: ['equity.*.*'] });
      expect(values[1]).toEqual(['q', 'equity.AAPL.quote', ticks[0]!.ts, 100, 100.01, 300, 200]);
      expect(values.slice(1).map(decodeRecord)).toEqual(ticks);
    }
    // About 8 bytes a tick gzip'ed: compact enough to record for hours.
  });

  it('never overwrites an existing file', async () => {
    const out = tmp('exists.msgpack');
    writeFileSync(out, 'precious');
    await expect(RecordingWriter.open({ out })).rejects.toThrow(/cannot create .*exists\.msgpack: EEXIST/);
    expect(readFileSync(out, 'utf8')).toBe('precious');
  });

  it('skips a truncated last record with a warning (plain and gzip cut off mid-stream)', async () => {
    const ticks = makeTicks(2000);
    const [plain] = await write(tmp('cut.msgpack'), ticks);
    const bytes = readFileSync(plain!.path);
    const cut = tmp('cut-plain.msgpack');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const { warnings, onWarning } = collect();
    expect(await readAllTicks(cut, { onWarning })).toEqual(ticks.slice(0, -1));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ kind: 'truncated' });
    expect(warnings[0]!.message).toMatch(/ends inside a record .*skipped/);

    // A crashed gzip recorder leaves no trailer and a cut deflate stream: everything before the cut is read.
    const [gz] = await write(tmp('cut.msgpack'), ticks, { gzip: true });
    const gzBytes = readFileSync(gz!.path);
    const gzCut = tmp('cut-gz.msgpack.gz');
    writeFileSync(gzCut, gzBytes.subarray(0, Math.floor(gzBytes.length * 0.6)));
    const g = collect();
    const read = await readAllTicks(gzCut, { onWarning: g.onWarning });
    expect(read.length).toBeGreaterThan(500);
    expect(read.length).toBeLessThan(2000);
    expect(read).toEqual(ticks.slice(0, read.length));
    expect(g.warnings.map((w) => w.kind)).toEqual(['truncated']);
  });

  it('skips values that are not valid tick records, with a warning each, and reads on', async () => {
    const [file] = await write(tmp('bad.msgpack'), makeTicks(10));
    const path = file!.path;
    const { Packr } = await import('msgpackr');
    const packr = new Packr({ useRecords: false });
    appendFileSync(path, packr.pack(['q', 'not a topic', 1, 1, 2, 3, 4]));
    appendFileSync(path, packr.pack(['t', 'equity.MSFT.trade', 5, 418.2, 10]));
    // The reserved byte 0xc1, then a well-formed array that is no record.
    appendFileSync(path, Buffer.from([0xc1, 0x93, 0x01, 0x02, 0x03]));
    appendFileSync(path, packr.pack(['t', 'equity.MSFT.trade', 6, '418.3', 10]));
    appendFileSync(path, packr.pack(['t', 'equity.MSFT.trade', 7, 418.4, 10]));
    const { warnings, onWarning } = collect();
    const read = await readAllTicks(path, { onWarning });
    expect(read.slice(10)).toEqual([
      { topic: 'equity.MSFT.trade', ts: 5, kind: 'trade', price: 418.2, size: 10 },
      { topic: 'equity.MSFT.trade', ts: 7, kind: 'trade', price: 418.4, size: 10 },
    ]);
    expect(warnings.map((w) => w.kind)).toEqual(['invalid_record', 'invalid_record', 'invalid_record', 'invalid_record']);
    expect(warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/invalid topic "not a topic"/),
      expect.stringMatching(/expected a tick array/),
      expect.stringMatching(/invalid topic 2/),
      expect.stringMatching(/non-numeric trade field/),
    ]);
  });

  it('stops at data that cannot be decoded at all', async () => {
    const [file] = await write(tmp('garbage.msgpack'), makeTicks(10));
    // A str32 header claiming 4 GB: no reader should buffer that.
    appendFileSync(file!.path, Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x41]));
    const { warnings, onWarning } = collect();
    const read = await readAllTicks(file!.path, { onWarning });
    expect(read).toHaveLength(10);
    expect(warnings).toHaveLength(1);
    expect(['truncated', 'corrupt']).toContain(warnings[0]!.kind);
  });

  it('rotates by size: numbered, time-stamped files that sort in order, each with its own header', async () => {
    const sub = tmp('rot');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(sub);
    const ticks = makeTicks(5000);
    const files = await write(join(sub, 'ticks.msgpack'), ticks, {
      rotateBytes: 50_000,
      clock: { now: () => Date.UTC(2026, 0, 2, 14, 30, 5) },
    });
    expect(files.length).toBeGreaterThanOrEqual(4);
    expect(files.map((f) => f.path.split('/').pop())).toEqual(
      files.map((_, i) => `ticks.20260102T143005Z.${String(i + 1).padStart(4, '0')}.msgpack`),
    );
    expect(readdirSync(sub).sort()).toEqual(files.map((f) => f.path.split('/').pop()));
    for (const f of files.slice(0, -1)) {
      expect(f.bytes).toBeGreaterThanOrEqual(50_000);
      expect(f.bytes).toBeLessThan(50_000 + 100);
    }
    const all: FeedTick[] = [];
    for (const f of files) all.push(...(await readAllTicks(f.path)));
    expect(all).toEqual(ticks);
    expect(files.reduce((s, f) => s + f.ticks, 0)).toBe(5000);
  });

  it('rotates by age when a tick arrives after the period (no empty files)', async () => {
    let now = Date.UTC(2026, 0, 2, 14, 30);
    const writer = await RecordingWriter.open({ out: tmp('age.msgpack.gz'), gzip: true, rotateMs: 60_000, clock: { now: () => now } });
    const ticks = makeTicks(30);
    for (let i = 0; i < 30; i++) {
      if (i === 10 || i === 20) now += 61_000;
      writer.write(ticks[i]!);
    }
    now += 10 * 60_000; // idle: no new file
    const files = await writer.close();
    expect(files.map((f) => f.ticks)).toEqual([10, 10, 10]);
    expect(files[1]!.path).toMatch(/\.20260102T143101Z\.0002\.msgpack\.gz$/);
  });

  it('reads the CSV and NDJSON samples (ISO or epoch-ms ts, kind from the channel)', async () => {
    const csv = await readAllTicks(new URL('sample.csv', fixtures).pathname);
    const ndjson = await readAllTicks(new URL('sample.ndjson', fixtures).pathname);
    expect(csv).toHaveLength(5);
    expect(ndjson).toEqual(csv);
    expect(csv[1]).toEqual({ topic: 'equity.AAPL.trade', ts: 1_767_364_200_012.5, kind: 'trade', price: 229.52, size: 100 });
    expect(csv[2]).toEqual({
      topic: 'fx.EURUSD.quote',
      ts: 1_767_364_200_040,
      kind: 'quote',
      bid: 1.03512,
      ask: 1.03515,
      bidSize: 1_000_000,
      askSize: 2_000_000,
    });
    expect(formatOf('x.CSV.gz')).toBe('csv');
    expect(formatOf('x.jsonl')).toBe('ndjson');
    expect(formatOf('x.msgpack.gz')).toBe('msgpack');
  });

  it('reports bad CSV/NDJSON lines by number and a cut-off last line as truncated', async () => {
    const csvPath = tmp('bad.csv');
    writeFileSync(
      csvPath,
      [
        'topic,ts,bid,ask,bidSize,askSize,seq',
        'equity.AAPL.quote,1767364200000,1,1.01,100,100,7',
        'equity.AAPL.quote,yesterday,1,1.01,100,100,8',
        'equity.aapl.quote,1767364200001,1,1.01,100,100,9',
        'equity.AAPL.quote,1767364200002,1,,100,100,10',
        'equity.AAPL.book,1767364200003,1,1.01,100,100,11',
        'equity.AAPL.quote,1767364200004,1,1.01,1',
      ].join('\r\n'),
    );
    const c = collect();
    expect(await readAllTicks(csvPath, { onWarning: c.onWarning })).toHaveLength(1);
    expect(c.warnings.map((w) => [w.line, w.kind])).toEqual([
      [3, 'invalid_record'],
      [4, 'invalid_record'],
      [5, 'invalid_record'],
      [6, 'invalid_record'],
      [7, 'truncated'],
    ]);
    expect(c.warnings.map((w) => w.message)).toEqual([
      expect.stringMatching(/invalid ts "yesterday"/),
      expect.stringMatching(/invalid topic/),
      expect.stringMatching(/ask is missing/),
      expect.stringMatching(/cannot tell quote from trade/),
      expect.stringMatching(/askSize is missing/),
    ]);

    const noHeader = tmp('noheader.csv');
    writeFileSync(noHeader, 'equity.AAPL.quote,1767364200000,1,1.01,100,100\n');
    const h = collect();
    expect(await readAllTicks(noHeader, { onWarning: h.onWarning })).toEqual([]);
    expect(h.warnings[0]).toMatchObject({ kind: 'corrupt', line: 1 });

    const ndPath = tmp('bad.ndjson');
    writeFileSync(
      ndPath,
      '{"topic":"fx.EURUSD.quote","ts":1,"bid":1,"ask":1.1,"bidSize":1,"askSize":1}\n[1,2]\nnot json\n{"topic":"fx.EURUSD.quote","ts":2,"bi',
    );
    const j = collect();
    expect(await readAllTicks(ndPath, { onWarning: j.onWarning })).toHaveLength(1);
    expect(j.warnings.map((w) => [w.line, w.kind])).toEqual([
      [2, 'invalid_record'],
      [3, 'invalid_record'],
      [4, 'truncated'],
    ]);
  });
});
