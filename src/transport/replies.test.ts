import { describe, expect, it } from 'vitest';
import { ErrorCode, TickgateError } from '../core/errors.ts';
import { Replies } from './replies.ts';
import { FakeSocket, metricValue, testBus, testMetrics } from './testing.ts';

function setup() {
  const { bus, publish } = testBus();
  const metrics = testMetrics();
  const logged: unknown[] = [];
  const replies = new Replies({ bus, metrics, logger: { error: (obj: unknown) => void logged.push(obj) } });
  return { bus, publish, metrics, logged, replies };
}

describe('Replies', () => {
  it('encodes per the session format and counts frames and bytes out', () => {
    const { replies, metrics } = setup();
    const bin = FakeSocket.open('msgpack');
    const text = FakeSocket.open('json', undefined, 2);
    replies.send(bin.ws, bin.session, { t: 'pong', id: 1, gts: 5 });
    replies.send(text.ws, text.session, { t: 'pong', id: 1, gts: 5 });
    expect(bin.frames).toEqual([{ t: 'pong', id: 1, gts: 5 }]);
    expect(text.frames).toEqual(bin.frames);
    expect(metrics.hot.framesOut).toBe(2);
    expect(metrics.hot.bytesOut).toBeGreaterThan(0);
  });

  it('snapshots carry the last value, and nothing for a topic without one', () => {
    const { replies, publish } = setup();
    const s = FakeSocket.open();
    replies.sendSnapshot(s.ws, 'equity.NONE.quote');
    publish('equity.AAPL.quote', 10);
    replies.sendSnapshot(s.ws, 'equity.AAPL.quote');
    expect(s.frames).toEqual([
      expect.objectContaining({ t: 'snapshot', topic: 'equity.AAPL.quote', epoch: 7, ticks: [expect.objectContaining({ seq: 1 })] }),
    ]);
  });

  it('a TickgateError keeps its code; anything else is logged and answered TG_ERR_INTERNAL; both are counted', async () => {
    const { replies, logged, metrics } = setup();
    const s = FakeSocket.open();
    replies.replyWithError(s.ws, s.session, 4, new TickgateError(ErrorCode.INVALID_TOPIC, 'bad topic'));
    replies.replyWithError(s.ws, s.session, 5, new Error('bug'));
    expect(s.of('error')).toEqual([
      { t: 'error', id: 4, code: 'TG_ERR_INVALID_TOPIC', message: 'bad topic' },
      { t: 'error', id: 5, code: 'TG_ERR_INTERNAL', message: 'internal error; the request was not applied' },
    ]);
    expect(logged).toHaveLength(1);
    expect(await metricValue(metrics.errors, { code: 'TG_ERR_INTERNAL' })).toBe(1);
  });
});
