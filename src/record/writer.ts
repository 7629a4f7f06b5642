import { createWriteStream, type WriteStream } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { constants as zlibConstants, createGzip, type Gzip } from 'node:zlib';
import { systemClock, type Clock } from '../core/clock.ts';
import type { FeedTick } from '../core/tick.ts';
import { createRecordPackr, RECORDING_FORMAT, RECORDING_VERSION, tickRecord, type RecordingHeader } from './format.ts';

export interface RecordingWriterOptions {
  /**
   * Output file. Without rotation it is written exactly there (`.gz` is appended with gzip when
   * missing). With rotation each file is named `<stem>.<UTC start, YYYYMMDDTHHMMSSZ>.<nnnn><ext>`
   * in the same directory, e.g. `ticks.20260102T143000Z.0001.msgpack.gz`: names sort in order.
   * Existing files are never overwritten (opening one is an error).
   */
  out: string;
  gzip?: boolean;
  /** Start a new file once the current one holds this many bytes (on disk, so compressed with gzip). */
  rotateBytes?: number;
  /** Start a new file when the current one is this old (checked when a tick arrives: no empty files). */
  rotateMs?: number;
  /** Stored in each file's header. */
  source?: string;
  topics?: string[];
  /**
   * Buffered records are handed to the file this often (default 250 ms), and gzip output is
   * sync-flushed at the same time, so a crash loses at most about this much.
   */
  flushIntervalMs?: number;
  /** Time for file names, headers and age rotation; the system clock by default (a ManualClock in tests). */
  clock?: Clock;
  /** A write error (disk full, permissions); the writer stops writing after the first. */
  onError?: (err: Error) => void;
  /** A file was finished (rotation or close). */
  onFileClosed?: (file: RecordedFile) => void;
}

export interface RecordedFile {
  path: string;
  ticks: number;
  /** Bytes in the file (compressed with gzip). */
  bytes: number;
}

/** Hand buffered records to the file once this many bytes are pending, even before the timer. */
const FLUSH_BYTES = 64 * 1024;

/** One open output file: a write stream, optionally behind a gzip stream. */
class FileSink {
  ticks = 0;
  /** Uncompressed bytes handed to this sink. */
  rawBytes = 0;
  readonly ready: Promise<void>;
  private readonly done: Promise<void>;
  private readonly file: WriteStream;
  private readonly gzip: Gzip | null;

  constructor(
    readonly path: string,
    gzip: boolean,
    readonly openedAt: number,
    onError: (err: Error) => void,
  ) {
    // 'wx': never clobber an earlier recording.
    this.file = createWriteStream(path, { flags: 'wx' });
    this.gzip = gzip ? createGzip() : null;
    if (this.gzip) {
      this.gzip.on('error', onError);
      this.gzip.pipe(this.file);
    }
    this.ready = new Promise((resolve, reject) => {
      this.file.once('open', () => resolve());
      this.file.once('error', reject);
    });
    this.done = new Promise((resolve) => this.file.once('close', () => resolve()));
    this.file.on('error', onError);
    // Handled through onError; keeps an unobserved rejection from crashing the process.
    this.ready.catch(() => {});
  }

  write(chunk: Buffer): void {
    this.rawBytes += chunk.length;
    (this.gzip ?? this.file).write(chunk);
  }

  /** With gzip, emits everything compressed so far as complete deflate blocks (readable after a crash). */
  syncFlush(): void {
    this.gzip?.flush(zlibConstants.Z_SYNC_FLUSH);
  }

  /** Bytes in the file or on their way to it. With gzip this lags by what zlib still holds. */
  get diskBytes(): number {
    return this.gzip ? this.file.bytesWritten + this.file.writableLength : this.rawBytes;
  }

  async end(): Promise<RecordedFile> {
    (this.gzip ?? this.file).end();
    await this.done;
    return { path: this.path, ticks: this.ticks, bytes: this.file.bytesWritten };
  }
}

