import { PacedAdapter } from '../shared/paced-adapter.ts';
import { createEquityModel, type EquityModelOptions } from './model.ts';

/** The sim-equity adapter: the equity model paced at `ticksPerSecond` by a 10 ms timer. */
export function createSimEquityAdapter(options: EquityModelOptions): PacedAdapter {
  return new PacedAdapter(createEquityModel(options), { ticksPerSecond: options.ticksPerSecond });
}
