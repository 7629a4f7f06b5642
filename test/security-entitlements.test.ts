import net from 'node:net';
import { Writable } from 'node:stream';
import { SignJWT, UnsecuredJWT } from 'jose';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.ts';
import { createGateway } from '../src/gateway.ts';
import { type Frame, quote, type Started, tryConnect, useClient, useGateway } from './helpers.ts';

/**
 * Issue 12: one authorisation path for the WebSocket upgrade and the HTTP API, strict claims,
 * caps on pending subscriptions and patterns, upgrade hygiene.
 */
const SECRET = 'a-test-secret-of-at-least-32-characters!!';
const API_KEY = 'key-for-fx-desk-0001';
const DELAYED_KEY = 'key-for-retail-web-01';
const nextTurn = () => new Promise<void>((r) => setImmediate(r));

let s: Started | null = null;

const authConfig = (extra: Partial<NonNullable<ConfigInput['auth']>> = {}, rest: ConfigInput = {}): ConfigInput => ({
  ...rest,
  auth: {
    enabled: true,
    jwt: { secret: SECRET },
    apiKeys: [
      { key: API_KEY, name: 'fx-desk', topics: ['fx.*.quote'] },
      { key: DELAYED_KEY, name: 'retail', topics: ['fx.*.quote'], delayMs: 60_000 },
    ],
    ...extra,
  },
});

/** Signs any payload as is (no claim helpers): malformed claims must reach the gateway untouched. */
function sign(payload: Record<string, unknown>) {
  return new SignJWT(payload).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET));
}
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

async function get(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Frame };
}

describe('HTTP API: the same authorisation as the stream', () => {
  it('refuses /v1/snapshot and /v1/topics without valid credentials: 401 with the reason', async () => {
    s = await useGateway(authConfig());
    s.gw.bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
    await nextTurn();
    for (const path of ['/v1/snapshot/fx.EURUSD.quote', '/v1/topics']) {
      const none = await get(`${s.http}${path}`);
      expect(none.status, path).toBe(401);
      expect(none.headers.get('www-authenticate')).toBe('Bearer');
      expect(none.body.error).toMatchObject({ code: 'TG_ERR_UNAUTHORIZED', message: expect.stringMatching(/missing credentials/) });
      const wrongKey = await get(`${s.http}${path}?token=not-a-real-key-000000`);
      expect(wrongKey.status).toBe(401);
      expect(wrongKey.body.error.message).toBe('invalid API key');
      const expired = await get(`${s.http}${path}`, {
        Authorization: `Bearer ${await sign({ topics: ['*.*.*'], exp: Math.floor(Date.now() / 1000) - 60 })}`,
      });
      expect(expired.status).toBe(401);
      expect(expired.body.error.message).toBe('token expired');
    }
    // Authentication comes first: an invalid topic or pattern is not even looked at.
    expect((await get(`${s.http}/v1/snapshot/not-a-topic`)).status).toBe(401);
    expect((await get(`${s.http}/v1/topics?pattern=fx`)).status).toBe(401);
    // The bodies carried no price.
    const metrics = await (await fetch(`${s.http}/metrics`)).text();
    expect(metrics).toMatch(/tickgate_errors_total\{code="TG_ERR_UNAUTHORIZED"\} 8/);
  });

  it('answers an entitled credential (header, ApiKey, ?token=), 403 for an unentitled topic, and lists only entitled topics', async () => {
    s = await useGateway(authConfig());
    s.gw.bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
    s.gw.bus.publish(quote('equity.AAPL.quote', 190), 'test');
    await nextTurn();
    const jwt = await sign({ topics: ['fx.*.quote'], exp: inAnHour() });
    const credentials: { headers: Record<string, string>; q: string }[] = [
      { headers: { Authorization: `Bearer ${jwt}` }, q: '' },
      { headers: { Authorization: `ApiKey ${API_KEY}` }, q: '' },
      { headers: {}, q: `?token=${API_KEY}` },
    ];
    for (const creds of credentials) {
      const ok = await get(`${s.http}/v1/snapshot/fx.EURUSD.quote${creds.q}`, creds.headers);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ topic: 'fx.EURUSD.quote', seq: 1, bid: 1.1 });
      const denied = await get(`${s.http}/v1/snapshot/equity.AAPL.quote${creds.q}`, creds.headers);
      expect(denied.status).toBe(403);
      expect(denied.body.error).toMatchObject({ code: 'TG_ERR_NOT_ENTITLED', message: expect.stringContaining('fx.*.quote') });
      // 403 also for a topic that does not exist: existence of unentitled topics is not revealed.
      expect((await get(`${s.http}/v1/snapshot/equity.NOPE.quote${creds.q}`, creds.headers)).status).toBe(403);
      const list = await get(`${s.http}/v1/topics${creds.q}`, creds.headers);
      expect(list.status).toBe(200);
      expect(list.body.topics.map((t: { topic: string }) => t.topic)).toEqual(['fx.EURUSD.quote']);
    }
  });

  it('gives a delayed identity the delayed value over HTTP, never a fresher one', async () => {
    s = await useGateway(authConfig({ apiKeys: [{ key: DELAYED_KEY, name: 'retail', topics: ['fx.*.quote'], delayMs: 400 }] }));
    const topic = 'fx.EURUSD.quote';
    s.gw.bus.publish(quote(topic, 1.1), 'test');
    await nextTurn();
    const q = `?token=${DELAYED_KEY}`;
    // Too fresh: nothing at least 400 ms old yet.
    const early = await get(`${s.http}/v1/snapshot/${topic}${q}`);
    expect(early.status).toBe(404);
    expect(early.body.error.message).toMatch(/at least 400 ms old/);
    const listed = await get(`${s.http}/v1/topics${q}`);
    expect(listed.body.topics[0]).toMatchObject({ topic, seq: 0, lastUpdate: null });
    await new Promise((r) => setTimeout(r, 450));
    s.gw.bus.publish(quote(topic, 1.2), 'test'); // real time: 1.2; delayed: 1.1
    await nextTurn();
    const delayed = await get(`${s.http}/v1/snapshot/${topic}${q}`);
    expect(delayed.status).toBe(200);
    expect(delayed.body).toMatchObject({ topic, seq: 1, bid: 1.1, delayMs: 400 });
    const list = await get(`${s.http}/v1/topics${q}`);
    expect(list.body).toMatchObject({ delayMs: 400 });
    expect(list.body.topics[0]).toMatchObject({ topic, seq: 1 });
    const realtime = await get(`${s.http}/v1/snapshot/${topic}?token=${API_KEY}`);
    expect(realtime.status).toBe(401); // that key is not configured in this gateway
  });

  it('keeps the HTTP API open when auth is off, and /healthz open when it is on', async () => {
    s = await useGateway(authConfig());
    expect((await get(`${s.http}/healthz`)).status).toBe(200);
  });
});

