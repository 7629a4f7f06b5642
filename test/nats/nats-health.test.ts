/**
 * One /healthz for the gateway and the ingest (src/transport/health.ts, docs/operations.md):
 * the same keys from both, and the ingest's ops listener serves the gateway's /metrics route
 * (bearer token included) and coded errors for anything else.
 */
import http from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { z } from 'zod';
import { defineFeed } from '../../src/feed/adapter.ts';
import { createIngest, type Ingest } from '../../src/ingest.ts';
import { stopAfterTest, useGateway } from '../helpers.ts';
import { describeNats, natsUrl, startNatsGateway, uniquePrefix, until } from './helpers.ts';

const idle = defineFeed({
  name: 'idle',
  description: 'emits nothing',
  optionsSchema: z.object({}),
  create: () => ({ start() {}, stop() {} }),
});
const TOKEN = 'a-metrics-token-of-16+';

let ingest: Ingest | null = null;
afterEach(async () => {
  await ingest?.stop();
  ingest = null;
});

describeNats('/healthz: one body for gateway and ingest', () => {
  it('answers with the same keys from both, each telling its role, NATS state and lease', async () => {
    const prefix = uniquePrefix();
    ingest = createIngest(
      {
        host: '127.0.0.1',
        port: 0,
        logLevel: 'silent',
        feeds: [{ adapter: 'idle' }],
        metrics: { bearerToken: TOKEN },
        bus: { kind: 'nats', nats: { url: natsUrl!, subjectPrefix: prefix } },
      },
      { feedDefinitions: [idle as never] },
    );
    const { port } = await ingest.start();
    const ingestUrl = `http://127.0.0.1:${port}`;
    const g = await startNatsGateway({ url: natsUrl!, prefix });
    stopAfterTest(g.gw);
    const memory = await useGateway({ feeds: [] });

    const get = async (url: string) => (await (await fetch(`${url}/healthz`)).json()) as Record<string, unknown>;
    await until(() => ingest!.natsConnected, 'the ingest on NATS');
    const fromIngest = await get(ingestUrl);
    const fromGateway = await get(g.http);
    const fromMemory = await get(memory.http);
    const keys = ['status', 'role', 'version', 'epoch', 'uptimeSeconds', 'topics', 'feeds', 'nats', 'lease'];
    for (const body of [fromIngest, fromGateway, fromMemory]) expect(Object.keys(body)).toEqual(keys);
    expect(fromIngest).toMatchObject({
      status: 'ok',
      role: 'ingest',
      nats: 'connected',
      lease: 'off',
      feeds: { idle: 'running' },
      epoch: ingest.bus.epoch,
    });
    expect(fromGateway).toMatchObject({
      status: 'ok',
      role: 'gateway',
      nats: 'connected',
      lease: 'off',
      feeds: {},
      epoch: ingest.bus.epoch,
    });
    expect(fromMemory).toMatchObject({ status: 'ok', role: 'gateway', nats: null, lease: 'off' });
  });

  it('--workers 2: every thread reports the main thread’s NATS state', async () => {
    const prefix = uniquePrefix();
    ingest = createIngest(
      { logLevel: 'silent', feeds: [], bus: { kind: 'nats', nats: { url: natsUrl!, subjectPrefix: prefix } } },
      { http: false },
    );
    await ingest.start();
    const g = await startNatsGateway({ url: natsUrl!, prefix }, { workers: 2 });
    stopAfterTest(g.gw);
    // A fresh connection per request (no keep-alive agent), so the kernel spreads them over both
    // threads' listeners, as the WebSocket test in nats-workers.test.ts shows it does.
    const once = () =>
      new Promise<string>((resolve, reject) => {
        http
          .get(`${g.http}/healthz`, { agent: false }, (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
    const answers = new Set<unknown>();
    for (let i = 0; i < 40; i++) answers.add((JSON.parse(await once()) as { nats: unknown }).nats);
    expect([...answers]).toEqual(['connected']);
  });

  it('serves the ingest’s /metrics behind metrics.bearerToken, and coded errors elsewhere', async () => {
    ingest = createIngest({
      host: '127.0.0.1',
      port: 0,
      logLevel: 'silent',
      feeds: [],
      metrics: { bearerToken: TOKEN },
      bus: { kind: 'nats', nats: { url: natsUrl!, subjectPrefix: uniquePrefix() } },
    });
    const { port } = await ingest.start();
    const base = `http://127.0.0.1:${port}`;
    expect((await fetch(`${base}/metrics`)).status).toBe(401);
    const ok = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('tickgate_bus_connected 1');
    const missing = await fetch(`${base}/v1/topics`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('TG_ERR_NOT_FOUND');
    const post = await fetch(`${base}/healthz`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(((await post.json()) as { error: { code: string } }).error.code).toBe('TG_ERR_METHOD_NOT_ALLOWED');
  });
});
