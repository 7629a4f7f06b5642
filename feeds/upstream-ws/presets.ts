import type { MappingSpec } from './mapping.ts';

/**
 * Ready-made mappings for two common public formats. A config `mapping` overrides a preset's
 * top-level keys (e.g. keep the binance messages but change `subscribe`).
 */
export const PRESETS = {
  /**
   * Binance spot streams (wss://stream.binance.com:9443/ws, raw or combined `/stream`):
   * `<sym>@bookTicker` → quotes (no event time: stamped on arrival), `<sym>@trade` → trades
   * (trade time `T`, ms). Subscribes with `{"method":"SUBSCRIBE","params":[...],"id":n}`.
   * Binance pings at the WebSocket level; the adapter answers and counts pings as signs of life.
   */
  binance: {
    unwrap: 'data',
    messages: [
      { kind: 'trade', match: { e: 'trade' }, symbol: 's', ts: 'T', tsUnit: 'ms', price: 'p', size: 'q' },
      { kind: 'quote', has: ['u', 's', 'b', 'a'], symbol: 's', bid: 'b', ask: 'a', bidSize: 'B', askSize: 'A' },
    ],
    ignore: [{ has: ['id'], match: { result: null } }],
    errors: [{ has: ['error'] }],
    subscribe: {
      streams: { quote: '{lower}@bookTicker', trade: '{lower}@trade' },
      message: { method: 'SUBSCRIBE', params: '$streams', id: '$id' },
      unsubscribe: { method: 'UNSUBSCRIBE', params: '$streams', id: '$id' },
      maxStreamsPerMessage: 200,
    },
  },
  /**
   * Coinbase Exchange market data (wss://ws-feed.exchange.coinbase.com): the `ticker` channel
   * carries both the best bid/ask (→ quote) and the last trade (→ trade) of a product, with an
   * ISO time; `heartbeat` keeps quiet products alive. Product ids such as `BTC-USD` are valid
   * topic symbols as they are.
   */
  coinbase: {
    messages: [
      {
        kind: 'quote',
        match: { type: 'ticker' },
        symbol: 'product_id',
        ts: 'time',
        tsUnit: 'iso',
        bid: 'best_bid',
        ask: 'best_ask',
        bidSize: 'best_bid_size',
        askSize: 'best_ask_size',
      },
      { kind: 'trade', match: { type: 'ticker' }, symbol: 'product_id', ts: 'time', tsUnit: 'iso', price: 'price', size: 'last_size' },
    ],
    ignore: [{ match: { type: 'subscriptions' } }, { match: { type: 'heartbeat' } }],
    errors: [{ match: { type: 'error' } }],
    subscribe: {
      streams: { quote: '{symbol}', trade: '{symbol}' },
      message: { type: 'subscribe', product_ids: '$streams', channels: ['ticker', 'heartbeat'] },
      unsubscribe: { type: 'unsubscribe', product_ids: '$streams', channels: ['ticker', 'heartbeat'] },
    },
  },
} satisfies Record<string, MappingSpec>;

export type PresetName = keyof typeof PRESETS;
