import { once } from 'node:events';
import net from 'node:net';

/**
 * A TCP forwarder on a fixed loopback port, like a load balancer in front of a gateway: the page
 * keeps one URL while the gateway behind it is stopped and replaced. Connections while no
 * target is reachable are refused (closed at once), as a dead backend would be.
 *
 * Why the restart test needs it: a graceful stop closes open HTTP keep-alive connections (the
 * browser's page load) from the gateway's side, so they sit in TIME_WAIT on the gateway's port
 * for up to 60 s; the gateway listens with an exclusive port and no SO_REUSEADDR, so a new
 * gateway cannot bind that port until then.
 */
export class TcpProxy {
  private target: number | null;
  private readonly sockets = new Set<net.Socket>();

  private constructor(
    private readonly server: net.Server,
    target: number,
  ) {
    this.target = target;
    server.on('connection', (client) => this.forward(client));
  }

  static async start(target: number): Promise<TcpProxy> {
    const server = net.createServer();
    const proxy = new TcpProxy(server, target);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return proxy;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Where new connections go; null refuses them. */
  setTarget(port: number | null): void {
    this.target = port;
  }

  /** Cuts every open connection, as a network failure would. */
  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  private forward(client: net.Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    client.on('error', () => client.destroy());
    if (this.target === null) {
      client.destroy();
      return;
    }
    const upstream = net.connect(this.target, '127.0.0.1');
    this.sockets.add(upstream);
    upstream.on('close', () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