function utcStamp(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `ticks.msgpack.gz` → [`ticks`, `.msgpack.gz`]; the extension starts at the first dot after the first character. */
function splitName(name: string): [string, string] {
  const dot = name.indexOf('.', 1);
  return dot === -1 ? [name, ''] : [name.slice(0, dot), name.slice(dot)];
}

/**
 * Writes ticks to recording files (see format.ts), batching records in memory and handing them
 * to the file every `flushIntervalMs` or 64 KB, rotating by size or age.
 *
 * Guarantees: records are written whole and in `write` order; `close()` writes everything
 * written before it and resolves once every file is closed (gzip trailer included). No fsync:
 * a crash of the machine (not the process) may lose what the OS had not written yet.
 */
export class RecordingWriter {
  private readonly packr = createRecordPackr();
  private readonly options: RecordingWriterOptions;
  private readonly clock: Clock;
  private readonly basePath: string;
  private sink: FileSink | null = null;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private fileCount = 0;
  private totalTicks = 0;
  private readonly finished: RecordedFile[] = [];
  private readonly closing = new Set<Promise<RecordedFile>>();
  private readonly timer: NodeJS.Timeout;
  private error: Error | null = null;
  /** Until the first file is open, errors reject open() instead of going to onError. */
  private opened = false;
  private closed: Promise<RecordedFile[]> | null = null;

  private constructor(options: RecordingWriterOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.basePath = options.gzip && !options.out.endsWith('.gz') ? `${options.out}.gz` : options.out;
    this.timer = setInterval(() => this.flush(true), options.flushIntervalMs ?? 250);
    this.timer.unref();
  }

  /** Opens the first file; rejects (and leaves nothing open) when it cannot be created. */
  static async open(options: RecordingWriterOptions): Promise<RecordingWriter> {
    const writer = new RecordingWriter(options);
    const sink = writer.openSink();
    try {
      await sink.ready;
    } catch (err) {
      clearInterval(writer.timer);
      throw new Error(`cannot create ${sink.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
    writer.opened = true;
    return writer;
  }

  /** The file currently written. */
  get currentPath(): string | null {
    return this.sink?.path ?? null;
  }

  get ticks(): number {
    return this.totalTicks;
  }

  /** Appends one tick. Synchronous; never throws (errors go to `onError`). */
  write(tick: FeedTick): void {
    if (this.error !== null || this.closed !== null) return;
    let sink = this.sink!;
    const { rotateBytes, rotateMs } = this.options;
    if (
      (rotateBytes !== undefined && sink.diskBytes + this.pendingBytes >= rotateBytes) ||
      (rotateMs !== undefined && this.clock.now() - sink.openedAt >= rotateMs)
    ) {
      this.rotate();
      sink = this.sink!;
    }
    this.push(this.packr.pack(tickRecord(tick)));
    sink.ticks++;
    this.totalTicks++;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush(false);
  }

  /** Finishes the current file and starts the next one now. */
  rotate(): void {
    if (this.error !== null || this.closed !== null) return;
    this.finishSink();
    this.openSink();
  }

  /** Writes everything, closes every file. Idempotent. */
  close(): Promise<RecordedFile[]> {
    this.closed ??= (async () => {
      clearInterval(this.timer);
      this.finishSink();
      await Promise.all([...this.closing]);
      if (this.error) throw this.error;
      return this.finished.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    })();
    return this.closed;
  }

  private push(packed: Uint8Array): void {
    // msgpackr's result is a view into a buffer it reuses: copy before keeping it.
    const copy = Buffer.from(packed);
    this.pending.push(copy);
    this.pendingBytes += copy.length;
  }

  private flush(sync: boolean): void {
    const sink = this.sink;
    if (sink === null) return;
    if (this.pendingBytes > 0) {
      sink.write(this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes));
      this.pending = [];
      this.pendingBytes = 0;
    }
    if (sync) sink.syncFlush();
  }

  private openSink(): FileSink {
    const now = this.clock.now();
    this.fileCount++;
    let path = this.basePath;
    if (this.options.rotateBytes !== undefined || this.options.rotateMs !== undefined) {
      const [stem, ext] = splitName(basename(this.basePath));
      path = join(dirname(this.basePath), `${stem}.${utcStamp(now)}.${String(this.fileCount).padStart(4, '0')}${ext}`);
    }
    const sink = new FileSink(path, this.options.gzip === true, now, (err) => this.onError(err));
    this.sink = sink;
    const header: RecordingHeader = { format: RECORDING_FORMAT, v: RECORDING_VERSION, createdAt: now };
    if (this.options.source !== undefined) header.source = this.options.source;
    if (this.options.topics !== undefined) header.topics = this.options.topics;
    this.push(this.packr.pack(header));
    return sink;
  }

  private finishSink(): void {
    const sink = this.sink;
    if (sink === null) return;
    this.flush(false);
    this.sink = null;
    const done = sink.end().then((file) => {
      this.closing.delete(done);
      this.finished.push(file);
      this.options.onFileClosed?.(file);
      return file;
    });
    this.closing.add(done);
  }

  private onError(err: Error): void {
    if (this.error !== null || !this.opened) return;
    this.error = err;
    this.options.onError?.(err);
  }
}
