import { describe, expect, it } from 'vitest';
import { crc32, crc32String } from './crc32.ts';

describe('crc32', () => {
  it('matches the standard check value and known strings', () => {
    expect(crc32String('123456789')).toBe(0xcbf43926);
    expect(crc32String('')).toBe(0);
    expect(crc32String('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
    expect(crc32(new Uint8Array([0]))).toBe(0xd202ef8d);
  });
});
