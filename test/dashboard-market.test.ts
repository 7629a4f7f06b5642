/**
 * The trading dashboard's market views in headless Chromium at 400, 1024 and 1440 px: the depth
 * ladder (the SDK's verified book), the time-and-sales tape and the candles from server bars render
 * and update; no price is clipped; the layout keeps the chart beside the table where there is room;
 * sorting and arrow keys; an unknown symbol says so. Screenshots: see SCREENSHOTS below (the
 * committed ones in dashboards/trading/screenshots/ were looked at).
 */
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../dashboards/trading/build.ts';
import { STORAGE_KEY } from '../dashboards/trading/src/storage.ts';
import { ARTIFACTS_DIR, chromiumMissing, collectErrors, launchChromium } from './e2e/browser.ts';
import { startGateway, type Started } from './helpers.ts';

/**
 * Screenshots go to the git-ignored artifacts directory, so a test run leaves the tree clean;
 * `TICKGATE_UPDATE_SCREENSHOTS=1` writes the committed ones in dashboards/trading/screenshots/.
 */
const SCREENSHOTS =
  process.env.TICKGATE_UPDATE_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../dashboards/trading/screenshots/', import.meta.url))
    : ARTIFACTS_DIR;
const missing = chromiumMissing();

/** Visible price-like cells whose text does not fit (scrollWidth > clientWidth): what the eye sees as "2…". */
function clippedCells(page: Page): Promise<string[]> {
  return page.$$eval('#rows td.num, #rows td.sym, #ladder td, #tape td', (cells) =>
    cells
      .filter((c) => (c as HTMLElement).offsetParent !== null && (c.textContent ?? '') !== '')
      .filter((c) => c.scrollWidth > c.clientWidth)
      .map((c) => `${c.className}: "${c.textContent}" (${c.scrollWidth} > ${c.clientWidth})`),
  );
}

