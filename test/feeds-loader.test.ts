import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, validateConfig } from '../src/config/load.ts';
import type { ConfigInput } from '../src/config/schema.ts';
import { createGateway, type Gateway } from '../src/index.ts';
import { stopAfterTest, TestClient } from './helpers.ts';

// Third-party adapters: modules written to a temp dir at test time, loaded through config.

const dir = mkdtempSync(join(tmpdir(), 'tickgate-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const zodUrl = pathToFileURL(resolve('node_modules/zod/index.js')).href;
const adapterTs = resolve('src/feed/adapter.ts');

/** Plain ESM JavaScript, as a package would ship it: default export, zod options, a timer. */
writeFileSync(
  join(dir, 'ticker.js'),
  `import { z } from ${JSON.stringify(zodUrl)};
export default {
  name: 'ticker',
  description: 'one trade every few ms',
  optionsSchema: z.strictObject({ symbol: z.string().default('JS'), rate: z.int().min(1, { error: 'must be at least 1' }).default(200) }),
  create(options) {
    let timer = null;
    return {
      start(ctx) {
        let n = 0;
        timer = setInterval(() => ctx.emit({ topic: 'equity.' + options.symbol + '.trade', kind: 'trade', ts: ctx.clock.now(), price: 10 + ++n / 100, size: 1 }), 1000 / options.rate);
      },
      stop() { clearInterval(timer); },
    };
  },
};
`,
);
/** TypeScript with a named `feed` export, built with defineFeed. */
writeFileSync(
  join(dir, 'quoter.ts'),
  `import { z } from ${JSON.stringify(zodUrl)};
import { defineFeed, type FeedContext } from ${JSON.stringify(adapterTs)};
export const feed = defineFeed({
  name: 'quoter',
  description: 'one quote every 5 ms',
  optionsSchema: z.strictObject({}),
  create: () => {
    let timer: NodeJS.Timeout | null = null;
    return {
      start(ctx: FeedContext) {
        timer = setInterval(() => ctx.emit({ topic: 'fx.EURUSD.quote', kind: 'quote', ts: ctx.clock.now(), bid: 1.1, ask: 1.1001, bidSize: 1e6, askSize: 1e6 }), 5);
      },
      stop() { if (timer) clearInterval(timer); },
    };
  },
});
`,
);
writeFileSync(join(dir, 'no-export.js'), 'export const something = 1;\n');
writeFileSync(
  join(dir, 'bad-shape.js'),
  "export default { name: 'bad', description: 'x', optionsSchema: { safeParse: () => ({ success: true, data: {} }) } };\n",
);
writeFileSync(join(dir, 'boom.js'), "throw new Error('boom at import');\n");
writeFileSync(
  join(dir, 'odd-name.js'),
  `import { z } from ${JSON.stringify(zodUrl)};\nexport const feed = { name: 'Odd Name', description: '', optionsSchema: z.object({}), create: () => ({ start() {}, stop() {} }) };\n`,
);

function gateway(feeds: ConfigInput['feeds']): Gateway {
  return stopAfterTest(createGateway({ host: '127.0.0.1', port: 0, logLevel: 'silent', feeds }, { moduleBaseDir: dir }));
}

async function startError(feeds: ConfigInput['feeds']): Promise<string> {
  const err = await gateway(feeds)
    .start()
    .then(
      () => null,
      (e: unknown) => e,
    );
  expect(err).toBeInstanceOf(ConfigError);
  const message = (err as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  return message;
}

describe('loading adapters from modules', () => {
  it('runs a .js default export and a .ts named export from paths relative to the config directory, next to built-ins', async () => {
    const g = gateway([
      { module: './ticker.js', options: { symbol: 'MODJS' } },
      { adapter: 'sim-fx', options: { pairs: ['USDJPY'], ticksPerSecond: 50 } },
      { module: join(dir, 'quoter.ts'), id: 'quotes' },
    ]);
    const { port } = await g.start();
    const c = await TestClient.connect(`ws://127.0.0.1:${port}/v1/stream`);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.MODJS.trade', 'fx.EURUSD.quote', 'fx.USDJPY.quote'] });
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'equity.MODJS.trade');
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'fx.EURUSD.quote');
    await c.waitFor((f) => f.t === 'ticks' && f.topic === 'fx.USDJPY.quote');
    // Feed ids: the definition's name by default, else the configured id; listed in config order.
    const health = (await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { feeds: Record<string, string> };
    expect(Object.keys(health.feeds)).toEqual(['ticker', 'sim-fx', 'quotes']);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(/tickgate_ticks_in_total\{feed="ticker"\} [1-9]/);
    expect(metrics).toMatch(/tickgate_ticks_in_total\{feed="quotes"\} [1-9]/);
    await c.close();
  });

  it('validates module options with the module’s own schema', async () => {
    expect(await startError([{ module: './ticker.js', options: { rate: 0 } }])).toBe(
      'invalid config: feeds.0.options.rate: must be at least 1 (module ./ticker.js)',
    );
    expect(await startError([{ module: './ticker.js', options: { colour: 'red' } }])).toMatch(
      /^invalid config: feeds\.0\.options: .*colour.* \(module \.\/ticker\.js\)$/,
    );
  });

  it('explains what is wrong with a module in one line', async () => {
    expect(await startError([{ module: './nope.js' }])).toMatch(
      /^invalid config: feeds\.0\.module: cannot load "\.\/nope\.js": no file at .*\/nope\.js$/,
    );
    expect(await startError([{ module: './no-export.js' }])).toMatch(
      /feeds\.0\.module: "\.\/no-export\.js" has no default export and no export named "feed"; export the result of defineFeed/,
    );
    expect(await startError([{ module: './bad-shape.js' }])).toMatch(
      /feeds\.0\.module: "\.\/bad-shape\.js" does not export a feed definition: "create" must be a function/,
    );
    expect(await startError([{ module: './boom.js' }])).toMatch(/feeds\.0\.module: cannot load "\.\/boom\.js": boom at import$/);
    expect(await startError([{ module: 'tickgate-feed-does-not-exist' }])).toMatch(
      /feeds\.0\.module: cannot load "tickgate-feed-does-not-exist": no such package is installed \(npm install tickgate-feed-does-not-exist\)$/,
    );
    expect(await startError([{ module: './odd-name.js' }])).toMatch(
      /feeds\.0\.id: required: module "\.\/odd-name\.js" names its feed "Odd Name", which is not a feed id/,
    );
    // The module's name becomes its id at load time, so a clash is found then.
    expect(await startError([{ adapter: 'sim-fx', id: 'quoter' }, { module: './quoter.ts' }])).toBe(
      'invalid config: feeds.1.id: duplicate feed id "quoter"; give each instance its own id',
    );
    // A failed load leaves nothing listening: the gateway can still be stopped cleanly (stopAfterTest).
  });

  it('requires exactly one of "adapter" and "module" in a feed entry', () => {
    const message = (feeds: unknown) => {
      try {
        validateConfig({ feeds });
      } catch (err) {
        return (err as Error).message;
      }
      return null;
    };
    expect(message([{ options: {} }])).toBe(
      'invalid config: feeds.0.adapter: give "adapter" (a built-in adapter name) or "module" (a module path or npm package name)',
    );
    expect(message([{ adapter: 'sim-fx', module: './x.js' }])).toBe(
      'invalid config: feeds.0.module: give either "adapter" or "module", not both (got "./x.js")',
    );
    expect(message([{ module: './x.js' }, { module: './x.js' }])).toBe(
      'invalid config: feeds.1.id: duplicate feed id "./x.js"; give each instance its own id',
    );
    expect(message([{ module: '' }])).toMatch(/^invalid config: feeds\.0\.module: /);
  });

  it('keeps createGateway synchronous for built-in adapters: an unknown name fails at once', () => {
    expect(() => createGateway({ logLevel: 'silent', feeds: [{ adapter: 'sim-stocks' }] })).toThrow(
      /feeds\.0\.adapter: unknown adapter "sim-stocks"/,
    );
  });
});
