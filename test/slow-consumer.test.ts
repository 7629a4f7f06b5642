import { once } from 'node:events';
import net, { type Socket } from 'node:net';
import type { Transport } from '../src/transport/server.ts';
import { expect, it } from 'vitest';
import { quote, TestClient, ticksOf, useGateway } from './helpers.ts';

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

it('closes a client that stops reading with 1013 once its buffer overflows, and the others get every tick', async () => {
  // The soft-limit sweep is slowed down so this test sees the hard limit alone.
  const s = await useGateway({
    transport: { maxBackpressureBytes: 16_384 },
    slowConsumer: { softLimitBytes: 8192, recoverBelowBytes: 1024, checkIntervalMs: 10_000 },
  });
  const topic = 'equity.SLOW.quote';
  const slow = await TestClient.connect(s.stream);
  const fast = await TestClient.connect(s.stream);
  await slow.request({ op: 'subscribe', id: 1, topics: [topic] });
  await fast.request({ op: 'subscribe', id: 1, topics: [topic] });

  // Stop reading: the kernel buffers fill, then uWS's per-socket buffer does.
  const socket = (slow.ws as unknown as { _socket: Socket })._socket;
  socket.pause();
  let published = 0;
  for (let round = 0; round < 2000 && s.gw.metrics.hot.framesDropped === 0; round++) {
    for (let i = 0; i < 50; i++, published++) s.gw.bus.publish(quote(topic, 100 + (published % 100) / 100), 'test');
    await nextTurn();
    await nextTurn();
  }
  expect(s.gw.metrics.hot.framesDropped).toBeGreaterThan(0);

  socket.resume();
  await slow.whenClosed();
  expect(slow.closeCode).toBe(1013);
  expect(slow.closeReason).toMatch(/slow consumer/);

  await fast.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === published, { timeoutMs: 10_000 });
  expect(ticksOf(fast, topic).map((t) => t.seq)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
  await fast.close();
});

/**
 * A raw WebSocket client (node:net): handshake, one subscribe, then it either never reads again
 * ('paused') or lets its TCP stack swallow bytes without ever parsing a frame or answering a
 * ping ('swallow', switched on later): the kernel-buffer drain that is not recovery.
 */
async function rawClient(port: number, topic: string): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1');
  await once(sock, 'connect');
  sock.write(
    'GET /v1/stream?format=json HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  let head = '';
  while (!head.includes('\r\n\r\n')) head += ((await once(sock, 'data')) as [Buffer])[0].toString('latin1');
  expect(head).toMatch(/^HTTP\/1\.1 101 /);
  const payload = Buffer.from(JSON.stringify({ op: 'subscribe', id: 1, topics: [topic] }));
  const mask = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]!));
  sock.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]));
  sock.pause();
  return sock;
}

it('closes clients that read nothing within maxSlowMs of their first downgrade (a kernel-buffer drain is not recovery); a healthy client keeps every tick', async () => {
  const maxSlowMs = 1000;
  const checkIntervalMs = 50;
  const closeGraceMs = 500;
  const s = await useGateway({
    transport: { maxBackpressureBytes: 64 * 1024 * 1024, closeGraceMs },
    slowConsumer: { softLimitBytes: 65_536, recoverBelowBytes: 16_384, maxSlowMs, checkIntervalMs, downgradeRate: 1 },
  });
  const gw = s.gw;
  const topic = 'equity.NOREAD.quote';
  const healthy = await TestClient.connect(s.stream);
  await healthy.request({ op: 'subscribe', id: 1, topics: [topic] });
  const paused = await rawClient(s.port, topic);
  const swallow = await rawClient(s.port, topic);
  const transport = (gw as unknown as { transport: Transport }).transport;
  const action = async (name: string) =>
    (await gw.metrics.slowConsumerActions.get()).values.find((v) => v.labels.action === name)?.value ?? 0;
  const closedSlow = async () =>
    (await gw.metrics.connectionsClosed.get()).values.find((v) => v.labels.reason === 'slow_consumer')?.value ?? 0;

  let published = 0;
  let firstDowngrade = 0;
  const deadline = Date.now() + 20_000;
  // Fill both paused clients' kernel buffers and then uWS's, until both are downgraded.
  while ((await action('downgrade')) < 2 && Date.now() < deadline) {
    for (let i = 0; i < 40; i++, published++) gw.bus.publish(quote(topic, 100 + (published % 100) / 100), 'test');
    await nextTurn();
    await nextTurn();
    if (firstDowngrade === 0 && (await action('downgrade')) > 0) firstDowngrade = Date.now();
  }
  expect(await action('downgrade')).toBe(2);
  // The second client's TCP stack now swallows everything: its send buffer drains to zero.
  swallow.on('data', () => {});
  swallow.resume();
  while ((await closedSlow()) < 2 && Date.now() < deadline) {
    gw.bus.publish(quote(topic, 100 + (published++ % 100) / 100), 'test');
    await new Promise((r) => setTimeout(r, 5));
  }
  const elapsed = Date.now() - firstDowngrade;
  expect(await closedSlow()).toBe(2);
  expect(transport.connectionCount).toBe(1);
  // Documented limit: maxSlowMs + checkIntervalMs after the first downgrade (plus closeGraceMs to cut the TCP connection).
  expect(elapsed).toBeLessThanOrEqual(maxSlowMs + checkIntervalMs + closeGraceMs + 500);
  expect(await action('recover')).toBe(0);
  expect(await action('close_timeout')).toBe(2);

  await healthy.waitFor((f) => f.t === 'ticks' && f.ticks.at(-1).seq === published, { timeoutMs: 10_000 });
  expect(ticksOf(healthy, topic).map((t) => t.seq)).toEqual(Array.from({ length: published }, (_, i) => i + 1));
  expect(healthy.frames.some((f) => f.t === 'slow')).toBe(false);
  paused.destroy();
  swallow.destroy();
  await healthy.close();
}, 40_000);
