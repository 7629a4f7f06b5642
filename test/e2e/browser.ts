/**
 * Headless Chromium for the dashboard tests: Debian's /usr/bin/chromium driven by playwright-core
 * (pinned to the release that drives Chromium 156). Playwright never downloads a browser here.
 */
import { decode } from '@msgpack/msgpack';
import { existsSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page, type WebSocket as PwWebSocket } from 'playwright-core';

export const CHROMIUM_PATH = process.env.TICKGATE_CHROMIUM ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Test artifacts (screenshots); git-ignored by dashboards/.gitignore. */
export const ARTIFACTS_DIR = fileURLToPath(new URL('../../dashboards/.artifacts/', import.meta.url));

/** Null when Chromium is installed; otherwise why the browser tests skip, printed loudly. */
export function chromiumMissing(): string | null {
  if (existsSync(CHROMIUM_PATH)) return null;
  const reason = `${CHROMIUM_PATH} not found: install it with "apt-get install -y chromium" (.ci/run does)`;
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!! SKIPPING the dashboard browser tests: ${reason}\n${bar}\n\n`);
  return reason;
}

/**
 * Launches Chromium. Playwright's launch() starts the browser with a fresh temporary user-data
 * directory (removed on close); each test then opens its own context (separate storage).
 */
export function launchChromium(): Promise<Browser> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 15_000 });
}

/** Console errors and uncaught exceptions of a page. */
export function collectErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console.error: ${m.text()}`);
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

// biome-ignore lint/suspicious/noExplicitAny: decoded JSON/MessagePack read field by field in assertions
export type Frame = Record<string, any>;

export interface SocketLog {
  url: string;
  sent: Frame[];
  received: Frame[];
}

/**
 * Records every WebSocket the page opens, with its frames decoded (binary as MessagePack, text as
 * JSON), and lets a test await a frame instead of sleeping.
 */
export class FrameLog {
  readonly sockets: SocketLog[] = [];
  private waiters: (() => void)[] = [];

  constructor(page: Page) {
    page.on('websocket', (ws: PwWebSocket) => {
      const log: SocketLog = { url: ws.url(), sent: [], received: [] };
      this.sockets.push(log);
      const parse = (payload: string | Buffer): Frame =>
        typeof payload === 'string' ? (JSON.parse(payload) as Frame) : (decode(payload) as Frame);
      ws.on('framesent', (f) => {
        log.sent.push(parse(f.payload));
        this.wake();
      });
      ws.on('framereceived', (f) => {
        log.received.push(parse(f.payload));
        this.wake();
      });
      this.wake();
    });
  }

  get last(): SocketLog {
    const s = this.sockets.at(-1);
    if (s === undefined) throw new Error('the page opened no WebSocket');
    return s;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `check` returns a value other than undefined; re-checked on every frame. */
  async until<T>(check: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
}
