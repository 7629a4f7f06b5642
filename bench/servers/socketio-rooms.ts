import http from 'node:http';
import { Packr } from 'msgpackr';
import { Server } from 'socket.io';
import { FrameBatcher } from './workload.ts';
import { BASELINE_DEFAULT_TICKS_PER_FRAME, type ServerFactory, type SubscribeRequest } from './types.ts';

/**
 * Baseline (c): Socket.IO rooms, websocket transport only, default parser. A client emits
 * `subscribe` with the usual request object and joins one room per topic; each frame is emitted
 * to the room as a binary attachment (Socket.IO encodes a broadcast once: a text packet
 * `451-["ticks",{"_placeholder":true,"num":0}]` plus the MessagePack bytes as a binary frame,
 * identical to every other server's frame).
 */
export const start: ServerFactory = async ({ topics, maxTicksPerFrame: requested }) => {
  const maxTicksPerFrame = requested ?? BASELINE_DEFAULT_TICKS_PER_FRAME;
  const packr = new Packr({ useRecords: false });
  const httpServer = http.createServer();
  const io = new Server(httpServer, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });
  let connections = 0;
  io.on('connection', (socket) => {
    connections++;
    socket.on('subscribe', (req: SubscribeRequest) => {
      if (!req || !Array.isArray(req.topics)) return;
      void socket.join(req.topics);
      socket.emit('ack', packr.pack({ t: 'ack', id: req.id, op: 'subscribe', topics: req.topics, snapshots: 0 }));
    });
    socket.on('disconnect', () => {
      connections--;
    });
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  const port = (httpServer.address() as { port: number }).port;
  const sink = new FrameBatcher(topics, maxTicksPerFrame, (_i, topic, bytes) => {
    io.to(topic).emit('ticks', bytes);
  });
  return {
    port,
    sink,
    maxTicksPerFrame,
    settings: { sendBufferLimit: 'none', transports: ['websocket'] },
    stats: () => ({ connections }),
    async stop() {
      io.disconnectSockets(true);
      await new Promise<void>((resolve) => io.close(() => resolve()));
    },
  };
};
