/**
 * An independent order-book client for tests, written from docs/protocol.md §17 alone: its own
 * CRC-32 and its own book (Maps), fed with frames decoded by @msgpack/msgpack (TestClient) —
 * no gateway or SDK code, so it checks the gateway against the documentation.
 */
import type { Frame } from './helpers.ts';

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(text: string): number {
  let crc = 0xffffffff;
  for (const byte of Buffer.from(text, 'utf8')) crc = CRC_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

type Levels = [number, number][];

export class CheckedBook {
  readonly bids = new Map<number, number>();
  readonly asks = new Map<number, number>();
  seq = 0;
  updates = 0;
  snapshots = 0;
  /** Checksum failures (seq → [expected, computed]); empty when the book always verified. */
  readonly mismatches: [number, number, number][] = [];

  constructor(readonly depth: number) {}

  /** Feeds one frame of the book topic; `everyUpdate`: seqs must be consecutive across ticks frames. */
  onFrame(frame: Frame, everyUpdate: boolean): void {
    if (frame.t === 'snapshot') {
      const entry = frame.ticks[0] as Frame;
      this.bids.clear();
      this.asks.clear();
      this.apply(entry);
      this.snapshots++;
    } else if (frame.t === 'ticks') {
      for (const entry of frame.ticks as Frame[]) {
        if (everyUpdate && entry.seq !== this.seq + 1) throw new Error(`seq ${entry.seq} after ${this.seq}`);
        if (entry.seq <= this.seq) throw new Error(`seq ${entry.seq} not after ${this.seq}`);
        this.apply(entry);
        this.updates++;
      }
    }
  }

  private apply(entry: Frame): void {
    for (const [p, s] of entry.bids as Levels) s === 0 ? this.bids.delete(p) : this.bids.set(p, s);
    for (const [p, s] of entry.asks as Levels) s === 0 ? this.asks.delete(p) : this.asks.set(p, s);
    this.seq = entry.seq as number;
    const computed = this.checksum();
    if (computed !== entry.checksum) this.mismatches.push([entry.seq as number, entry.checksum as number, computed]);
  }

  top(): { bids: Levels; asks: Levels } {
    return {
      bids: [...this.bids].sort((a, b) => b[0] - a[0]).slice(0, this.depth),
      asks: [...this.asks].sort((a, b) => a[0] - b[0]).slice(0, this.depth),
    };
  }

  /** docs/protocol.md §17: bids best first `price:size` joined by `,`, then `|`, then asks. */
  checksum(): number {
    const { bids, asks } = this.top();
    const side = (levels: Levels) => levels.map(([p, s]) => `${p}:${s}`).join(',');
    return crc32(`${side(bids)}|${side(asks)}`);
  }
}
