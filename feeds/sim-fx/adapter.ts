import { PacedAdapter } from '../shared/paced-adapter.ts';
import { createFxModel, type FxModelOptions } from './model.ts';

/** The sim-fx adapter: the FX factor model paced at `ticksPerSecond` by a 10 ms timer. */
export function createSimFxAdapter(options: FxModelOptions): PacedAdapter {
  return new PacedAdapter(createFxModel(options), { ticksPerSecond: options.ticksPerSecond });
}
