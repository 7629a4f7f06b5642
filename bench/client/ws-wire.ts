import { createHash, randomBytes } from 'node:crypto';

/** Client side of RFC 6455, only what the load client needs: handshake, masked sends, frame headers. */

export const OP_CONT = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function handshakeRequest(host: string, port: number, path: string, key: string): Buffer {
  return Buffer.from(
    `GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    'latin1',
  );
}

export function newKey(): string {
  return randomBytes(16).toString('base64');
}

export function acceptFor(key: string): string {
  return createHash('sha1')
    .update(key + GUID)
    .digest('base64');
}

/**
 * Checks an HTTP upgrade response head (without the blank line). Returns null when it is a
 * valid 101 for `key`, else a short reason.
 */
export function checkUpgradeResponse(head: string, key: string): string | null {
  const lines = head.split('\r\n');
  const status = lines[0] ?? '';
  if (!/^HTTP\/1\.1 101\b/.test(status)) return `upgrade refused: ${status.slice(0, 80)}`;
  const want = acceptFor(key);
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0 && line.slice(0, i).trim().toLowerCase() === 'sec-websocket-accept') {
      return line.slice(i + 1).trim() === want ? null : 'bad Sec-WebSocket-Accept';
    }
  }
  return 'no Sec-WebSocket-Accept';
}

/** A masked client frame (clients must mask, RFC 6455 §5.3). */
export function clientFrame(opcode: number, payload: Buffer): Buffer {
  const len = payload.length;
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(hdr + 4 + len);
  out[0] = 0x80 | opcode;
  if (len < 126) out[1] = 0x80 | len;
  else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 4294967296), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  const mask = randomBytes(4);
  mask.copy(out, hdr);
  for (let i = 0; i < len; i++) out[hdr + 4 + i] = payload[i]! ^ mask[i & 3]!;
  return out;
}

export function textFrame(text: string): Buffer {
  return clientFrame(OP_TEXT, Buffer.from(text, 'utf8'));
}

/**
 * Total size (header + payload) of the server frame starting at `p`, or -1 when fewer than
 * `end - p` bytes are available to know it. Server frames are never masked.
 */
export function frameSize(b: Uint8Array, p: number, end: number): number {
  if (end - p < 2) return -1;
  const b1 = b[p + 1]!;
  const len = b1 & 0x7f;
  const mask = b1 & 0x80 ? 4 : 0;
  if (len < 126) return 2 + mask + len;
  if (len === 126) {
    if (end - p < 4) return -1;
    return 4 + mask + ((b[p + 2]! << 8) | b[p + 3]!);
  }
  if (end - p < 10) return -1;
  const hi = ((b[p + 2]! << 24) >>> 0) + ((b[p + 3]! << 16) | (b[p + 4]! << 8) | b[p + 5]!);
  const lo = ((b[p + 6]! << 24) >>> 0) + ((b[p + 7]! << 16) | (b[p + 8]! << 8) | b[p + 9]!);
  return 10 + mask + hi * 4294967296 + lo;
}

/** Header length of the frame at `p` (2, 4 or 10, plus 4 if masked); needs 2 bytes. */
export function headerSize(b: Uint8Array, p: number): number {
  const b1 = b[p + 1]!;
  const len = b1 & 0x7f;
  return (len < 126 ? 2 : len === 126 ? 4 : 10) + (b1 & 0x80 ? 4 : 0);
}

export type FrameHandler = (buf: Buffer, at: number, end: number) => boolean;

/**
 * Splits a byte stream into whole WebSocket frames. Frames entirely inside a chunk are handed
 * out in place (no copy); a frame split across chunks is completed in a small carry buffer.
 * The handler returns false to stop (connection closed); the rest of the chunk is discarded.
 */
export class FrameReader {
  private carry: Buffer | null = null;
  private carryLen = 0;

  push(buf: Buffer, start: number, end: number, onFrame: FrameHandler): void {
    while (this.carryLen > 0) {
      // How many more bytes the carried frame needs (its header first, then its payload).
      const carry = this.carry!;
      let total = -1;
      let want: number;
      if (this.carryLen < 2) want = 2 - this.carryLen;
      else {
        const h = headerSize(carry, 0);
        if (this.carryLen < h) want = h - this.carryLen;
        else {
          total = frameSize(carry, 0, this.carryLen);
          want = total - this.carryLen;
        }
      }
      if (want === 0) {
        this.carryLen = 0;
        if (!onFrame(carry, 0, total)) return;
        continue;
      }
      if (start >= end) return;
      const take = Math.min(want, end - start);
      this.ensureCarry(this.carryLen + take);
      buf.copy(this.carry!, this.carryLen, start, start + take);
      this.carryLen += take;
      start += take;
    }
    while (end - start >= 2) {
      const size = frameSize(buf, start, end);
      if (size < 0 || end - start < size) break;
      if (!onFrame(buf, start, start + size)) return;
      start += size;
    }
    if (start < end) {
      this.ensureCarry(end - start);
      buf.copy(this.carry!, 0, start, end);
      this.carryLen = end - start;
    }
  }

  private ensureCarry(size: number): void {
    if (this.carry === null || this.carry.length < size) {
      const bigger = Buffer.allocUnsafe(Math.max(size, (this.carry?.length ?? 0) * 2, 1024));
      if (this.carry !== null && this.carryLen > 0) this.carry.copy(bigger, 0, 0, this.carryLen);
      this.carry = bigger;
    }
  }
}
