import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { FeedTick } from '../src/core/tick.ts';
import { readAllTicks } from '../src/record/reader.ts';
import { Recorder } from '../src/record/recorder.ts';
import { RecordingWriter } from '../src/record/writer.ts';
import { killCliProcesses, runCli } from './cli-process.ts';
import { TestClient, ticksOf, useGateway } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'tickgate-record-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

afterEach(killCliProcesses);

const gateway = useGateway;

const BASE_TS = 1_767_364_200_000;
function tickAt(i: number): FeedTick {
  const topic = ['equity.AAPL.quote', 'equity.MSFT.quote', 'fx.EURUSD.quote', 'fx.USDJPY.quote', 'equity.AAPL.trade'][i % 5]!;
  return topic.endsWith('.trade')
    ? { topic, ts: BASE_TS + i, kind: 'trade', price: 229 + (i % 13) / 100, size: 100 }
    : { topic, ts: BASE_TS + i, kind: 'quote', bid: 100 + (i % 17) / 100, ask: 100.01 + (i % 17) / 100, bidSize: 100 + i, askSize: 200 };
}
const RECORDED = ['equity.*.quote', 'fx.EURUSD.quote'];
const wanted = (t: FeedTick) => (t.topic.startsWith('equity.') && t.topic.endsWith('.quote')) || t.topic === 'fx.EURUSD.quote';
const byTopic = (ticks: FeedTick[]) => {
  const m = new Map<string, FeedTick[]>();
  for (const t of ticks) m.set(t.topic, [...(m.get(t.topic) ?? []), t]);
  return m;
};

/** Resolves when `onTicks` reports at least `n`. */
function counter() {
  let total = 0;
  let waiters: (() => void)[] = [];
  return {
    onTicks: (t: number) => {
      total = t;
      const w = waiters;
      waiters = [];
      for (const f of w) f();
    },
    async until(n: number, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (total < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`recorder has ${total}/${n} ticks`);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(t);
            resolve();
          });
        });
      }
    },
  };
}

describe('recorder', () => {
  it('records what it subscribed to, survives a disconnect by resuming, and the file replays through a gateway', async () => {
    const a = await gateway();
    const writer = await RecordingWriter.open({ out: join(dir, 'session.msgpack'), gzip: true, source: a.stream, topics: RECORDED });
    const count = counter();
    const recorder = await Recorder.start({
      url: a.stream,
      topics: RECORDED,
      writer,
      onTicks: count.onTicks,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    const published: FeedTick[] = [];
    const publish = (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const t = tickAt(i);
        expect(a.gw.bus.publish(t, 'test').ok).toBe(true);
        published.push(t);
      }
    };
    publish(0, 400);
    await count.until(published.filter(wanted).length);

    // The gateway drops every client; ticks published meanwhile come back through resume.
    a.gw.disconnectClients(1012, 'test restart');
    publish(400, 600);
    await count.until(published.filter(wanted).length);
    const stats = recorder.stats();
    const files = await recorder.stop();
    expect(stats).toMatchObject({ ticks: 360, missed: 0, reconnects: 1, topics: 3 });
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ path: join(dir, 'session.msgpack.gz'), ticks: 360 });

    const recorded = await readAllTicks(files[0]!.path);
    // Arrival order is per topic (the bus batches each topic's ticks); per topic it is exact.
    expect(byTopic(recorded)).toEqual(byTopic(published.filter(wanted)));

    // Replay that file in another gateway, paced 10× and looping: a client sees the recorded
    // AAPL quotes, in recorded order, as a cyclic run (it joins mid-stream).
    const b = await gateway({ feeds: [{ adapter: 'replay', options: { file: files[0]!.path, speed: 10, loop: true } }] });
    const c = await TestClient.connect(b.stream);
    await c.request({ op: 'subscribe', id: 1, topics: ['equity.AAPL.quote'], snapshot: false });
    await c.waitForCount((f) => f.t === 'ticks', 1);
    const aapl = recorded.filter((t) => t.topic === 'equity.AAPL.quote');
    const want = aapl.length + 20;
    for (;;) {
      if (ticksOf(c, 'equity.AAPL.quote').length >= want) break;
      await c.waitFor((f) => f.t === 'ticks', { from: c.frames.length, timeoutMs: 5000 });
    }
    const got = ticksOf(c, 'equity.AAPL.quote').slice(0, want);
    const k0 = aapl.findIndex((t) => t.kind === 'quote' && t.bid === got[0]!.bid && t.bidSize === got[0]!.bidSize);
    expect(k0).toBeGreaterThanOrEqual(0);
    got.forEach((g, j) => {
      const r = aapl[(k0 + j) % aapl.length] as Extract<FeedTick, { kind: 'quote' }>;
      expect([g.bid, g.ask, g.bidSize, g.askSize]).toEqual([r.bid, r.ask, r.bidSize, r.askSize]);
    });
    // Seqs are the new gateway's, consecutive; timestamps keep increasing across the loop.
    expect(got.map((g) => g.seq)).toEqual(got.map((_, j) => got[0]!.seq + j));
    expect(got.every((g, j) => j === 0 || g.ts >= got[j - 1]!.ts)).toBe(true);
    await c.close();
  });

  it('resumes every topic it has seen after a disconnect, beyond the 1,000 its own client used to cap at', async () => {
    // 1,500 topics under one pattern: before the SDK rebuild the recorder sent at most 1,000
    // resume positions and missed the rest; the protocol's limit is MAX_RESUME_POSITIONS (10,000).
    const a = await gateway();
    const writer = await RecordingWriter.open({ out: join(dir, 'many.msgpack'), source: a.stream, topics: ['equity.*.quote'] });
    const count = counter();
    const recorder = await Recorder.start({
      url: a.stream,
      topics: ['equity.*.quote'],
      writer,
      onTicks: count.onTicks,
      reconnect: { initialMs: 20, maxMs: 100 },
    });
    const N = 1500;
    const quote = (k: number, round: number): FeedTick => ({
      topic: `equity.S${k}.quote`,
      ts: BASE_TS + round,
      kind: 'quote',
      bid: 10,
      ask: 10.01,
      bidSize: 1 + round,
      askSize: 1,
    });
    for (let k = 0; k < N; k++) expect(a.gw.bus.publish(quote(k, 0), 'test').ok).toBe(true);
    await count.until(N, 15_000);
    a.gw.disconnectClients(1012, 'test restart');
    for (let k = 0; k < N; k++) expect(a.gw.bus.publish(quote(k, 1), 'test').ok).toBe(true);
    await count.until(2 * N, 15_000);
    const stats = recorder.stats();
    const files = await recorder.stop();
    expect(stats).toMatchObject({ ticks: 2 * N, missed: 0, reconnects: 1, topics: N });
    const recorded = await readAllTicks(files[0]!.path);
    expect(recorded.filter((t) => t.kind === 'quote' && t.bidSize === 2)).toHaveLength(N);
  }, 40_000);

  it('rejects a subscription the gateway refuses, and an unreachable gateway', async () => {
    const a = await gateway();
    const writer = await RecordingWriter.open({ out: join(dir, 'refused.msgpack') });
    await expect(Recorder.start({ url: a.stream, topics: ['Equity.aapl'], writer })).rejects.toThrow(
      /^cannot record "Equity\.aapl": topic "Equity\.aapl" must have three dot-separated segments/,
    );
    await expect(Recorder.start({ url: 'ws://127.0.0.1:1/v1/stream', topics: ['equity.*.quote'], writer })).rejects.toThrow(
      /cannot connect to ws:\/\/127\.0\.0\.1:1\/v1\/stream: ECONNREFUSED/,
    );
    await writer.close();
  });
});

