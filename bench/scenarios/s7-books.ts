/**
 * S7 — order-book fan-out: book updates delivered per second to 1,000 subscribers, every update
 * and with maxRate (net updates). tickgate only (no baseline server understands a book).
 *
 * One in-process gateway (no feeds) gets book updates straight into its bus from the sim-equity
 * book model (10 symbols, 20-level books cut to 10 per side) at a fixed source rate; a child
 * process (s7-books-client.mjs) holds the subscribers and reads everything. Delivered updates
 * are the gateway's own count of entries written to subscribers (tickgate_ticks_out), divided by
 * the measured time; the client's frame and byte counts confirm they arrived.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createEquityModel } from '../../feeds/sim-equity/model.ts';
import { createGateway } from '../../src/gateway.ts';
import type { Ctx } from '../lib/scenario.ts';
import { finishReport, newReport } from '../lib/scenario.ts';
import type { ScenarioReport } from '../lib/report.ts';

const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL', 'META', 'TSLA', 'JPM', 'V', 'XOM'];
const TOPICS = SYMBOLS.map((s) => `equity.${s}.book`);

interface S7Result {
  maxRate: number;
  sourceUpdatesPerSec: number;
  deliveredUpdatesPerSec: number;
  framesPerSecClient: number;
  mbPerSecClient: number;
  serverCpuPct: number;
}

function startClients(
  url: string,
  count: number,
  maxRate: number,
): Promise<{ child: ChildProcessWithoutNullStreams; ask(cmd: string): Promise<Record<string, number>> }> {
  const file = fileURLToPath(new URL('./s7-books-client.mjs', import.meta.url));
  const child = spawn(process.execPath, [file, url, String(count), TOPICS.join(','), String(maxRate)], { stdio: 'pipe' });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  let exited = false;
  const failures: ((err: Error) => void)[] = [];
  child.once('exit', (code) => {
    exited = true;
    for (const f of failures.splice(0)) f(new Error(`S7 client process exited (${code}) early`));
  });
  const next = () =>
    new Promise<Record<string, number>>((resolve, reject) => {
      if (exited) return reject(new Error('S7 client process is gone'));
      failures.push(reject);
      waiting.push((line) => resolve(JSON.parse(line) as Record<string, number>));
    });
  return next().then(() => ({
    child,
    ask: (cmd: string) => {
      const p = next();
      child.stdin.write(`${cmd}\n`);
      return p;
    },
  }));
}

async function runOne(subscribers: number, maxRate: number, sourceRate: number, seconds: number): Promise<S7Result> {
  const gw = createGateway({
    host: '127.0.0.1',
    port: 0,
    logLevel: 'silent',
    feeds: [],
    market: { bookDepth: 10, barIntervals: [] },
    slowConsumer: { softLimitBytes: 64 * 1024 * 1024, recoverBelowBytes: 1024 * 1024 },
    transport: { maxBackpressureBytes: 128 * 1024 * 1024 },
    limits: { maxNewConnectionsPerSecondPerIp: 0, maxConnectionsPerIp: 0 },
  });
  const { port } = await gw.start();
  const model = createEquityModel({ seed: 1, ticksPerSecond: sourceRate, tradeProbability: 0, universe: SYMBOLS, bookDepth: 20 });
  let ts = Date.now();
  // Warm the books so snapshots are full.
  for (let i = 0; i < 400; i++) {
    gw.bus.publish(model.next(++ts), 'bench');
    const b = model.followUp();
    if (b) gw.bus.publish(b, 'bench');
  }
  gw.bus.flush();
  const clients = await startClients(`ws://127.0.0.1:${port}/v1/stream`, subscribers, maxRate);
  let sourceUpdates = 0;
  const lastSeq = new Map<string, number>();
  let owed = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    owed += ((now - last) / 1000) * sourceRate;
    last = now;
    for (; owed >= 1; owed--) {
      gw.bus.publish(model.next(++ts), 'bench');
      const b = model.followUp();
      if (b === null) continue;
      const result = gw.bus.publish(b, 'bench');
      // Count only changes that became an update (a change below the top 10 gets no new seq).
      if (result.ok && result.seq > (lastSeq.get(b.topic) ?? 0)) {
        lastSeq.set(b.topic, result.seq);
        sourceUpdates++;
      }
    }
  }, 5);
  await new Promise((r) => setTimeout(r, 1000)); // settle
  const hot = gw.metrics.hot;
  const out0 = hot.ticksOut;
  const src0 = sourceUpdates;
  const c0 = await clients.ask('report');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  // Quote entries go to nobody (no quote subscribers), so ticksOut counts book entries only.
  const delivered = hot.ticksOut - out0;
  const c1 = await clients.ask('report');
  clearInterval(timer);
  await clients.ask('exit').catch(() => ({}));
  clients.child.kill();
  await gw.stop();
  return {
    maxRate,
    sourceUpdatesPerSec: (sourceUpdates - src0) / elapsed,
    deliveredUpdatesPerSec: delivered / elapsed,
    framesPerSecClient: (c1.frames! - c0.frames!) / elapsed,
    mbPerSecClient: (c1.bytes! - c0.bytes!) / elapsed / 1e6,
    serverCpuPct: ((cpu.user + cpu.system) / 1e6 / elapsed) * 100,
  };
}

export async function runS7(ctx: Ctx): Promise<ScenarioReport> {
  const subscribers = 1000;
  const sourceRate = ctx.o.quick ? 1000 : 2000;
  const seconds = ctx.o.quick ? 5 : 15;
  const rates = [0, 10];
  const report = newReport(
    ctx,
    'S7',
    'Order-book fan-out',
    `Book updates (10 topics, top 10 levels) to ${subscribers} subscribers of all 10 topics, every update vs maxRate 10 (net updates)`,
    { subscribers, sourceQuotesPerSec: sourceRate, seconds, topics: TOPICS.length, rates },
  );
  const rows: string[][] = [];
  for (const rate of rates) {
    for (let rep = 0; rep < ctx.o.repeats; rep++) {
      const r = await runOne(subscribers, rate, sourceRate, seconds);
      report.runs.push({ variant: `maxRate ${rate}`, server: 'tickgate', label: 'tickgate', repeat: rep, result: r });
      ctx.log(
        `  [S7] maxRate ${rate}: ${Math.round(r.deliveredUpdatesPerSec)} updates/s delivered (source ${Math.round(r.sourceUpdatesPerSec)}/s), ${Math.round(r.framesPerSecClient)} frames/s, ${r.mbPerSecClient.toFixed(1)} MB/s, server CPU ${r.serverCpuPct.toFixed(0)}%`,
      );
      rows.push([
        rate === 0 ? 'every update' : `maxRate ${rate}`,
        String(rep + 1),
        String(Math.round(r.sourceUpdatesPerSec)),
        String(Math.round(r.deliveredUpdatesPerSec)),
        String(Math.round(r.framesPerSecClient)),
        r.mbPerSecClient.toFixed(1),
        r.serverCpuPct.toFixed(0),
      ]);
    }
  }
  report.tables.push({
    title: `S7 book fan-out, ${subscribers} subscribers × ${TOPICS.length} book topics`,
    columns: ['delivery', 'repeat', 'source updates/s', 'delivered updates/s', 'client frames/s', 'client MB/s', 'server CPU %'],
    rows,
    note: 'Delivered updates: book entries written to subscribers (the gateway counter); with maxRate each entry is a net update standing for several source updates. Gateway and source in one process; subscribers in a child process on the same machine.',
  });
  report.notes.push('Source and gateway share one process and event loop; the source timer is part of the server CPU figure.');
  return finishReport(report);
}
