import { connect } from '@nats-io/transport-node';
import { afterEach, expect, it } from 'vitest';
import { IngestLease } from '../../src/bus/nats/lease.ts';
import { systemClock } from '../../src/core/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { killCliProcesses, runCli } from '../cli-process.ts';
import { describeNats, natsUrl, startNatsGateway, uniquePrefix } from './helpers.ts';
import { WireChecker } from './wire-checker.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  killCliProcesses();
  for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
});

const TTL_MS = 2_000;

/** Two `tickgate ingest --lease` processes on fresh subjects: the first active, the second waiting. */
async function startIngestPair() {
  const prefix = uniquePrefix();
  const env = {
    TICKGATE_LOG_LEVEL: 'warn',
    TICKGATE_BUS__NATS__SUBJECT_PREFIX: prefix,
    TICKGATE_BUS__NATS__JETSTREAM__ENABLED: 'true',
    TICKGATE_BUS__NATS__JETSTREAM__STREAM: `S_${prefix}`,
    TICKGATE_BUS__NATS__LEASE__TTL_MS: String(TTL_MS),
  };
  const args = ['ingest', '--bus', natsUrl!, '--port', '0', '--feeds', 'sim-fx', '--lease'];
  const active = runCli(args, env);
  await active.waitForOutput(/ingest publishing/);
  const standby = runCli(args, env);
  await standby.waitForOutput(/waiting for NATS/);
  return { prefix, active, standby };
}

describeNats('ingest failover (issue 13)', { timeout: 60_000 }, () => {
  it('kill -9 of the active ingest: the standby takes over within the lease TTL, continuing seq and epoch; no silent gap', async () => {
    const { prefix, active, standby } = await startIngestPair();

    const g = await startNatsGateway({ url: natsUrl!, prefix, jetstream: true });
    cleanup.push(() => g.gw.stop());
    const c = await WireChecker.connect(g.stream);
    cleanup.push(async () => c.close());
    await c.subscribe(['fx.EURUSD.quote', 'fx.USDJPY.quote']);
    await c.until(() => (c.topics.get('fx.EURUSD.quote')?.tally.delivered ?? 0) >= 20, 15_000);
    expect(standby.out()).not.toMatch(/ingest publishing/); // one active only

    const epoch = c.topics.get('fx.EURUSD.quote')!.epoch;
    const before = c.lastSeq('fx.EURUSD.quote');
    const killedAt = performance.now();
    active.child.kill('SIGKILL');
    await standby.waitForOutput(/ingest publishing/, 15_000);
    await c.until(() => c.lastSeq('fx.EURUSD.quote') >= before + 50, 15_000);
    const resumedAt = c.frames.find(
      (f) => f.at > killedAt && f.frame.t === 'ticks' && f.frame.topic === 'fx.EURUSD.quote' && f.frame.ticks[0].seq > before,
    )!.at;

    expect(c.violations).toEqual([]);
    expect(c.total()).toMatchObject({ silentLost: 0, duplicates: 0, silentEpochChanges: 0, resets: 0 });
    expect(c.topics.get('fx.EURUSD.quote')!.epoch).toBe(epoch); // continued, not restarted
    const pause = c.total().longestPauseMs;
    console.log(
      `failover: kill -9 → first new tick ${Math.round(resumedAt - killedAt)} ms; longest pause ${Math.round(pause)} ms (lease TTL ${TTL_MS} ms)`,
    );
    expect(resumedAt - killedAt).toBeLessThan(TTL_MS + 3_000);
  });

  it('CLI: an active ingest that stalls past the TTL finds the lease taken when it wakes, stops publishing and exits 3 with one line', async () => {
    const { active, standby } = await startIngestPair();
    active.child.kill('SIGSTOP'); // a stall (GC pause, frozen VM): no renewals, no exit
    try {
      await standby.waitForOutput(/ingest publishing/, 15_000);
    } finally {
      active.child.kill('SIGCONT');
    }
    const code = await Promise.race([active.exited, new Promise<string>((r) => setTimeout(() => r('still running'), 15_000))]);
    expect(code).toBe(3);
    expect(active.err()).toMatch(/^tickgate ingest: another ingest holds the failover lease; this one stopped publishing \(exit 3\)$/m);
    expect(standby.child.exitCode).toBeNull();
  });

  it('fencing: a holder that stops renewing may publish only until before the standby can take the lease, and its next renewal is refused', async () => {
    const prefix = uniquePrefix();
    const logger = createLogger('silent');
    const ncA = await connect({ servers: natsUrl! });
    const ncB = await connect({ servers: natsUrl! });
    cleanup.push(() => ncA.close());
    cleanup.push(() => ncB.close());
    const a = new IngestLease(ncA, { prefix, holder: 'a', ttlMs: TTL_MS }, systemClock, logger);
    const b = new IngestLease(ncB, { prefix, holder: 'b', ttlMs: TTL_MS, pollMs: 20 }, systemClock, logger);
    cleanup.push(async () => a.stop());
    cleanup.push(async () => b.stop());
    await a.ensure(1);
    await a.acquire();
    expect(a.mayPublish()).toBe(true);
    // A holds and renews: B waits, for longer than a TTL.
    let lostCalls = 0;
    a.keep(() => lostCalls++);
    let bHolds = false;
    const bTook = b.acquire().then(() => {
      bHolds = true;
      return systemClock.now();
    });
    await new Promise((r) => setTimeout(r, TTL_MS * 1.5));
    expect(bHolds).toBe(false);
    // A stalls (a long GC pause, a partition): its renewals stop, its permission runs out.
    (a as unknown as { renewTimer: NodeJS.Timeout }).renewTimer &&
      clearTimeout((a as unknown as { renewTimer: NodeJS.Timeout }).renewTimer);
    const permissionEnds = a.validUntil;
    const takenAt = await bTook;
    expect(takenAt).toBeGreaterThan(permissionEnds); // never both allowed at once
    expect(a.mayPublish()).toBe(false);
    expect(b.mayPublish()).toBe(true);
    // A wakes up and tries to renew: refused (the revision moved on).
    a.keep(() => lostCalls++);
    await new Promise((r) => setTimeout(r, TTL_MS / 4 + 500));
    expect(lostCalls).toBe(1);
    expect(a.mayPublish()).toBe(false);
  });
});
