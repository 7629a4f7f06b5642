/**
 * CRC-32 (IEEE 802.3 / ISO-HDLC: reflected polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF), the CRC of zlib and PNG, which docs/protocol.md §17.2 specifies for book
 * checksums. A 1 KiB table built on first use; no Node code, so the browser build can carry it.
 */
let table: Uint32Array | null = null;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** CRC-32 of bytes, as an unsigned 32-bit integer. */
export function crc32(bytes: Uint8Array): number {
  if (table === null) table = makeTable();
  const t = table;
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = t[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();

/** CRC-32 of a string's UTF-8 bytes. */
export function crc32String(text: string): number {
  return crc32(encoder.encode(text));
}