describe('strict claims', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['a string delayMs', { topics: ['*.*.*'], delayMs: '900000' }, /"delayMs".*number/],
    ['a negative delayMs', { topics: ['*.*.*'], delayMs: -1 }, /"delayMs".*negative/],
    ['a fractional delayMs', { topics: ['*.*.*'], delayMs: 1.5 }, /"delayMs".*integer/],
    ['a boolean delayMs', { topics: ['*.*.*'], delayMs: true }, /"delayMs".*number/],
    ['a huge delayMs', { topics: ['*.*.*'], delayMs: 1e20 }, /"delayMs"/],
    ['a delayMs over auth.maxDelayMs', { topics: ['*.*.*'], delayMs: 86_400_001 }, /"delayMs".*auth\.maxDelayMs/],
    ['no topics', {}, /"topics".*required/],
    ['topics not an array', { topics: 'fx.*.quote' }, /"topics".*array/],
    ['an invalid topic pattern', { topics: ['fx'] }, /"topics".*pattern/],
    ['a non-string sub', { topics: ['*.*.*'], sub: 42 }, /"sub".*string/],
  ];
  it.each(cases)('refuses %s with 401 naming the claim, on the stream and over HTTP', async (_name, claims, reason) => {
    s = await useGateway(authConfig());
    const token = await sign({ exp: inAnHour(), ...claims });
    const ws = await tryConnect(`${s.stream}?token=${token}`);
    expect(ws.status).toBe(401);
    expect(JSON.parse(ws.body!).error.message).toMatch(reason);
    const http = await get(`${s.http}/v1/topics?token=${token}`);
    expect(http.status).toBe(401);
    expect(http.body.error.message).toMatch(reason);
  });

  it('refuses a token without exp (auth.jwt.requireExp, default true) and accepts it when requireExp is false', async () => {
    s = await useGateway(authConfig());
    const forever = await sign({ topics: ['*.*.*'] });
    const refused = await tryConnect(`${s.stream}?token=${forever}`);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body!).error.message).toBe('token claim "exp" is not acceptable: is required');
    await s.gw.stop();
    s = await useGateway(authConfig({ jwt: { secret: SECRET, requireExp: false } }));
    expect((await tryConnect(`${s.stream}?token=${forever}`)).client).toBeDefined();
  });

  it('refuses a token that lives longer than auth.jwt.maxTokenLifetimeSeconds', async () => {
    s = await useGateway(authConfig({ jwt: { secret: SECRET, maxTokenLifetimeSeconds: 600 } }));
    const now = Math.floor(Date.now() / 1000);
    const long = await tryConnect(`${s.stream}?token=${await sign({ topics: ['*.*.*'], iat: now, exp: now + 3600 })}`);
    expect(long.status).toBe(401);
    expect(JSON.parse(long.body!).error.message).toMatch(/"exp".*maxTokenLifetimeSeconds \(600\)/);
    expect((await tryConnect(`${s.stream}?token=${await sign({ topics: ['*.*.*'], iat: now, exp: now + 300 })}`)).client).toBeDefined();
  });

  it('never accepts an unsigned token', async () => {
    s = await useGateway(authConfig());
    const unsecured = new UnsecuredJWT({ topics: ['*.*.*'] }).setExpirationTime('1h').encode();
    expect((await tryConnect(`${s.stream}?token=${unsecured}`)).status).toBe(401);
  });

  it('refuses a config whose API key delay exceeds auth.maxDelayMs', async () => {
    await expect(
      useGateway(authConfig({ maxDelayMs: 1000, apiKeys: [{ key: DELAYED_KEY, name: 'r', topics: [], delayMs: 2000 }] })),
    ).rejects.toThrow(/auth\.maxDelayMs/);
  });
});

