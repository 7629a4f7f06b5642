/**
 * The tickgate client SDK, for Node and browsers:
 *
 * ```ts
 * import { connect } from 'tickgate/client';
 * const client = connect('ws://127.0.0.1:9001/v1/stream');
 * client.on('gap', (topic, from, to) => console.warn('missed', topic, from, to));
 * client.subscribe(['equity.AAPL.quote', 'fx.*.quote'], (tick) => console.log(tick.topic, tick.bid));
 * ```
 */
export { connect, Subscription, TickgateClient } from './client.ts';
export type { ClientEvents, ClientStats, ConnectOptions, GapReason, SubscribeOptions, Tick, WebSocketConstructor, WebSocketLike } from './client.ts';
export { backoffDelay, type BackoffOptions } from './backoff.ts';
