/** The `op` label of tickgate_client_messages_total: a request's op, or why it was not one. */
export const CLIENT_MESSAGE_LABELS = ['subscribe', 'unsubscribe', 'ping', 'refresh', 'invalid', 'rate_limited'] as const;
export type ClientMessageLabel = (typeof CLIENT_MESSAGE_LABELS)[number];

/**
 * Plain-number counts for the connection path: every open, close and subscribe touches them, so
 * they are fields, not prom-client calls (a labelled inc hashes its labels and allocates; a
 * connection storm is thousands of opens per second). The prom-client metrics read them at
 * scrape time (see createMetrics), as HotStats does for the tick path.
 */
export class ConnectionStats {
  /** Open WebSocket connections (tickgate_connections). */
  open = 0;
  /** Connections accepted since start (tickgate_connections_opened_total). */
  opened = 0;
  /** (connection, topic) subscriptions held (tickgate_subscriptions). */
  subscriptions = 0;
  /** Client messages since start, by label (tickgate_client_messages_total). */
  readonly messages: Record<ClientMessageLabel, number> = {
    subscribe: 0,
    unsubscribe: 0,
    ping: 0,
    refresh: 0,
    invalid: 0,
    rate_limited: 0,
  };
}