describe('tickgate record', () => {
  it('records until SIGINT, then writes everything, closes the file and exits 0', async () => {
    const a = await gateway();
    const out = join(dir, 'cli.msgpack');
    const p = runCli(['record', '--topics', 'equity.*.quote', '--out', out, '--url', a.stream, '--gzip', '--rotate-mb', '64']);
    await p.waitForOutput(/tickgate record: ws:\/\/.* -> .*cli\.\d{8}T\d{6}Z\.0001\.msgpack\.gz \(equity\.\*\.quote\)/);
    // A second client on the same topics: once it has every tick, the gateway has sent them to the recorder too.
    const witness = await TestClient.connect(a.stream);
    await witness.request({ op: 'subscribe', id: 1, topics: ['equity.*.quote'] });
    const ticks = Array.from({ length: 250 }, (_, i) => tickAt(i)).filter((t) => t.topic.startsWith('equity.') && t.kind === 'quote');
    for (const t of ticks) a.gw.bus.publish(t, 'test');
    await witness.waitForCount((f) => f.t === 'ticks', 1);
    for (;;) {
      const n = ticksOf(witness, 'equity.AAPL.quote').length + ticksOf(witness, 'equity.MSFT.quote').length;
      if (n >= ticks.length) break;
      await witness.waitFor(() => true, { from: witness.frames.length });
    }
    p.child.kill('SIGINT');
    expect(await p.exited).toBe(0);
    expect(p.out()).toMatch(/recorded 100 ticks in 1 file\(s\)\n {2}\S+cli\.\d{8}T\d{6}Z\.0001\.msgpack\.gz {2}100 ticks, \d+ bytes/);
    const path = /(\S+\.msgpack\.gz) {2}100 ticks/.exec(p.out())![1]!;
    expect(byTopic(await readAllTicks(path))).toEqual(byTopic(ticks));
    await witness.close();
  });

  it('exits 2 with one line for bad arguments, 1 (leaving no file) when the gateway is unreachable', async () => {
    const downOut = join(dir, 'down.msgpack');
    const [noOut, down] = [
      runCli(['record', '--topics', 'equity.aapl.quote']),
      runCli(['record', '--topics', 'equity.*.quote', '--out', downOut, '--url', 'ws://127.0.0.1:1/v1/stream']),
    ];
    expect(await noOut.exited).toBe(2);
    expect(noOut.err().trim().split('\n')).toEqual(['tickgate: record needs --out <file>; run "tickgate record --help"']);
    expect(await down.exited).toBe(1);
    expect(down.err().trim()).toBe('tickgate: cannot connect to ws://127.0.0.1:1/v1/stream: ECONNREFUSED');
    expect(existsSync(downOut)).toBe(false);
  });
});
