import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';

/** A message a client sent the fake upstream, parsed. */
export interface Received {
  readonly conn: number;
  readonly msg: { method?: string; params?: string[]; id?: number } & Record<string, unknown>;
}

/**
 * A Binance-like market-data server for tests, on an ephemeral port: speaks
 * `{"method":"SUBSCRIBE"|"UNSUBSCRIBE","params":[streams],"id":n}` → `{"result":null,"id":n}`,
 * pushes `<sym>@bookTicker` and `<sym>@trade` payloads to the connections subscribed to them,
 * and can drop connections, refuse upgrades, go silent or send garbage. Test-only.
 */
export class FakeBinance {
  readonly received: Received[] = [];
  /** Date.now() of every upgrade attempt, refused or not. */
  readonly attempts: number[] = [];
  /** Refuse this many upcoming upgrade attempts with HTTP 503. */
  refuseNext = 0;
  /** WebSocket pings received from clients. */
  pings = 0;
  private readonly conns = new Map<WebSocket, { id: number; streams: Set<string> }>();
  private nextConn = 0;
  private waiters: (() => void)[] = [];
  private updateId = 1;

  private constructor(private readonly wss: WebSocketServer) {
    wss.on('connection', (ws: WebSocket) => {
      const state = { id: ++this.nextConn, streams: new Set<string>() };
      this.conns.set(ws, state);
      ws.on('message', (data: Buffer) => {
        let msg: Received['msg'];
        try {
          msg = JSON.parse(data.toString('utf8')) as Received['msg'];
        } catch {
          return;
        }
        this.received.push({ conn: state.id, msg });
        if (msg.method === 'SUBSCRIBE') for (const s of msg.params ?? []) state.streams.add(s);
        if (msg.method === 'UNSUBSCRIBE') for (const s of msg.params ?? []) state.streams.delete(s);
        if (msg.method === 'SUBSCRIBE' || msg.method === 'UNSUBSCRIBE') ws.send(JSON.stringify({ result: null, id: msg.id }));
        this.wake();
      });
      ws.on('ping', () => {
        this.pings++;
        this.wake();
      });
      ws.on('close', () => {
        this.conns.delete(ws);
        this.wake();
      });
      this.wake();
    });
  }

  static async start(): Promise<FakeBinance> {
    let fake: FakeBinance | null = null;
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (_info: { req: IncomingMessage }, done: (ok: boolean, code?: number) => void) => {
        fake!.attempts.push(Date.now());
        fake!.wake();
        if (fake!.refuseNext > 0) {
          fake!.refuseNext--;
          done(false, 503);
        } else {
          done(true);
        }
      },
    });
    fake = new FakeBinance(wss);
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    return fake;
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/ws`;
  }

  get connectionCount(): number {
    return this.conns.size;
  }

  /** Streams subscribed on any open connection. */
  streams(): Set<string> {
    const out = new Set<string>();
    for (const s of this.conns.values()) for (const x of s.streams) out.add(x);
    return out;
  }

  /** Resolves once `pred` holds (re-checked on every connection, message and close). */
  async until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`fake upstream: timed out waiting for ${what}; received ${JSON.stringify(this.received.map((r) => r.msg))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends to every connection subscribed to `stream` (or all, with `stream` null). */
  private push(stream: string | null, payload: string): number {
    let n = 0;
    for (const [ws, s] of this.conns) {
      if (ws.readyState === WebSocket.OPEN && (stream === null || s.streams.has(stream))) {
        ws.send(payload);
        n++;
      }
    }
    return n;
  }

  bookTicker(symbol: string, bid: string, ask: string, bidQty = '1.5', askQty = '2.25'): number {
    return this.push(
      `${symbol.toLowerCase()}@bookTicker`,
      JSON.stringify({ u: this.updateId++, s: symbol, b: bid, B: bidQty, a: ask, A: askQty }),
    );
  }

  trade(symbol: string, price: string, qty: string, time: number): number {
    return this.push(
      `${symbol.toLowerCase()}@trade`,
      JSON.stringify({ e: 'trade', E: time + 1, s: symbol, t: this.updateId++, p: price, q: qty, T: time, m: true, M: true }),
    );
  }

  /** Sends raw text to every connection. */
  raw(text: string): number {
    return this.push(null, text);
  }

  /** Cuts every connection without a close handshake (a network failure). */
  dropAll(): void {
    for (const ws of this.conns.keys()) ws.terminate();
  }

  async close(): Promise<void> {
    for (const ws of this.conns.keys()) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}
