import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON lines on stdout; `silent` for tests. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { app: 'tickgate' } });
}
