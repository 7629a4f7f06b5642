/**
 * The one shutdown path of every long-running command (serve, ingest, record, tail).
 *
 * The first SIGINT or SIGTERM calls `stop` (drain, close, flush) and resolves `done` with its
 * exit code (0 by default; 1 if it throws). A second signal while stopping means "now": the
 * process exits with 1 at once, without waiting for a stuck drain. Commands never call
 * `process.on('SIGINT')` themselves.
 */
export interface ShutdownSignals {
  /** Resolves with the exit code once `stop` finished. */
  readonly done: Promise<number>;
  /** True once a signal arrived or shutdown() was called. */
  readonly stopping: boolean;
  /** Runs the same shutdown without a signal (a fatal runtime error, a lost connection); `code` overrides stop's. */
  shutdown(reason: string, code?: number): Promise<number>;
  /** Removes the handlers. */
  dispose(): void;
}

/** The part of `process` this touches; injectable for tests. */
export interface SignalTarget {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
  exit(code: number): void;
}

export interface ShutdownOptions {
  /** Told about each signal, e.g. to log it; `second` is true for the one that forces the exit. */
  onSignal?: (signal: NodeJS.Signals, second: boolean) => void;
  /** Told when stop throws; the exit code is then 1. */
  onError?: (err: unknown) => void;
  /** Defaults to the real `process`. */
  process?: SignalTarget;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

// biome-ignore lint/suspicious/noConfusingVoidType: a stop that resolves with nothing (Promise<void>) means exit 0
export function onShutdownSignals(stop: (reason: string) => Promise<number | void>, options: ShutdownOptions = {}): ShutdownSignals {
  const proc: SignalTarget = options.process ?? process;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((r) => (resolveDone = r));
  let stopping = false;

  const shutdown = (reason: string, code?: number): Promise<number> => {
    if (stopping) return done;
    stopping = true;
    Promise.resolve()
      .then(() => stop(reason))
      .then(
        (c) => resolveDone(code ?? (typeof c === 'number' ? c : 0)),
        (err: unknown) => {
          options.onError?.(err);
          resolveDone(1);
        },
      );
    return done;
  };

  const onSignal = (signal: NodeJS.Signals): void => {
    options.onSignal?.(signal, stopping);
    if (stopping) {
      proc.exit(1);
      return;
    }
    void shutdown(signal);
  };
  for (const s of SIGNALS) proc.on(s, onSignal);
  return {
    done,
    get stopping() {
      return stopping;
    },
    shutdown,
    dispose: () => {
      for (const s of SIGNALS) proc.off(s, onSignal);
    },
  };
}
