/**
 * The trading dashboard for real: built with esbuild, served by a real gateway running the
 * simulated feeds, loaded in headless Chromium (Debian's, via playwright-core). Skips only when
 * /usr/bin/chromium is missing, and says so loudly; CI installs it.
 */
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { buildDashboard } from '../dashboards/trading/build.ts';
import { DEFAULT_WATCHLIST, parseEntry } from '../dashboards/trading/src/instruments.ts';
import { STORAGE_KEY } from '../dashboards/trading/src/storage.ts';
import { ARTIFACTS_DIR, chromiumMissing, collectErrors, FrameLog, launchChromium } from './e2e/browser.ts';
import { TcpProxy } from './e2e/tcp-proxy.ts';
import { quote, startGateway, TestClient, type Started } from './helpers.ts';

const SIM_FEEDS = [{ adapter: 'sim-equity' }, { adapter: 'sim-fx' }];
const DEFAULT_KEYS = DEFAULT_WATCHLIST.flatMap((text) => {
  const e = parseEntry(text);
  if (typeof e === 'string') throw new Error(e);
  return e.instruments;
});

interface RowText {
  key: string;
  bid: string;
  ask: string;
  last: string;
  updates: number;
}

function readRows(page: Page): Promise<RowText[]> {
  return page.$$eval('#rows tr', (trs) =>
    trs.map((tr) => {
      const text = (cls: string) => tr.querySelector(`.${cls}`)?.textContent ?? '';
      return {
        key: (tr as HTMLElement).dataset.key ?? '',
        bid: text('bid'),
        ask: text('ask'),
        last: text('last'),
        updates: Number(text('count').replace(/,/g, '')),
      };
    }),
  );
}

/** Waits until the connection badge shows `state`. */
function connState(page: Page, state: string, timeout = 5000) {
  return page.waitForSelector(`#conn[data-state="${state}"]`, { timeout });
}

/** Waits until the row of `key` shows a bid and at least `minUpdates` updates. */
function rowStreaming(page: Page, key: string, minUpdates = 1, timeout = 5000) {
  return page.waitForFunction(
    ([k, n]) => {
      const tr = document.querySelector(`#rows tr[data-key="${k}"]`);
      const count = Number((tr?.querySelector('.count')?.textContent ?? '0').replace(/,/g, ''));
      return tr !== null && (tr.querySelector('.bid')?.textContent ?? '') !== '' && count >= (n as number);
    },
    [key, minUpdates] as const,
    { timeout },
  );
}

const missing = chromiumMissing();

