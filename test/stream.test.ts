import { encode } from '@msgpack/msgpack';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { assertStandardFrame } from './msgpack-strict.ts';
import { quote, settle, type TestClient, ticksOf, useClient, useGateway } from './helpers.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

const gateway = useGateway;
async function client(url: string) {
  const c = await useClient(url);
  await c.waitFor((f) => f.t === 'welcome');
  return c;
}

describe('subscribe and stream', () => {
  it('sends welcome, then ack, then the last value, then live ticks with consecutive seqs', async () => {
    const { gw, stream } = await gateway();
    const topic = 'equity.AAPL.quote';
    for (let i = 0; i < 5; i++) gw.bus.publish(quote(topic, 190 + i / 100), 'test');
    await nextTurn();

    const c = await client(stream);
    expect(c.frames[0]).toMatchObject({ t: 'welcome', v: 1, epoch: gw.bus.epoch, format: 'msgpack' });
    const ack = await c.request({ op: 'subscribe', id: 1, topics: [topic] });
    expect(ack).toEqual({
      t: 'ack',
      id: 1,
      op: 'subscribe',
      topics: [topic],
      snapshots: 1,
      maxRate: 0,
      results: [{ topic, status: 'snapshot' }],
    });
    const ackIndex = c.frames.indexOf(ack);
    const snapshot = c.frames[ackIndex + 1]!;
    expect(snapshot).toMatchObject({ t: 'snapshot', topic, epoch: gw.bus.epoch });
    expect(snapshot.ticks).toHaveLength(1);
    expect(snapshot.ticks[0]).toMatchObject({ seq: 5, bid: 190.04 });

    for (let i = 0; i < 300; i++) {
      gw.bus.publish(quote(topic, 191 + (i % 50) / 100), 'test');
      if (i % 37 === 0) await nextTurn();
    }
    const live = await c.waitForCount((f) => f.t === 'ticks', 1);
    expect(live[0]).toMatchObject({ t: 'ticks', topic, epoch: gw.bus.epoch });
    await settle(c);
    const seqs = ticksOf(c, topic).map((t) => t.seq);
    expect(seqs).toEqual(Array.from({ length: 300 }, (_, i) => i + 6));
    for (const t of ticksOf(c, topic)) {
      expect(typeof t.ts).toBe('number');
      expect(t.gts).toBeGreaterThanOrEqual(t.ts - 1);
      expect(t.ask).toBeGreaterThan(t.bid);
    }
  });

  it('expands patterns against known topics, picks up topics that appear later, and unsubscribe stops delivery', async () => {
    const { gw, stream } = await gateway();
    gw.bus.publish(quote('fx.EURUSD.quote', 1.08), 'test');
    gw.bus.publish(quote('fx.GBPUSD.quote', 1.27), 'test');
    gw.bus.publish(quote('equity.AAPL.quote', 190), 'test');
    await nextTurn();

    const c = await client(stream);
    const ack = await c.request({ op: 'subscribe', id: 'p', topics: ['fx.*.quote'] });
    expect(ack.snapshots).toBe(2);
    await settle(c);
    expect(
      c.frames
        .filter((f) => f.t === 'snapshot')
        .map((f) => f.topic)
        .sort(),
    ).toEqual(['fx.EURUSD.quote', 'fx.GBPUSD.quote']);

    gw.bus.publish(quote('fx.USDJPY.quote', 151.2), 'test'); // a topic that did not exist at subscribe time
    gw.bus.publish(quote('equity.AAPL.quote', 190.5), 'test'); // not matching
    gw.bus.publish(quote('fx.EURUSD.quote', 1.081), 'test');
    await settle(c);
    expect(ticksOf(c, 'fx.USDJPY.quote').map((t) => t.seq)).toEqual([1]);
    expect(ticksOf(c, 'fx.EURUSD.quote').map((t) => t.seq)).toEqual([2]);
    expect(ticksOf(c, 'equity.AAPL.quote')).toEqual([]);

    const unack = await c.request({ op: 'unsubscribe', id: 'u', topics: ['fx.*.quote'] });
    expect(unack).toMatchObject({ t: 'ack', op: 'unsubscribe', id: 'u' });
    gw.bus.publish(quote('fx.EURUSD.quote', 1.082), 'test');
    gw.bus.publish(quote('fx.USDJPY.quote', 151.3), 'test');
    await settle(c);
    expect(ticksOf(c, 'fx.EURUSD.quote').map((t) => t.seq)).toEqual([2]);
    expect(ticksOf(c, 'fx.USDJPY.quote').map((t) => t.seq)).toEqual([1]);
  });

  it('keeps a topic covered by an exact entry when an overlapping pattern is removed', async () => {
    const { gw, stream } = await gateway();
    gw.bus.publish(quote('fx.EURUSD.quote', 1.08), 'test');
    await nextTurn();
    const c = await client(stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['fx.*.quote', 'fx.EURUSD.quote'] });
    await c.request({ op: 'unsubscribe', id: 2, topics: ['fx.*.quote'] });
    gw.bus.publish(quote('fx.EURUSD.quote', 1.09), 'test');
    await settle(c);
    expect(ticksOf(c, 'fx.EURUSD.quote').map((t) => t.seq)).toEqual([2]);
    // One snapshot only: the exact entry and the pattern cover the same topic.
    expect(c.frames.filter((f) => f.t === 'snapshot')).toHaveLength(1);
  });

  it('accepts requests as binary MessagePack too', async () => {
    const { gw, stream } = await gateway();
    const c = await client(stream);
    const ack = await c.request({ id: 7 }, Buffer.from(encode({ op: 'subscribe', id: 7, topics: ['equity.MSFT.quote'] })));
    expect(ack).toMatchObject({ t: 'ack', id: 7, topics: ['equity.MSFT.quote'], snapshots: 0 });
    gw.bus.publish(quote('equity.MSFT.quote', 410), 'test');
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.MSFT.quote');
    const pong = await c.request({ id: 8 }, Buffer.from(encode({ op: 'ping', id: 8 })));
    expect(pong).toMatchObject({ t: 'pong', id: 8 });
    expect(Math.abs(pong.gts - Date.now())).toBeLessThan(5000);
  });

  it('sends binary frames any standard MessagePack decoder reads, and JSON mode carries the same content', async () => {
    const { gw, stream } = await gateway();
    gw.bus.publish(quote('equity.NVDA.quote', 900), 'test');
    gw.bus.publish({ topic: 'equity.NVDA.trade', kind: 'trade', ts: Date.now(), price: 900.01, size: 300 }, 'test');
    await nextTurn();
    const bin = await client(stream);
    const json = await client(`${stream}?format=json`);
    expect(json.frames[0]).toMatchObject({ t: 'welcome', format: 'json' });
    for (const c of [bin, json]) await c.request({ op: 'subscribe', id: 1, topics: ['equity.NVDA.*'] });
    for (let i = 0; i < 20; i++) gw.bus.publish(quote('equity.NVDA.quote', 900 + i / 100), 'test');
    gw.bus.publish({ topic: 'equity.NVDA.trade', kind: 'trade', ts: Date.now(), price: 900.2, size: 100 }, 'test');
    await settle(bin);
    await settle(json);

    expect(bin.raw.every((r) => r.isBinary)).toBe(true);
    for (const r of bin.raw) assertStandardFrame(r.data);
    expect(json.raw.every((r) => !r.isBinary)).toBe(true);

    const content = (c: TestClient) => c.frames.filter((f) => f.t === 'ticks' || f.t === 'snapshot');
    expect(content(bin).length).toBeGreaterThanOrEqual(4);
    expect(content(json)).toEqual(content(bin));
    const trade = ticksOf(bin, 'equity.NVDA.trade')[0];
    expect(trade).toMatchObject({ seq: 2, price: 900.2, size: 100 });
  });

  it('rejects an unknown format at the upgrade with HTTP 400', async () => {
    const { stream } = await gateway();
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const ws = new WebSocket(`${stream}?format=xml`);
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      ws.on('open', () => reject(new Error('upgrade should have been refused')));
    });
    expect(status).toBe(400);
    const parsed = JSON.parse(body) as { error: { code: string; message: string } };
    expect(parsed.error.code).toBe('TG_ERR_BAD_UPGRADE');
    expect(parsed.error.message).toMatch(/format/);
  });
});

