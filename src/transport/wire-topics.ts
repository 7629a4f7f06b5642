import type { WireFormat } from '../protocol/frames.ts';

/**
 * uWS topic names. Subscribers who get the same bytes share a uWS topic, so each delivery
 * variant of a topic has its own: MessagePack or JSON; every tick, a conflated rate tier,
 * or a delayed tier (delayed subscribers get every tick, late; they ignore maxRate).
 * ":" never occurs in a tickgate topic, so the prefixes cannot collide with topics.
 */
export function wireTopic(topic: string, format: WireFormat, rate = 0, delayMs = 0): string {
  const tier = delayMs > 0 ? `d${delayMs}:` : rate === 0 ? '' : `r${rate}:`;
  return format === 'msgpack' ? `${tier}${topic}` : `json:${tier}${topic}`;
}
