import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { connect, type Tick, type TickgateClient } from '@tickgate/client';
import { quote, until, useGateway } from './helpers.ts';

const bin = fileURLToPath(new URL('../bin/tickgate-dev.js', import.meta.url));

/** Resolves once the gateway on `port` lists `topic` in /v1/topics (bounded). */
async function waitForTopic(port: number, topic: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const body = (await (await fetch(`http://127.0.0.1:${port}/v1/topics`)).json()) as { topics: { topic: string }[] };
    if (body.topics.some((t) => t.topic === topic)) return;
    if (Date.now() > deadline) throw new Error(`${topic} did not appear on port ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Closes an SDK client when the current test finishes. */
function closeAfterTest(client: TickgateClient): TickgateClient {
  onTestFinished(() => client.close());
  return client;
}

/** A gateway process; resolves once it prints its stream URL. */
async function gatewayProcess(args: string[]): Promise<{ child: ChildProcessWithoutNullStreams; port: number }> {
  const child = spawn(process.execPath, [bin, 'serve', '--log-level', 'warn', ...args]);
  onTestFinished(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (;;) {
    const m = /127\.0\.0\.1:(\d+)\/v1\/stream/.exec(out);
    if (m) return { child, port: Number(m[1]) };
    const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit').then(() => [null])])) as [Buffer | null];
    if (chunk === null) throw new Error(`gateway exited: ${out}${err}`);
    out += chunk.toString();
  }
}

/**
 * A plain TCP forwarder on a fixed port, like the load balancer in front of a real deployment:
 * the gateway behind it can be killed and restarted on a new port (uWS sets no SO_REUSEADDR, so a
 * killed gateway's port stays in TIME_WAIT for 60 s) while clients keep one URL.
 */
async function tcpForwarder(): Promise<{ port: number; target: { port: number }; close(): void }> {
  const target = { port: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((downstream) => {
    const upstream = net.connect(target.port, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    downstream.pipe(upstream).pipe(downstream);
    const end = () => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return { port: (server.address() as net.AddressInfo).port, target, close: () => server.close() };
}

function fastFeedConfig(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'tickgate-sdk-')), 'config.json');
  writeFileSync(file, JSON.stringify({ feeds: [{ adapter: 'sim-fx', options: { ticksPerSecond: 2000, pairs: ['EURUSD', 'USDJPY'] } }] }));
  return file;
}

/** Every tick's seq follows the previous one of its epoch, or the epoch changed with a gap reported. */
function assertNoSilentHoles(ticks: Tick[], gapEpochs: Set<number>) {
  let prev: Tick | undefined;
  for (const t of ticks) {
    if (prev && t.epoch === prev.epoch && !t.snapshot) expect(t.seq, `seq after ${prev.seq}`).toBe(prev.seq + 1);
    if (prev && t.epoch !== prev.epoch) expect(gapEpochs.has(t.epoch) || t.snapshot).toBe(true);
    prev = t;
  }
}

describe('client SDK against a real gateway', { timeout: 60_000 }, () => {
  it('reconnects after the gateway process is killed and restarted, and reports the new epoch as a gap with a snapshot', async () => {
    const config = fastFeedConfig();
    const first = await gatewayProcess(['--port', '0', '--config', config]);
    const front = await tcpForwarder();
    front.target.port = first.port;
    const client = connect(`ws://127.0.0.1:${front.port}/v1/stream`, { reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    closeAfterTest(client);
    const ticks: Tick[] = [];
    const gaps: { topic: string; reason: string }[] = [];
    const reconnecting: number[] = [];
    client.on('gap', (topic, _f, _t, reason) => gaps.push({ topic, reason }));
    client.on('reconnecting', (attempt) => reconnecting.push(attempt));
    client.subscribe('fx.EURUSD.quote', (t) => ticks.push(t));
    await until(() => ticks.length > 50, 'ticks from the first gateway');
    const firstEpoch = ticks[0]!.epoch;

    first.child.kill('SIGKILL');
    await once(first.child, 'exit');
    await until(() => reconnecting.length > 0, 'reconnecting');
    const second = await gatewayProcess(['--port', '0', '--config', config]);
    // Route to the new gateway only once its feed has a EURUSD value: a client resubscribing
    // before that gets the epoch gap but nothing to snapshot yet (a race under a loaded machine).
    await waitForTopic(second.port, 'fx.EURUSD.quote');
    front.target.port = second.port;
    await until(() => ticks.some((t) => t.epoch !== firstEpoch && !t.snapshot), 'live ticks from the restarted gateway');

    expect(gaps).toContainEqual({ topic: 'fx.EURUSD.quote', reason: 'epoch_changed' });
    const firstOfNew = ticks.find((t) => t.epoch !== firstEpoch)!;
    expect(firstOfNew.snapshot).toBe(true);
    assertNoSilentHoles(ticks, new Set([firstOfNew.epoch]));
    second.child.kill('SIGTERM');
  });

  it('resumes after the gateway drops the connection: exactly the missed seqs are replayed, no gap', async () => {
    const started = await useGateway({ feeds: [{ adapter: 'sim-fx', options: { ticksPerSecond: 3000, pairs: ['EURUSD', 'GBPUSD'] } }] });
    const client = connect(started.stream, { reconnect: { initialDelayMs: 100, maxDelayMs: 100 } });
    closeAfterTest(client);
    const ticks: Tick[] = [];
    const gaps: unknown[] = [];
    const acks: unknown[] = [];
    client.on('gap', (...args) => gaps.push(args));
    client.on('ack', (ack) => acks.push(ack));
    client.subscribe('fx.*.quote', (t) => ticks.push(t));
    await until(() => ticks.filter((t) => t.topic === 'fx.EURUSD.quote').length > 30, 'ticks');

    // Ticks published while the client is away (between the drop and its reconnect) must be
    // replayed; publish some at once so that holds even with a near-zero jittered delay.
    const gw = started.gw;
    client.on('reconnecting', () => {
      for (let i = 0; i < 20; i++) gw.bus.publish(quote('fx.EURUSD.quote', 1.1, performance.timeOrigin + performance.now()), 'test');
    });
    started.gw.disconnectClients(1012, 'test: drop connections');
    await until(() => acks.length === 2, 'resubscribe ack after the drop');
    const resumed = acks[1] as { results: { topic: string; status: string; count: number }[] };
    expect(resumed.results.map((r) => r.status)).toEqual(['replayed', 'replayed']);
    expect(resumed.results.find((r) => r.topic === 'fx.EURUSD.quote')!.count).toBeGreaterThanOrEqual(20);
    const before = ticks.length;
    await until(() => ticks.length > before + 100, 'live ticks after resume');

    expect(gaps).toEqual([]);
    expect(client.stats.duplicates).toBe(0);
    for (const topic of ['fx.EURUSD.quote', 'fx.GBPUSD.quote']) {
      const seqs = ticks.filter((t) => t.topic === topic).map((t) => t.seq);
      expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    }
  });

  it('detects a dead connection (a frozen gateway) by silence and reconnects once it is back', async () => {
    const config = fastFeedConfig();
    const gw = await gatewayProcess(['--port', '0', '--config', config]);
    const client = connect(`ws://127.0.0.1:${gw.port}/v1/stream`, {
      heartbeat: { intervalMs: 200, timeoutMs: 600 },
      reconnect: { initialDelayMs: 50, maxDelayMs: 100 },
    });
    closeAfterTest(client);
    const closes: string[] = [];
    let opens = 0;
    client.on('close', (_code, reason) => closes.push(reason));
    client.on('open', () => opens++);
    const ticks: Tick[] = [];
    client.subscribe('fx.USDJPY.quote', (t) => ticks.push(t));
    await until(() => ticks.length > 10, 'ticks');

    gw.child.kill('SIGSTOP'); // the TCP connection stays up, but nothing arrives
    try {
      await until(() => closes.includes('heartbeat timeout'), 'heartbeat timeout', 5000);
    } finally {
      gw.child.kill('SIGCONT');
    }
    const count = ticks.length;
    await until(() => opens >= 2 && ticks.length > count + 10, 'reconnected and streaming');
    expect(client.state).toBe('open');
  });

  it('delivers through the async iterator and honours maxRate', async () => {
    const started = await useGateway({ feeds: [{ adapter: 'sim-fx', options: { ticksPerSecond: 1000, pairs: ['EURUSD'] } }] });
    const gw = started.gw;
    await until(() => gw.bus.topic('fx.EURUSD.quote')?.last !== undefined, 'the first EURUSD tick');
    const client = connect(started.stream);
    closeAfterTest(client);
    const sub = client.subscribe('fx.EURUSD.quote', undefined, { maxRate: 10 });
    const ack = await sub.ready;
    expect(ack.maxRate).toBe(10);
    const got: Tick[] = [];
    for await (const tick of sub) {
      got.push(tick);
      if (got.length === 5) break;
    }
    expect(got[0]!.snapshot).toBe(true);
    expect(got.slice(1).every((t) => (t.conflated ?? 0) >= 1)).toBe(true);
    expect(got.every((t) => t.latencyMs >= 0 && t.latencyMs < 5000)).toBe(true);
  });

  it('hands every decoded frame to the raw-frame hook, measures RTT with ping(), and forgets an unsubscribed topic', async () => {
    const started = await useGateway({ feeds: [{ adapter: 'sim-fx', options: { ticksPerSecond: 500, pairs: ['EURUSD'] } }] });
    const gw = started.gw;
    await until(() => gw.bus.topic('fx.EURUSD.quote')?.last !== undefined, 'the first EURUSD tick');
    const client = closeAfterTest(connect(started.stream));
    const kinds: string[] = [];
    client.on('frame', (f) => kinds.push(f.t));
    let n = 0;
    const sub = client.subscribe('fx.EURUSD.quote', () => n++);
    await sub.ready;
    await until(() => n > 5, 'ticks');
    expect(kinds.slice(0, 3)).toEqual(['welcome', 'ack', 'snapshot']);
    expect(kinds).toContain('ticks');
    const rtt = await client.ping();
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThan(5000);
    expect(kinds).toContain('pong');

    // Unsubscribed, then subscribed again: a fresh start (snapshot), not a resume from the old position.
    expect(client.position('fx.EURUSD.quote')).toBeDefined();
    sub.unsubscribe();
    expect(client.position('fx.EURUSD.quote')).toBeUndefined();
    const again = client.subscribe('fx.EURUSD.quote', () => {});
    const ack = await again.ready;
    expect(ack.results).toEqual([{ topic: 'fx.EURUSD.quote', status: 'snapshot' }]);
  });
});