describe('bad input', () => {
  const cases: { name: string; send: (c: TestClient) => void; code: string; id?: unknown }[] = [
    { name: 'malformed MessagePack', send: (c) => c.sendRaw(Buffer.from([0xc1, 0xff, 0x00]), true), code: 'TG_ERR_MALFORMED' },
    {
      name: 'truncated MessagePack',
      send: (c) => c.sendRaw(Buffer.from(encode({ op: 'subscribe', id: 1 })).subarray(0, 6), true),
      code: 'TG_ERR_MALFORMED',
    },
    {
      name: 'the reserved byte 0xc1',
      send: (c) => c.sendRaw(Buffer.from([0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xc1]), true),
      code: 'TG_ERR_MALFORMED',
    },
    {
      name: 'a MessagePack timestamp extension',
      send: (c) => c.sendRaw(Buffer.from([0x81, 0xa2, 0x69, 0x64, 0xd6, 0xff, 0, 0, 0, 1]), true),
      code: 'TG_ERR_MALFORMED',
    },
    { name: 'text garbage', send: (c) => c.sendRaw('}{ not json', false), code: 'TG_ERR_MALFORMED' },
    { name: 'not an object', send: (c) => c.sendJson([1, 2, 3]), code: 'TG_ERR_INVALID_REQUEST' },
    { name: 'unknown op', send: (c) => c.sendJson({ op: 'explode', id: 3 }), code: 'TG_ERR_UNKNOWN_OP', id: 3 },
    { name: 'missing id', send: (c) => c.sendJson({ op: 'subscribe', topics: ['fx.EURUSD.quote'] }), code: 'TG_ERR_MISSING_ID' },
    {
      name: 'invalid topic',
      send: (c) => c.sendJson({ op: 'subscribe', id: 4, topics: ['fx.EURUSD.quote', 'FX..quote'] }),
      code: 'TG_ERR_INVALID_TOPIC',
      id: 4,
    },
    {
      name: 'topics of the wrong type',
      send: (c) => c.sendJson({ op: 'subscribe', id: 5, topics: 'fx.EURUSD.quote' }),
      code: 'TG_ERR_INVALID_REQUEST',
      id: 5,
    },
    {
      name: 'oversized message',
      send: (c) => c.sendJson({ op: 'subscribe', id: 6, topics: ['x'.repeat(300_000)] }),
      code: 'TG_ERR_MESSAGE_TOO_LARGE',
    },
  ];

  it.each(cases)('$name gets an error frame while that client and every other keep streaming', async ({ send, code, id }) => {
    const { gw, stream } = await gateway();
    const topic = 'fx.EURUSD.quote';
    const bad = await client(stream);
    const good = await client(stream);
    await bad.request({ op: 'subscribe', id: 'b', topics: [topic] });
    await good.request({ op: 'subscribe', id: 'g', topics: [topic] });
    for (let i = 0; i < 10; i++) gw.bus.publish(quote(topic, 1.08 + i / 1e5), 'test');
    await nextTurn();

    const from = bad.frames.length;
    send(bad);
    const err = await bad.waitFor((f) => f.t === 'error', { from });
    expect(err.code).toBe(code);
    expect(typeof err.message).toBe('string');
    expect(err.message.length).toBeGreaterThan(5);
    expect(err.id).toEqual(id ?? null);

    for (let i = 0; i < 10; i++) gw.bus.publish(quote(topic, 1.09 + i / 1e5), 'test');
    await settle(bad);
    await settle(good);
    const expected = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(ticksOf(bad, topic).map((t) => t.seq)).toEqual(expected);
    expect(ticksOf(good, topic).map((t) => t.seq)).toEqual(expected);
    expect(good.frames.some((f) => f.t === 'error')).toBe(false);
    expect(bad.closeCode).toBeNull();
  });

  it('a rejected subscribe changes nothing (all or nothing) and the limit per connection holds', async () => {
    const { gw, stream } = await gateway({ transport: { maxSubscriptionsPerConnection: 3 } });
    for (const s of ['AAA', 'BBB', 'CCC', 'DDD']) gw.bus.publish(quote(`equity.${s}.quote`, 10), 'test');
    await nextTurn();
    const c = await client(stream);
    const err = await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });
    expect(err).toMatchObject({ t: 'error', id: 1, code: 'TG_ERR_TOO_MANY_SUBSCRIPTIONS' });
    const ok = await c.request({ op: 'subscribe', id: 2, topics: ['equity.AAA.quote', 'equity.BBB.quote'] });
    expect(ok).toMatchObject({ t: 'ack', snapshots: 2 });
  });

  it('tells a client at its limit that a new topic matching its pattern is not delivered', async () => {
    const { gw, stream } = await gateway({ transport: { maxSubscriptionsPerConnection: 1 } });
    gw.bus.publish(quote('equity.AAA.quote', 10), 'test');
    await nextTurn();
    const c = await client(stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });
    gw.bus.publish(quote('equity.BBB.quote', 10), 'test');
    const err = await c.waitFor((f) => f.t === 'error');
    expect(err).toMatchObject({ id: null, code: 'TG_ERR_TOO_MANY_SUBSCRIPTIONS' });
    expect(err.message).toContain('equity.BBB.quote');
  });

  it('accepts a 64-bit integer id from strict encoders', async () => {
    const { stream } = await gateway();
    const c = await client(stream);
    // {"op":"ping","id":7} with id as uint64 (0xcf)
    const bytes = Buffer.from([0x82, 0xa2, 0x6f, 0x70, 0xa4, 0x70, 0x69, 0x6e, 0x67, 0xa2, 0x69, 0x64, 0xcf, 0, 0, 0, 0, 0, 0, 0, 7]);
    const pong = await c.request({ id: 7 }, bytes);
    expect(pong).toMatchObject({ t: 'pong', id: 7 });
  });

  it('drops a client whose message exceeds the hard payload limit, leaving others alone', async () => {
    const { gw, stream } = await gateway({ transport: { maxMessageBytes: 1024, maxPayloadBytes: 4096 } });
    const bad = await client(stream);
    const good = await client(stream);
    await good.request({ op: 'subscribe', id: 1, topics: ['equity.AAA.quote'] });
    bad.sendRaw(Buffer.alloc(10_000, 0x20), false);
    await bad.whenClosed();
    // uWS terminates the TCP connection without a close frame, so the client sees 1006.
    expect(bad.closeCode).toBe(1006);
    gw.bus.publish(quote('equity.AAA.quote', 10), 'test');
    await good.waitFor((f) => f.t === 'ticks');
  });
});

describe('shutdown', () => {
  it('closes every client with 1001', async () => {
    const { gw, stream } = await gateway();
    const a = await client(stream);
    const b = await client(`${stream}?format=json`);
    await gw.stop();
    await Promise.all([a.whenClosed(), b.whenClosed()]);
    expect(a.closeCode).toBe(1001);
    expect(b.closeCode).toBe(1001);
    expect(a.closeReason).toMatch(/shutting down/);
  });
});
