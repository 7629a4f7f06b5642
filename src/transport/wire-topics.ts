import type { WireFormat } from '../protocol/frames.ts';

/**
 * uWS topic names. Subscribers of one format share the same bytes, so each format gets its own
 * uWS topic: the bare topic for MessagePack, a prefixed one for JSON (":" never occurs in a topic).
 */
export function wireTopic(topic: string, format: WireFormat): string {
  return format === 'msgpack' ? topic : `json:${topic}`;
}
