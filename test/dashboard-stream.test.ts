/**
 * The dashboard's stream client (dashboards/trading/src/stream.ts, built on the @tickgate/client
 * SDK) against a scripted fake WebSocket: subscription convergence, max rate, gap detection, resume
 * after a reconnect, and a new epoch after a gateway restart. The real-gateway, real-browser path
 * is test/dashboard.test.ts.
 */
import { encode } from '@msgpack/msgpack';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { SdkStreamClient, type ConnectionState, type GapInfo, type StreamListener } from '../dashboards/trading/src/stream.ts';

class FakeSocket {
  static readonly OPEN = 1;
  static instances: FakeSocket[] = [];
  readyState = 0;
  binaryType = 'blob';
  readonly sent: Record<string, unknown>[] = [];
  onopen: ((ev: unknown) => void) | null = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: (() => void) | null = null;

  constructor(readonly url: string) {
    FakeSocket.instances.push(this);
  }
  send(data: string): void {
    this.sent.push(JSON.parse(data) as Record<string, unknown>);
  }
  close(code = 1000, reason = ''): void {
    this.drop(code, reason);
  }
  /** The server's side: */
  receive(frame: object): void {
    if (this.readyState === 0) {
      this.readyState = FakeSocket.OPEN;
      this.onopen?.({});
    }
    this.onmessage?.({ data: encode(frame).slice().buffer });
  }
  drop(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const welcome = (epoch: number, rateTiers?: number[]) => ({
  t: 'welcome',
  v: 1,
  server: 'tickgate/test',
  epoch,
  format: 'msgpack',
  maxMessageBytes: 16384,
  maxSubscriptions: 10000,
  ...(rateTiers ? { rateTiers } : {}),
});
const quote = (seq: number) => ({ seq, ts: 1, gts: 1, bid: 1, ask: 2, bidSize: 1, askSize: 1 });

function recorder() {
  const events = {
    states: [] as ConnectionState[],
    ticks: [] as { topic: string; seqs: number[]; snapshot: boolean }[],
    gaps: [] as { topic: string; gap: GapInfo }[],
    epochs: [] as [number, number][],
    rates: [] as number[],
    tiers: [] as (readonly number[])[],
  };
  const listener: StreamListener = {
    onState: (s) => events.states.push(s),
    onWelcome: (w) => events.tiers.push(w.rateTiers),
    onEpochChanged: (a, b) => events.epochs.push([a, b]),
    onTicks: (topic, ticks, snapshot) => events.ticks.push({ topic, seqs: ticks.map((t) => t.seq), snapshot }),
    onGap: (topic, gap) => events.gaps.push({ topic, gap }),
    onTopicStatus: () => {},
    onSlow: () => {},
    onRateGranted: (r) => events.rates.push(r),
    onServerError: () => {},
    onRtt: () => {},
  };
  return { events, listener };
}

beforeEach(() => {
  FakeSocket.instances = [];
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('dashboard stream client', () => {
  it('subscribes what is wanted once welcomed, and converges on changes', () => {
    const { events, listener } = recorder();
    const client = new SdkStreamClient('ws://gw/v1/stream', listener, { WebSocket: FakeSocket });
    client.setWanted(['equity.AAPL.quote', 'fx.*.quote'], 0);
    const ws = FakeSocket.instances[0]!;
    expect(ws.binaryType).toBe('arraybuffer');
    expect(ws.sent).toEqual([]); // nothing before the welcome
    ws.receive(welcome(100, [1, 4, 10]));
    expect(events.states.at(-1)).toEqual({ kind: 'live', server: 'tickgate/test', epoch: 100 });
    expect(events.tiers).toEqual([[1, 4, 10]]);
    expect(ws.sent).toEqual([{ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote', 'fx.*.quote'], snapshot: true }]);

    // The kept entry is re-sent with the new one (the gateway answers an up-to-date resume with nothing);
    // only the entry nobody wants any more is unsubscribed.
    client.setWanted(['equity.AAPL.quote', 'equity.MSFT.quote'], 0);
    expect(ws.sent.slice(1)).toEqual([
      { op: 'subscribe', id: 2, topics: ['equity.AAPL.quote', 'equity.MSFT.quote'], snapshot: true },
      { op: 'unsubscribe', id: 3, topics: ['fx.*.quote'] },
    ]);
    // A new max rate re-subscribes every entry with it; the ack reports what was granted.
    client.setWanted(['equity.AAPL.quote', 'equity.MSFT.quote'], 4);
    expect(ws.sent.slice(3)).toEqual([
      { op: 'subscribe', id: 4, topics: ['equity.AAPL.quote', 'equity.MSFT.quote'], snapshot: true, maxRate: 4 },
    ]);
    ws.receive({ t: 'ack', id: 4, op: 'subscribe', topics: [], snapshots: 0, maxRate: 4, results: [] });
    expect(events.rates).toEqual([4]);
    client.close();
  });

  it('sends no maxRate to a gateway without rate tiers', () => {
    const { listener } = recorder();
    const client = new SdkStreamClient('ws://gw/v1/stream', listener, { WebSocket: FakeSocket });
    client.setWanted(['equity.AAPL.quote'], 4);
    const ws = FakeSocket.instances[0]!;
    ws.receive(welcome(100));
    expect(ws.sent).toEqual([{ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'], snapshot: true }]);
    client.close();
  });

  it('reports seq holes on every-tick delivery, not on conflated frames, and drops repeats', () => {
    const { events, listener } = recorder();
    const client = new SdkStreamClient('ws://gw/v1/stream', listener, { WebSocket: FakeSocket });
    client.setWanted(['equity.AAPL.quote'], 0);
    const ws = FakeSocket.instances[0]!;
    ws.receive(welcome(100));
    ws.receive({ t: 'snapshot', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(5)] });
    ws.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(6), quote(7)] });
    ws.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(7), quote(8)] });
    ws.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(12)] });
    ws.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(20)], conflated: 8 });
    // The SDK hands over one tick at a time.
    expect(events.ticks).toEqual([
      { topic: 'equity.AAPL.quote', seqs: [5], snapshot: true },
      { topic: 'equity.AAPL.quote', seqs: [6], snapshot: false },
      { topic: 'equity.AAPL.quote', seqs: [7], snapshot: false },
      { topic: 'equity.AAPL.quote', seqs: [8], snapshot: false },
      { topic: 'equity.AAPL.quote', seqs: [12], snapshot: false },
      { topic: 'equity.AAPL.quote', seqs: [20], snapshot: false },
    ]);
    expect(events.gaps).toEqual([{ topic: 'equity.AAPL.quote', gap: { reason: 'missed', from: 9, to: 11 } }]);
    // A resume the gateway could not honour is a gap too.
    ws.receive({
      t: 'ack',
      id: 9,
      op: 'subscribe',
      topics: ['fx.EURUSD.quote'],
      snapshots: 1,
      results: [{ topic: 'fx.EURUSD.quote', status: 'gap', reason: 'too_old', from: 3, to: 90 }],
    });
    expect(events.gaps[1]).toEqual({ topic: 'fx.EURUSD.quote', gap: { reason: 'too_old', from: 3, to: 90 } });
    client.close();
  });

  it('reconnects with backoff, resumes within an epoch, and reports a restart as a new epoch', () => {
    const { events, listener } = recorder();
    const client = new SdkStreamClient('ws://gw/v1/stream', listener, { WebSocket: FakeSocket, initialDelayMs: 100, maxDelayMs: 400 });
    client.setWanted(['equity.AAPL.quote', 'fx.*.quote'], 0);
    const first = FakeSocket.instances[0]!;
    first.receive(welcome(100));
    first.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(1), quote(2)] });
    first.receive({ t: 'ticks', topic: 'fx.EURUSD.quote', epoch: 100, ticks: [quote(7)] });
    first.drop(1006);
    expect(events.states.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 1, reason: 'connection lost' });
    expect(client.reconnects).toBe(1);

    vi.advanceTimersByTime(100); // full jitter: attempt 0 waits less than 100 ms
    const second = FakeSocket.instances[1]!;
    expect(second).toBeDefined();
    second.drop(1006); // refused
    expect(events.states.at(-1)).toMatchObject({ kind: 'reconnecting', attempt: 2 });
    vi.advanceTimersByTime(200);
    const third = FakeSocket.instances[2]!;
    third.receive(welcome(100));
    expect(third.sent).toEqual([
      {
        op: 'subscribe',
        id: 2,
        topics: ['equity.AAPL.quote', 'fx.*.quote'],
        snapshot: true,
        resume: { 'equity.AAPL.quote': { epoch: 100, seq: 2 }, 'fx.EURUSD.quote': { epoch: 100, seq: 7 } },
      },
    ]);
    // A replayed tick continues the sequence without a gap.
    third.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 100, ticks: [quote(3)] });
    expect(events.gaps).toEqual([]);

    third.drop(1001, 'server shutting down');
    expect(events.states.at(-1)).toMatchObject({
      kind: 'reconnecting',
      attempt: 1,
      reason: 'gateway shutting down (server shutting down)',
    });
    vi.advanceTimersByTime(100);
    const fourth = FakeSocket.instances[3]!;
    fourth.receive(welcome(200));
    expect(events.epochs).toEqual([[100, 200]]);
    // A new gateway run is reported once (onEpochChanged), not as an epoch_changed gap per topic.
    fourth.receive({
      t: 'ack',
      id: 3,
      op: 'subscribe',
      topics: [],
      snapshots: 0,
      results: [{ topic: 'fx.EURUSD.quote', status: 'gap', reason: 'epoch_changed' }],
    });
    fourth.receive({ t: 'ticks', topic: 'equity.AAPL.quote', epoch: 200, ticks: [quote(1)] });
    expect(events.gaps).toEqual([]);
    expect(events.ticks.at(-1)).toEqual({ topic: 'equity.AAPL.quote', seqs: [1], snapshot: false });
    expect(client.reconnects).toBe(3);
    client.close();
    expect(events.states.at(-1)).toEqual({ kind: 'closed' });
  });

  it('pings for RTT and drops a connection that has gone silent', () => {
    const { events, listener } = recorder();
    const client = new SdkStreamClient('ws://gw/v1/stream', listener, { WebSocket: FakeSocket, pingIntervalMs: 1000 });
    const ws = FakeSocket.instances[0]!;
    ws.receive(welcome(100));
    vi.advanceTimersByTime(1000);
    const ping = ws.sent.find((m) => m.op === 'ping');
    expect(ping).toBeDefined();
    ws.receive({ t: 'pong', id: ping!.id, gts: 1 });
    // Nothing more from the gateway: after 4 intervals of silence the SDK gives the socket up.
    vi.advanceTimersByTime(4000);
    expect(events.states.at(-1)).toMatchObject({ kind: 'reconnecting', reason: 'no data from the gateway' });
    expect(FakeSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(3000);
    expect(FakeSocket.instances).toHaveLength(2);
    client.close();
  });
});
