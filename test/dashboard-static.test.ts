/**
 * The gateway serving the built dashboard: the page at /, hashed assets under /assets/ with the
 * right Content-Type, ETag/304, Cache-Control and gzip, 404 for unknown assets, and the JSON
 * index still reachable (at /v1, or at / with Accept: application/json).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDashboard, DASHBOARD_OUT_DIR } from '../dashboards/trading/build.ts';
import { StaticFiles } from '../src/transport/static.ts';
import { startGateway, type Started } from './helpers.ts';

let s: Started;
let js: string;
let css: string;
beforeAll(async () => {
  const built = await buildDashboard();
  js = built.files.find((f) => /^assets\/app-[A-Z0-9]{8}\.js$/.test(f))!;
  css = built.files.find((f) => /^assets\/app-[A-Z0-9]{8}\.css$/.test(f))!;
  s = await startGateway();
});
afterAll(async () => {
  await s.gw.stop();
});

describe('dashboard build', () => {
  it('is deterministic: a second build gives the same hashed files', async () => {
    const again = await buildDashboard();
    expect(again.files).toContain(js);
    expect(again.files).toContain(css);
    expect(again.files).toContain('index.html');
  });
});

describe('dashboard over HTTP', () => {
  it('serves the page at / with its validators and security headers', async () => {
    const res = await fetch(`${s.http}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('content-security-policy')).toContain("connect-src 'self' ws: wss:");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).toContain(`src="./${js}"`);
    expect(html).toContain(`href="./${css}"`);
    expect(html).toContain('TradingView');
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(/^"[\w-]+"$/);

    const again = await fetch(`${s.http}/`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    const changed = await fetch(`${s.http}/`, { headers: { 'If-None-Match': '"something-else"' } });
    expect(changed.status).toBe(200);
  });

  it('serves hashed assets as immutable, gzipped for clients that accept it', async () => {
    const onDisk = readFileSync(join(DASHBOARD_OUT_DIR, js));
    const res = await fetch(`${s.http}/${js}`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('vary')).toBe('Accept-Encoding');
    expect(Buffer.from(await res.arrayBuffer()).equals(onDisk)).toBe(true); // fetch decompresses
    const gzEtag = res.headers.get('etag')!;
    expect(gzEtag).toMatch(/-gz"$/);
    expect((await fetch(`${s.http}/${js}`, { headers: { 'Accept-Encoding': 'gzip', 'If-None-Match': gzEtag } })).status).toBe(304);

    const plain = await fetch(`${s.http}/${js}`, { headers: { 'Accept-Encoding': 'identity' } });
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(Number(plain.headers.get('content-length'))).toBe(onDisk.length);
    expect((await plain.text()).length).toBeGreaterThan(1000);

    const style = await fetch(`${s.http}/${css}`);
    expect(style.headers.get('content-type')).toBe('text/css; charset=utf-8');
  });

  it('answers unknown assets with 404 and keeps the API routes and fallbacks', async () => {
    const missing = await fetch(`${s.http}/assets/app-00000000.js`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { code: string } }).error.code).toBe('TG_ERR_NOT_FOUND');
    expect((await fetch(`${s.http}/assets/`)).status).toBe(404);
    expect((await fetch(`${s.http}/nope`)).status).toBe(404);
    expect((await fetch(`${s.http}/`, { method: 'POST', body: 'x' })).status).toBe(405);
    expect((await fetch(`${s.http}/${js}`, { method: 'DELETE' })).status).toBe(405);
    expect((await fetch(`${s.http}/healthz`)).status).toBe(200);
  });

  it('keeps the JSON index at /v1, and at / for clients that ask for JSON', async () => {
    const v1 = await fetch(`${s.http}/v1`);
    expect(v1.status).toBe(200);
    const index = (await v1.json()) as Record<string, unknown>;
    expect(index).toMatchObject({ name: 'tickgate', stream: '/v1/stream', dashboard: '/' });
    expect(index.endpoints).toEqual(expect.arrayContaining(['/metrics', '/healthz', '/v1/topics', '/v1']));
    const root = await fetch(`${s.http}/`, { headers: { Accept: 'application/json' } });
    expect(root.headers.get('content-type')).toBe('application/json');
    expect(await root.json()).toEqual(index);
  });
});

describe('StaticFiles', () => {
  it('loads a directory once, skipping .gz and temporary files, and is empty for a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tickgate-static-'));
    try {
      mkdirSync(join(dir, 'assets'));
      writeFileSync(join(dir, 'index.html'), '<!doctype html>');
      writeFileSync(join(dir, 'assets', 'app-ABCDEFGH.js'), 'x');
      writeFileSync(join(dir, 'assets', 'app-ABCDEFGH.js.gz'), 'gz');
      writeFileSync(join(dir, 'assets', 'app-ABCDEFGH.js.tmp-1-x'), 'partial');
      writeFileSync(join(dir, 'assets', 'notes.bin'), 'b');
      const files = StaticFiles.load(dir);
      expect(files.paths.sort()).toEqual(['/assets/app-ABCDEFGH.js', '/assets/notes.bin', '/index.html']);
      expect(files.get('/assets/app-ABCDEFGH.js')).toMatchObject({
        cacheControl: 'public, max-age=31536000, immutable',
        contentType: 'text/javascript; charset=utf-8',
      });
      expect(files.get('/assets/app-ABCDEFGH.js')!.gzip!.toString()).toBe('gz');
      expect(files.get('/assets/notes.bin')).toMatchObject({
        cacheControl: 'no-cache',
        contentType: 'application/octet-stream',
        gzip: null,
      });
      expect(files.get('/../index.html')).toBeUndefined();
      expect(StaticFiles.load(join(dir, 'nope')).isEmpty).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('holds what the build wrote, gzip variants included', () => {
    const files = StaticFiles.load(DASHBOARD_OUT_DIR);
    const page = files.get('/index.html')!;
    expect(gunzipSync(page.gzip!).equals(page.body)).toBe(true);
  });
});
