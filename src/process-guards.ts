/**
 * Process-level safety nets for `tickgate serve`: an unhandled promise rejection or an uncaught
 * exception is always logged (pino, with the error and its stack) and counted in
 * tickgate_process_errors_total{kind}; neither is ever silently swallowed.
 *
 * What happens next:
 * - `unhandled_rejection`: logged at `error`, counted, and the process keeps serving. A rejected
 *   promise nobody awaited is a bug, but it has already unwound: no function was stopped half-way
 *   by it, and the event loop is intact. Crashing (Node's default) would disconnect every client
 *   of every feed for one forgotten `.catch()`. The counter is what should page someone: it must
 *   stay at 0 (the fuzz and faulty-feed tests assert that).
 * - `uncaught_exception`: logged at `fatal`, counted, and the process exits with code 1 at once.
 *   A synchronous throw that reached the event loop stopped some callback half-way; the state it
 *   was changing (a subscription map, a send buffer, a timer) can no longer be trusted, so
 *   carrying on risks serving wrong data, which is worse than a restart. Clients see 1006 and
 *   reconnect (the SDK resumes and reports the gap); the process manager restarts the gateway.
 *   No graceful drain is attempted: it would run on that untrusted state. pino flushes its
 *   destination synchronously on exit, so the log line is not lost.
 *
 * Feed adapters must report async failures with `ctx.fail(err)` (the supervisor then restarts
 * the feed with backoff); an adapter that throws from its own timer callback is an uncaught
 * exception and takes the process down by the rule above.
 */

export const PROCESS_ERROR_KINDS = ['unhandled_rejection', 'uncaught_exception'] as const;
export type ProcessErrorKind = (typeof PROCESS_ERROR_KINDS)[number];

/**
 * Process-wide counts (the errors are process-wide too); every gateway's registry reports them
 * as tickgate_process_errors_total, whoever installed the guards.
 */
export const processErrorCounts: Record<ProcessErrorKind, number> = { unhandled_rejection: 0, uncaught_exception: 0 };

/** The logging surface the guards need (a pino logger fits). */
export interface GuardLogger {
  error(obj: object, msg?: string): void;
  fatal(obj: object, msg?: string): void;
}

/** The part of `process` the guards touch; injectable for tests. */
export interface GuardedProcess {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  on(event: 'uncaughtException', listener: (error: Error, origin: string) => void): unknown;
  off(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  off(event: 'uncaughtException', listener: (error: Error, origin: string) => void): unknown;
  exit(code: number): void;
}

export interface ProcessGuardOptions {
  logger: GuardLogger;
  /** Defaults to the real `process`. */
  process?: GuardedProcess;
}

let installed: (() => void) | null = null;

/**
 * Installs the handlers once per process (a second call returns the same uninstall function).
 * Returns a function that removes them (tests).
 */
export function installProcessGuards(options: ProcessGuardOptions): () => void {
  if (installed !== null) return installed;
  const proc: GuardedProcess = options.process ?? process;
  const { logger } = options;
  let exiting = false;

  const onRejection = (reason: unknown): void => {
    processErrorCounts.unhandled_rejection++;
    logger.error(
      { err: reason, kind: 'unhandled_rejection', count: processErrorCounts.unhandled_rejection },
      'unhandled promise rejection (a bug: a promise was neither awaited nor caught); the gateway keeps running',
    );
  };

  const onException = (error: Error, origin: string): void => {
    processErrorCounts.uncaught_exception++;
    if (exiting) return; // a second one while exiting: already on the way out
    exiting = true;
    logger.fatal(
      { err: error, kind: 'uncaught_exception', origin },
      'uncaught exception; state can no longer be trusted, exiting with code 1',
    );
    proc.exit(1);
  };

  proc.on('unhandledRejection', onRejection);
  proc.on('uncaughtException', onException);
  const uninstall = (): void => {
    proc.off('unhandledRejection', onRejection);
    proc.off('uncaughtException', onException);
    if (installed === uninstall) installed = null;
  };
  installed = uninstall;
  return uninstall;
}
