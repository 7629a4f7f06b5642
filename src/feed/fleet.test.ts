import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConfigError, validateConfig } from '../config/load.ts';
import type { ConfigInput } from '../config/schema.ts';
import { ManualClock } from '../core/clock.ts';
import type { BusTick } from '../core/tick.ts';
import { metricValue, testMetrics } from '../transport/testing.ts';
import { defineFeed, type FeedContext } from './adapter.ts';
import { FeedFleet, REJECT_LOG_INTERVAL_MS } from './fleet.ts';

/** An adapter that emits one quote on start and records its context. */
const oneQuote = defineFeed({
  name: 'one-quote',
  description: 'test',
  optionsSchema: z.object({ symbol: z.string().default('AAA'), rate: z.number().min(1).default(1) }).strict(),
  create: (options) => ({
    start(ctx: FeedContext) {
      ctx.emit({
        topic: `equity.${options.symbol}.quote`,
        kind: 'quote',
        ts: ctx.clock.now(),
        bid: 1,
        ask: 2,
        bidSize: 1,
        askSize: 1,
      } as never);
    },
    stop() {},
  }),
});

/** A module feed in a temporary directory (plain JS, no imports: loadFeedModule checks only the shape). */
const dir = mkdtempSync(join(tmpdir(), 'tickgate-fleet-'));
const moduleSource = (name: string) =>
  `export default { name: ${JSON.stringify(name)}, description: '', optionsSchema: { safeParse: (v) => ({ success: true, data: v }) }, create: () => ({ start() {}, stop() {} }) };\n`;
writeFileSync(join(dir, 'mod-a.js'), moduleSource('mod-a'));
writeFileSync(join(dir, 'bad-name.js'), moduleSource('Bad Name'));

