import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import type { ConfigInput } from '../src/config/schema.ts';
import { quote, ticksOf, tryConnect, useGateway, type Frame } from './helpers.ts';

const SECRET = 'a-test-secret-of-at-least-32-characters!!';
const API_KEY = 'key-for-fx-desk-0001';
const nextTurn = () => new Promise<void>((r) => setImmediate(r));
const tmp = () => mkdtempSync(join(tmpdir(), 'tickgate-sec-'));

const gateway = (overrides: ConfigInput) => useGateway(overrides);

function hs256(claims: Record<string, unknown>, expiresIn: string | number = '1h') {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime(expiresIn)
    .sign(Buffer.from(SECRET));
}

const authConfig = (extra: Partial<NonNullable<ConfigInput['auth']>> = {}): ConfigInput => ({
  auth: {
    enabled: true,
    jwt: { secret: SECRET },
    apiKeys: [{ key: API_KEY, name: 'fx-desk', topics: ['fx.*.quote'] }],
    ...extra,
  },
});

describe('authentication at the upgrade', () => {
  it('refuses missing, invalid and expired credentials with 401 and a reason; no socket opens', async () => {
    const { stream, http } = await gateway(authConfig());
    const missing = await tryConnect(stream);
    expect(missing.status).toBe(401);
    expect(JSON.parse(missing.body!).error).toMatchObject({
      code: 'TG_ERR_UNAUTHORIZED',
      message: expect.stringMatching(/missing credentials/),
    });
    const wrongKey = await tryConnect(`${stream}?token=not-a-real-key-000000`);
    expect(JSON.parse(wrongKey.body!).error.message).toBe('invalid API key');
    const forged = await tryConnect(stream, {
      headers: { Authorization: `Bearer ${(await hs256({ topics: ['*.*.*'] })).slice(0, -4)}AAAA` },
    });
    expect(forged.status).toBe(401);
    const expired = await tryConnect(stream, {
      headers: { Authorization: `Bearer ${await hs256({ topics: ['*.*.*'] }, Math.floor(Date.now() / 1000) - 60)}` },
    });
    expect(JSON.parse(expired.body!).error.message).toBe('token expired');
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('tickgate_connections_refused_total{reason="unauthorized"} 4');
    expect(metrics).toMatch(/tickgate_connections 0/);
  });

  it('accepts a JWT from the Authorization header, the Sec-WebSocket-Protocol header or ?token=, and an API key', async () => {
    const { stream } = await gateway(authConfig());
    const token = await hs256({ topics: ['*.*.*'] });
    expect((await tryConnect(stream, { headers: { Authorization: `Bearer ${token}` } })).client).toBeDefined();
    expect((await tryConnect(`${stream}?token=${token}`)).client).toBeDefined();
    const viaProtocol = await tryConnect(stream, {}, ['tickgate', `bearer.${token}`]);
    expect(viaProtocol.client!.ws.protocol).toBe('tickgate');
    expect((await tryConnect(stream, { headers: { Authorization: `ApiKey ${API_KEY}` } })).client).toBeDefined();
  });

  it.each(['RS256', 'ES256'] as const)('verifies %s tokens against the configured public key', async (alg) => {
    const { publicKey, privateKey } = await generateKeyPair(alg);
    const keyFile = join(tmp(), 'public.pem');
    writeFileSync(keyFile, await exportSPKI(publicKey));
    const { stream } = await gateway({ auth: { enabled: true, jwt: { publicKeyFile: keyFile, algorithms: [alg] } } });
    const token = await new SignJWT({ topics: ['*.*.*'] }).setProtectedHeader({ alg }).setExpirationTime('1h').sign(privateKey);
    expect((await tryConnect(`${stream}?token=${token}`)).client).toBeDefined();
    const other = await generateKeyPair(alg);
    const foreign = await new SignJWT({ topics: ['*.*.*'] }).setProtectedHeader({ alg }).setExpirationTime('1h').sign(other.privateKey);
    expect((await tryConnect(`${stream}?token=${foreign}`)).status).toBe(401);
  });
});

