import net from 'node:net';
import uWS from 'uWebSockets.js';

/** uWS ListenOptions value; typed as an enum but exported only at run time. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;
const LIBUS_LISTEN_DEFAULT = 0;

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  passphrase?: string | undefined;
}

export function createApp(tls: TlsFiles | undefined): uWS.TemplatedApp {
  if (!tls) return uWS.App();
  return uWS.SSLApp({ cert_file_name: tls.certFile, key_file_name: tls.keyFile, passphrase: tls.passphrase ?? '' });
}

/**
 * The listening sockets: the main app (stream + HTTP API), and the separate /metrics app when
 * configured. Knows how to bind, not what is served.
 */
export class Listener {
  private listenSocket: uWS.us_listen_socket | null = null;
  private metricsListenSocket: uWS.us_listen_socket | null = null;

  constructor(
    private readonly app: uWS.TemplatedApp,
    private readonly metricsApp: uWS.TemplatedApp | null,
  ) {}

  /** Binds the main app; resolves with the bound port (useful with port 0). */
  async listen(host: string, port: number, workerId: number | undefined): Promise<number> {
    // Two constraints: a second gateway must not silently share the port (uWS's default listen
    // sets SO_REUSEPORT), and a restart must not be refused because of old connections in
    // TIME_WAIT (uWS sets no SO_REUSEADDR, so its exclusive listen is refused for up to 60 s).
    // So: a Node probe (SO_REUSEADDR, no SO_REUSEPORT) fails only on a live listener, then the
    // uWS listen uses the default mode, whose SO_REUSEPORT also tolerates TIME_WAIT.
    // Worker threads (workerId >= 1) skip the probe: they join the main thread's port on purpose.
    if (port !== 0 && (workerId ?? 0) === 0) await assertPortFree(host, port);
    return new Promise((resolve, reject) => {
      const listen = this.app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      const mode = port === 0 ? LIBUS_LISTEN_EXCLUSIVE_PORT : LIBUS_LISTEN_DEFAULT;
      listen.call(this.app, host, port, mode, (socket) => {
        if (!socket) {
          reject(new Error(`cannot listen on ${host}:${port}: address in use or not available`));
          return;
        }
        this.listenSocket = socket;
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Starts the separate /metrics listener, if configured; resolves with its port (null if none). */
  listenMetrics(host: string, port: number): Promise<number | null> {
    const app = this.metricsApp;
    if (app === null) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const listen = app.listen as unknown as (h: string, p: number, o: number, cb: (s: uWS.us_listen_socket | false) => void) => void;
      listen.call(app, host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
        if (!socket) return reject(new Error(`cannot listen for /metrics on ${host}:${port}: address in use or not available`));
        this.metricsListenSocket = socket;
        resolve(uWS.us_socket_local_port(socket));
      });
    });
  }

  /** Stops accepting: closes both listen sockets and the /metrics app (open connections stay). */
  stopListening(): void {
    if (this.metricsListenSocket) {
      uWS.us_listen_socket_close(this.metricsListenSocket);
      this.metricsListenSocket = null;
    }
    this.metricsApp?.close();
    if (this.listenSocket) {
      uWS.us_listen_socket_close(this.listenSocket);
      this.listenSocket = null;
    }
  }
}

/** Rejects when something listens on host:port already (a Node bind: SO_REUSEADDR, no SO_REUSEPORT). */
function assertPortFree(host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${host}:${port}: ${err.code === 'EADDRINUSE' ? 'address in use' : (err.code ?? err.message)}`)),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}