function setup(feeds: ConfigInput['feeds']) {
  const clock = new ManualClock();
  const metrics = testMetrics();
  const lines: { level: number; msg: string; feed?: string; reason?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const published: { tick: BusTick; feedId: string }[] = [];
  const ups: [string, boolean][] = [];
  const make = () =>
    new FeedFleet(validateConfig({ feeds }).feeds, {
      definitions: [oneQuote as never],
      moduleBaseDir: dir,
      metrics,
      logger,
      clock,
      publish: (tick, feedId) => {
        published.push({ tick, feedId });
        return true;
      },
      currentInterest: () => [],
      feedUp: (id, isUp) => ups.push([id, isUp]),
    });
  return { clock, metrics, lines, published, ups, make };
}

const errorOf = async (run: () => unknown): Promise<string> => {
  try {
    await run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('FeedFleet', () => {
  it('refuses an unknown adapter at construction, naming what is available', async () => {
    const { make } = setup([{ adapter: 'nope' }]);
    expect(await errorOf(make)).toBe('invalid config: feeds.0.adapter: unknown adapter "nope"; available: one-quote');
  });

  it('says so when no definitions were handed in at all', async () => {
    const fleet = () =>
      new FeedFleet(validateConfig({ feeds: [{ adapter: 'sim-fx' }] }).feeds, {
        definitions: [],
        moduleBaseDir: dir,
        metrics: testMetrics(),
        logger: pino({ level: 'silent' }),
        clock: new ManualClock(),
        publish: () => true,
        currentInterest: () => [],
      });
    expect(await errorOf(fleet)).toMatch(/unknown adapter "sim-fx"; available: none \(no feed definitions were handed to this process\)$/);
  });

  it('validates options with the adapter’s own schema, naming the config key and the adapter', async () => {
    const { make } = setup([{ adapter: 'one-quote', options: { rate: 0 } }]);
    expect(await errorOf(make)).toMatch(/^invalid config: feeds\.0\.options\.rate: .* \(adapter one-quote\)$/);
  });

  it('zero-initialises every feed’s metrics before anything runs', async () => {
    const { make, metrics } = setup([
      { adapter: 'one-quote', id: 'q1' },
      { adapter: 'one-quote', id: 'q2' },
    ]);
    make();
    const text = await metrics.registry.metrics();
    for (const id of ['q1', 'q2']) {
      expect(text).toContain(`tickgate_feed_up{feed="${id}"} 0`);
      expect(text).toContain(`tickgate_feed_restarts_total{feed="${id}"} 0`);
      expect(text).toContain(`tickgate_feed_failures_total{feed="${id}"} 0`);
    }
  });

  it('loads module feeds in config order and checks the ids they take from their names', async () => {
    const ok = setup([{ module: './mod-a.js' }, { adapter: 'one-quote' }]).make();
    expect(ok.ids).toEqual(['one-quote']);
    await ok.load();
    expect(ok.ids).toEqual(['mod-a', 'one-quote']);
    expect(
      await errorOf(() =>
        setup([{ module: './bad-name.js' }])
          .make()
          .load(),
      ),
    ).toMatch(/^invalid config: feeds\.0\.id: required: module "\.\/bad-name\.js" names its feed "Bad Name"/);
    expect(
      await errorOf(() =>
        setup([{ adapter: 'one-quote', id: 'mod-a' }, { module: './mod-a.js' }])
          .make()
          .load(),
      ),
    ).toBe('invalid config: feeds.1.id: duplicate feed id "mod-a"; give each instance its own id');
    expect(
      await errorOf(() =>
        setup([{ module: './missing.js' }])
          .make()
          .load(),
      ),
    ).toMatch(/^invalid config: feeds\.0\.module: cannot load "\.\/missing\.js": no file at /);
  });

  it('starts and stops its supervisors: ticks flow to publish, feedUp and the gauge follow', async () => {
    const { make, metrics, published, ups } = setup([{ adapter: 'one-quote', options: { symbol: 'ZZZ' } }]);
    const fleet = make();
    fleet.start();
    await waitUntil(() => fleet.states()['one-quote'] === 'running');
    expect(published.map((p) => [p.feedId, p.tick.topic])).toEqual([['one-quote', 'equity.ZZZ.quote']]);
    expect(ups).toEqual([['one-quote', true]]);
    expect(await metricValue(metrics.feedUp, { feed: 'one-quote' })).toBe(1);
    await fleet.stop();
    expect(fleet.states()).toEqual({ 'one-quote': 'stopped' });
    expect(ups.at(-1)).toEqual(['one-quote', false]);
    expect(await metricValue(metrics.feedUp, { feed: 'one-quote' })).toBe(0);
  });

  it('counts every rejected tick and logs one per feed and reason per interval', async () => {
    const { make, metrics, lines, clock } = setup([{ adapter: 'one-quote' }]);
    const fleet = make();
    const warnings = () => lines.filter((l) => l.msg.startsWith('tick rejected')).map((l) => `${l.feed}/${l.reason}`);
    fleet.rejected('one-quote', 'invalid_price');
    fleet.rejected('one-quote', 'invalid_price');
    fleet.rejected('one-quote', 'invalid_size');
    expect(warnings()).toEqual(['one-quote/invalid_price', 'one-quote/invalid_size']);
    clock.advance(REJECT_LOG_INTERVAL_MS - 1);
    fleet.rejected('one-quote', 'invalid_price');
    expect(warnings()).toHaveLength(2);
    clock.advance(1);
    fleet.rejected('one-quote', 'invalid_price');
    expect(warnings()).toEqual(['one-quote/invalid_price', 'one-quote/invalid_size', 'one-quote/invalid_price']);
    expect(await metricValue(metrics.ticksRejected, { feed: 'one-quote', reason: 'invalid_price' })).toBe(4);
    expect(await metricValue(metrics.ticksRejected, { feed: 'one-quote', reason: 'invalid_size' })).toBe(1);
  });
});

/** Polls a condition across event-loop turns (the supervisor settles start() in a microtask); bounded. */
async function waitUntil(condition: () => boolean, turns = 100): Promise<void> {
  for (let i = 0; i < turns && !condition(); i++) await new Promise((r) => setImmediate(r));
  expect(condition()).toBe(true);
}
