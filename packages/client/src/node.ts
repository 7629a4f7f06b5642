/**
 * @tickgate/client for Node: the same API as the browser build, with the `ws` package as the
 * default WebSocket (Node 20 has no global WebSocket; `ws` behaves the same on every version).
 */
import WebSocket from 'ws';
import { TickgateClient as BaseClient, type ConnectOptions, type WebSocketConstructor } from './client.ts';

export * from './shared.ts';

const NodeWebSocket = WebSocket as unknown as WebSocketConstructor;

/** A TickgateClient that uses `ws` unless `options.WebSocket` says otherwise. */
export class TickgateClient extends BaseClient {
  constructor(url: string, options: ConnectOptions = {}) {
    super(url, { ...options, WebSocket: options.WebSocket ?? NodeWebSocket });
  }
}

/** Connects to a tickgate gateway (`ws://host:port/v1/stream`). The client reconnects on its own. */
export function connect(url: string, options: ConnectOptions = {}): TickgateClient {
  return new TickgateClient(url, options);
}
