/**
 * 1 vs 2 gateways behind NATS: delivered ticks/s to N WebSocket clients split across the gateways.
 *
 *   npx tsx bench/nats-fanout.ts [--clients 2000] [--topics 20] [--turns 3000] [--ticks-per-turn 2] [--repeats 3] [--gateways 1,2]
 *
 * Per configuration (fresh processes each time, loopback only):
 *   nats-server (ephemeral port)  ←  ingest (bench/servers/nats-ingest.ts: src/ingest.ts + a max-rate publisher)
 *   gateways: `node bin/tickgate-dev.js serve --bus nats://… --port 0 --feeds none` × G
 *   load clients: bench/client/load-client.ts (the main bench's raw-socket client), 2 processes in total,
 *   client i subscribes to topic i mod topics on gateway i mod G.
 * A priming turn makes sure every gateway's NATS subscriptions are in place; then the publisher
 * runs `turns` turns at max rate, and the clock stops only when every client has every tick
 * (drain) — ticks/s = ticks delivered ÷ (last tick received − first publish).
 * Everything shares one machine: with 2 cores the gateways, ingest, nats-server and the load
 * clients compete for CPU, so this measures the cost of the NATS hop and of a second gateway
 * process, not the scale-out a second machine would give.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { findNatsServer, startNatsServer } from '../test/nats/nats-server.ts';
import { ClientPool } from './lib/client-pool.ts';
import { REPO_DIR, spawnChild } from './lib/ipc.ts';
import type { ConnSpec } from './client/load-client.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    topics: { type: 'string', default: '20' },
    turns: { type: 'string', default: '3000' },
    'ticks-per-turn': { type: 'string', default: '2' },
    repeats: { type: 'string', default: '3' },
    gateways: { type: 'string', default: '1,2' },
  },
});
const clients = Number(values.clients);
const topicCount = Number(values.topics);
const turns = Number(values.turns);
const ticksPerTurn = Number(values['ticks-per-turn']);
const repeats = Number(values.repeats);
const gatewayCounts = values.gateways!.split(',').map(Number);
const topics = Array.from({ length: topicCount }, (_, i) => `equity.SYM${String(i).padStart(3, '0')}.quote`);

const bin = findNatsServer();
if (bin === null) {
  console.error('nats-server not found: apt-get install -y nats-server');
  process.exit(2);
}

interface Gateway {
  proc: ChildProcess;
  port: number;
}

function startGateway(url: string): Promise<Gateway> {
  const proc = spawn(
    process.execPath,
    [path.join(REPO_DIR, 'bin/tickgate-dev.js'), 'serve', '--bus', url, '--port', '0', '--feeds', 'none', '--log-level', 'warn'],
    {
      cwd: REPO_DIR,
      stdio: ['ignore', 'pipe', 'inherit'],
      env: {
        ...process.env,
        TICKGATE_BUS__NATS__SUBJECT_PREFIX: 'bench',
        // Every load client connects from 127.0.0.1.
        TICKGATE_LIMITS__MAX_CONNECTIONS_PER_IP: '0',
        TICKGATE_LIMITS__MAX_NEW_CONNECTIONS_PER_SECOND_PER_IP: '0',
      },
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`gateway did not start: ${out}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /stream\s+ws:\/\/[^:]+:(\d+)\//.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, port: Number(m[1]) });
      }
    });
    proc.once('exit', (code) => reject(new Error(`gateway exited (${code}): ${out}`)));
  });
}

async function stopGateway(g: Gateway): Promise<void> {
  if (g.proc.exitCode !== null) return;
  const exited = new Promise((r) => g.proc.once('exit', r));
  g.proc.kill('SIGTERM');
  await exited;
}

interface Result {
  gateways: number;
  ticksPerSec: number;
  delivered: number;
  expected: number;
  gaps: number;
  dups: number;
  windowMs: number;
}

async function runOnce(gateways: number): Promise<Result> {
  const server = await startNatsServer(bin!, { jetstream: false });
  const ingest = spawnChild({ script: 'servers/nats-ingest.ts', args: [server.url], label: 'ingest' });
  const gws: Gateway[] = [];
  const pools: ClientPool[] = [];
  try {
    await ingest.waitEvent('ready', 30_000);
    for (let g = 0; g < gateways; g++) gws.push(await startGateway(server.url));
    // Two load-client processes in total, whatever the number of gateways.
    for (let g = 0; g < gateways; g++) pools.push(await ClientPool.create(gateways === 1 ? 2 : 1));
    const connsOf: ConnSpec[][] = gws.map(() => []);
    for (let i = 0; i < clients; i++) connsOf[i % gateways]!.push({ topics: [i % topicCount] });
    for (let g = 0; g < gateways; g++) {
      await pools[g]!.setup({ port: gws[g]!.port, protocol: 'tickgate', topics, conns: connsOf[g]!, latency: false, verify: false });
      const c = await pools[g]!.connect();
      if (c.failed > 0) throw new Error(`${c.failed} connections failed: ${c.firstError}`);
    }
    const cumulative = topics.map(() => 0);
    const publish = async (n: number, perTurn: number) => {
      const r = await ingest.request<{ published: number[]; startedAt: number; endedAt: number }>(
        'publish',
        { topics, turns: n, ticksPerTurn: perTurn },
        120_000,
      );
      r.published.forEach((p, i) => {
        cumulative[i]! += p;
      });
      return r;
    };
    // Priming: every gateway has subscribed on NATS and every client receives.
    await publish(1, 1);
    await Promise.all(pools.map((p) => p.drain(cumulative, 2000, 15_000)));
    await Promise.all(pools.map((p) => p.arm()));
    const primed = [...cumulative];
    const run = await publish(turns, ticksPerTurn);
    await Promise.all(pools.map((p) => p.drain(cumulative, 2000, 60_000)));
    const reports = await Promise.all(pools.map((p) => p.report(cumulative)));
    const delivered = reports.reduce((a, r) => a + r.ticks, 0);
    let expected = 0;
    for (let i = 0; i < clients; i++) expected += cumulative[i % topicCount]! - primed[i % topicCount]!;
    const lastTickAt = Math.max(...reports.map((r) => r.lastTickAt));
    const windowMs = Math.max(1, lastTickAt - run.startedAt);
    return {
      gateways,
      ticksPerSec: (delivered / windowMs) * 1000,
      delivered,
      expected,
      gaps: reports.reduce((a, r) => a + r.gaps, 0),
      dups: reports.reduce((a, r) => a + r.dups, 0),
      windowMs,
    };
  } finally {
    for (const p of pools) await p.stop().catch(() => undefined);
    for (const g of gws) await stopGateway(g).catch(() => undefined);
    await ingest.stop().catch(() => undefined);
    await server.stop();
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const results = new Map<number, Result[]>(gatewayCounts.map((g) => [g, []]));
console.log(
  `nats-fanout: ${clients} clients, ${topicCount} topics, ${turns} turns × ${ticksPerTurn} tick(s) per topic per turn, ${repeats} repeat(s); ` +
    `${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}`,
);
for (let r = 0; r < repeats; r++) {
  // Alternate the order so a drifting machine does not favour one configuration.
  const order = r % 2 === 0 ? gatewayCounts : [...gatewayCounts].reverse();
  for (const g of order) {
    const res = await runOnce(g);
    results.get(g)!.push(res);
    console.log(
      `  repeat ${r + 1}: ${g} gateway(s): ${fmt(res.ticksPerSec)} ticks/s delivered (${fmt(res.delivered)}/${fmt(res.expected)} in ${fmt(res.windowMs)} ms, gaps ${res.gaps}, dups ${res.dups})`,
    );
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
console.log('\n| gateways behind NATS | clients per gateway | delivered ticks/s (median) | min – max | exact (every tick, no gap/dup) |');
console.log('|---|---|---|---|---|');
for (const g of gatewayCounts) {
  const rs = results.get(g)!;
  const tps = rs.map((x) => x.ticksPerSec);
  const exact = rs.every((x) => x.delivered === x.expected && x.gaps === 0 && x.dups === 0);
  console.log(
    `| ${g} | ${clients / g} | ${fmt(median(tps))} | ${fmt(Math.min(...tps))} – ${fmt(Math.max(...tps))} | ${exact ? 'yes' : 'NO'} |`,
  );
}
if (gatewayCounts.length === 2) {
  // Ratios within a repeat (both configurations ran back to back) cancel most of the machine's drift.
  const [g1, g2] = gatewayCounts as [number, number];
  const ratios = results.get(g1)!.map((r, i) => results.get(g2)![i]!.ticksPerSec / r.ticksPerSec);
  console.log(
    `\n${g2} vs ${g1} gateway(s), per repeat: ${ratios.map((x) => `${x.toFixed(2)}×`).join(', ')}; median ${median(ratios).toFixed(2)}×`,
  );
}
process.exit(0);