describe('caps on what a client can make the gateway hold', () => {
  const limits = { maxPendingPerConnection: 3, maxPendingPerIp: 5, maxPendingTotal: 1000, maxPatternsPerConnection: 2 };

  it('caps pending topics per connection and per IP with a TG_ERR_TOO_MANY_PENDING error frame', async () => {
    s = await useGateway({ limits });
    const a = await useClient(s.stream);
    const b = await useClient(s.stream);
    const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `equity.${prefix}${i}.quote`);
    expect((await a.request({ op: 'subscribe', id: 1, topics: names('A', 3) })).t).toBe('ack');
    const over = await a.request({ op: 'subscribe', id: 2, topics: names('X', 1) });
    expect(over).toMatchObject({ t: 'error', code: 'TG_ERR_TOO_MANY_PENDING', message: expect.stringMatching(/per connection is 3/) });
    // Topics that exist are not pending.
    s.gw.bus.publish(quote('equity.LIVE.quote', 1), 'test');
    await nextTurn();
    expect((await a.request({ op: 'subscribe', id: 3, topics: ['equity.LIVE.quote'] })).t).toBe('ack');
    // The second connection from the same IP gets the rest of the IP's budget only.
    expect((await b.request({ op: 'subscribe', id: 1, topics: names('B', 2) })).t).toBe('ack');
    const ipOver = await b.request({ op: 'subscribe', id: 2, topics: names('C', 1) });
    expect(ipOver).toMatchObject({ code: 'TG_ERR_TOO_MANY_PENDING', message: expect.stringMatching(/per IP address is 5/) });
    // A topic appearing frees its pending slot; unsubscribing frees one too.
    s.gw.bus.publish(quote('equity.A0.quote', 1), 'test');
    await nextTurn();
    a.sendJson({ op: 'unsubscribe', id: 4, topics: ['equity.A1.quote'] });
    await a.waitFor((f) => f.t === 'ack' && f.id === 4);
    expect((await b.request({ op: 'subscribe', id: 3, topics: names('D', 1) })).t).toBe('ack'); // b: 3, the IP: 4
    // Closing a connection releases everything it held (a still held A2).
    await a.close();
    await new Promise((r) => setTimeout(r, 50));
    const c = await useClient(s.stream);
    expect((await c.request({ op: 'subscribe', id: 1, topics: names('E', 2) })).t).toBe('ack'); // the IP: 3 + 2
  });

  it('caps pending topics in total', async () => {
    s = await useGateway({ limits: { ...limits, maxPendingPerConnection: 0, maxPendingPerIp: 0, maxPendingTotal: 2 } });
    const a = await useClient(s.stream);
    const over = await a.request({ op: 'subscribe', id: 1, topics: ['fx.A.quote', 'fx.B.quote', 'fx.C.quote'] });
    expect(over).toMatchObject({ code: 'TG_ERR_TOO_MANY_PENDING', message: expect.stringMatching(/maximum of 2/) });
    // All-or-nothing: nothing of the refused request is held.
    expect((await a.request({ op: 'subscribe', id: 2, topics: ['fx.A.quote', 'fx.B.quote'] })).t).toBe('ack');
  });

  it('caps patterns per connection', async () => {
    s = await useGateway({ limits });
    const a = await useClient(s.stream);
    expect((await a.request({ op: 'subscribe', id: 1, topics: ['fx.*.quote', 'equity.*.quote'] })).t).toBe('ack');
    expect((await a.request({ op: 'subscribe', id: 2, topics: ['fx.*.quote'] })).t).toBe('ack'); // held already
    const over = await a.request({ op: 'subscribe', id: 3, topics: ['crypto.*.trade'] });
    expect(over).toMatchObject({
      code: 'TG_ERR_TOO_MANY_PENDING',
      message: expect.stringMatching(/limit per connection is 2 .*maxPatternsPerConnection/),
    });
  });
});