describe.skipIf(missing !== null)('trading dashboard market views in headless Chromium', () => {
  let gw: Started;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    await buildDashboard();
    [gw, browser] = await Promise.all([startGateway({ feeds: [{ adapter: 'sim-equity' }, { adapter: 'sim-fx' }] }), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.gw.stop();
  });
  afterEach(async () => {
    await context?.close();
  });

  async function open(width: number, saved?: object): Promise<{ page: Page; errors: string[] }> {
    context = await browser.newContext({ viewport: { width, height: 900 } });
    if (saved !== undefined)
      await context.addInitScript(([k, v]) => localStorage.setItem(k, v), [STORAGE_KEY, JSON.stringify(saved)] as const);
    const page = await context.newPage();
    const errors = collectErrors(page);
    await page.goto(`${gw.http}/`);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 5000 });
    return { page, errors };
  }

  for (const width of [400, 1024, 1440]) {
    it(`at ${width} px: ladder, tape and candles render and update; no clipped prices; layout`, async () => {
      const { page, errors } = await open(width);
      // AAPL is selected first: its book, its trades, its 1-second bars.
      await page.waitForFunction(
        () =>
          document.querySelectorAll('#ladder-rows tr.bid').length >= 10 && document.querySelectorAll('#ladder-rows tr.ask').length >= 10,
        undefined,
        { timeout: 5000 },
      );
      expect(await page.textContent('#chart-title')).toBe('AAPL');
      const bookState = await page.textContent('#book-state');
      expect(bookState).toMatch(/^#\d+ · checksum verified$/);
      await page.waitForFunction((before) => document.querySelector('#book-state')?.textContent !== before, bookState, { timeout: 5000 });
      // Best bid below best ask, depth bars grow with cumulative size.
      const ladder = await page.$$eval('#ladder-rows tr', (trs) =>
        trs.map((tr) => ({
          side: tr.className,
          price: Number(tr.querySelector('.price')?.textContent),
          depth: parseFloat((tr as HTMLElement).style.getPropertyValue('--depth')),
        })),
      );
      const bids = ladder.filter((r) => r.side === 'bid');
      const asks = ladder.filter((r) => r.side === 'ask');
      expect(bids[0]!.price).toBeLessThan(asks.at(-1)!.price);
      expect(bids.map((b) => b.depth)).toEqual([...bids.map((b) => b.depth)].sort((a, b) => a - b));

      await page.waitForFunction(() => document.querySelectorAll('#tape-rows tr').length >= 2, undefined, { timeout: 5000 });
      const firstTrade = await page.textContent('#tape-rows tr:first-child');
      await page.waitForFunction((before) => document.querySelector('#tape-rows tr:first-child')?.textContent !== before, firstTrade, {
        timeout: 5000,
      });

      // Candles: the snapshot's history, then a new bar each second.
      await page.waitForFunction(() => Number(document.querySelector<HTMLElement>('#chart-candles')?.dataset.bars) >= 1, undefined, {
        timeout: 5000,
      });
      const bars = Number(await page.getAttribute('#chart-candles', 'data-bars'));
      await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('#chart-candles')?.dataset.bars) > n, bars, {
        timeout: 5000,
      });
      expect(await page.textContent('#day-stats')).toMatch(/range \d+\.\d\d – \d+\.\d\d/);

      // Every row streaming, then nothing clipped and no sideways scrolling.
      await page.waitForFunction(
        () => Array.from(document.querySelectorAll('#rows tr')).every((tr) => (tr.querySelector('.bid')?.textContent ?? '') !== ''),
        undefined,
        { timeout: 5000 },
      );
      await page.screenshot({ path: `${SCREENSHOTS}dashboard-${width}.png`, fullPage: width === 400 });
      expect(await clippedCells(page)).toEqual([]);
      expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(width);
      const table = (await page.locator('#watchlist').boundingBox())!;
      const chartBox = (await page.locator('#chart-ticks').boundingBox())!;
      if (width >= 1024) {
        // Beside the table, not below it.
        expect(chartBox.x).toBeGreaterThanOrEqual(table.x + table.width);
        expect(chartBox.y).toBeLessThan(table.y + table.height);
      } else {
        expect(chartBox.y).toBeGreaterThanOrEqual(table.y + table.height);
      }
      expect(errors).toEqual([]);
    });
  }

  it('sorts the watchlist by a column (and back), and the arrow keys move the selection', async () => {
    const { page, errors } = await open(1440);
    await page.waitForFunction(
      () => Array.from(document.querySelectorAll('#rows tr')).every((tr) => (tr.querySelector('.bid')?.textContent ?? '') !== ''),
      undefined,
      { timeout: 5000 },
    );
    const keys = () => page.$$eval('#rows tr', (trs) => trs.map((tr) => (tr as HTMLElement).dataset.key));
    const watchOrder = await keys();
    const bids = () => page.$$eval('#rows tr', (trs) => trs.map((tr) => Number(tr.querySelector('.bid')?.textContent)));

    await page.click('#watchlist th[data-sort="symbol"]');
    expect(await page.getAttribute('#watchlist th[data-sort="symbol"]', 'aria-sort')).toBe('ascending');
    await page.waitForFunction(
      () =>
        document.querySelector('#rows tr .name')?.textContent === 'AAPL' &&
        document.querySelector('#rows tr:nth-child(2) .name')?.textContent === 'AMZN',
    );
    const bySymbol = await page.$$eval('#rows tr .name', (els) => els.map((e) => e.textContent ?? ''));
    expect(bySymbol).toEqual([...bySymbol].sort());
    await page.click('#watchlist th[data-sort="bid"]');
    expect(await page.getAttribute('#watchlist th[data-sort="bid"]', 'aria-sort')).toBe('descending');
    // Prices move: the order follows within a re-sort period (250 ms) of the last change.
    await page.waitForFunction(
      () => {
        const b = Array.from(document.querySelectorAll('#rows tr .bid')).map((e) => Number(e.textContent));
        return b.every((v, i) => i === 0 || b[i - 1]! >= v);
      },
      undefined,
      { timeout: 3000 },
    );
    expect((await bids())[0]).toBeGreaterThan(100); // equities first, FX last
    await page.click('#watchlist th[data-sort="bid"]');
    expect(await page.getAttribute('#watchlist th[data-sort="bid"]', 'aria-sort')).toBe('ascending');
    await page.click('#watchlist th[data-sort="bid"]');
    expect(await page.getAttribute('#watchlist th[data-sort="bid"]', 'aria-sort')).toBe('none');
    // Rows are re-laid on the next animation frame.
    await page.waitForFunction(
      (order) => Array.from(document.querySelectorAll<HTMLElement>('#rows tr')).every((tr, i) => tr.dataset.key === order[i]),
      watchOrder,
      { timeout: 2000 },
    );

    // Arrow keys: AAPL → MSFT → NVDA → MSFT; the ladder follows the selection.
    expect(await page.textContent('#chart-title')).toBe('AAPL');
    await page.keyboard.press('ArrowDown');
    expect(await page.textContent('#chart-title')).toBe('MSFT');
    await page.keyboard.press('ArrowDown');
    expect(await page.textContent('#chart-title')).toBe('NVDA');
    await page.keyboard.press('ArrowUp');
    expect(await page.textContent('#chart-title')).toBe('MSFT');
    await page.waitForSelector('#rows tr.selected[data-key="equity.MSFT"]', { timeout: 2000 });
    await page.waitForFunction(() => document.querySelectorAll('#ladder-rows tr.bid').length >= 10, undefined, { timeout: 5000 });
    const msftBid = Number(await page.textContent('#rows tr[data-key="equity.MSFT"] .bid'));
    const ladderBid = Number(await page.textContent('#ladder-rows tr.bid .price'));
    expect(Math.abs(ladderBid - msftBid) / msftBid).toBeLessThan(0.01); // MSFT's book, not AAPL's
    // The tick chart's x values for MSFT are not AAPL's: Lightweight Charts caches axis labels by
    // x value, so reused values showed the previous symbol's times on the axis.
    const xRange = async () => (await page.getAttribute('#chart-ticks', 'data-x'))!.split('-').map(Number) as [number, number];
    await page.keyboard.press('ArrowUp');
    expect(await page.textContent('#chart-title')).toBe('AAPL');
    await page.waitForFunction(() => document.querySelector<HTMLElement>('#chart-ticks')?.dataset.x !== undefined);
    const aaplX = await xRange();
    await page.keyboard.press('ArrowDown');
    await page.waitForFunction(
      (x) => document.querySelector<HTMLElement>('#chart-ticks')?.dataset.x?.startsWith(`${x}-`) === false,
      aaplX[0],
    );
    const msftX = await xRange();
    expect(msftX[0] > aaplX[1] || msftX[1] < aaplX[0]).toBe(true);
    // Typing in the add box does not move the selection.
    await page.focus('#add-input');
    await page.keyboard.press('ArrowDown');
    expect(await page.textContent('#chart-title')).toBe('MSFT');
    expect(errors).toEqual([]);
  });

  it('an unknown symbol says it does not exist instead of waiting forever; FX change % uses the day statistics', async () => {
    const { page, errors } = await open(1440, { watchlist: ['NOSUCH', 'EURUSD'], maxRate: 0, selected: 'equity.NOSUCH' });
    await page.waitForSelector('#rows tr.unknown[data-key="equity.NOSUCH"]', { timeout: 3000 });
    expect(await page.textContent('#rows tr[data-key="equity.NOSUCH"] td.state')).toBe('unknown');
    expect(await page.textContent('#notices')).toMatch(
      /NOSUCH: no such instrument on this gateway \(equity\.NOSUCH\.quote, equity\.NOSUCH\.trade never had data\)/,
    );
    await page.waitForSelector('#detail-msg:not([hidden])', { timeout: 2000 });
    expect(await page.textContent('#detail-msg')).toMatch(/No such instrument/);

    // EURUSD: change against the day's statistics (open, as this gateway has no previous close),
    // with enough decimals to show an FX move rather than 0.00%.
    await page.waitForFunction(() => (document.querySelector('#rows tr[data-key="fx.EURUSD"] .bid')?.textContent ?? '') !== '', undefined, {
      timeout: 5000,
    });
    expect(await page.textContent('#rows tr[data-key="fx.EURUSD"] .chgpct')).toMatch(/^[+-]?\d\.\d{3}%$/);
    await page.keyboard.press('ArrowDown');
    expect(await page.textContent('#chart-title')).toBe('EURUSD');
    await page.waitForFunction(
      () => /chg [+-]\d\.\d{3}% vs open/.test(document.querySelector('#day-stats')?.textContent ?? ''),
      undefined,
      { timeout: 3000 },
    );
    expect(await page.textContent('#tape-empty')).toMatch(/FX pairs are quoted/);
    expect(errors).toEqual([]);
  });
});
