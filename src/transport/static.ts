import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type uWS from 'uWebSockets.js';

/** Where `npm run build:dashboard` (dashboards/trading/build.ts) writes the trading dashboard. */
export const DASHBOARD_DIST_DIR = fileURLToPath(new URL('../../dashboards/trading/dist/', import.meta.url));

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
};

/** esbuild's `[name]-[hash]` names: content-addressed, so they can be cached forever. */
const HASHED_NAME = /-[A-Z0-9]{8}\.[a-z0-9.]+$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const REVALIDATE = 'no-cache';

/**
 * The page may talk to any gateway (`?url=ws://other:9001/v1/stream`), so connect-src allows ws:
 * and wss:. Inline styles are allowed because the chart library sets some on the elements it creates.
 */
const HTML_HEADERS: readonly (readonly [string, string])[] = [
  [
    'Content-Security-Policy',
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'",
  ],
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'no-referrer'],
];

export interface StaticAsset {
  readonly body: Buffer;
  /** Pre-compressed variant written by the build, if any. */
  readonly gzip: Buffer | null;
  readonly contentType: string;
  /** Strong validator of the uncompressed body; the gzip variant uses the same value with a `-gz` suffix. */
  readonly etag: string;
  readonly cacheControl: string;
  readonly headers: readonly (readonly [string, string])[];
}

/**
 * A directory of built files held in memory: read once when the gateway starts (a cold path),
 * served from memory with Content-Type, ETag (304 on If-None-Match), Cache-Control and gzip when
 * the client accepts it. Lookups are exact URL paths, so nothing outside the directory is reachable.
 */
export class StaticFiles {
  private readonly assets = new Map<string, StaticAsset>();

  private constructor(readonly dir: string) {}

  /** Loads every file under `dir` (none if it does not exist; see `isEmpty`). */
  static load(dir: string): StaticFiles {
    const files = new StaticFiles(dir);
    if (existsSync(dir)) files.addDir(dir, '/');
    return files;
  }

  private addDir(dir: string, urlPrefix: string): void {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        this.addDir(path, `${urlPrefix}${name}/`);
        continue;
      }
      if (name.endsWith('.gz') || name.includes('.tmp-')) continue;
      const body = readFileSync(path);
      const gzPath = `${path}.gz`;
      const ext = extname(name);
      const html = ext === '.html';
      this.assets.set(`${urlPrefix}${name}`, {
        body,
        gzip: existsSync(gzPath) ? readFileSync(gzPath) : null,
        contentType: CONTENT_TYPES[ext] ?? 'application/octet-stream',
        etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
        cacheControl: HASHED_NAME.test(name) ? IMMUTABLE : REVALIDATE,
        headers: html ? HTML_HEADERS : [['X-Content-Type-Options', 'nosniff']],
      });
    }
  }

  get isEmpty(): boolean {
    return this.assets.size === 0;
  }

  get paths(): string[] {
    return [...this.assets.keys()];
  }

  get(urlPath: string): StaticAsset | undefined {
    return this.assets.get(urlPath);
  }

  /**
   * Answers with `asset` (200, or 304 if the client's If-None-Match matches). Synchronous: call it
   * inside the uWS handler, where `req` is still valid and writes need no cork or onAborted.
   */
  static send(res: uWS.HttpResponse, req: uWS.HttpRequest, asset: StaticAsset): void {
    const useGzip = asset.gzip !== null && /\bgzip\b/.test(req.getHeader('accept-encoding'));
    const etag = useGzip ? `${asset.etag.slice(0, -1)}-gz"` : asset.etag;
    const ifNoneMatch = req.getHeader('if-none-match');
    const notModified = ifNoneMatch !== '' && matchesEtag(ifNoneMatch, asset.etag);
    res.writeStatus(notModified ? '304 Not Modified' : '200 OK');
    res.writeHeader('ETag', etag);
    res.writeHeader('Cache-Control', asset.cacheControl);
    if (asset.gzip !== null) res.writeHeader('Vary', 'Accept-Encoding');
    for (const [name, value] of asset.headers) res.writeHeader(name, value);
    if (notModified) {
      res.endWithoutBody();
      return;
    }
    res.writeHeader('Content-Type', asset.contentType);
    if (useGzip) res.writeHeader('Content-Encoding', 'gzip');
    res.end(useGzip ? asset.gzip! : asset.body);
  }
}

/** If-None-Match: `*`, or a list of (possibly weak) tags; the gzip variant's tag matches too. */
function matchesEtag(header: string, etag: string): boolean {
  if (header.trim() === '*') return true;
  const bare = etag.slice(1, -1);
  for (const part of header.split(',')) {
    const tag = part.trim().replace(/^W\//, '');
    if (tag === etag || tag === `"${bare}-gz"`) return true;
  }
  return false;
}

/** The page the gateway serves at `/` when the dashboard has not been built. */
export const NOT_BUILT_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tickgate: dashboard not built</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 42em; margin: 3em auto">
<h1>The trading dashboard has not been built</h1>
<p>Build it with <code>npm run build:dashboard</code> and restart the gateway
(<code>npm start</code> does both). The gateway itself is running: the stream is at
<code>/v1/stream</code>, the API index at <a href="/v1"><code>/v1</code></a>.</p>
</body></html>
`;
