/**
 * A real Prometheus (Debian's package) for end-to-end tests: temporary config and TSDB, loopback
 * only, a free port; stopped and cleaned up by `stop()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS_PATH = process.env.TICKGATE_PROMETHEUS ?? '/usr/bin/prometheus';

/** Null when Prometheus is installed; otherwise why the test skips, printed loudly. */
export function prometheusMissing(): string | null {
  if (existsSync(PROMETHEUS_PATH)) return null;
  const reason = `${PROMETHEUS_PATH} not found: install it with "apt-get install -y prometheus" (.ci/run does)`;
  const bar = '!'.repeat(100);
  process.stderr.write(`\n${bar}\n!! SKIPPING the Prometheus end-to-end test: ${reason}\n${bar}\n\n`);
  return reason;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusProcess {
  private log = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly url: string,
  ) {
    child.stdout?.on('data', (d: Buffer) => (this.log += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (this.log += d.toString()));
  }

  /** Starts Prometheus scraping `targets` (host:port) every `scrapeInterval`; resolves once it is ready. */
  static async start(targets: string[], scrapeInterval = '1s', timeoutMs = 20_000): Promise<PrometheusProcess> {
    const dir = mkdtempSync(join(tmpdir(), 'tickgate-prometheus-'));
    const config = join(dir, 'prometheus.yml');
    writeFileSync(
      config,
      [
        'global:',
        `  scrape_interval: ${scrapeInterval}`,
        `  evaluation_interval: ${scrapeInterval}`,
        'scrape_configs:',
        '  - job_name: tickgate',
        '    static_configs:',
        `      - targets: [${targets.map((t) => JSON.stringify(t)).join(', ')}]`,
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_PATH,
      [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=info'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const p = new PrometheusProcess(child, dir, `http://127.0.0.1:${port}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`Prometheus not ready after ${timeoutMs} ms:\n${p.log}`)), timeoutMs);
      const onData = () => {
        if (p.log.includes('Server is ready to receive web requests')) done();
      };
      const onExit = (code: number | null) => fail(new Error(`Prometheus exited (${code}) before it was ready:\n${p.log}`));
      const cleanup = () => {
        clearTimeout(timer);
        child.stderr?.off('data', onData);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
      };
      const done = () => {
        cleanup();
        resolve();
      };
      const fail = (err: Error) => {
        cleanup();
        void p.stop().finally(() => reject(err));
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    });
    return p;
  }

  get output(): string {
    return this.log;
  }

  /** An instant query through the HTTP API. */
  async query(expr: string): Promise<VectorSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data?: { resultType: string; result: VectorSample[] }; error?: string };
    if (body.status !== 'success' || body.data === undefined) throw new Error(`query ${expr} failed: ${body.error ?? res.status}`);
    return body.data.result;
  }

  /**
   * Re-runs `expr` until `accept` takes the result (Prometheus has no push notification for
   * "scraped twice"; each retry waits one short interval), bounded by `timeoutMs`.
   */
  async queryUntil(expr: string, accept: (r: VectorSample[]) => boolean, timeoutMs = 15_000, everyMs = 250): Promise<VectorSample[]> {
    const deadline = Date.now() + timeoutMs;
    let last: VectorSample[] = [];
    for (;;) {
      last = await this.query(expr);
      if (accept(last)) return last;
      if (Date.now() > deadline) throw new Error(`no acceptable result for ${expr} after ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once('exit', r));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
