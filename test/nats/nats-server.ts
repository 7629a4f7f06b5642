import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
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

/** A free TCP port on 127.0.0.1 (bound on port 0 by Node, then released): for ports that must be known up front. */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface NatsNodeHandle {
  readonly name: string;
  readonly url: string;
  readonly running: boolean;
  /** SIGKILL, then wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again with the same ports, routes and store. */
  start(): Promise<void>;
}

export interface NatsClusterHandle {
  readonly nodes: readonly NatsNodeHandle[];
  /** Every node's client URL, comma-separated (what `--bus` takes). */
  readonly urls: string;
  /** Resolves once every running node reports JetStream healthy (its /healthz), within `timeoutMs`. */
  healthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A real N-node nats-server cluster on loopback: each node with its own client, cluster and
 * monitoring port (picked free up front: routes must name them), `--routes` to every other node,
 * JetStream with a store of its own. The Debian 2.9 server supports this, and R3 streams on it.
 */
export async function startNatsCluster(bin: string, size = 3): Promise<NatsClusterHandle> {
  // A port picked free can be taken by another process before the node binds it: fresh ports, again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsClusterOnce(bin, size);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test((err as Error).message)) throw err;
    }
  }
}

async function startNatsClusterOnce(bin: string, size: number): Promise<NatsClusterHandle> {
  const ports = await Promise.all(
    Array.from({ length: size }, async () => ({
      client: await freeLoopbackPort(),
      cluster: await freeLoopbackPort(),
      http: await freeLoopbackPort(),
    })),
  );
  const nodes = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const storeDir = mkdtempSync(join(tmpdir(), `tickgate-nats-${name}-`));
    const routes = ports
      .filter((_, j) => j !== i)
      .map((q) => `nats://127.0.0.1:${q.cluster}`)
      .join(',');
    const args = [
      '-a',
      '127.0.0.1',
      '-p',
      String(p.client),
      '-m',
      String(p.http),
      '-n',
      name,
      '-js',
      '-sd',
      storeDir,
      '--cluster_name',
      'tickgate',
      '--cluster',
      `nats://127.0.0.1:${p.cluster}`,
      '--routes',
      routes,
    ];
    let child: ChildProcess | null = null;
    const exited = (): Promise<void> =>
      new Promise((resolve) => {
        const proc = child;
        if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
      });
    const node = {
      name,
      url: `nats://127.0.0.1:${p.client}`,
      http: `http://127.0.0.1:${p.http}`,
      storeDir,
      get running() {
        return child !== null && child.exitCode === null && child.signalCode === null;
      },
      start: (): Promise<void> =>
        new Promise((resolve, reject) => {
          const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
          child = proc;
          let log = '';
          const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            reject(new Error(`nats-server ${name} did not start within 10 s: ${log.slice(-500)}`));
          }, 10_000);
          proc.stderr!.on('data', (chunk: Buffer) => {
            if (log.length < 50_000) log += chunk.toString();
            if (/Server is ready/.test(log)) {
              clearTimeout(timer);
              resolve();
            }
          });
          proc.once('exit', (code) => {
            clearTimeout(timer);
            reject(new Error(`nats-server ${name} exited with ${code}: ${log.slice(-500)}`));
          });
        }),
      async kill() {
        const done = exited();
        child?.kill('SIGKILL');
        await done;
      },
      async stop() {
        const done = exited();
        child?.kill('SIGTERM');
        await done;
        rmSync(storeDir, { recursive: true, force: true });
      },
    };
    return node;
  });
  const started = await Promise.allSettled(nodes.map((n) => n.start()));
  const failed = started.find((r) => r.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  const handle: NatsClusterHandle = {
    nodes,
    urls: nodes.map((n) => n.url).join(','),
    async healthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (const n of nodes) {
        if (!n.running) continue;
        for (;;) {
          const ok = await fetch(`${n.http}/healthz`).then(
            (r) => r.ok,
            () => false,
          );
          if (ok) break;
          if (Date.now() > deadline) throw new Error(`nats node ${n.name} not healthy within ${timeoutMs} ms`);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()));
    },
  };
  await handle.healthy();
  return handle;
}
