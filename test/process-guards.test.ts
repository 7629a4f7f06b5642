import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { installProcessGuards, processErrorCounts, type GuardedProcess } from '../src/process-guards.ts';
import { createMetrics } from '../src/metrics/metrics.ts';

const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));
const preload = new URL('./fixtures/fault-preload.mjs', import.meta.url).href;
const children: ChildProcessWithoutNullStreams[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** A `tickgate serve` child with the fault preload; resolves once it prints its metrics URL. */
async function serveWithFault(fault: 'reject' | 'throw') {
  const child = spawn(process.execPath, ['--import', preload, bin, 'serve', '--port', '0', '--feeds', 'none', '--log-level', 'warn'], {
    env: { ...process.env, TG_TEST_FAULT: fault },
  });
  children.push(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const deadline = Date.now() + 15_000;
  let metrics: string | undefined;
  while (metrics === undefined) {
    metrics = /metrics\s+(http:\/\/\S+\/metrics)/.exec(out)?.[1];
    if (child.exitCode !== null) throw new Error(`exited early: ${out}`);
    if (Date.now() > deadline) throw new Error(`no metrics URL in: ${out}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return { child, exited, metrics, out: () => out };
}

async function waitUntil(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('process guards', () => {
  it('log and count an unhandled rejection and keep serving; log, count and exit 1 on an uncaught exception', () => {
    const fake = new EventEmitter() as EventEmitter & { exitCode: number | null };
    fake.exitCode = null;
    const proc = fake as unknown as GuardedProcess;
    (proc as { exit: (code: number) => void }).exit = (code: number) => {
      fake.exitCode = code;
    };
    const logs: { level: string; obj: Record<string, unknown>; msg?: string }[] = [];
    const logger = {
      error: (obj: object, msg?: string) => logs.push({ level: 'error', obj: obj as Record<string, unknown>, msg }),
      fatal: (obj: object, msg?: string) => logs.push({ level: 'fatal', obj: obj as Record<string, unknown>, msg }),
    };
    const before = { ...processErrorCounts };
    const uninstall = installProcessGuards({ logger, process: proc });
    try {
      expect(installProcessGuards({ logger, process: proc })).toBe(uninstall); // once per process
      const reason = new Error('nobody awaited me');
      fake.emit('unhandledRejection', reason, Promise.resolve());
      expect(logs).toEqual([
        expect.objectContaining({ level: 'error', obj: expect.objectContaining({ err: reason, kind: 'unhandled_rejection' }) }),
      ]);
      expect(fake.exitCode).toBeNull();
      const boom = new Error('boom');
      fake.emit('uncaughtException', boom, 'uncaughtException');
      expect(logs[1]).toMatchObject({ level: 'fatal', obj: { err: boom, kind: 'uncaught_exception', origin: 'uncaughtException' } });
      expect(fake.exitCode).toBe(1);
      expect(processErrorCounts.unhandled_rejection - before.unhandled_rejection).toBe(1);
      expect(processErrorCounts.uncaught_exception - before.uncaught_exception).toBe(1);
    } finally {
      uninstall();
    }
    expect(fake.listenerCount('unhandledRejection')).toBe(0);
    expect(fake.listenerCount('uncaughtException')).toBe(0);
  });

  it('every gateway registry reports the process-wide counts as tickgate_process_errors_total', async () => {
    const m = createMetrics();
    const text = await m.registry.metrics();
    expect(text).toContain(`tickgate_process_errors_total{kind="unhandled_rejection"} ${processErrorCounts.unhandled_rejection}`);
    expect(text).toContain(`tickgate_process_errors_total{kind="uncaught_exception"} ${processErrorCounts.uncaught_exception}`);
  });

  it('tickgate serve: a stray rejection is logged and counted, and the gateway keeps serving', async () => {
    const p = await serveWithFault('reject');
    const scrape = async () => (await fetch(p.metrics)).text();
    expect(await scrape()).toContain('tickgate_process_errors_total{kind="unhandled_rejection"} 0');
    p.child.kill('SIGUSR2');
    await waitUntil(() => p.out().includes('unhandled promise rejection'));
    expect(p.out()).toContain('stray rejection from the test');
    expect(await scrape()).toContain('tickgate_process_errors_total{kind="unhandled_rejection"} 1');
    expect(p.child.exitCode).toBeNull();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('tickgate serve: an uncaught exception is logged as fatal and the process exits with code 1', async () => {
    const p = await serveWithFault('throw');
    p.child.kill('SIGUSR2');
    expect(await p.exited).toBe(1);
    const fatal = p
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((l) => l.kind === 'uncaught_exception');
    expect(fatal).toMatchObject({ level: 60, origin: 'uncaughtException', err: { message: 'uncaught exception from the test' } });
  });
});
