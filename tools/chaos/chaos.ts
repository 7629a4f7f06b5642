import { Random } from '../../src/core/random.ts';
import { killCliProcesses, runCli } from '../../test/cli-process.ts';
import { findNatsServer, freeLoopbackPort, startNatsCluster, type NatsClusterHandle } from '../../test/nats/nats-server.ts';
import { WireChecker } from '../../test/nats/wire-checker.ts';

/**
 * The chaos suite (issue 13): a 3-node NATS cluster (JetStream, the tickgate stream at R3), two
 * `tickgate ingest --lease` processes (one active, one standby), two `tickgate serve --bus`
 * gateways, and checker clients written from docs/protocol.md (test/nats/wire-checker.ts) that
 * record every frame, reconnect and resume like §14 says. Each round SIGKILLs one component
 * chosen by a seeded RNG — a NATS node, the active ingest, or a gateway — restarts it, waits until
 * every client has moved on, and checks the invariant: every seq of every topic delivered once and
 * in order, or reported (gap result, gap/reset status). Everything on 127.0.0.1, every wait bounded.
 */
export type FaultKind = 'nats-node' | 'ingest' | 'gateway';
export const FAULT_KINDS: readonly FaultKind[] = ['nats-node', 'ingest', 'gateway'];

export interface KindRow {
  rounds: number;
  published: number;
  delivered: number;
  reportedGaps: number;
  silentLost: number;
  longestPauseMs: number;
}

export interface ChaosResult {
  rows: Map<FaultKind, KindRow>;
  violations: string[];
  stalls: string[];
  /** Gap results and gap status frames the clients got, by reason. */
  gapReasons: Map<string, number>;
  /** Components found exited between rounds (an ingest fenced off exits 3) and restarted. */
  restarts: string[];
}

export interface ChaosOptions {
  rounds: number;
  seed: number;
  clients?: number;
  /** Only these fault kinds (default: all). */
  kinds?: readonly FaultKind[];
  log?: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await sleep(50);
  }
  return false;
}

