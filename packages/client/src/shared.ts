// Everything the browser and Node builds have in common; each build adds its own `connect`.
export { Subscription } from './client.ts';
export type { ClientEvents, ClientStats, ConnectOptions, SubscribeOptions, Tick, WebSocketConstructor, WebSocketLike } from './client.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
export { OrderBook, type BookMismatch } from './book.ts';
export { crc32, crc32String } from './crc32.ts';
export { isBarTick, isBookTick, type BarTick, type BookTick } from './entries.ts';
export * from './protocol.ts';
export { isPattern, isValidTopic, makeTopic, parseTopic, topicError, TopicPattern, type ParsedTopic } from './topic.ts';
