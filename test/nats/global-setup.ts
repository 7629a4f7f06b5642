import type { TestProject } from 'vitest/node';
import { findNatsServer, startNatsServer, type NatsServerHandle } from './nats-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The nats-server binary, or null when it is not installed (NATS tests skip). */
    natsServerBin: string | null;
    /** A shared nats-server (JetStream on) for the NATS tests, or null. */
    natsUrl: string | null;
  }
}

/**
 * Starts one real nats-server (loopback, ephemeral port, JetStream in a temp dir) for the NATS
 * bus tests (test/nats/). Tests that kill the server start their own from `natsServerBin`.
 * Without the binary the NATS tests are skipped, loudly: CI installs it (.ci/run), so CI never skips.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const bin = findNatsServer();
  project.provide('natsServerBin', bin);
  if (bin === null) {
    project.provide('natsUrl', null);
    console.warn(
      '\n' +
        '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
        '!! SKIPPING the NATS bus tests (test/nats/): no nats-server binary found on PATH,     !!\n' +
        '!! in /usr/sbin or in $NATS_SERVER_BIN. Install it: apt-get install -y nats-server    !!\n' +
        '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
    );
    return async () => {};
  }
  const server: NatsServerHandle = await startNatsServer(bin, { jetstream: true });
  project.provide('natsUrl', server.url);
  return () => server.stop();
}
