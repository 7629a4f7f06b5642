import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createApp, Listener } from './listener.ts';

/** A Node listener on an ephemeral port, closed when the test finishes. */
async function occupiedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => new Promise<void>((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

describe('Listener', () => {
  it('binds port 0 to a concrete port and stops listening on request', async () => {
    const app = createApp(undefined);
    onTestFinished(() => void app.close());
    const listener = new Listener(app, null);
    const port = await listener.listen('127.0.0.1', 0, undefined);
    expect(port).toBeGreaterThan(0);
    listener.stopListening();
    // The port is free again: a Node server can take it.
    const probe = net.createServer();
    await new Promise<void>((resolve, reject) => probe.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise<void>((r) => probe.close(() => r()));
  });

  it('refuses a port something else listens on, with a one-line reason', async () => {
    const port = await occupiedPort();
    const app = createApp(undefined);
    onTestFinished(() => void app.close());
    await expect(new Listener(app, null).listen('127.0.0.1', port, undefined)).rejects.toThrow(
      `cannot listen on 127.0.0.1:${port}: address in use`,
    );
  });

  it('has no /metrics port unless a metrics app is given', async () => {
    const app = createApp(undefined);
    const metricsApp = createApp(undefined);
    onTestFinished(() => void app.close());
    expect(await new Listener(app, null).listenMetrics('127.0.0.1', 0)).toBeNull();
    const listener = new Listener(app, metricsApp);
    const port = await listener.listenMetrics('127.0.0.1', 0);
    expect(port).toBeGreaterThan(0);
    listener.stopListening();
  });
});
