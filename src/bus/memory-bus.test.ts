import { systemClock } from '../core/clock.ts';
import { runBusConformance, runBusHistoryConformance } from './bus.conformance.ts';
import { MemoryBus } from './memory-bus.ts';

runBusConformance('MemoryBus', ({ maxTicksPerFrame, maxTopicsPerFeed }) => new MemoryBus({ clock: systemClock, maxTicksPerFrame, maxTopicsPerFeed }));
runBusHistoryConformance('MemoryBus', (o) => new MemoryBus({ clock: systemClock, ...o }));
