import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where nats-server is (Debian installs it in /usr/sbin, often not on a user's PATH), or null. */
export function findNatsServer(): string | null {
  for (const candidate of [process.env.NATS_SERVER_BIN, 'nats-server', '/usr/sbin/nats-server', '/usr/local/bin/nats-server']) {
    if (!candidate) continue;
    const r = spawnSync(candidate, ['--version'], { encoding: 'utf8' });
    if (r.status === 0) return candidate;
  }
  return null;
}

export interface NatsServerHandle {
  readonly url: string;
  readonly port: number;
  /** SIGKILL, then wait for the exit (a crash, not a clean shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same store. */
  restart(): Promise<void>;
  /** Stops it and removes its store directory. */
  stop(): Promise<void>;
}

/**
 * A real nats-server on 127.0.0.1, on an ephemeral port (`-p -1`; the port is read from its log),
 * with JetStream in a temporary store directory.
 */
export async function startNatsServer(bin: string, options: { jetstream?: boolean } = {}): Promise<NatsServerHandle> {
  const storeDir = mkdtempSync(join(tmpdir(), 'tickgate-nats-'));
  let child: ChildProcess | null = null;
  let port = -1;

  const launch = (wantPort: number): Promise<number> =>
    new Promise((resolve, reject) => {
      const args = ['-a', '127.0.0.1', '-p', String(wantPort), '--http_port', '0'];
      if (options.jetstream ?? true) args.push('-js', '-sd', storeDir);
      const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      let log = '';
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        reject(new Error(`nats-server did not start within 10 s: ${log.slice(-500)}`));
      }, 10_000);
      proc.stderr!.on('data', (chunk: Buffer) => {
        if (log.length < 20_000) log += chunk.toString();
        const m = /Listening for client connections on [^\s]*:(\d+)/.exec(log);
        if (m && /Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited with ${code}: ${log.slice(-500)}`));
      });
    });

  const exited = (): Promise<void> =>
    new Promise((resolve) => {
      const proc = child;
      if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
    });

  port = await launch(-1);
  const handle: NatsServerHandle = {
    get url() {
      return `nats://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    async kill() {
      const done = exited();
      child?.kill('SIGKILL');
      await done;
    },
    async restart() {
      await handle.kill();
      port = await launch(port);
    },
    async stop() {
      const done = exited();
      child?.kill('SIGTERM');
      await done;
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
  return handle;
}
