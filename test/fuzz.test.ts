/**
 * The quick protocol fuzz (tools/fuzz/fuzz.ts does the work): at least 100 000 random and mutated
 * client messages from 24 raw WebSocket connections at a `tickgate serve` child process, while a
 * clean client streams. Fails on a gateway exit, a gap for the clean client, leaked connections,
 * subscriptions or fds after a round, heap growth (after a forced GC), an unanswered ping, a
 * TG_ERR_INTERNAL reply or an unhandled rejection.
 *
 * The seed is random per run and printed; to reproduce a failure:
 *   FUZZ_SEED=<seed> npx vitest run test/fuzz.test.ts
 *   npm run fuzz -- --messages 100000 --seed <seed> --connections 24 --rounds 4
 * (FUZZ_MESSAGES=<n> changes the count.) A crash also leaves the last batches of every connection,
 * as hex, in the JSON file named in the failure.
 */
import { expect, it } from 'vitest';
import { runFuzz, summarize } from '../tools/fuzz/fuzz.ts';

const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Math.floor(Math.random() * 2 ** 32);
const messages = process.env.FUZZ_MESSAGES !== undefined ? Number(process.env.FUZZ_MESSAGES) : 100_000;

it(`the gateway survives ${messages} fuzzed messages without a crash, gap or leak (seed ${seed})`, async () => {
  console.log(`fuzz seed ${seed} (reproduce: FUZZ_SEED=${seed} npx vitest run test/fuzz.test.ts)`);
  const result = await runFuzz({ seed, messages, connections: 24, rounds: 4, timeLimitMs: 120_000 });
  console.log(summarize(result));
  const how = `seed ${seed}; reproduce with FUZZ_SEED=${seed} npx vitest run test/fuzz.test.ts or npm run fuzz -- --messages ${messages} --seed ${seed} --connections 24 --rounds 4${result.crashReport ? `; last batches: ${result.crashReport}` : ''}`;
  expect(result.problems, how).toEqual([]);
  expect(result.processed, how).toBeGreaterThanOrEqual(messages);
  expect(result.clean.ticks, how).toBeGreaterThan(0);
  expect(result.clean.gaps, how).toEqual([]);
}, 180_000);
