// The book checksum's CRC-32 (protocol §17.2) is the client package's: the gateway and every SDK
// compute it with the same code. test/book-checker.ts keeps an independent one on purpose.
export { crc32, crc32String } from '@tickgate/client';
