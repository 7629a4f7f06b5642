import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { createGateway, type Gateway } from '../../src/gateway.ts';
import { TestClient } from '../../test/helpers.ts';
import { collectingContext } from '../shared/testing.ts';
import { templateFeed, templateOptionsSchema } from './index.ts';
import { nextQuote } from './model.ts';

// Three kinds of tests every adapter should have: the pure model, the adapter with a collecting
// context and fake timers, and the adapter inside a real gateway with a real client.

describe('template model', () => {
  it('quotes on the cent grid, one cent wide, deterministically', () => {
    const a = { mid: 100, step: 0 };
    const b = { mid: 100, step: 0 };
    const qa = Array.from({ length: 50 }, () => nextQuote(a));
    expect(qa).toEqual(Array.from({ length: 50 }, () => nextQuote(b)));
    for (const q of qa) {
      expect(Math.round((q.ask - q.bid) * 100)).toBe(1);
      expect(Math.abs(q.bid * 100 - Math.round(q.bid * 100))).toBeLessThan(1e-6);
    }
  });
});

describe('template adapter', () => {
  beforeEach(() => void vi.useFakeTimers());
  afterEach(() => void vi.useRealTimers());

  it('emits one quote per interval stamped with ctx.clock, nothing after stop, and continues after a restart', () => {
    const clock = new ManualClock();
    const adapter = templateFeed.create(templateOptionsSchema.parse({ intervalMs: 10 }));
    const ctx = collectingContext(clock);
    adapter.start(ctx);
    vi.advanceTimersByTime(50);
    expect(ctx.ticks).toHaveLength(5);
    expect(ctx.ticks[0]).toMatchObject({ topic: 'equity.DEMO.quote', kind: 'quote', ts: clock.now() });
    adapter.stop();
    vi.advanceTimersByTime(50);
    expect(ctx.ticks).toHaveLength(5);
    const again = collectingContext(clock);
    adapter.start(again);
    vi.advanceTimersByTime(10);
    expect(again.ticks[0]).not.toEqual(ctx.ticks[0]); // the walk went on
    again.controller.abort();
    vi.advanceTimersByTime(50);
    expect(again.ticks).toHaveLength(1);
  });

  it('explains bad options', () => {
    expect(templateOptionsSchema.safeParse({ topic: 'equity.DEMO.trade' }).error?.issues[0]?.message).toMatch(/quote topic/);
    expect(templateOptionsSchema.safeParse({ colour: 'red' }).success).toBe(false);
  });
});

describe('template in a gateway, loaded as a module', () => {
  let gw: Gateway | null = null;
  afterEach(async () => {
    await gw?.stop();
    gw = null;
  });

  it('streams to a real client', async () => {
    gw = createGateway(
      {
        host: '127.0.0.1',
        port: 0,
        logLevel: 'silent',
        feeds: [{ module: './index.ts', options: { intervalMs: 5, topic: 'equity.TPL.quote' } }],
      },
      { moduleBaseDir: fileURLToPath(new URL('.', import.meta.url)) },
    );
    const { port } = await gw.start();
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/v1/stream`);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });
    const frame = await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.TPL.quote');
    expect(frame.ticks[0]).toMatchObject({ seq: expect.any(Number), bidSize: 100, askSize: 100 });
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { feeds: Record<string, string> };
    expect(health.feeds).toEqual({ template: 'running' });
    await c.close();
  });
});
