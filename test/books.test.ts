import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createEquityModel } from '../feeds/sim-equity/model.ts';
import { CheckedBook, crc32 } from './book-checker.ts';
import { type Frame, type Started, type TestClient, useClient, useGateway } from './helpers.ts';

const TOPIC = 'equity.AAPL.book';
const DEPTH = 5;

let s: Started | null = null;

async function connect(): Promise<TestClient> {
  const c = await useClient(s!.stream);
  await c.waitFor((f) => f.t === 'welcome');
  return c;
}

/** Drives the sim-equity model (one symbol, a 20-level book) straight into the gateway's bus. */
function feeder(gw: Started['gw']) {
  const model = createEquityModel({ seed: 11, ticksPerSecond: 1000, tradeProbability: 0, universe: ['AAPL'], bookDepth: 20 });
  let ts = Date.now();
  /** The gateway's own published book (what its snapshots are made of), by seq. */
  const gatewayBooks = new Map<number, { bids: number[][]; asks: number[][] }>();
  const record = () => {
    const seq = gw.bus.topic(TOPIC)?.last?.seq ?? 0;
    const book = gw.market.book(TOPIC);
    if (book) gatewayBooks.set(seq, { bids: book.bids.top(100).map((l) => [...l]), asks: book.asks.top(100).map((l) => [...l]) });
  };
  return {
    gatewayBooks,
    /** Publishes `quotes` quotes and their book updates, `perTurn` per event-loop turn, recording the gateway's book after each flush. */
    async run(quotes: number, perTurn = 5): Promise<void> {
      for (let i = 0; i < quotes; i++) {
        const q = model.next(++ts);
        gw.bus.publish(q, 'test');
        const b = model.followUp();
        if (b) gw.bus.publish(b, 'test');
        if ((i + 1) % perTurn === 0) {
          gw.bus.flush();
          record();
          await new Promise((r) => setImmediate(r));
        }
      }
      gw.bus.flush();
      record();
    },
  };
}

function bookFrames(c: TestClient, from = 0): Frame[] {
  return c.frames.slice(from).filter((f) => (f.t === 'ticks' || f.t === 'snapshot') && f.topic === TOPIC);
}

/** Checks a client's book against the gateway's at every seq where it was recorded. */
function verify(
  book: CheckedBook,
  frames: Frame[],
  everyUpdate: boolean,
  gatewayBooks: Map<number, { bids: number[][]; asks: number[][] }>,
): number {
  let compared = 0;
  for (const f of frames) {
    book.onFrame(f, everyUpdate);
    const expected = gatewayBooks.get(book.seq);
    if (expected) {
      expect(book.top(), `seq ${book.seq}`).toEqual(expected);
      compared++;
    }
  }
  expect(book.mismatches).toEqual([]);
  return compared;
}