describe.skipIf(missing !== null)('trading dashboard in headless Chromium', () => {
  let gw: Started;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    await buildDashboard();
    [gw, browser] = await Promise.all([startGateway({ feeds: SIM_FEEDS }), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.gw.stop();
  });
  afterEach(async () => {
    await context?.close();
  });

  async function open(url: string): Promise<{ page: Page; errors: string[]; frames: FrameLog }> {
    context = await browser.newContext({ viewport: { width: 1400, height: 860 } });
    const page = await context.newPage();
    const errors = collectErrors(page);
    const frames = new FrameLog(page);
    const res = await page.goto(url);
    expect(res?.status()).toBe(200);
    return { page, errors, frames };
  }

  it('loads from the gateway, connects, and within 3 s shows live, changing prices for the default watchlist', async () => {
    const started = Date.now();
    const { page, errors, frames } = await open(`${gw.http}/`);
    await page.waitForFunction(
      (keys) =>
        document.querySelector<HTMLElement>('#conn')?.dataset.state === 'live' &&
        keys.every((k) => {
          const tr = document.querySelector(`#rows tr[data-key="${k}"]`);
          return tr !== null && ['bid', 'ask', 'last'].every((c) => (tr.querySelector(`.${c}`)?.textContent ?? '') !== '');
        }),
      DEFAULT_KEYS,
      { timeout: 3000 - (Date.now() - started) },
    );
    expect(Date.now() - started).toBeLessThan(3000);
    expect(frames.last.url).toBe(gw.stream);
    expect(frames.last.received[0]).toMatchObject({ t: 'welcome', v: 1 });

    const first = await readRows(page);
    expect(first.map((r) => r.key)).toEqual(DEFAULT_KEYS);
    for (const r of first) expect(Number(r.bid)).toBeGreaterThan(0);
    // Every row changes: more updates, and a different bid, ask or last.
    await page.waitForFunction(
      (before) =>
        before.every((b) => {
          const tr = document.querySelector(`#rows tr[data-key="${b.key}"]`);
          const t = (c: string) => tr?.querySelector(`.${c}`)?.textContent ?? '';
          return Number(t('count').replace(/,/g, '')) > b.updates && (t('bid') !== b.bid || t('ask') !== b.ask || t('last') !== b.last);
        }),
      first,
      { timeout: 10_000 },
    );
    // The status bar is live too, and the chart has the first row.
    await page.waitForFunction(
      () =>
        /^\d/.test(document.querySelector('#stat-rate')?.textContent ?? '') &&
        /ms/.test(document.querySelector('#stat-latency')?.textContent ?? ''),
    );
    expect(await page.textContent('#chart-title')).toBe('AAPL');
    await page.screenshot({ path: join(ARTIFACTS_DIR, 'dashboard.png') });
    expect(errors).toEqual([]);
  });

  it('adding a symbol shows it streaming and survives a reload; removing it stops it', async () => {
    const { page, errors, frames } = await open(`${gw.http}/`);
    await connState(page, 'live');
    await page.fill('#add-input', 'meta');
    await page.press('#add-input', 'Enter');
    await rowStreaming(page, 'equity.META', 3);
    expect(frames.last.sent).toContainEqual(
      expect.objectContaining({ op: 'subscribe', topics: ['equity.META.quote', 'equity.META.trade'] }),
    );
    expect(JSON.parse((await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY)) ?? '{}').watchlist).toContain('META');

    // Invalid input is explained, not sent.
    await page.fill('#add-input', 'fx.eurusd.quote');
    await page.press('#add-input', 'Enter');
    expect(await page.textContent('#add-error')).toMatch(/symbol "eurusd"/);

    await page.reload();
    await rowStreaming(page, 'equity.META', 1);
    const socket = frames.last;

    await page.click('#rows tr[data-key="equity.META"] button.remove');
    await page.waitForSelector('#rows tr[data-key="equity.META"]', { state: 'detached', timeout: 2000 });
    const unsub = await frames.until(() => socket.sent.find((f) => f.op === 'unsubscribe'), 'the unsubscribe request');
    expect(unsub.topics).toEqual(['equity.META.quote', 'equity.META.trade']);
    const ackAt = await frames.until(() => {
      const i = socket.received.findIndex((f) => f.t === 'ack' && f.id === unsub.id);
      return i >= 0 ? i : undefined;
    }, 'the unsubscribe ack');
    // After the ack, 100 more tick frames of the other topics arrive and none of META's.
    await frames.until(
      () => (socket.received.slice(ackAt).filter((f) => f.t === 'ticks').length >= 100 ? true : undefined),
      '100 tick frames after the ack',
      10_000,
    );
    expect(socket.received.slice(ackAt).filter((f) => String(f.topic).startsWith('equity.META.'))).toEqual([]);
    expect(await page.$('#rows tr[data-key="equity.META"]')).toBeNull();
    expect(JSON.parse((await page.evaluate((k) => localStorage.getItem(k), STORAGE_KEY)) ?? '{}').watchlist).not.toContain('META');
    expect(errors).toEqual([]);
  });

  it('the max-rate selector conflates delivery to the chosen rate', async () => {
    const { page, errors, frames } = await open(`${gw.http}/`);
    await connState(page, 'live');
    await page.waitForSelector('#max-rate:not([disabled])');
    const socket = frames.last;
    await page.selectOption('#max-rate', '1');
    const sub = await frames.until(() => socket.sent.find((f) => f.op === 'subscribe' && f.maxRate === 1), 'a subscribe with maxRate 1');
    const ackAt = await frames.until(() => {
      const i = socket.received.findIndex((f) => f.t === 'ack' && f.id === sub.id);
      return i >= 0 ? i : undefined;
    }, 'its ack');
    expect(socket.received[ackAt]).toMatchObject({ maxRate: 1 });
    const conflated = await frames.until(
      () => socket.received.slice(ackAt).find((f) => f.t === 'ticks' && f.topic === 'equity.AAPL.quote' && f.conflated !== undefined),
      'a conflated AAPL frame',
    );
    expect(conflated.ticks).toHaveLength(1);
    expect(await page.getAttribute('#rate-label', 'data-granted')).toBe('1');
    expect(errors).toEqual([]);
  });

  it('repaints once per animation frame, not per tick, with every topic of a 1,500 ticks/s gateway on screen', async () => {
    const busy = await startGateway({
      feeds: [
        { adapter: 'sim-equity', options: { ticksPerSecond: 1200 } },
        { adapter: 'sim-fx', options: { ticksPerSecond: 300 } },
      ],
    });
    onTestFinished(() => busy.gw.stop());
    context = await browser.newContext({ viewport: { width: 1400, height: 1600 } });
    // Every equity quote and trade and every FX quote: 72 rows.
    await context.addInitScript(([key, value]) => localStorage.setItem(key, value), [
      STORAGE_KEY,
      JSON.stringify({ watchlist: ['equity.*.*', 'fx.*.quote'], maxRate: 0, selected: 'equity.AAPL' }),
    ] as const);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${busy.http}/`);
    await page.waitForFunction(() => document.querySelectorAll('#rows tr').length >= 70, undefined, { timeout: 5000 });
    // Over 3 s, in the page: animation frames, and the batches of DOM changes in the watchlist.
    // A page that repaints per tick changes the DOM ~1,500 times a second; one that renders in
    // requestAnimationFrame changes it at most once per frame, however few frames a busy machine
    // gives it (a frame rate is the machine's, so it is only checked against a floor).
    const seen = await page.evaluate(
      () =>
        new Promise<{ intervals: number[]; mutationBatches: number }>((resolve) => {
          const intervals: number[] = [];
          let mutationBatches = 0;
          const observer = new MutationObserver(() => {
            mutationBatches++;
          });
          observer.observe(document.querySelector('#rows')!, { subtree: true, childList: true, characterData: true, attributes: true });
          let last = performance.now();
          const end = last + 3000;
          const tick = (t: number) => {
            intervals.push(t - last);
            last = t;
            if (t < end) requestAnimationFrame(tick);
            else {
              observer.disconnect();
              resolve({ intervals, mutationBatches });
            }
          };
          requestAnimationFrame(tick);
        }),
    );
    const intervals = seen.intervals.sort((a, b) => a - b);
    const median = intervals[Math.floor(intervals.length / 2)]!;
    const ticksPerSecond = Number((await page.textContent('#stat-rate'))!.replace(/,/g, ''));
    process.stdout.write(
      `dashboard at ${ticksPerSecond} ticks/s: ${intervals.length} frames and ${seen.mutationBatches} DOM change batches in 3 s, median frame ${median.toFixed(1)} ms\n`,
    );
    expect(ticksPerSecond).toBeGreaterThan(1000);
    // At most one batch of DOM changes per frame (+2 for the frames at either end of the window).
    expect(seen.mutationBatches).toBeGreaterThan(0);
    expect(seen.mutationBatches).toBeLessThanOrEqual(intervals.length + 2);
    // 60 Hz is 16.7 ms; on a loaded 2-core machine headless Chromium drops to 20–30 Hz whatever the
    // page does, so the floor is 10 Hz: a page repainting per tick falls far below it.
    expect(median).toBeLessThan(100);
    expect(errors).toEqual([]);
  });

  it('stopping and restarting the gateway shows the reconnecting state, then live data again', async () => {
    // The page talks to a fixed port (a forwarder, as a load balancer would be); the gateway
    // behind it is stopped and a new one started. See tcp-proxy.ts for why not the same port.
    const first = await startGateway({ feeds: SIM_FEEDS });
    const proxy = await TcpProxy.start(first.port);
    let second: Started | null = null;
    try {
      const { page, errors, frames } = await open(`http://127.0.0.1:${proxy.port}/`);
      await rowStreaming(page, 'equity.AAPL', 2);
      const epoch = frames.last.received[0]?.epoch as number;
      await first.gw.stop();
      await connState(page, 'reconnecting');
      // The first attempt's reason is the 1001 close; while the gateway stays down, later attempts
      // (each refused at once) may already be showing by the time the page is read.
      expect(await page.textContent('#conn-detail')).toMatch(/attempt (1 .*gateway shutting down|\d+ .*connection lost)/);
      const before = (await readRows(page)).find((r) => r.key === 'equity.AAPL')!.updates;

      second = await startGateway({ feeds: SIM_FEEDS });
      proxy.setTarget(second.port);
      await connState(page, 'live', 10_000);
      await rowStreaming(page, 'equity.AAPL', before + 5);
      expect(frames.last.received[0]).toMatchObject({ t: 'welcome' });
      expect(frames.last.received[0]?.epoch).not.toBe(epoch);
      expect(Number(await page.textContent('#stat-reconnects'))).toBeGreaterThanOrEqual(1);
      expect(await page.textContent('#notices')).toMatch(/restarted \(new epoch\)/);
      // The only errors allowed are the browser's own reports of refused reconnect attempts.
      const refused = new RegExp(`^console\\.error: WebSocket connection to 'ws://127\\.0\\.0\\.1:${proxy.port}/v1/stream' failed`);
      expect(errors.filter((e) => !refused.test(e))).toEqual([]);
    } finally {
      await first.gw.stop();
      await second?.gw.stop();
      await proxy.close();
    }
  });

  it('after a network cut it resumes, and shows a gap where the gateway could not replay', async () => {
    // A tiny resume history, so a short outage is more than the gateway can replay.
    const g = await startGateway({ feeds: SIM_FEEDS, bus: { historyMaxTicks: 5 } });
    const proxy = await TcpProxy.start(g.port);
    const watcher = await TestClient.connect(g.stream);
    try {
      const { page, errors, frames } = await open(`http://127.0.0.1:${proxy.port}/`);
      await rowStreaming(page, 'equity.AAPL', 2);
      proxy.setTarget(null);
      proxy.dropAll();
      await connState(page, 'reconnecting');
      // While the page is away, AAPL moves on by more than the 5 ticks the gateway keeps.
      await watcher.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'] });
      const start = (await watcher.waitFor((f) => f.t === 'snapshot' || f.t === 'ticks')).ticks[0].seq as number;
      await watcher.waitFor((f) => f.t === 'ticks' && f.ticks.some((t: { seq: number }) => t.seq > start + 20), { timeoutMs: 10_000 });
      proxy.setTarget(g.port);
      await connState(page, 'live', 10_000);
      const resumed = frames.last.sent.find((f) => f.op === 'subscribe' && f.resume !== undefined);
      expect(resumed?.resume?.['equity.AAPL.quote']).toMatchObject({ epoch: g.gw.bus.epoch });
      await page.waitForSelector('#rows tr[data-key="equity.AAPL"] td.state:text-matches("gap")', { timeout: 5000 });
      expect(await page.textContent('#notices')).toMatch(/gap on equity\.\w+\.(quote|trade): could not resume \(too old\)/);
      await rowStreaming(page, 'equity.AAPL', 1);
      const refused = new RegExp(`^console\\.error: WebSocket connection to 'ws://127\\.0\\.0\\.1:${proxy.port}/v1/stream' failed`);
      expect(errors.filter((e) => !refused.test(e))).toEqual([]);
    } finally {
      await watcher.close();
      await g.gw.stop();
      await proxy.close();
    }
  });

  it('?url= points the page at another gateway; stale topics are flagged until they tick again', async () => {
    const other = await startGateway({ liveness: { staleAfterMs: 300, checkIntervalMs: 20 } });
    try {
      other.gw.bus.publish(quote('equity.AAPL.quote', 101.5), 'manual');
      const { page, errors, frames } = await open(`${gw.http}/?url=${encodeURIComponent(other.stream)}`);
      await rowStreaming(page, 'equity.AAPL', 1);
      expect(frames.last.url).toBe(other.stream);
      expect(await page.textContent('#rows tr[data-key="equity.AAPL"] .bid')).toBe('101.50');
      // Nothing else ticks on this gateway: AAPL goes stale.
      await page.waitForSelector('#rows tr.stale[data-key="equity.AAPL"]', { timeout: 5000 });
      expect(await page.textContent('#notices')).toMatch(/equity\.AAPL\.quote is stale/);
      other.gw.bus.publish(quote('equity.AAPL.quote', 101.6), 'manual');
      await page.waitForSelector('#rows tr[data-key="equity.AAPL"]:not(.stale)', { timeout: 5000 });
      expect(await page.textContent('#notices')).not.toMatch(/equity\.AAPL\.quote is stale/);
      expect(await page.textContent('#rows tr[data-key="equity.AAPL"] .bid')).toBe('101.60');
      expect(errors).toEqual([]);
    } finally {
      await other.gw.stop();
    }
  });
});
