/**
 * CRC-32 (IEEE 802.3 / ISO-HDLC: polynomial 0xEDB88320 reflected, init and final XOR 0xFFFFFFFF),
 * the one zlib, PNG, Kraken and OKX use. Table-driven; returns an unsigned 32-bit integer.
 * Written out (a dozen lines) rather than taken from zlib because Node 20's zlib has no crc32.
 */
const TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = TABLE[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const encoder = new TextEncoder();

/** CRC-32 of a string's UTF-8 bytes. */
export function crc32String(text: string): number {
  return crc32(encoder.encode(text));
}