describe('entitlements', () => {
  it('refuses topics outside the entitlements with an error frame, and wildcards expand only to entitled topics', async () => {
    const { gw, stream } = await gateway(authConfig());
    for (const t of ['fx.EURUSD.quote', 'fx.USDJPY.quote', 'equity.AAPL.quote']) gw.bus.publish(quote(t, 100), 'test');
    await nextTurn();
    const { client } = await tryConnect(`${stream}?token=${API_KEY}`);
    const c = client!;
    const denied = await c.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
    expect(denied).toMatchObject({ t: 'error', id: 1, code: 'TG_ERR_NOT_ENTITLED' });
    const ack = await c.request({ op: 'subscribe', id: 2, topics: ['*.*.quote'] });
    expect(ack.results.map((r: Frame) => r.topic).sort()).toEqual(['fx.EURUSD.quote', 'fx.USDJPY.quote']);
    gw.bus.publish(quote('equity.AAPL.quote', 101), 'test');
    gw.bus.publish(quote('equity.MSFT.quote', 101), 'test'); // appears later, matches the pattern, not entitled
    gw.bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
    await nextTurn();
    await c.request({ op: 'ping', id: 3 });
    expect(ticksOf(c, 'fx.EURUSD.quote')).toHaveLength(1);
    expect(c.frames.some((f) => f.topic?.startsWith('equity.'))).toBe(false);
  });

  it('delivers a delayed tier late, from the same feed, with no real-time snapshot', async () => {
    const { gw, stream } = await gateway(
      authConfig({ apiKeys: [{ key: API_KEY, name: 'delayed', topics: ['fx.*.quote'], delayMs: 300 }] }),
    );
    gw.bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
    await nextTurn();
    const c = (await tryConnect(`${stream}?token=${API_KEY}`)).client!;
    const ack = await c.request({ op: 'subscribe', id: 1, topics: ['fx.EURUSD.quote'] });
    expect(ack.results).toEqual([{ topic: 'fx.EURUSD.quote', status: 'pending' }]);
    const sentAt = Date.now();
    gw.bus.publish(quote('fx.EURUSD.quote', 1.2), 'test');
    const frame = await c.waitFor((f) => f.t === 'ticks');
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(290);
    expect(frame.ticks[0]).toMatchObject({ seq: 2, bid: 1.2 });
    expect(c.frames.some((f) => f.t === 'snapshot')).toBe(false);
  });

  it('warns before a token expires, accepts a refresh, and closes an unrefreshed connection at expiry', async () => {
    const { stream } = await gateway(authConfig({ expiryWarningSeconds: 2 }));
    const soon = Math.floor(Date.now() / 1000) + 3;
    const refreshed = (await tryConnect(`${stream}?token=${await hs256({ topics: ['*.*.*'] }, soon)}`)).client!;
    const lapsing = (await tryConnect(`${stream}?token=${await hs256({ topics: ['*.*.*'] }, soon)}`)).client!;
    const warning = await refreshed.waitFor((f) => f.t === 'auth', { timeoutMs: 5000 });
    expect(warning).toMatchObject({ state: 'expiring', expiresAt: soon * 1000 });
    refreshed.sendJson({ op: 'refresh', id: 9, token: await hs256({ topics: ['*.*.*'] }, '1h') });
    await refreshed.waitFor((f) => f.t === 'auth' && f.state === 'refreshed');
    await lapsing.whenClosed();
    expect(lapsing.closeCode).toBe(1008);
    expect(lapsing.closeReason).toBe('token expired');
    const pong = await refreshed.request({ op: 'ping', id: 10 });
    expect(pong.t).toBe('pong');
    expect(refreshed.frames.find((f) => f.t === 'auth' && f.state === 'refreshed')).toMatchObject({ id: 9 });
  });
});

