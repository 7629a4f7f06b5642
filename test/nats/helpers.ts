import { describe, inject } from 'vitest';
import type { NatsBus } from '../../src/bus/nats/nats-bus.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { createIngest, type Ingest } from '../../src/ingest.ts';
import { startGateway, type Started } from '../helpers.ts';

export const natsUrl = inject('natsUrl');
export const natsServerBin = inject('natsServerBin');

/** `describe`, or `describe.skip` when nats-server is not installed (the global setup says so loudly). */
export const describeNats = natsUrl !== null && natsServerBin !== null ? describe : describe.skip;

let counter = 0;
/** A subject prefix of its own per test, so tests sharing one nats-server never see each other's frames. */
export function uniquePrefix(): string {
  return `tg${process.pid}x${++counter}`;
}

export interface NatsSetup {
  url: string;
  prefix: string;
  jetstream?: boolean;
  /** Wait between reconnect attempts (default 100 ms): who reconnects first after an outage. */
  reconnectTimeWaitMs?: number;
  storage?: 'file' | 'memory';
  /** Stream replicas (3 on a 3-node cluster). */
  replicas?: number;
}

function natsConfig(s: NatsSetup): NonNullable<ConfigInput['bus']> {
  return {
    kind: 'nats',
    nats: {
      url: s.url,
      subjectPrefix: s.prefix,
      reconnectTimeWaitMs: s.reconnectTimeWaitMs ?? 100,
      reconnectJitterMs: 50,
      jetstream: {
        enabled: s.jetstream ?? false,
        stream: `S_${s.prefix}`,
        storage: s.storage ?? 'file',
        replicas: s.replicas ?? 1,
        maxAgeMs: 60_000,
        maxMsgsPerSubject: 1000,
      },
    },
  };
}

/** An in-process `tickgate ingest` with no feeds (tests publish on `ingest.bus`) and no HTTP listener. */
export async function startIngest(s: NatsSetup, overrides: ConfigInput = {}): Promise<Ingest> {
  const ingest = createIngest(
    { logLevel: 'silent', feeds: [], ...overrides, bus: { ...natsConfig(s), ...overrides.bus } },
    { http: false },
  );
  await ingest.start();
  return ingest;
}

/** An in-process `tickgate serve --bus nats://...`, connected. */
export async function startNatsGateway(s: NatsSetup, overrides: ConfigInput = {}): Promise<Started & { nats: NatsBus }> {
  const started = await startGateway({ ...overrides, bus: { ...natsConfig(s), ...overrides.bus } });
  const nats = started.gw.bus as NatsBus;
  await nats.settled();
  return { ...started, nats };
}

/** Lets the ingest bus flush its pending frames (one event-loop turn) and NATS take them. */
export async function flushIngest(ingest: Ingest): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
  ingest.bus.flush();
  await ingest.flushNats();
}

/** Resolves when `check` returns true, polling on a short timer; rejects after `timeoutMs`. */
export async function until(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
