import { z } from 'zod';
import { isValidTopic, makeTopic } from '../../src/core/topic.ts';
import { defineFeed } from '../../src/feed/adapter.ts';
import { createSimEquityAdapter } from './adapter.ts';

export { createSimEquityAdapter } from './adapter.ts';
export { createEquityModel, DEFAULT_EQUITIES, EquityModel } from './model.ts';
export type { EquityInstrument, EquityInstrumentInput, EquityModelOptions } from './model.ts';

const symbolSchema = z.string().refine((s) => isValidTopic(makeTopic('equity', s, 'quote')), {
  error: 'must be 1–24 uppercase letters, digits, "_" or "-", not starting with "_" or "-" (e.g. "BRK-B")',
});

export const simEquityOptionsSchema = z
  .strictObject({
    /** Any safe integer; the same seed and options give the same tick sequence. */
    seed: z.int().default(42),
    /** Total ticks per second across the universe. */
    ticksPerSecond: z.number().min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' }).default(1000),
    /** Probability that a tick is a trade print rather than a quote. */
    tradeProbability: z.number().min(0, { error: 'must be at least 0' }).max(0.9, { error: 'must be at most 0.9' }).default(0.15),
    /** Levels per side of each symbol's simulated order book (equity.<SYM>.book), one cent apart; 0: no books. Book updates come on top of ticksPerSecond. */
    bookDepth: z.int().min(0).max(100, { error: 'must be at most 100' }).default(20),
    /** Symbols, or {symbol, price, vol} overrides; defaults to ~50 US large caps. */
    universe: z
      .array(
        z.union([
          symbolSchema,
          z.strictObject({
            symbol: symbolSchema,
            price: z.number().positive({ error: 'must be positive' }).max(1e7).optional(),
            vol: z.number().min(0).max(5, { error: 'must be at most 5 (500 % a year)' }).optional(),
          }),
        ]),
      )
      .min(1, { error: 'must list at least one symbol' })
      .optional(),
  })
  .superRefine((o, ctx) => {
    const seen = new Set<string>();
    o.universe?.forEach((entry, i) => {
      const symbol = typeof entry === 'string' ? entry : entry.symbol;
      if (seen.has(symbol)) ctx.addIssue({ code: 'custom', path: ['universe', i], message: `duplicate symbol "${symbol}"` });
      seen.add(symbol);
    });
  });

export type SimEquityOptions = z.output<typeof simEquityOptionsSchema>;

export const simEquityFeed = defineFeed<SimEquityOptions>({
  name: 'sim-equity',
  description:
    'Simulated US equities: GBM mids on a cent grid, round-lot quotes and trade prints and order books (equity.<SYM>.quote|trade|book)',
  optionsSchema: simEquityOptionsSchema,
  create: createSimEquityAdapter,
});
