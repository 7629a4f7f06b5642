/**
 * The trading dashboard with authentication on (issue 12): `/?token=<key>` is passed on to the
 * stream URL, never shown on the page. Headless Chromium, as test/dashboard.test.ts; skips only
 * when /usr/bin/chromium is missing.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard } from '../dashboards/trading/build.ts';
import { chromiumMissing, launchChromium } from './e2e/browser.ts';
import { startGateway, type Started } from './helpers.ts';

const KEY = 'key-for-the-dashboard-01';
const missing = chromiumMissing();

describe.skipIf(missing !== null)('trading dashboard with auth enabled', () => {
  let gw: Started;
  let browser: Browser;
  beforeAll(async () => {
    await buildDashboard();
    [gw, browser] = await Promise.all([
      startGateway({
        feeds: [{ adapter: 'sim-equity' }],
        auth: { enabled: true, apiKeys: [{ key: KEY, name: 'desk', topics: ['*.*.*'] }] },
      }),
      launchChromium(),
    ]);
  });
  afterAll(async () => {
    await browser?.close();
    await gw?.gw.stop();
  });

  it('streams with ?token= in the page URL, without showing the token; without it the stream is refused', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${gw.http}/?token=${KEY}`);
      await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
      await page.waitForFunction(
        () => (document.querySelector('#rows tr[data-key="equity.AAPL"] .bid')?.textContent ?? '') !== '',
        undefined,
        { timeout: 10_000 },
      );
      expect(await page.textContent('body')).not.toContain(KEY);

      const anonymous = await context.newPage();
      await anonymous.goto(gw.http);
      await anonymous.waitForSelector('#conn[data-state="reconnecting"]', { timeout: 10_000 });
    } finally {
      await context.close();
    }
  });
});