describe('upgrade hygiene', () => {
  function rawUpgrade(port: number, version: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => {
        sock.write(
          `GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: ${version}\r\n\r\n`,
        );
      });
      let text = '';
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(text);
      }, 2000);
      sock.on('data', (d) => {
        text += d.toString('latin1');
        if (text.includes('\r\n\r\n') && (text.startsWith('HTTP/1.1 101') || text.includes('}'))) {
          clearTimeout(timer);
          sock.destroy();
          resolve(text);
        }
      });
      sock.on('error', reject);
    });
  }

  it('answers a Sec-WebSocket-Version other than 13 with 426 and "Sec-WebSocket-Version: 13"', async () => {
    s = await useGateway();
    for (const version of ['8', '12', '', '14']) {
      const reply = await rawUpgrade(s.port, version);
      expect(reply, version).toMatch(/^HTTP\/1\.1 426 /);
      expect(reply).toMatch(/\r\nSec-WebSocket-Version: 13\r\n/i);
      expect(reply).toContain('TG_ERR_BAD_UPGRADE');
    }
    expect(await rawUpgrade(s.port, '13')).toMatch(/^HTTP\/1\.1 101 /);
  });
});

describe('logging of refusals', () => {
  it('logs refused upgrades and HTTP requests with reason and address, at most one line per reason per second', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
        done();
      },
    });
    const gw = createGateway({ host: '127.0.0.1', port: 0, feeds: [], ...authConfig() }, { logger: pino({ level: 'warn' }, sink) });
    const { port } = await gw.start();
    s = { gw, port, stream: `ws://127.0.0.1:${port}/v1/stream`, http: `http://127.0.0.1:${port}` };
    for (let i = 0; i < 5; i++) expect((await tryConnect(s.stream)).status).toBe(401);
    expect((await get(`${s.http}/v1/topics`)).status).toBe(401);
    expect((await get(`${s.http}/v1/snapshot/equity.AAPL.quote?token=${API_KEY}`)).status).toBe(403);
    const refusals = lines.filter((l) => l.msg === 'request refused');
    expect(refusals.filter((l) => l.reason === 'unauthorized')).toHaveLength(1); // six refusals within a second: one line
    expect(refusals[0]).toMatchObject({
      surface: 'upgrade',
      ip: expect.stringMatching(/127\.0\.0\.1/),
      status: 401,
      code: 'TG_ERR_UNAUTHORIZED',
    });
    expect(refusals.find((l) => l.reason === 'not_entitled')).toMatchObject({
      surface: 'http',
      subject: 'fx-desk',
      topic: 'equity.AAPL.quote',
      status: 403,
    });
  });
});

describe('known limitation: uWebSockets.js does not enforce client masking', () => {
  it('an unmasked client frame gets no reply (documented in docs/protocol.md §15 and docs/security.md)', async () => {
    s = await useGateway();
    const frame = async (masked: boolean) => {
      const sock = net.connect(s!.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.write(
        'GET /v1/stream?format=json HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      let text = '';
      sock.on('data', (d: Buffer) => (text += d.toString('latin1')));
      while (!text.includes('"welcome"')) await new Promise((r) => sock.once('data', r));
      const payload = Buffer.from(JSON.stringify({ op: 'ping', id: 1 }));
      const mask = Buffer.from([1, 2, 3, 4]);
      sock.write(
        masked
          ? Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!))])
          : Buffer.concat([Buffer.from([0x81, payload.length]), payload]),
      );
      // A masked ping is answered within milliseconds; give the unmasked one ten times as long.
      const deadline = Date.now() + (masked ? 2000 : 300);
      while (!text.includes('"pong"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      sock.destroy();
      return text.includes('"pong"');
    };
    expect(await frame(true)).toBe(true);
    expect(await frame(false)).toBe(false);
  });
});
