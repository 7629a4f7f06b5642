import { decode } from '@msgpack/msgpack';
import { onTestFinished } from 'vitest';
import WebSocket from 'ws';
import { createGateway, type Gateway } from '../src/index.ts';
import type { ConfigInput } from '../src/config/schema.ts';

export interface Started {
  gw: Gateway;
  port: number;
  stream: string;
  http: string;
}

/** A real gateway on an ephemeral port; no feeds unless asked, so tests publish exactly what they assert. */
export async function startGateway(overrides: ConfigInput = {}): Promise<Started> {
  const gw = createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', feeds: [], ...overrides });
  const { port } = await gw.start();
  return { gw, port, stream: `ws://127.0.0.1:${port}/v1/stream`, http: `http://127.0.0.1:${port}` };
}

// ---- fixtures: started inside a test, cleaned up when it finishes (pass or fail) ----------------
// vitest runs onTestFinished callbacks last-registered first, so clients close before their gateway.

/** startGateway, stopped when the current test finishes. */
export async function useGateway(overrides: ConfigInput = {}): Promise<Started> {
  const started = await startGateway(overrides);
  onTestFinished(() => started.gw.stop());
  return started;
}

/** Stops `gw` (built by hand, e.g. with createGateway and feed definitions) when the current test finishes. */
export function stopAfterTest<T extends { stop(): Promise<void> }>(gw: T): T {
  onTestFinished(() => gw.stop());
  return gw;
}

/** TestClient.connect, closed when the current test finishes. */
export async function useClient(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<TestClient> {
  const client = await TestClient.connect(url, options, protocols);
  onTestFinished(() => client.close());
  return client;
}

/** Polls `pred` every 10 ms until it holds; rejects naming `what` after `timeoutMs`. */
export function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const check = () => {
      if (pred()) return resolve();
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(check, 10);
    };
    check();
  });
}

/** Tries an upgrade; resolves with the open client or the HTTP refusal. */
export function tryConnect(
  url: string,
  options: WebSocket.ClientOptions = {},
  protocols?: string[],
): Promise<{ client?: TestClient; status?: number; body?: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, options);
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.on('open', () => {
      ws.close();
      TestClient.connect(url, options, protocols).then((client) => {
        onTestFinished(() => client.close());
        resolve({ client });
      }, reject);
    });
    ws.on('error', () => {});
  });
}

/** Round-trips a ping so every frame the server sent before it has arrived. */
export async function settle(client: TestClient): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  await client.request({ op: 'ping', id: `settle-${Math.random()}` });
}

// biome-ignore lint/suspicious/noExplicitAny: decoded JSON/MessagePack read field by field in assertions
export type Frame = Record<string, any>;

/**
 * A real WebSocket client (the `ws` package) that decodes every frame with a standard
 * MessagePack decoder (@msgpack/msgpack, not msgpackr) or JSON.parse, and lets tests await
 * frames by predicate instead of sleeping.
 */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: { data: Buffer; isBinary: boolean }[] = [];
  closeCode: number | null = null;
  closeReason = '';
  private waiters: (() => void)[] = [];
  private readonly closed: Promise<void>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      this.raw.push({ data, isBinary });
      this.frames.push((isBinary ? decode(data) : JSON.parse(data.toString('utf8'))) as Frame);
      this.wake();
    });
    this.closed = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        this.wake();
        resolve();
      });
    });
  }

  static connect(url: string, options: WebSocket.ClientOptions = {}, protocols?: string[]): Promise<TestClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, options);
      const client = new TestClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('error', reject);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the first frame (from `from` on) matching `pred`; rejects after `timeoutMs`. */
  async waitFor(pred: (f: Frame) => boolean, opts: { from?: number; timeoutMs?: number } = {}): Promise<Frame> {
    const deadline = Date.now() + (opts.timeoutMs ?? 5000);
    let index = opts.from ?? 0;
    for (;;) {
      for (; index < this.frames.length; index++) if (pred(this.frames[index]!)) return this.frames[index]!;
      if (this.closeCode !== null) throw new Error(`connection closed (${this.closeCode} ${this.closeReason}) while waiting`);
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out waiting for a frame; got ${JSON.stringify(this.frames.slice(-3))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until `count` frames satisfy `pred`. */
  async waitForCount(pred: (f: Frame) => boolean, count: number, timeoutMs = 5000): Promise<Frame[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.frames.filter(pred);
      if (found.length >= count) return found;
      await this.waitFor(() => true, { from: this.frames.length, timeoutMs: Math.max(1, deadline - Date.now()) });
    }
  }

  sendJson(obj: unknown): void {
    this.ws.send(JSON.stringify(obj));
  }

  sendRaw(data: Buffer | string, binary: boolean): void {
    this.ws.send(data, { binary });
  }

  /** Sends a request and returns the ack or error frame answering it. */
  async request(obj: { id: number | string } & Record<string, unknown>, binary?: Buffer): Promise<Frame> {
    const from = this.frames.length;
    if (binary) this.sendRaw(binary, true);
    else this.sendJson(obj);
    return this.waitFor((f) => (f.t === 'ack' || f.t === 'error' || f.t === 'pong') && f.id === obj.id, { from });
  }

  async close(): Promise<void> {
    if (this.closeCode === null) this.ws.close();
    await this.closed;
  }

  whenClosed(): Promise<void> {
    return this.closed;
  }
}

export function quote(topic: string, bid: number, ts = Date.now()) {
  return { topic, kind: 'quote' as const, ts, bid, ask: Math.round((bid + 0.01) * 100) / 100, bidSize: 100, askSize: 300 };
}

/** Ticks of `topic` from every ticks frame received so far, flattened, in arrival order. */
export function ticksOf(client: TestClient, topic: string): Frame[] {
  return client.frames.filter((f) => f.t === 'ticks' && f.topic === topic).flatMap((f) => f.ticks as Frame[]);
}
