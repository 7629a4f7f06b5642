import { Packr, Unpackr } from 'msgpackr';
import type { ServerFrame } from './frames.ts';

/**
 * Standard MessagePack only: plain maps (no msgpackr records), undefined as nil (msgpackr's
 * default is an extension type), no structured-clone extensions. Any MessagePack decoder in any
 * language reads these bytes.
 */
const packr = new Packr({ useRecords: false, encodeUndefinedAsNil: true, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/**
 * Encodes a frame. The result is a view into a reused buffer, valid until the next call:
 * send it (uWS copies) before encoding again, or copy it with `Uint8Array.prototype.slice`.
 */
export function packFrame(frame: ServerFrame): Uint8Array {
  return packr.pack(frame);
}

export function jsonFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/** Decodes a client's binary message. Throws on malformed input. */
export function unpackMessage(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes a client's text message. Throws on invalid UTF-8 or JSON. */
export function parseTextMessage(bytes: Uint8Array): unknown {
  return JSON.parse(utf8.decode(bytes));
}
