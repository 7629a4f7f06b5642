import uWS from 'uWebSockets.js';
import { Packr } from 'msgpackr';
import { FrameBatcher } from './workload.ts';
import { BASELINE_DEFAULT_TICKS_PER_FRAME, parseSubscribe, type ServerFactory } from './types.ts';

/**
 * Baseline (a): raw uWebSockets.js, the ceiling. Each frame is encoded once and handed to uWS's
 * native publish; uWS copies it into every subscriber's socket and coalesces the frames of one
 * event-loop turn into one write per subscriber. No per-subscriber JavaScript.
 */
export const start: ServerFactory = async ({ topics, maxTicksPerFrame: requested, maxBackpressureBytes }) => {
  const maxTicksPerFrame = requested ?? BASELINE_DEFAULT_TICKS_PER_FRAME;
  const packr = new Packr({ useRecords: false });
  const decoder = new TextDecoder();
  let connections = 0;
  let dropped = 0;
  const app = uWS.App();
  app.ws('/v1/stream', {
    compression: uWS.DISABLED,
    maxPayloadLength: 64 * 1024,
    maxBackpressure: maxBackpressureBytes,
    closeOnBackpressureLimit: 0,
    idleTimeout: 120,
    sendPingsAutomatically: true,
    open: () => {
      connections++;
    },
    message: (ws, message) => {
      const req = parseSubscribe(decoder.decode(message));
      if (!req) return;
      for (const t of req.topics) ws.subscribe(t);
      ws.send(packr.pack({ t: 'ack', id: req.id, op: 'subscribe', topics: req.topics, snapshots: 0 }), true);
    },
    dropped: () => {
      dropped++;
    },
    close: () => {
      connections--;
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (ls) => (ls ? resolve(uWS.us_socket_local_port(ls)) : reject(new Error('listen failed'))));
  });
  const sink = new FrameBatcher(topics, maxTicksPerFrame, (_i, topic, bytes) => {
    app.publish(topic, bytes, true);
  });
  return {
    port,
    sink,
    maxTicksPerFrame,
    settings: { maxBackpressureBytes, closeOnBackpressureLimit: false },
    stats: () => ({ connections, droppedFrames: dropped }),
    async stop() {
      app.close();
    },
  };
};
