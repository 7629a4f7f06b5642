import { Packr, Unpackr } from 'msgpackr';
import type { GatewayFrame } from './frames.ts';

/**
 * Standard MessagePack only: plain maps (no msgpackr records), undefined as nil (msgpackr's
 * default is an extension type), no structured-clone extensions. Any MessagePack decoder in any
 * language reads these bytes. Every map is a map16 (docs/protocol.md §8.1 lists exactly what is
 * emitted; src/protocol/ticks-encoder.ts writes the same bytes).
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
// int64AsType 'number': a client encoder that writes ids as fixed-width 64-bit ints still works.
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false, int64AsType: 'number' });

/**
 * Encodes a frame. The result is a view into a reused buffer, valid until the next call:
 * send it (uWS copies) before encoding again, or copy it with `Uint8Array.prototype.slice`.
 */
export function packFrame(frame: GatewayFrame): Uint8Array {
  return packr.pack(frame);
}

/** Encodes any plain value exactly as inside a frame (for precomputed pieces of frames); same buffer rule as packFrame. */
export function packValue(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function jsonFrame(frame: GatewayFrame): string {
  return JSON.stringify(frame);
}

export const MAX_DEPTH = 32;

/**
 * Client messages must be plain data. msgpackr maps the reserved byte 0xc1 and extension types
 * (timestamps, records) to objects of its own; those are malformed input here, as is nesting
 * deeper than any request needs.
 */
function assertPlainData(value: unknown, depth: number): void {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function' || value === undefined) {
      throw new Error(`non-standard value of type ${typeof value}`);
    }
    return;
  }
  if (depth > MAX_DEPTH) throw new Error(`nested deeper than ${MAX_DEPTH} levels`);
  if (Array.isArray(value)) {
    for (const v of value) assertPlainData(v, depth + 1);
    return;
  }
  if (value instanceof Uint8Array) return;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new Error('non-standard MessagePack type (reserved byte or extension)');
  for (const v of Object.values(value)) assertPlainData(v, depth + 1);
}

/** Decodes a server frame produced by packFrame (trusted: from our own bus, a worker or NATS). */
export function unpackFrame(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

/** Decodes a client's binary message. Throws on malformed input, including non-standard types. */
export function unpackMessage(bytes: Uint8Array): unknown {
  const value: unknown = unpackr.unpack(bytes);
  assertPlainData(value, 0);
  return value;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a client's text message. Throws on invalid UTF-8 or JSON. */
export function parseTextMessage(bytes: Uint8Array): unknown {
  return JSON.parse(utf8.decode(bytes));
}