describe('order books (independent checker: own msgpack decode, own CRC-32, own book)', () => {
  it('the checksum string and CRC of docs/protocol.md §17 worked example', () => {
    const text = '228.1:300,228.09:500|228.12:200,228.13:100';
    expect([...Buffer.from(text)].length).toBe(42);
    expect(crc32(text)).toBe(0x599f4ec4);
    expect(crc32(text)).toBe(1503612612);
  });

  it('snapshot + every update (and snapshot + maxRate net updates) reproduce the gateway book at every seq', async () => {
    s = await useGateway({ market: { bookDepth: DEPTH }, bus: { historyMaxTicks: 100_000 } });
    const feed = feeder(s.gw);
    await feed.run(50);
    const every = await connect();
    const slow = await connect();
    const ackEvery = await every.request({ id: 1, op: 'subscribe', topics: [TOPIC] });
    expect(ackEvery.results).toEqual([{ topic: TOPIC, status: 'snapshot' }]);
    const ackSlow = await slow.request({ id: 1, op: 'subscribe', topics: [TOPIC], maxRate: 20 });
    expect(ackSlow.maxRate).toBe(20);
    await every.waitFor((f) => f.t === 'snapshot');
    await slow.waitFor((f) => f.t === 'snapshot');

    // Enough turns that the 20/s tier fires several times while updates keep coming.
    for (let round = 0; round < 8; round++) {
      await feed.run(60, 5);
      await new Promise((r) => setTimeout(r, 60));
    }
    const lastSeq = s.gw.bus.topic(TOPIC)!.last!.seq;
    await every.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === lastSeq);
    await slow.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === lastSeq, { timeoutMs: 3000 });

    const a = new CheckedBook(DEPTH);
    const compared = verify(a, bookFrames(every), true, feed.gatewayBooks);
    expect(a.snapshots).toBe(1);
    expect(a.seq).toBe(lastSeq);
    expect(compared).toBeGreaterThan(90);
    expect(a.bids.size).toBe(DEPTH);

    const b = new CheckedBook(DEPTH);
    verify(b, bookFrames(slow), false, feed.gatewayBooks);
    expect(b.seq).toBe(lastSeq);
    expect(b.top()).toEqual(feed.gatewayBooks.get(lastSeq));
    const netFrames = bookFrames(slow).filter((f) => f.t === 'ticks');
    expect(netFrames.length).toBeLessThan(b.updates + 1);
    expect(netFrames.some((f) => f.conflated > 1)).toBe(true);
    // Net updates: one entry per frame, fewer frames than updates.
    expect(netFrames.every((f) => f.ticks.length === 1)).toBe(true);
    expect(netFrames.length).toBeLessThan(lastSeq / 3);

    // GET /v1/snapshot of a book topic: the whole top N with the checksum.
    const http = (await (await fetch(`${s.http}/v1/snapshot/${TOPIC}`)).json()) as Frame;
    expect(http).toMatchObject({ topic: TOPIC, seq: lastSeq, checksum: (s.gw.bus.topic(TOPIC)!.last as Frame).checksum });
    expect(http.bids).toEqual(feed.gatewayBooks.get(lastSeq)!.bids);
  });

  it('resume within the history replays the updates; past it, a gap report and a fresh snapshot; the book verifies throughout', async () => {
    s = await useGateway({ market: { bookDepth: DEPTH }, bus: { historyMaxTicks: 80 } });
    const feed = feeder(s.gw);
    await feed.run(30);
    const epoch = s.gw.bus.epoch;
    let c = await connect();
    await c.request({ id: 1, op: 'subscribe', topics: [TOPIC] });
    await feed.run(40);
    let last = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === last);
    const book = new CheckedBook(DEPTH);
    verify(book, bookFrames(c), true, feed.gatewayBooks);
    await c.close();

    // Away for fewer updates than the history holds: replayed, consecutive seqs, same book.
    await feed.run(20);
    c = await connect();
    const resumed = await c.request({ id: 2, op: 'subscribe', topics: [TOPIC], resume: { [TOPIC]: { epoch, seq: book.seq } } });
    last = s.gw.bus.topic(TOPIC)!.last!.seq;
    expect(resumed.results).toEqual([{ topic: TOPIC, status: 'replayed', count: last - book.seq }]);
    await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === last);
    verify(book, bookFrames(c), true, feed.gatewayBooks);
    expect(book.seq).toBe(last);
    await c.close();

    // Away for more than the history holds: gap (too_old) with the missed range, then a snapshot.
    const before = book.seq;
    await feed.run(150);
    c = await connect();
    const gap = await c.request({ id: 3, op: 'subscribe', topics: [TOPIC], resume: { [TOPIC]: { epoch, seq: before } } });
    last = s.gw.bus.topic(TOPIC)!.last!.seq;
    expect(gap.results).toEqual([{ topic: TOPIC, status: 'gap', reason: 'too_old', from: before + 1, to: last - 1 }]);
    expect(gap.snapshots).toBe(1);
    await c.waitFor((f) => f.t === 'snapshot');
    await feed.run(20);
    last = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === last);
    const snapshotsBefore = book.snapshots;
    verify(book, bookFrames(c), false, feed.gatewayBooks);
    expect(book.snapshots).toBe(snapshotsBefore + 1);
    expect(book.seq).toBe(last);
    expect(book.top()).toEqual(feed.gatewayBooks.get(last));
  });

  it('maxRate past the history: the tier sends a fresh snapshot instead of a net update, and the book still verifies', async () => {
    s = await useGateway({ market: { bookDepth: DEPTH }, bus: { historyMaxTicks: 10 } });
    const feed = feeder(s.gw);
    await feed.run(20);
    const c = await connect();
    await c.request({ id: 1, op: 'subscribe', topics: [TOPIC], maxRate: 2 });
    await c.waitFor((f) => f.t === 'snapshot');
    await feed.run(100); // far more than the 10 updates held, before the 2/s tier fires
    const last = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c.waitFor((f) => f.t === 'snapshot' && f.ticks[0].seq === last, { from: 1 + c.frames.findIndex((f) => f.t === 'snapshot') });
    await feed.run(3);
    const newest = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === newest);
    const book = new CheckedBook(DEPTH);
    verify(book, bookFrames(c), false, feed.gatewayBooks);
    expect(book.snapshots).toBe(2);
    expect(book.top()).toEqual(feed.gatewayBooks.get(newest));
  });

  it('with worker threads, a client on a worker gets the same verified book', async () => {
    s = await useGateway({ workers: 2, market: { bookDepth: DEPTH } });
    const feed = feeder(s.gw);
    await feed.run(30);
    let c: TestClient | null = null;
    for (let i = 0; i < 30 && c === null; i++) {
      const candidate = await connect();
      const welcome = await candidate.waitFor((f) => f.t === 'welcome');
      if (welcome.worker === 1) c = candidate;
    }
    expect(c, 'no connection landed on worker 1').not.toBeNull();
    await c!.request({ id: 1, op: 'subscribe', topics: [TOPIC] });
    await c!.waitFor((f) => f.t === 'snapshot');
    await feed.run(40);
    const last = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c!.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === last);
    const book = new CheckedBook(DEPTH);
    verify(book, bookFrames(c!), true, feed.gatewayBooks);
    expect(book.top()).toEqual(feed.gatewayBooks.get(last));
  });

  it('a slow consumer downgraded on a book topic gets net updates, then a snapshot on recovery; its book verifies throughout', async () => {
    s = await useGateway({
      market: { bookDepth: DEPTH },
      bus: { historyMaxTicks: 100_000, historyMaxAgeMs: 600_000 },
      transport: { maxBackpressureBytes: 8 * 1024 * 1024 },
      slowConsumer: { softLimitBytes: 32 * 1024, recoverBelowBytes: 8 * 1024, maxSlowMs: 60_000, checkIntervalMs: 25, downgradeRate: 2 },
    });
    const feed = feeder(s.gw);
    await feed.run(20);
    const c = await connect();
    await c.request({ id: 1, op: 'subscribe', topics: [TOPIC] });
    await c.waitFor((f) => f.t === 'snapshot');
    const socket = (c.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    const actions = async (action: string) => {
      const text = await (await fetch(`${s!.http}/metrics`)).text();
      return Number(new RegExp(`tickgate_slow_consumer_actions_total\\{action="${action}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
    };
    for (let round = 0; round < 500 && (await actions('downgrade')) === 0; round++) await feed.run(100, 20);
    expect(await actions('downgrade')).toBe(1);
    // Downgraded: updates keep coming and reach the client as net updates at 2/s.
    for (let i = 0; i < 6; i++) {
      await feed.run(50, 10);
      await new Promise((r) => setTimeout(r, 200));
    }
    socket.resume();
    const recovered = await c.waitFor((f) => f.t === 'slow' && f.state === 'recovered', { timeoutMs: 10_000 });
    const at = c.frames.indexOf(recovered);
    expect(c.frames[at + 1]).toMatchObject({ t: 'snapshot', topic: TOPIC });
    await feed.run(30);
    const last = s.gw.bus.topic(TOPIC)!.last!.seq;
    await c.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === last);
    const downgradedAt = c.frames.findIndex((f) => f.t === 'slow' && f.state === 'downgraded');
    const net = c.frames.slice(downgradedAt, at).filter((f) => f.t === 'ticks' && f.topic === TOPIC);
    expect(net.length).toBeGreaterThan(0);
    expect(net.every((f) => f.ticks.length === 1)).toBe(true);
    expect(net.some((f) => f.conflated > 1)).toBe(true);
    const book = new CheckedBook(DEPTH);
    verify(book, bookFrames(c), false, feed.gatewayBooks);
    expect(book.seq).toBe(last);
    expect(book.top()).toEqual(feed.gatewayBooks.get(last));
  });

  it('refuses malformed book ticks with a reason and no seq', async () => {
    s = await useGateway({ market: { bookDepth: DEPTH } });
    const ts = Date.now();
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[10, 100]], asks: [[10.01, 100]] }, 'test')).toEqual({
      ok: true,
      seq: 1,
    });
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[10, 1.5]], asks: [] }, 'test')).toEqual({
      ok: false,
      reason: 'fractional_size',
    });
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[-1, 100]], asks: [] }, 'test')).toEqual({
      ok: false,
      reason: 'invalid_price',
    });
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[10]], asks: [] } as never, 'test')).toEqual({
      ok: false,
      reason: 'invalid_levels',
    });
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: 'x', asks: [] } as never, 'test')).toEqual({
      ok: false,
      reason: 'invalid_levels',
    });
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'quote', bid: 1, ask: 2, bidSize: 1, askSize: 1 }, 'test')).toEqual({
      ok: false,
      reason: 'channel_mismatch',
    });
    // A change below the visible depth: accepted, no update, no new seq.
    for (let i = 1; i <= DEPTH; i++) s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[10 - i / 100, 100]], asks: [] }, 'test');
    s.gw.bus.flush();
    const seq = s.gw.bus.topic(TOPIC)?.last?.seq ?? 0;
    expect(s.gw.bus.publish({ topic: TOPIC, ts, kind: 'book', bids: [[9.5, 100]], asks: [] }, 'test')).toEqual({ ok: true, seq });
  });
});
