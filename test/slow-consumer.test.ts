import type { Socket } from 'node:net';
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
