import { killCliProcesses, runCli } from '../cli-process.ts';
import { afterEach, expect, it } from 'vitest';
import { TestClient } from '../helpers.ts';
import { describeNats, natsUrl, uniquePrefix } from './helpers.ts';

afterEach(() => {
  killCliProcesses();
});

describeNats('tickgate ingest / serve --bus (the real CLI, separate processes)', { timeout: 60_000 }, () => {
  it('ingest publishes the simulated feeds; serve --bus streams them with no local feeds; both stop on SIGTERM with 0', async () => {
    const env = { TICKGATE_BUS__NATS__SUBJECT_PREFIX: uniquePrefix(), TICKGATE_LOG_LEVEL: 'warn' };
    const ingest = runCli(['ingest', '--bus', natsUrl!, '--port', '0', '--feeds', 'sim-equity'], env);
    const serve = runCli(['serve', '--bus', natsUrl!, '--port', '0'], env);
    const [, health] = await ingest.waitForOutput(/health\s+(http:\/\/\S+\/healthz)/);
    const [, stream] = await serve.waitForOutput(/stream\s+(ws:\/\/127\.0\.0\.1:\d+\/v1\/stream)/);
    const [, topicsUrl] = await serve.waitForOutput(/topics\s+(http:\/\/\S+\/v1\/topics)/);

    const c = await TestClient.connect(stream!);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });
    const frame = await c.waitFor((f) => f.t === 'ticks', { timeoutMs: 10_000 });
    expect(frame.topic).toMatch(/^equity\.[A-Z0-9_-]+\.quote$/);
    const hz = (await (await fetch(health!)).json()) as Record<string, unknown>;
    expect(hz).toMatchObject({ status: 'ok', role: 'ingest', nats: 'connected', feeds: { 'sim-equity': 'running' } });
    expect(frame.epoch).toBe(hz.epoch);
    // The gateway runs no feeds of its own: every topic it knows came over NATS, from sim-equity.
    const topics = (await (await fetch(topicsUrl!)).json()) as { topics: { feed: string }[] };
    expect(new Set(topics.topics.map((t) => t.feed))).toEqual(new Set(['sim-equity']));
    await c.close();

    serve.child.kill('SIGTERM');
    ingest.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(await ingest.exited).toBe(0);
  });

  it('ingest without a NATS bus stops with exit code 2 and says what to give', async () => {
    const p = runCli(['ingest', '--port', '0'], {});
    expect(await p.exited).toBe(2);
  });
});
