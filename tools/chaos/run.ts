import { parseArgs } from 'node:util';
import { FAULT_KINDS, formatTable, runChaos, type FaultKind } from './chaos.ts';

/** `npm run chaos -- [--rounds N] [--seed S] [--clients C] [--kinds nats-node,ingest,gateway]`: exit 0 when nothing was silently lost. */
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    seed: { type: 'string', default: '13' },
    clients: { type: 'string', default: '4' },
    kinds: { type: 'string' },
  },
});
const rounds = Number(values.rounds);
const seed = Number(values.seed);
const clients = Number(values.clients);
if (
  !Number.isInteger(rounds) ||
  rounds < 1 ||
  rounds > 1000 ||
  !Number.isInteger(seed) ||
  !Number.isInteger(clients) ||
  clients < 1 ||
  clients > 50
) {
  process.stderr.write('chaos: --rounds 1..1000, --seed <int>, --clients 1..50\n');
  process.exit(2);
}
const kinds = values.kinds?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
if (kinds !== undefined && (kinds.length === 0 || kinds.some((k) => !FAULT_KINDS.includes(k)))) {
  process.stderr.write(`chaos: --kinds takes a comma-separated list of ${FAULT_KINDS.join(', ')}\n`);
  process.exit(2);
}
const started = Date.now();
const result = await runChaos({ rounds, seed, clients, ...(kinds ? { kinds } : {}), log: (l) => process.stdout.write(`${l}\n`) });
process.stdout.write(
  `\nchaos: ${rounds} rounds, seed ${seed}, ${clients} clients, ${Math.round((Date.now() - started) / 1000)} s\n\n${formatTable(result)}\n`,
);
for (const v of result.violations.slice(0, 20)) process.stdout.write(`violation: ${v}\n`);
for (const s of result.stalls) process.stdout.write(`stall: ${s}\n`);
if (result.gapReasons.size > 0)
  process.stdout.write(`gaps by reason (results and status frames): ${[...result.gapReasons].map(([r, n]) => `${r} ${n}`).join(', ')}\n`);
for (const r of result.restarts) process.stdout.write(`supervisor restart: ${r}\n`);
const silent = [...result.rows.values()].reduce((n, r) => n + r.silentLost, 0);
process.exit(silent === 0 && result.violations.length === 0 && result.stalls.length === 0 ? 0 : 1);
