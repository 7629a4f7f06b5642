// JSON responses with a status line, and coded errors: every HTTP route of tickgate writes through these.
import type uWS from 'uWebSockets.js';
import type { ErrorCode } from '../core/errors.ts';
import type { Metrics } from '../metrics/metrics.ts';

type Res = uWS.HttpResponse;

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  426: '426 Upgrade Required',
  429: '429 Too Many Requests',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  500: '500 Internal Server Error',
  503: '503 Service Unavailable',
};

export function sendJson(res: Res, status: number, body: unknown, headers: Record<string, string> = {}): void {
  // uWS: the status line must be written before any header.
  res.writeStatus(STATUS_TEXT[status] ?? `${status}`);
  for (const [name, value] of Object.entries(headers)) res.writeHeader(name, value);
  res.writeHeader('Content-Type', 'application/json').writeHeader('Cache-Control', 'no-store').end(JSON.stringify(body));
}

export function sendError(
  res: Res,
  status: number,
  code: ErrorCode,
  message: string,
  metrics: Metrics,
  headers: Record<string, string> = {},
): void {
  metrics.errors.labels(code).inc();
  sendJson(res, status, { error: { code, message } }, headers);
}
