import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quote, startGateway, TestClient, type Started } from './helpers.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

/** Prometheus text exposition 0.0.4: every sample line is `name{labels} value`. Returns name+labels → value. */
function parsePrometheus(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const line =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)( -?\d+)?$/;
  for (const l of text.split('\n')) {
    if (l === '' || l.startsWith('# HELP ') || l.startsWith('# TYPE ')) continue;
    const m = line.exec(l);
    if (!m) throw new Error(`not Prometheus text: ${JSON.stringify(l)}`);
    samples.set(`${m[1]}${m[2] ?? ''}`.replace(',}', '}'), Number(m[3]));
  }
  return samples;
}

let s: Started;
beforeAll(async () => {
  s = await startGateway();
});
afterAll(async () => {
  await s.gw.stop();
});

async function metrics() {
  const res = await fetch(`${s.http}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
  return parsePrometheus(await res.text());
}

describe('HTTP API', () => {
  it('/metrics parses as Prometheus text and its counters move with traffic', async () => {
    const before = await metrics();
    expect(before.get('tickgate_connections')).toBe(0);
    for (const name of [
      'tickgate_frames_out_total',
      'tickgate_bytes_out_total',
      'tickgate_publish_latency_seconds_count',
      'process_resident_memory_bytes',
    ]) {
      expect(before.has(name), name).toBe(true);
    }
    expect(before.get('tickgate_errors_total{code="TG_ERR_MALFORMED"}')).toBe(0);

    const c = await TestClient.connect(`${s.stream}`);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.MET.quote'] });
    for (let i = 0; i < 25; i++) s.gw.bus.publish(quote('equity.MET.quote', 50 + i / 100), 'metrics-test');
    s.gw.bus.publish(quote('equity.MET.quote', -1), 'metrics-test');
    await c.waitForCount((f) => f.t === 'ticks', 1);
    c.sendRaw('garbage', false);
    await c.waitFor((f) => f.t === 'error');

    const after = await metrics();
    expect(after.get('tickgate_connections')).toBe(1);
    expect(after.get('tickgate_subscriptions')).toBe(1);
    expect(after.get('tickgate_ticks_in_total{feed="metrics-test"}')).toBe(25);
    expect(after.get('tickgate_ticks_rejected_total{feed="metrics-test",reason="invalid_price"}')).toBe(1);
    expect(after.get('tickgate_ticks_out_total')! - (before.get('tickgate_ticks_out_total') ?? 0)).toBe(25);
    expect(after.get('tickgate_frames_out_total')!).toBeGreaterThan(before.get('tickgate_frames_out_total')!);
    expect(after.get('tickgate_bytes_out_total')!).toBeGreaterThan(before.get('tickgate_bytes_out_total')!);
    expect(after.get('tickgate_publish_latency_seconds_count')! - before.get('tickgate_publish_latency_seconds_count')!).toBe(25);
    expect(after.get('tickgate_errors_total{code="TG_ERR_MALFORMED"}')).toBe(1);
    expect(after.get('tickgate_client_messages_total{op="subscribe"}')).toBe(1);
    await c.close();
  });

  it('/healthz reports ok with the epoch', async () => {
    const res = await fetch(`${s.http}/healthz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 'ok', epoch: s.gw.bus.epoch });
  });

  it('/v1/topics lists known topics with their last update, filterable by pattern', async () => {
    s.gw.bus.publish(quote('fx.EURUSD.quote', 1.08), 'topics-test');
    s.gw.bus.publish(quote('fx.EURUSD.quote', 1.081), 'topics-test');
    await nextTurn();
    const body = (await (await fetch(`${s.http}/v1/topics?pattern=fx.*.quote`)).json()) as { topics: Record<string, unknown>[] };
    expect(body.topics).toHaveLength(1);
    expect(body.topics[0]).toMatchObject({ topic: 'fx.EURUSD.quote', feed: 'topics-test', seq: 2 });
    expect(Math.abs((body.topics[0]!.lastUpdate as number) - Date.now())).toBeLessThan(5000);
    const bad = await fetch(`${s.http}/v1/topics?pattern=fx`);
    expect(bad.status).toBe(400);
  });

  it('/v1/snapshot returns the last value, 404 with a message for an unknown topic, 400 for an invalid one', async () => {
    s.gw.bus.publish(quote('equity.SNAP.quote', 12.5), 'test');
    await nextTurn();
    const ok = await fetch(`${s.http}/v1/snapshot/equity.SNAP.quote`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ topic: 'equity.SNAP.quote', seq: 1, bid: 12.5, epoch: s.gw.bus.epoch });

    const missing = await fetch(`${s.http}/v1/snapshot/equity.NOPE.quote`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({
      error: { code: 'TG_ERR_UNKNOWN_TOPIC', message: 'no tick has been seen for topic "equity.NOPE.quote"' },
    });
    const badEscape = await fetch(`${s.http}/v1/snapshot/%E0%A4%A`);
    expect(badEscape.status).toBe(400);
    const invalid = await fetch(`${s.http}/v1/snapshot/not-a-topic`);
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { code: string } }).error.code).toBe('TG_ERR_INVALID_TOPIC');
  });

  it('answers unknown routes with 404 and wrong methods with 405, as JSON', async () => {
    const nf = await fetch(`${s.http}/nope`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { code: string } }).error.code).toBe('TG_ERR_NOT_FOUND');
    const post = await fetch(`${s.http}/metrics`, { method: 'POST', body: 'x' });
    expect(post.status).toBe(405);
  });
});