describe('origins, limits, metrics endpoint, TLS', () => {
  it('refuses upgrades from origins outside the allowlist with 403', async () => {
    const { stream } = await gateway({ security: { allowedOrigins: ['https://desk.example.com'] } });
    const evil = await tryConnect(stream, { headers: { Origin: 'https://evil.example.net' } });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body!).error.code).toBe('TG_ERR_FORBIDDEN_ORIGIN');
    expect((await tryConnect(stream, { headers: { Origin: 'https://desk.example.com' } })).client).toBeDefined();
  });

  it('limits connections per IP and client messages per second, with clear errors', async () => {
    const { stream, http } = await gateway({ limits: { maxConnectionsPerIp: 2, maxMessagesPerSecond: 5 } });
    const a = (await tryConnect(stream)).client!;
    // tryConnect opens a probe socket first; wait for its close to register
    await a.request({ op: 'ping', id: 0 });
    const b = (await tryConnect(stream)).client!;
    await b.request({ op: 'ping', id: 0 });
    const third = await tryConnect(stream);
    expect(third.status).toBe(429);
    expect(JSON.parse(third.body!).error.message).toMatch(/at most 2 connections per IP/);

    for (let i = 1; i <= 8; i++) a.sendJson({ op: 'ping', id: i });
    const limited = await a.waitFor((f) => f.t === 'error');
    expect(limited).toMatchObject({ code: 'TG_ERR_RATE_LIMITED', id: null });
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toContain('tickgate_connections_refused_total{reason="limit_ip"} 1');
    expect(metrics).toMatch(/tickgate_errors_total\{code="TG_ERR_RATE_LIMITED"\} [1-9]/);
  });

  it('protects /metrics with a bearer token, or serves it on its own listener', async () => {
    const token = 'metrics-token-0123456789';
    const one = await gateway({ metrics: { bearerToken: token } });
    expect((await fetch(`${one.http}/metrics`)).status).toBe(401);
    expect((await fetch(`${one.http}/metrics`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(200);
    await one.gw.stop();

    const two = await gateway({ metrics: { port: 0 } });
    expect((await fetch(`${two.http}/metrics`)).status).toBe(404);
    const url = two.gw.urls().metrics;
    expect(url).not.toContain(`:${two.port}/`);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('tickgate_connections');
  });

  it('serves wss:// and https:// with a certificate from config', async () => {
    const dir = tmp();
    const key = join(dir, 'key.pem');
    const cert = join(dir, 'cert.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'],
      { stdio: 'ignore' },
    );
    const { gw, port } = await gateway({ tls: { certFile: cert, keyFile: key } });
    expect(gw.urls().stream).toBe(`wss://127.0.0.1:${port}/v1/stream`);
    const c = (await tryConnect(gw.urls().stream, { rejectUnauthorized: false })).client!;
    await c.request({ op: 'subscribe', id: 1, topics: ['fx.EURUSD.quote'] });
    gw.bus.publish(quote('fx.EURUSD.quote', 1.1), 'test');
    await c.waitFor((f) => f.t === 'ticks');
    const status = await new Promise<number>((resolve, reject) => {
      https
        .get(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false }, (res) => resolve(res.statusCode ?? 0))
        .on('error', reject);
    });
    expect(status).toBe(200);
  });
});

describe('SIGHUP', () => {
  it('applies changed API-key entitlements to live connections: revoked topics stop with a frame, removed keys are closed', async () => {
    const dir = tmp();
    const file = join(dir, 'config.json');
    const keyA = 'key-a-0123456789abcdef';
    const keyB = 'key-b-0123456789abcdef';
    const write = (keys: unknown[]) =>
      writeFileSync(
        file,
        JSON.stringify({
          feeds: [
            { adapter: 'sim-fx', options: { ticksPerSecond: 200, pairs: ['EURUSD'] } },
            { adapter: 'sim-equity', options: { ticksPerSecond: 200, universe: ['AAPL'] } },
          ],
          auth: { enabled: true, apiKeys: keys },
        }),
      );
    write([
      { key: keyA, name: 'a', topics: ['fx.*.quote', 'equity.*.quote'] },
      { key: keyB, name: 'b', topics: ['fx.*.quote'] },
    ]);
    const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
    const child = spawn(process.execPath, [bin, 'serve', '--port', '0', '--config', file, '--log-level', 'warn']);
    try {
      let out = '';
      while (!/:(\d+)\/v1\/stream/.test(out)) out += String((await once(child.stdout, 'data'))[0]);
      const stream = `ws://127.0.0.1:${/:(\d+)\/v1\/stream/.exec(out)![1]}/v1/stream`;
      const a = (await tryConnect(`${stream}?token=${keyA}`)).client!;
      const b = (await tryConnect(`${stream}?token=${keyB}`)).client!;
      await a.request({ op: 'subscribe', id: 1, topics: ['fx.EURUSD.quote', 'equity.AAPL.quote'] });
      await a.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.AAPL.quote');

      write([{ key: keyA, name: 'a', topics: ['fx.*.quote'] }]);
      child.kill('SIGHUP');
      const revoked = await a.waitFor((f) => f.t === 'revoked');
      expect(revoked.topics).toEqual(['equity.AAPL.quote']);
      await b.whenClosed();
      expect(b.closeCode).toBe(1008);
      expect(b.closeReason).toBe('API key revoked');
      const from = a.frames.length;
      await a.waitFor((f) => f.t === 'ticks' && f.topic === 'fx.EURUSD.quote', { from });
      await a.request({ op: 'ping', id: 2 });
      expect(a.frames.slice(from + 50).some((f) => f.topic === 'equity.AAPL.quote')).toBe(false);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
