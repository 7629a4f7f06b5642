/**
 * @tickgate/client for browsers (and any runtime with a global WebSocket): no Node-only code.
 *
 * ```ts
 * import { connect } from '@tickgate/client';
 * const client = connect('wss://gateway.example/v1/stream');
 * client.on('gap', (topic, from, to) => console.warn('missed', topic, from, to));
 * client.subscribe(['equity.AAPL.quote', 'fx.*.quote'], (tick) => console.log(tick.topic, tick.bid));
 * ```
 */
import { TickgateClient, type ConnectOptions } from './client.ts';

export * from './shared.ts';
export { TickgateClient };

/** Connects to a tickgate gateway (`ws://host:port/v1/stream`) with the global WebSocket. The client reconnects on its own. */
export function connect(url: string, options: ConnectOptions = {}): TickgateClient {
  return new TickgateClient(url, options);
}
