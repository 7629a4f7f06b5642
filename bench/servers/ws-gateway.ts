import { Packr } from 'msgpackr';
import { WebSocketServer, WebSocket } from 'ws';
import { FrameBatcher } from './workload.ts';
import { BASELINE_DEFAULT_TICKS_PER_FRAME, parseSubscribe, type ServerFactory } from './types.ts';

/**
 * Baseline (b): a typical `ws` gateway. A Set of sockets per topic; each frame is encoded once
 * and sent to every subscriber with `ws.send` (one write per subscriber per frame). No send
 * buffer limit, as in most such gateways: a slow client's backlog grows in server memory.
 */
export const start: ServerFactory = async ({ topics, maxTicksPerFrame: requested }) => {
  const maxTicksPerFrame = requested ?? BASELINE_DEFAULT_TICKS_PER_FRAME;
  const packr = new Packr({ useRecords: false });
  const subscribers = new Map<string, Set<WebSocket>>(topics.map((t) => [t, new Set()]));
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, path: '/v1/stream', perMessageDeflate: false, maxPayload: 64 * 1024 });
  let connections = 0;
  wss.on('connection', (ws) => {
    connections++;
    const mine: Set<WebSocket>[] = [];
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const req = parseSubscribe(data.toString());
      if (!req) return;
      for (const t of req.topics) {
        const set = subscribers.get(t);
        if (set && !set.has(ws)) {
          set.add(ws);
          mine.push(set);
        }
      }
      ws.send(packr.pack({ t: 'ack', id: req.id, op: 'subscribe', topics: req.topics, snapshots: 0 }));
    });
    ws.on('close', () => {
      connections--;
      for (const set of mine) set.delete(ws);
    });
    ws.on('error', () => {});
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const port = (wss.address() as { port: number }).port;
  const sink = new FrameBatcher(topics, maxTicksPerFrame, (_i, topic, bytes) => {
    // msgpackr never overwrites a returned buffer (it allocates a new one when full), so the
    // bytes may stay queued inside ws without a copy.
    for (const ws of subscribers.get(topic)!) if (ws.readyState === WebSocket.OPEN) ws.send(bytes);
  });
  return {
    port,
    sink,
    maxTicksPerFrame,
    settings: { sendBufferLimit: 'none' },
    stats() {
      let maxBuffered = 0;
      let totalBuffered = 0;
      for (const ws of wss.clients) {
        maxBuffered = Math.max(maxBuffered, ws.bufferedAmount);
        totalBuffered += ws.bufferedAmount;
      }
      return { connections, maxBufferedBytes: maxBuffered, totalBufferedBytes: totalBuffered };
    },
    async stop() {
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
};