interface Proc {
  handle: ReturnType<typeof runCli>;
  start(): Promise<void>;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const log = options.log ?? (() => {});
  const seeded = new Random(options.seed);
  const random = () => seeded.next();
  const bin = findNatsServer();
  if (bin === null) throw new Error('chaos: nats-server not found (apt-get install -y nats-server)');
  const cluster: NatsClusterHandle = await startNatsCluster(bin, 3);
  const prefix = `chaos${process.pid}`;
  const env = {
    TICKGATE_LOG_LEVEL: 'error',
    TICKGATE_BUS__NATS__SUBJECT_PREFIX: prefix,
    TICKGATE_BUS__NATS__RECONNECT_TIME_WAIT_MS: '100',
    TICKGATE_BUS__NATS__RECONNECT_JITTER_MS: '50',
    TICKGATE_BUS__NATS__JETSTREAM__ENABLED: 'true',
    TICKGATE_BUS__NATS__JETSTREAM__STREAM: `S_${prefix}`,
    TICKGATE_BUS__NATS__JETSTREAM__REPLICAS: '3',
    TICKGATE_BUS__NATS__LEASE__TTL_MS: '2000',
  };
  const checkers: WireChecker[] = [];
  const result: ChaosResult = {
    rows: new Map(
      FAULT_KINDS.map((k) => [k, { rounds: 0, published: 0, delivered: 0, reportedGaps: 0, silentLost: 0, longestPauseMs: 0 }]),
    ),
    violations: [],
    stalls: [],
    restarts: [],
    gapReasons: new Map(),
  };
  let stopping = false;
  try {
    const ingestPorts = [await freeLoopbackPort(), await freeLoopbackPort()];
    const ingests: Proc[] = ingestPorts.map((port) => {
      const p: Proc = {
        handle: null as unknown as ReturnType<typeof runCli>,
        async start() {
          p.handle = runCli(['ingest', '--bus', cluster.urls, '--port', String(port), '--feeds', 'sim-fx', '--lease'], env);
          await p.handle.waitForOutput(/waiting for NATS/, 15_000);
        },
      };
      return p;
    });
    const gatewayPorts = [await freeLoopbackPort(), await freeLoopbackPort()];
    const gatewayUrls = gatewayPorts.map((p) => `ws://127.0.0.1:${p}/v1/stream`);
    const gateways: Proc[] = gatewayPorts.map((port) => {
      const p: Proc = {
        handle: null as unknown as ReturnType<typeof runCli>,
        async start() {
          p.handle = runCli(['serve', '--bus', cluster.urls, '--port', String(port)], env);
          await p.handle.waitForOutput(/stream\s+ws:\/\//, 20_000);
        },
      };
      return p;
    });
    await ingests[0]!.start();
    await ingests[0]!.handle.waitForOutput(/ingest publishing/, 20_000);
    await ingests[1]!.start();
    for (const g of gateways) await g.start();

    const entries = ['fx.*.quote'];
    const clientCount = options.clients ?? 4;
    for (let i = 0; i < clientCount; i++) {
      const c = await WireChecker.connect(gatewayUrls[i % gatewayUrls.length]!);
      await c.subscribe(entries);
      checkers.push(c);
    }
    // A client whose gateway went away reconnects to any gateway and resumes (§14).
    const keepConnected = async (c: WireChecker, i: number) => {
      for (let attempt = i; !stopping; attempt++) {
        if (c.closeCode === null) {
          await sleep(50);
          continue;
        }
        try {
          await c.reconnect(gatewayUrls[attempt % gatewayUrls.length]!, entries);
        } catch {
          await sleep(100);
        }
      }
    };
    const keepers = checkers.map((c, i) => keepConnected(c, i));
    const ok = await until(
      () => checkers.every((c) => c.topics.size >= 4 && [...c.topics.values()].every((t) => t.tally.delivered >= 5)),
      20_000,
    );
    if (!ok) throw new Error('chaos: clients did not start receiving ticks');
    const topics = () => [...new Set(checkers.flatMap((c) => [...c.topics.keys()]))];
    const newest = (topic: string) => Math.max(...checkers.map((c) => c.lastSeq(topic)));

    for (let round = 1; round <= options.rounds; round++) {
      // The supervisor's job (systemd, Kubernetes): an ingest fenced off by a lost lease exits
      // with code 3 and comes back as a standby.
      const supervised: [string, Proc][] = [
        ...ingests.map((p, i): [string, Proc] => [`ingest ${i}`, p]),
        ...gateways.map((p, i): [string, Proc] => [`gateway ${i}`, p]),
      ];
      for (const [i, p] of supervised) {
        if (p.handle.child.exitCode === null && p.handle.child.signalCode === null) continue;
        log(`  (supervisor: ${i} had exited with ${p.handle.child.exitCode ?? p.handle.child.signalCode}; restarting it)`);
        result.restarts.push(`before round ${round}: ${i} exited ${p.handle.child.exitCode ?? p.handle.child.signalCode}`);
        await p.start();
      }
      const kinds = options.kinds ?? FAULT_KINDS;
      const kind = kinds[Math.floor(random() * kinds.length)]!;
      const downMs = 300 + Math.floor(random() * 1200);
      const watched = topics();
      const startSeq = new Map(watched.map((t) => [t, newest(t)]));
      const before = checkers.map((c) => ({ ...c.total() }));
      for (const c of checkers) for (const t of c.topics.values()) t.tally.longestPauseMs = 0;
      let target = '';
      if (kind === 'nats-node') {
        const node = cluster.nodes[Math.floor(random() * cluster.nodes.length)]!;
        target = node.name;
        await node.kill();
        await sleep(downMs);
        await node.start();
        await cluster.healthy(30_000);
      } else if (kind === 'ingest') {
        let active = -1;
        await until(async () => {
          for (const [i, port] of ingestPorts.entries()) {
            const hz = await fetch(`http://127.0.0.1:${port}/healthz`).then(
              (r) => r.json() as Promise<{ lease?: string }>,
              () => null,
            );
            if (hz?.lease === 'active') active = i;
          }
          return active !== -1;
        }, 15_000);
        if (active === -1) throw new Error('chaos: no active ingest');
        target = `ingest ${active}`;
        ingests[active]!.handle.child.kill('SIGKILL');
        await ingests[active]!.handle.exited;
        await sleep(downMs);
        await ingests[active]!.start();
      } else {
        const i = Math.floor(random() * gateways.length);
        target = `gateway ${i}`;
        gateways[i]!.handle.child.kill('SIGKILL');
        await gateways[i]!.handle.exited;
        await sleep(downMs);
        await gateways[i]!.start();
      }
      // Moved on: every client past where the newest client was after the restart.
      const restartSeq = new Map(watched.map((t) => [t, newest(t)]));
      const moved = await until(
        () => checkers.every((c) => c.closeCode === null && watched.every((t) => c.lastSeq(t) >= restartSeq.get(t)! + 10)),
        30_000,
      );
      if (!moved) result.stalls.push(`round ${round} (${kind} ${target}): clients did not move on within 30 s`);
      const row = result.rows.get(kind)!;
      row.rounds++;
      for (const t of watched) row.published += newest(t) - startSeq.get(t)!;
      for (const [i, c] of checkers.entries()) {
        const now = c.total();
        row.delivered += now.delivered - before[i]!.delivered;
        row.reportedGaps += now.reportedGaps - before[i]!.reportedGaps;
        row.silentLost +=
          now.silentLost -
          before[i]!.silentLost +
          (now.silentEpochChanges - before[i]!.silentEpochChanges) +
          (now.duplicates - before[i]!.duplicates);
        row.longestPauseMs = Math.max(row.longestPauseMs, now.longestPauseMs);
      }
      const fresh = checkers.flatMap((c) => c.violations.splice(0));
      result.violations.push(...fresh.map((v) => `round ${round} (${kind} ${target}): ${v}`));
      log(
        `round ${round}/${options.rounds}: ${kind} ${target} down ${downMs} ms — ${fresh.length === 0 ? 'invariant holds' : `${fresh.length} violations`}${moved ? '' : ' (STALLED)'}`,
      );
    }
    stopping = true;
    await Promise.all(keepers);
    for (const c of checkers) for (const [r, n] of c.gapReasons) result.gapReasons.set(r, (result.gapReasons.get(r) ?? 0) + n);
  } finally {
    stopping = true;
    for (const c of checkers) c.close();
    killCliProcesses();
    await cluster.stop();
  }
  return result;
}

/** The table, as Markdown. */
export function formatTable(result: ChaosResult): string {
  const lines = [
    '| fault | rounds | ticks published | delivered (all clients) | reported as gaps | silently lost | longest pause |',
    '|---|---:|---:|---:|---:|---:|---:|',
  ];
  for (const [kind, r] of result.rows) {
    lines.push(
      `| ${kind} | ${r.rounds} | ${r.published} | ${r.delivered} | ${r.reportedGaps} | ${r.silentLost} | ${r.rounds === 0 ? '—' : `${(r.longestPauseMs / 1000).toFixed(2)} s`} |`,
    );
  }
  return lines.join('\n');
}
