import { expect, it } from 'vitest';
import { packFrame } from '../protocol/codec.ts';
import { RelayBus } from './relay-bus.ts';

const clock = { now: () => 1_764_000_000_000 };
const tick = (seq: number) => ({ seq, ts: clock.now(), gts: clock.now(), bid: 1, ask: 2, bidSize: 1, askSize: 1 });
const frame = (topic: string, epoch: number, seqs: number[]) =>
  packFrame({ t: 'ticks', topic, epoch, ticks: seqs.map(tick) } as never).slice();

function recorded(hole?: (topic: string) => boolean) {
  const bus = new RelayBus({ clock, historyMaxTicks: 100, historyMaxAgeMs: 60_000, ...(hole ? { hole } : {}) });
  const events: string[] = [];
  bus.setSink({
    onTopic: (v) => events.push(`topic ${v.parsed.topic}`),
    onBatch: (b) => events.push(`batch ${b.topic.parsed.topic} ${b.epoch}:${b.ticks.map((t) => t.seq).join(',')}`),
    onGap: (v, from, to) => events.push(`gap ${v.parsed.topic} ${from}-${to}`),
    onReset: (v, epoch) => events.push(`reset ${v.parsed.topic} ${epoch}`),
    onEpoch: (epoch) => events.push(`epoch ${epoch}`),
  });
  return { bus, events };
}

it('a hole is reported with its exact range right before the frame that jumps; duplicates are dropped', () => {
  const { bus, events } = recorded();
  bus.relay(frame('fx.EURUSD.quote', 5, [1, 2]));
  bus.relay(frame('fx.EURUSD.quote', 5, [2]));
  bus.relay(frame('fx.EURUSD.quote', 5, [7, 8]));
  expect(events).toEqual([
    'epoch 5',
    'topic fx.EURUSD.quote',
    'batch fx.EURUSD.quote 5:1,2',
    'gap fx.EURUSD.quote 3-6',
    'batch fx.EURUSD.quote 5:7,8',
  ]);
  expect(bus.replayAfter('fx.EURUSD.quote', 6)).toEqual([tick(7), tick(8)].map((t) => expect.objectContaining({ seq: t.seq })));
  expect(bus.replayAfter('fx.EURUSD.quote', 2)).toBeNull(); // history restarted after the hole
});

it('the hole hook may take the frame (to repair the hole first); then nothing is reported', () => {
  const taken: string[] = [];
  const { bus, events } = recorded((topic) => {
    taken.push(topic);
    return true;
  });
  bus.relay(frame('fx.EURUSD.quote', 5, [1]));
  bus.relay(frame('fx.EURUSD.quote', 5, [4]));
  expect(taken).toEqual(['fx.EURUSD.quote']);
  expect(events.filter((e) => e.startsWith('gap') || e.includes(':4'))).toEqual([]);
});

it('a new epoch resets every topic with a value, before any frame of it; older epochs are dropped', () => {
  const { bus, events } = recorded();
  bus.relay(frame('fx.EURUSD.quote', 5, [1, 2]));
  bus.relay(frame('fx.USDJPY.quote', 5, [1]));
  events.length = 0;
  bus.relay(frame('fx.USDJPY.quote', 9, [1]));
  bus.relay(frame('fx.EURUSD.quote', 5, [3])); // the old epoch: dropped
  expect(events).toEqual(['epoch 9', 'reset fx.EURUSD.quote 9', 'reset fx.USDJPY.quote 9', 'batch fx.USDJPY.quote 9:1']);
  expect(bus.topic('fx.EURUSD.quote')?.last).toBeUndefined();
  bus.adoptEpoch(8); // older: nothing
  expect(bus.epoch).toBe(9);
});
