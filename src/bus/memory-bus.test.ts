import { runBusConformance, runBusHistoryConformance } from './bus.conformance.ts';
import { MemoryBus } from './memory-bus.ts';

runBusConformance(
  'MemoryBus',
  ({ clock, maxTicksPerFrame, maxTopicsPerFeed }) => new MemoryBus({ clock, maxTicksPerFrame, maxTopicsPerFeed }),
);
runBusHistoryConformance('MemoryBus', (o) => new MemoryBus(o));
