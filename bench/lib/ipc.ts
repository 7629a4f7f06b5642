import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Request/response over the Node IPC channel between the harness and its child processes
 * (servers and load clients). Every request carries an id; the child answers exactly once with
 * `{ id, ok, result | error }`. Children may also send `{ event, ... }` messages.
 */

export const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const REPO_DIR = path.dirname(BENCH_DIR);

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

export interface SpawnOptions {
  /** Script path relative to bench/. */
  script: string;
  args?: string[];
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** Open-file limit for the child; applied with `ulimit -n` in a wrapping shell. */
  nofile?: number;
  /** Extra Node flags, e.g. --expose-gc. */
  nodeFlags?: string[];
  label: string;
  /** Captured stderr lines are kept for error messages; stdout/stderr are forwarded only when verbose. */
  verbose?: boolean;
}

export class ChildHandle {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void; timer: NodeJS.Timeout }>();
  private readonly listeners = new Set<(msg: Record<string, unknown>) => void>();
  readonly exited: Promise<number | null>;
  private exitCode: number | null | undefined = undefined;
  private stderrTail: string[] = [];

  constructor(
    readonly proc: ChildProcess,
    readonly label: string,
    verbose: boolean,
  ) {
    proc.on('message', (raw) => {
      const msg = raw as Record<string, unknown>;
      if (typeof msg.id === 'number') {
        const reply = msg as unknown as Reply;
        const p = this.pending.get(reply.id);
        if (!p) return;
        this.pending.delete(reply.id);
        clearTimeout(p.timer);
        if (reply.ok) p.resolve(reply.result);
        else p.reject(new Error(`${label}: ${reply.error ?? 'failed'}`));
        return;
      }
      for (const l of this.listeners) l(msg);
    });
    const keep = (chunk: Buffer, stream: NodeJS.WriteStream) => {
      if (verbose) stream.write(chunk);
      for (const line of chunk.toString().split('\n')) {
        if (line.trim() === '') continue;
        this.stderrTail.push(line);
        if (this.stderrTail.length > 30) this.stderrTail.shift();
      }
    };
    proc.stdout?.on('data', (c: Buffer) => keep(c, process.stdout));
    proc.stderr?.on('data', (c: Buffer) => keep(c, process.stderr));
    this.exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        const err = new Error(`${label} exited (${signal ?? code}) ${this.tail()}`);
        for (const p of this.pending.values()) {
          clearTimeout(p.timer);
          p.reject(err);
        }
        this.pending.clear();
        resolve(this.exitCode);
      });
    });
  }

  /** Last lines the child wrote, for error messages. */
  tail(): string {
    return this.stderrTail.length ? `\n  ${this.stderrTail.slice(-12).join('\n  ')}` : '';
  }

  get alive(): boolean {
    return this.exitCode === undefined;
  }

  request<T>(cmd: string, args: Record<string, unknown> = {}, timeoutMs = 30_000): Promise<T> {
    if (!this.alive) return Promise.reject(new Error(`${this.label} is not running ${this.tail()}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: "${cmd}" timed out after ${timeoutMs} ms ${this.tail()}`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.send({ id, cmd, ...args });
    });
  }

  /** Resolves with the first event message of this type. */
  waitEvent<T>(event: string, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`${this.label}: no "${event}" within ${timeoutMs} ms ${this.tail()}`));
      }, timeoutMs);
      const listener = (msg: Record<string, unknown>) => {
        if (msg.event !== event) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(msg as T);
      };
      this.listeners.add(listener);
      void this.exited.then(() => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        reject(new Error(`${this.label} exited before "${event}" ${this.tail()}`));
      });
    });
  }

  /** Asks the child to exit; kills it (by pid) if it does not within `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.alive) return;
    try {
      await this.request('exit', {}, graceMs);
    } catch {
      // fall through to the kill below
    }
    const timer = setTimeout(() => {
      if (this.alive) this.proc.kill('SIGKILL');
    }, graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/**
 * Starts a TypeScript child (through tsx) with an IPC channel, inside `sh -c 'ulimit -n …; exec node …'`
 * so the open-file limit can be raised for connection-heavy scenarios. `exec` keeps the IPC fd.
 */
export function spawnChild(opts: SpawnOptions): ChildHandle {
  const script = path.join(BENCH_DIR, opts.script);
  // BENCH_PROF=client,server (or "all") writes V8 CPU profiles of those children to BENCH_PROF_DIR,
  // sampled every BENCH_PROF_INTERVAL µs (V8's default 1000 is too coarse for a 20 µs code path).
  const prof = (process.env.BENCH_PROF ?? '').split(',');
  const interval = process.env.BENCH_PROF_INTERVAL;
  const kind = opts.script.startsWith('client/') ? 'client' : 'server';
  const profFlags =
    prof.includes(kind) || prof.includes('all')
      ? [
          '--cpu-prof',
          `--cpu-prof-dir=${process.env.BENCH_PROF_DIR ?? path.join(BENCH_DIR, 'results', 'raw', 'prof')}`,
          ...(interval ? [`--cpu-prof-interval=${interval}`] : []),
        ]
      : [];
  const nodeArgs = [...(opts.nodeFlags ?? []), ...profFlags, '--import', 'tsx', script, ...(opts.args ?? [])];
  const nofile = opts.nofile ?? 4096;
  // Try to set the limit; if the hard limit is lower and we may not raise it, use the hard limit.
  const shell = `ulimit -n ${nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  const proc = spawn('/bin/sh', ['-c', shell, 'sh', process.execPath, ...nodeArgs], {
    cwd: REPO_DIR,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: { ...process.env, ...opts.env, NODE_NO_WARNINGS: '1' },
  });
  return new ChildHandle(proc, opts.label, opts.verbose ?? false);
}

type Handler = (msg: Record<string, unknown>) => unknown;

/** Child side: answers requests with the named handlers; `exit` is built in (runs `onExit` first). */
export function serveIpc(handlers: Record<string, Handler>, onExit?: () => Promise<void> | void): void {
  if (!process.send) throw new Error('this script is meant to be started by the bench harness (no IPC channel)');
  const send = (m: unknown) => {
    if (process.connected) process.send!(m);
  };
  process.on('message', (raw) => {
    const msg = raw as Record<string, unknown>;
    const id = msg.id as number;
    const cmd = msg.cmd as string;
    if (cmd === 'exit') {
      void (async () => {
        try {
          await onExit?.();
        } finally {
          send({ id, ok: true, result: null });
          setTimeout(() => process.exit(0), 20);
        }
      })();
      return;
    }
    const h = handlers[cmd];
    if (!h) {
      send({ id, ok: false, error: `unknown command ${cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => h(msg))
      .then(
        (result) => send({ id, ok: true, result }),
        (err: unknown) => send({ id, ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
      );
  });
  // The harness going away must not leave orphans behind.
  process.on('disconnect', () => process.exit(0));
}

export function emit(event: string, data: Record<string, unknown> = {}): void {
  if (process.send && process.connected) process.send({ event, ...data });
}
