import { z } from 'zod';
import { defineFeed } from '../../src/feed/adapter.ts';
import { createSimFxAdapter } from './adapter.ts';
import { fxPairError } from './model.ts';

export { createSimFxAdapter } from './adapter.ts';
export { createFxModel, DEFAULT_FX_PAIRS, FX_CURRENCIES, FxModel, fxPairError } from './model.ts';
export type { Currency, FxModelOptions } from './model.ts';

const pairSchema = z.string().superRefine((pair, ctx) => {
  const err = fxPairError(pair);
  if (err) ctx.addIssue({ code: 'custom', message: err });
});

export const simFxOptionsSchema = z.strictObject({
  /** Any safe integer; the same seed and options give the same tick sequence. */
  seed: z.int().default(7),
  /** Total quotes per second across all pairs. */
  ticksPerSecond: z.number().min(1, { error: 'must be at least 1' }).max(1_000_000, { error: 'must be at most 1000000' }).default(400),
  /** Six-letter pair codes; defaults to 22 majors and crosses. */
  pairs: z
    .array(pairSchema)
    .min(1, { error: 'must list at least one pair' })
    .refine((p) => new Set(p).size === p.length, { error: 'must not repeat a pair' })
    .optional(),
  /** Levels per side of each pair's simulated order book (fx.<PAIR>.book), one pip apart; 0: no books. Book updates come on top of ticksPerSecond. */
  bookDepth: z.int().min(0).max(100, { error: 'must be at most 100' }).default(20),
});

export type SimFxOptions = z.output<typeof simFxOptionsSchema>;

export const simFxFeed = defineFeed<SimFxOptions>({
  name: 'sim-fx',
  description:
    'Simulated spot FX: correlated currency factor model, pipette-precision quotes in millions and order books (fx.<PAIR>.quote|book)',
  optionsSchema: simFxOptionsSchema,
  create: createSimFxAdapter,
});
